#!/usr/bin/env bash
# Soak and chaos: `chatload verify` against a 3-node cluster (NATS bus, Cassandra store,
# SeaweedFS files) while faults are injected in rotation: SIGKILL a node and restart it,
# SIGTERM a node (graceful drain) and restart it, restart NATS, pause Cassandra (SIGSTOP, then
# SIGCONT). chatload then checks, from its clients' own records, that every acked message
# reached every reader exactly once, in order. The exit status is chatload's (non-zero on any
# violation) or this script's own when the cluster cannot be started.
#
#   scripts/chaos.sh [SECONDS]      (default 600: the on-demand soak)
#
# Environment: CHAOS_PROFILE=release|debug (binaries; default release), CHAOS_FAULT_EVERY
# (seconds between faults, default 20), CHAOS_RATE (messages/s, default 60), CHAOS_OUT (where
# the node logs, the fault log and chatload's JSON report go; default target/chaos/<time>).
# Uses the services of scripts/test.sh when it runs inside it (CHAT_TEST_* exported), else
# starts its own.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
profile="${CHAOS_PROFILE:-release}"
fault_every="${CHAOS_FAULT_EVERY:-20}"
rate="${CHAOS_RATE:-60}"
out="${CHAOS_OUT:-target/chaos/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [ "$profile" = release ]; then
    cargo build --locked --release -p chat-node -p chat-loadtest
else
    cargo build --locked -p chat-node -p chat-loadtest
fi
bin="$PWD/target/$profile"

# s3_free_port (a free loopback port) comes from here, whatever else is used.
source scripts/s3-server.sh
own_services=0
if [ -z "${CHAT_TEST_NATS_URL:-}" ] || [ -z "${CHAT_TEST_CQL_URI:-}" ] ||
    [ -z "${CHAT_TEST_S3_ENDPOINT:-}" ]; then
    own_services=1
    source scripts/cassandra.sh
    source scripts/nats-server.sh
    s3_start
    cassandra_start
    nats_start
fi


tag="chaos$$_$(date +%s)"
http_ports=() cluster_ports=() pids=()
for i in 0 1 2; do
    http_ports+=("$(s3_free_port)")
    cluster_ports+=("$(s3_free_port)")
done
peers="[\"127.0.0.1:${cluster_ports[0]}\",\"127.0.0.1:${cluster_ports[1]}\",\"127.0.0.1:${cluster_ports[2]}\"]"
signing_key="$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"

start_node() {
    local i=$1
    mkdir -p "$out/data-$i"
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        CHAT__NODE__DATA_DIR="$out/data-$i" \
        CHAT__NODE__NODE_ID="n$i" \
        CHAT__NODE__NODE_INDEX="$((i + 1))" \
        CHAT__NODE__SHUTDOWN_TIMEOUT_SECS=10 \
        CHAT__HTTP__LISTEN="127.0.0.1:${http_ports[$i]}" \
        CHAT__LOG__LEVEL="info,fjall=warn,lsm_tree=warn" \
        CHAT__AUTH__SIGNING_KEY="$signing_key" \
        CHAT__AUTH__ACCESS_TTL_SECS="$((seconds + 3600))" \
        CHAT__AUTH__ARGON2_MEMORY_KIB=1024 \
        CHAT__AUTH__ARGON2_ITERATIONS=1 \
        CHAT__LIMITS__MESSAGES_PER_SEC=100000 \
        CHAT__LIMITS__MESSAGE_BURST=100000 \
        CHAT__LIMITS__SIGNUPS_PER_IP_PER_HOUR=100000 \
        CHAT__LIMITS__LOGINS_PER_IP_PER_MIN=100000 \
        CHAT__LIMITS__ROOMS_PER_HOUR=100000 \
        CHAT__CLUSTER__ENABLED=true \
        CHAT__CLUSTER__COOKIE="chaos-cluster-cookie-$tag" \
        CHAT__CLUSTER__LISTEN="127.0.0.1:${cluster_ports[$i]}" \
        CHAT__CLUSTER__PEERS="$peers" \
        CHAT__CLUSTER__HEARTBEAT_MS=200 \
        CHAT__CLUSTER__PEER_TIMEOUT_MS=1500 \
        CHAT__CLUSTER__MAX_BACKOFF_MS=1000 \
        CHAT__BUS__BACKEND=nats \
        CHAT__BUS__NATS__URL="$CHAT_TEST_NATS_URL" \
        CHAT__BUS__NATS__SUBJECT_PREFIX="$tag" \
        CHAT__STORE__BACKEND=cql \
        CHAT__STORE__CQL__CONTACT_POINTS="[\"$CHAT_TEST_CQL_URI\"]" \
        CHAT__STORE__CQL__KEYSPACE="$tag" \
        CHAT__FILES__BACKEND=s3 \
        CHAT__FILES__S3__ENDPOINT="$CHAT_TEST_S3_ENDPOINT" \
        CHAT__FILES__S3__BUCKET="$CHAT_TEST_S3_BUCKET" \
        CHAT__FILES__S3__ACCESS_KEY_ID="$CHAT_TEST_S3_ACCESS_KEY" \
        CHAT__FILES__S3__SECRET_ACCESS_KEY="$CHAT_TEST_S3_SECRET_KEY" \
        CHAT__FILES__S3__ALLOW_HTTP=true \
        "$bin/chatnode" >>"$out/node-$i.log" 2>&1 &
    pids[i]=$!
}

