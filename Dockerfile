# chatnode container image: a release build in a Rust image, run from a small Debian image
# as a non-root user. Build: docker build -t chatnode:0.1.0 .
# (Not built on the project's own machines, which have no container engine.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
# protox compiles the .proto files in pure Rust: no protoc needed.
COPY . .
RUN cargo build --release --locked --bin chatnode \
    && strip target/release/chatnode

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin chat \
    && mkdir -p /data \
    && chown chat /data
COPY --from=build /src/target/release/chatnode /usr/local/bin/chatnode
USER 10001
VOLUME /data
ENV CHAT__NODE__DATA_DIR=/data \
    CHAT__HTTP__LISTEN=0.0.0.0:8080 \
    CHAT__LOG__FORMAT=json
# 8080: HTTP, WebSocket and gRPC, with GET /healthz (liveness) and /readyz (readiness) for
# the orchestrator's probes; 4370: the cluster port.
EXPOSE 8080 4370
ENTRYPOINT ["/usr/local/bin/chatnode"]
