#!/usr/bin/env bash
# The whole test suite, set-up included: installs what the tests need and is missing (apt and npm, as root; otherwise
# it names the missing piece and stops), starts RabbitMQ on 127.0.0.1 when nothing listens there, runs every test
# project with no test skipped for want of a server, and stops what it started. PostgreSQL (and PgBouncer) and ActiveMQ are
# started by the test fixtures themselves from the installed binaries, one throwaway instance per test process.
# Extra arguments go to `dotnet test`. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")"

export DEBIAN_FRONTEND=noninteractive
apt_updated=false
missing() { # $1: what is missing, $2: the Debian packages that provide it
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: $1 is missing; install it as root (apt-get install -y $2) or run ./test.sh as root." >&2
        exit 1
    fi
    if [ "$apt_updated" = false ]; then
        apt-get update -qq
        apt_updated=true
    fi
    echo "test.sh: installing $2 ($1)"
    # shellcheck disable=SC2086 # $2 is a list of packages
    apt-get install -y -qq $2 >/dev/null
}

# PostgreSQL server binaries (initdb, pg_ctl), found the way the fixtures find them; PgBouncer beside them.
if [ -z "${OUTBOX_TEST_POSTGRES:-}" ] \
    && ! { command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; } \
    && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing "the PostgreSQL server (initdb, pg_ctl)" postgresql-15
fi
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null || missing "PgBouncer" pgbouncer

# RabbitMQ on loopback only (AMQP, the Erlang port mapper, inter-node/CLI traffic), unless one already answers.
amqp_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if [ -z "${OUTBOX_TEST_RABBITMQ:-}" ] && ! amqp_open; then
    [ -x /usr/sbin/rabbitmq-server ] || missing "RabbitMQ" rabbitmq-server
    echo "test.sh: starting RabbitMQ on 127.0.0.1:5672"
    ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
        /usr/sbin/rabbitmq-server -detached
    trap 'echo "test.sh: stopping RabbitMQ"; /usr/sbin/rabbitmqctl shutdown >/dev/null 2>&1 || true' EXIT

    # await_startup fails at once while the node is not yet registered, so retry it for up to 180 s (a loaded machine).
    for _ in $(seq 180); do
        if /usr/sbin/rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1 && amqp_open; then
            break
        fi
        sleep 1
    done
    amqp_open || { echo "test.sh: RabbitMQ did not start; see /var/log/rabbitmq" >&2; exit 1; }
fi

# ActiveMQ Classic (Debian's, with its Java runtime): the ActiveMQ tests start a throwaway broker from it on loopback.
if [ -z "${OUTBOX_TEST_ACTIVEMQ:-}" ]; then
    [ -f /usr/share/activemq/bin/activemq.jar ] && command -v java >/dev/null || missing "ActiveMQ" activemq
fi

# The dashboard's browser test (tests/Outbox.AspNetCore.Tests): Debian's Chromium, node, the pinned playwright-core.
command -v chromium >/dev/null || missing "Chromium (the dashboard's browser test)" chromium
{ command -v node >/dev/null && command -v npm >/dev/null; } || missing "Node.js and npm (the dashboard's browser test)" "nodejs npm"
(cd tests/Outbox.AspNetCore.Tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# A test whose server is unavailable fails rather than skips (set OUTBOX_TEST_REQUIRE_SERVERS=0 to let it skip).
export OUTBOX_TEST_REQUIRE_SERVERS="${OUTBOX_TEST_REQUIRE_SERVERS:-1}"

# One test module at a time: several modules restart the shared RabbitMQ broker (the RabbitMQ restart test, the
# reliability harness smoke run), and on two cores running modules side by side gains little.
status=0
dotnet test --solution Outbox.sln -c Release --max-parallel-test-modules 1 "$@" || status=$?
exit "$status"