# Waits (up to 120 s) until node i answers /readyz.
wait_ready() {
    local i=$1 tries=0
    until curl -sf "http://127.0.0.1:${http_ports[$i]}/readyz" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 600 ]; then
            echo "node $i did not become ready; its log:" >&2
            tail -n 30 "$out/node-$i.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

stop_all() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "${cql_pid:-}" ]; then kill -CONT "$cql_pid" 2>/dev/null || true; fi
    if [ "$own_services" = 1 ]; then
        nats_stop
        cassandra_stop
        s3_stop
    fi
}
trap stop_all EXIT

cql_pid=""
if [ -n "${CHAT_TEST_CQL_PID_FILE:-}" ] && [ -f "$CHAT_TEST_CQL_PID_FILE" ]; then
    cql_pid="$(cat "$CHAT_TEST_CQL_PID_FILE")"
else
    echo "chaos: no local CQL server process to pause (SCYLLA_URI?): that fault is left out" >&2
fi

for i in 0 1 2; do start_node "$i"; done
for i in 0 1 2; do wait_ready "$i"; done
echo "chaos: cluster up (http ${http_ports[*]}), running chatload verify for ${seconds}s, a fault every ${fault_every}s; output in $out"

targets="http://127.0.0.1:${http_ports[0]},http://127.0.0.1:${http_ports[1]},http://127.0.0.1:${http_ports[2]}"
"$bin/chatload" --target "$targets" --quiet --user-prefix "c$(date +%s | tail -c 7)" \
    --json "$out/report.json" \
    verify --rooms 6 --senders 2 --readers 2 --rate "$rate" \
    --duration-secs "$seconds" --drain-secs 180 >"$out/chatload.log" 2>&1 &
load=$!

# Faults begin once chatload has its users and rooms and is sending.
tries=0
until grep -q "traffic started" "$out/chatload.log" 2>/dev/null; do
    tries=$((tries + 1))
    if ! kill -0 "$load" 2>/dev/null || [ "$tries" -ge 600 ]; then
        echo "chatload did not start its traffic:" >&2
        cat "$out/chatload.log" >&2
        exit 1
    fi
    sleep 0.2
done
log() { echo "t=$((SECONDS - began))s $*" | tee -a "$out/faults.log"; }
# Stops node $1 with signal $2, waits until it is gone, then $3 seconds, and starts it again.
restart_node() {
    kill "-$2" "${pids[$1]}" 2>/dev/null || true
    wait "${pids[$1]}" 2>/dev/null || true
    sleep "$3"
    start_node "$1"
    wait_ready "$1"
    log "node $1 back"
}
began=$SECONDS
faults=(kill nats term cql)
n=0
# Faults stop 15 s before sending does, so the last one has healed when the check starts.
sleep "$((fault_every / 2))"
while kill -0 "$load" 2>/dev/null && [ $((SECONDS - began + 15)) -lt "$seconds" ]; do
    fault="${faults[$((n % ${#faults[@]}))]}"
    node=$((n % 3))
    case "$fault" in
        kill)
            log "SIGKILL node $node"
            restart_node "$node" KILL 2
            ;;
        term)
            log "SIGTERM node $node (drain)"
            restart_node "$node" TERM 0
            ;;
        nats)
            log "NATS stopped"
            "$CHAT_TEST_NATS_CTL" stop
            sleep 3
            "$CHAT_TEST_NATS_CTL" start
            log "NATS back"
            ;;
        cql)
            if [ -n "$cql_pid" ]; then
                log "CQL server paused (SIGSTOP)"
                kill -STOP "$cql_pid"
                sleep 5
                kill -CONT "$cql_pid"
                log "CQL server resumed"
            fi
            ;;
    esac
    n=$((n + 1))
    sleep "$fault_every"
done

status=0
wait "$load" || status=$?
cat "$out/chatload.log"
log "done: $n faults, chatload exit status $status"
exit "$status"
