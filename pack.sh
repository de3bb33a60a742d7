#!/usr/bin/env bash
# Makes the packages, a local NuGet feed: every package under src/ with its symbols (.nupkg + .snupkg) in
# artifacts/packages (or the folder given as the first argument). The version comes from the git tags (MinVer:
# see src/Directory.Build.props); extra arguments go to `dotnet pack` (e.g. -p:MinVerVersionOverride=1.2.3).
#
#   ./pack.sh
#   dotnet add package Outbox.EntityFrameworkCore.Sqlite --source artifacts/packages --prerelease
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-artifacts/packages}"
[ $# -gt 0 ] && shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/Outbox*.nupkg "$out"/Outbox*.snupkg

# One pack of all packages together (through a throwaway solution), so shared projects build once.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && dotnet new sln -n Packages >/dev/null)
sln=$(ls "$work"/Packages.sln*)
dotnet sln "$sln" add src/*/*.csproj >/dev/null
dotnet pack "$sln" -c Release -o "$out" -nologo -warnaserror "$@"
echo "pack.sh: $(find "$out" -maxdepth 1 -name 'Outbox*.nupkg' | wc -l) packages in $out:"
(cd "$out" && ls -1 Outbox*.nupkg Outbox*.snupkg)
