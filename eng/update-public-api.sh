#!/usr/bin/env bash
# Rewrites the public API baselines (src/*/PublicAPI.Unshipped.txt) from what the code declares, so that the build's
# RS0016 (a public symbol the baseline lacks) and RS0017 (a baseline symbol the code no longer has) go away. Run it
# after changing or merging public API, then review the diff of the PublicAPI.*.txt files like code: it IS the API
# change. A new package under src/ gets its two files created here (the analyzer itself is set up for every src/
# project by src/Directory.Build.props).
#
#   eng/update-public-api.sh            # all packages under src/
#   eng/update-public-api.sh --check    # change nothing; exit 1 when a baseline is out of date (what the build says)
#
# Releasing: move the lines of each PublicAPI.Unshipped.txt into PublicAPI.Shipped.txt (dropping the *REMOVED* lines
# and the Shipped lines they name), leaving Unshipped with its header only.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
[ "${1:-}" = "--check" ] && check=true

header='#nullable enable'
projects=()
for csproj in src/*/*.csproj; do
    dir=$(dirname "$csproj")
    projects+=("$csproj")
    for f in PublicAPI.Shipped.txt PublicAPI.Unshipped.txt; do
        if [ ! -f "$dir/$f" ]; then
            if $check; then echo "update-public-api: $dir/$f is missing" >&2; exit 1; fi
            echo "$header" > "$dir/$f"
            echo "update-public-api: created $dir/$f"
        fi
    done
done

# One build of all packages from scratch (analyzers only report on a real compile), warnings kept as warnings.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && dotnet new sln -n PublicApi >/dev/null)
sln=$(ls "$work"/PublicApi.sln*)
dotnet sln "$sln" add "${projects[@]}" >/dev/null
log="$work/build.log"
if ! dotnet build "$sln" -c Release --no-incremental -p:TreatWarningsAsErrors=false -nologo -clp:NoSummary \
    -consoleLoggerParameters:ForceNoAlign >"$log" 2>&1; then
    grep -E ': error ' "$log" | grep -vE 'RS001[67]' | sort -u >&2 || true
    echo "update-public-api: the build failed for another reason than the public API; fix that first" >&2
    exit 1
fi

python3 - "$log" "$check" <<'PY'
import re, sys, pathlib, collections
log, check = sys.argv[1], sys.argv[2] == "true"
pattern = re.compile(r": (?:warning|error) (RS001[67]): Symbol '(.*)' is (?:not part of the declared public API|part of the declared API, but is either not public or could not be found) .*\[(.+\.csproj)\]")
added, removed = collections.defaultdict(set), collections.defaultdict(set)
for line in open(log, encoding="utf-8", errors="replace"):
    m = pattern.search(line)
    if m:
        (added if m.group(1) == "RS0016" else removed)[pathlib.Path(m.group(3)).parent].add(m.group(2))
changed = []
for project in sorted(set(added) | set(removed)):
    unshipped = project / "PublicAPI.Unshipped.txt"
    lines = [l.rstrip("\n") for l in unshipped.read_text(encoding="utf-8").splitlines()]
    header = [l for l in lines if l.startswith("#")] or ["#nullable enable"]
    body = {l for l in lines if l and not l.startswith("#")}
    for symbol in removed[project]:
        if symbol in body:
            body.discard(symbol)              # added since the last release, now gone again
        else:
            body.add("*REMOVED*" + symbol)    # shipped, now removed: a breaking change, kept visible
    body |= added[project]
    if not check:
        unshipped.write_text("\n".join(header + sorted(body, key=lambda s: (s.removeprefix("*REMOVED*"), s))) + "\n", encoding="utf-8")
    changed.append(f"{unshipped}: +{len(added[project])} -{len(removed[project])}")
for c in changed:
    print("update-public-api:", c)
if not changed:
    print("update-public-api: every baseline is up to date")
if check and changed:
    print("update-public-api: run eng/update-public-api.sh and review the diff", file=sys.stderr)
    sys.exit(1)
PY
