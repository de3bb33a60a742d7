#!/usr/bin/env bash
# Runs the whole CI (.ci/run) on a fresh clone of one commit beside a busy machine, N times in a row,
# stopping at the first failure. Proof for "the suite is green on a loaded 2-core machine".
#   eng/stressed-ci.sh [commit] [runs]      (defaults: HEAD, 3)
# Load: stress-ng --cpu 8 --vm 2 --vm-bytes 1G, started 60 s before the first run and kept for all of them.
# Results: /tmp/outbox-stressed-<time>/ (run-N.log, load.log sampled every 30 s, summary).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="$(git -C "$repo" rev-parse "${1:-HEAD}")"
runs="${2:-3}"
out="/tmp/outbox-stressed-$(date +%H%M)"
mkdir -p "$out"
if ! command -v stress-ng >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq stress-ng >/dev/null
  else echo "stress-ng is missing: install it (apt-get install -y stress-ng) as root" >&2; exit 2; fi
fi
stress-ng --cpu 8 --vm 2 --vm-bytes 1G --timeout 0 >"$out/stress.log" 2>&1 &
stress=$!
( while kill -0 $stress 2>/dev/null; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.log"; sleep 30; done ) &
sampler=$!
trap 'kill $stress $sampler 2>/dev/null || true' EXIT
sleep 60
echo "commit $commit, $runs runs, stress-ng --cpu 8 --vm 2 --vm-bytes 1G" >"$out/summary"
for i in $(seq 1 "$runs"); do
  dir="$out/clone-$i"
  git clone -q "$repo" "$dir" && git -C "$dir" checkout -q "$commit"
  start=$(date +%s); load_from=$(wc -l <"$out/load.log")
  if (cd "$dir" && .ci/run) >"$out/run-$i.log" 2>&1; then result=passed; else result=failed; fi
  secs=$(( $(date +%s) - start ))
  mean=$(tail -n +"$((load_from + 1))" "$out/load.log" | awk '{s+=$2; n++} END {if (n) printf "%.1f", s/n; else print "n/a"}')
  totals=$(grep -E "Total tests|Passed!|Failed!|total:" "$out/run-$i.log" | tail -n 3 | tr '\n' ' ')
  echo "run $i: $result in $((secs / 60))m$((secs % 60))s, mean 1-min load $mean; $totals" | tee -a "$out/summary"
  rm -rf "$dir"
  [ "$result" = passed ] || exit 1
done
