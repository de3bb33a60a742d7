#!/usr/bin/env python3
"""CPU time by method from a dotnet-trace thread-time profile, converted to Speedscope.

    dotnet-trace collect --profile dotnet-sampled-thread-time -o run.nettrace -- <exe> <args>
    dotnet-trace convert --format Speedscope -o run run.nettrace
    eng/cpu-profile.py run.speedscope.json                 # top methods, inclusive and exclusive CPU
    eng/cpu-profile.py run.speedscope.json --callers NAME  # the call paths into methods whose name contains NAME

Only samples whose innermost frame is CPU_TIME count (the runtime saw the thread running code, not blocked), so waiting
threads, which are most of a thread-time profile, do not hide where the work went. A thread the OS has preempted still
counts, so the total can exceed wall time x cores: read the percentages (of all CPU samples), not the seconds.
"""
import argparse
import collections
import json

parser = argparse.ArgumentParser()
parser.add_argument("profile")
parser.add_argument("--callers", help="show the call paths into methods whose name contains this text")
parser.add_argument("--top", type=int, default=60)
parser.add_argument("--depth", type=int, default=6, help="frames shown above each --callers match")
args = parser.parse_args()

data = json.load(open(args.profile))
names = [f["name"] for f in data["shared"]["frames"]]
inclusive, exclusive, paths = collections.Counter(), collections.Counter(), collections.Counter()
total = 0.0
for profile in data["profiles"]:
    stack, last = [], None
    for event in profile["events"]:
        at = event["at"]
        if last is not None and len(stack) > 1 and names[stack[-1]] == "CPU_TIME":
            span = at - last
            total += span
            for frame in set(stack):
                inclusive[frame] += span
            exclusive[stack[-2]] += span
            if args.callers:
                for i, frame in enumerate(stack):
                    if args.callers in names[frame]:
                        paths[" <- ".join(names[f][:100] for f in reversed(stack[max(0, i - args.depth):i + 1]))] += span
                        break
        last = at
        if event["type"] == "O":
            stack.append(event["frame"])
        elif stack:
            stack.pop()

print(f"CPU samples: {total / 1000:.1f} s")
if args.callers:
    for path, span in paths.most_common(args.top):
        print(f"{100 * span / total:5.1f}%  {path}")
else:
    print("--- inclusive")
    for frame, span in inclusive.most_common(args.top):
        print(f"{100 * span / total:5.1f}%  {names[frame][:160]}")
    print("--- exclusive")
    for frame, span in exclusive.most_common(args.top // 2):
        print(f"{100 * span / total:5.1f}%  {names[frame][:160]}")
