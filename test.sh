#!/usr/bin/env bash
# Builds and runs every test project of the solution (Microsoft.Testing.Platform mode, see global.json).
# Extra arguments go to `dotnet test`. Tests start a throwaway PostgreSQL cluster themselves; RabbitMQ is
# used if it runs on 127.0.0.1:5672 and started if installed (see tests/Outbox.TestInfrastructure).
set -euo pipefail
cd "$(dirname "$0")"
# One test module at a time: several modules restart the shared RabbitMQ broker (the RabbitMQ restart test, the
# reliability harness smoke run), and on two cores running modules side by side gains little.
exec dotnet test --solution Outbox.sln -c Release --max-parallel-test-modules 1 "$@"
