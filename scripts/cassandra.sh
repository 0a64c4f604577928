# Sourced by scripts/test.sh: a real CQL server for the CQL store tests. No ScyllaDB package
# exists for these machines; Apache Cassandra speaks the same CQL protocol (the scylla driver
# is tested against it). Cassandra 5.0 from Maven Central's jars (fetched once into the
# git-ignored .cache/), run on JDK 17 on a free loopback port. Any failure fails the run.
#
#   cassandra_start   fetches if needed, starts, waits until CQL connections are accepted,
#                     and exports CHAT_TEST_CQL_URI (host:port) and CHAT_TEST_CQL_RESTART (a
#                     script that stops the server and starts it again on the same data)
#                     and CHAT_TEST_CQL_CA (the CA of its certificate: TLS is optional)
#                     and CHAT_TEST_CQL_PID_FILE (the server's pid, for the chaos run)
#   cassandra_stop    stops the server and removes its data
#
# With SCYLLA_URI set (host:port of a real ScyllaDB), nothing is started and the tests use it.

CASSANDRA_VERSION="5.0.8"
CASSANDRA_HOME_DIR=".cache/cassandra-$CASSANDRA_VERSION"

# Prints the JDK 17 `java` (Cassandra 5.0 runs on 11 or 17, never 21+).
cassandra_java() {
    local candidate
    for candidate in "${CASSANDRA_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 \
        /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/temurin-17-jdk-amd64; do
        if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] &&
            "$candidate/bin/java" -version 2>&1 | grep -q 'version "17'; then
            echo "$candidate/bin/java"
            return 0
        fi
    done
    if java -version 2>&1 | grep -q 'version "17'; then
        command -v java
        return 0
    fi
    echo "no JDK 17 found (Cassandra 5.0 needs it): set CASSANDRA_JAVA_HOME" >&2
    return 1
}

cassandra_fetch() {
    if [ -f "$CASSANDRA_HOME_DIR/lib/cassandra-all-$CASSANDRA_VERSION.jar" ]; then
        return 0
    fi
    if ! command -v mvn >/dev/null 2>&1; then
        echo "mvn not found: Maven fetches Cassandra's jars (apt-get install maven)" >&2
        return 1
    fi
    echo "fetching Cassandra $CASSANDRA_VERSION jars from Maven Central into $CASSANDRA_HOME_DIR"
    mkdir -p "$CASSANDRA_HOME_DIR"
    cat >"$CASSANDRA_HOME_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>chat.test</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$CASSANDRA_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    # Maven prints a harmless error about ${jmc5.path}; success is the jar being there.
    (cd "$CASSANDRA_HOME_DIR" && mvn -q -B dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=lib-partial >mvn.log 2>&1) || true
    if [ ! -f "$CASSANDRA_HOME_DIR/lib-partial/cassandra-all-$CASSANDRA_VERSION.jar" ]; then
        echo "fetching Cassandra failed; Maven said:" >&2
        tail -n 20 "$CASSANDRA_HOME_DIR/mvn.log" >&2
        return 1
    fi
    mv "$CASSANDRA_HOME_DIR/lib-partial" "$CASSANDRA_HOME_DIR/lib"
}

cassandra_start() {
    if [ -n "${SCYLLA_URI:-}" ]; then
        export CHAT_TEST_CQL_URI="$SCYLLA_URI"
        echo "CQL tests use the ScyllaDB at $SCYLLA_URI"
        return 0
    fi
    local native storage java
    java="$(cassandra_java)"
    cassandra_fetch
    native="$(s3_free_port)"
    storage="$(s3_free_port)"
    CASSANDRA_DIR="$(mktemp -d)"
    cat >"$CASSANDRA_DIR/cassandra.yaml" <<EOF
cluster_name: chat-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $storage
native_transport_port: $native
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$storage"
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - $CASSANDRA_DIR/data
commitlog_directory: $CASSANDRA_DIR/commitlog
saved_caches_directory: $CASSANDRA_DIR/saved_caches
hints_directory: $CASSANDRA_DIR/hints
cdc_raw_directory: $CASSANDRA_DIR/cdc_raw
auto_snapshot: false
# TLS is optional on the same port: the TLS test uses it, every other test does not.
client_encryption_options:
  enabled: true
  optional: true
  keystore: $CASSANDRA_DIR/keystore.p12
  keystore_password: chat-test
  store_type: PKCS12
EOF
    # A self-signed certificate naming 127.0.0.1 (the driver verifies nodes by IP).
    "$(dirname "$java")/keytool" -genkeypair -alias cassandra -keyalg RSA -keysize 2048 \
        -validity 3650 -dname "CN=localhost" -ext "SAN=ip:127.0.0.1,dns:localhost" \
        -keystore "$CASSANDRA_DIR/keystore.p12" -storetype PKCS12 \
        -storepass chat-test -keypass chat-test >/dev/null 2>&1
    "$(dirname "$java")/keytool" -exportcert -rfc -alias cassandra \
        -keystore "$CASSANDRA_DIR/keystore.p12" -storepass chat-test \
        -file "$CASSANDRA_DIR/ca.pem" >/dev/null 2>&1
    cat >"$CASSANDRA_DIR/logback.xml" <<EOF
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$CASSANDRA_DIR/cassandra.log</file>
    <encoder><pattern>%date %level [%thread] %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
    echo "$native" >"$CASSANDRA_DIR/native"
    cassandra_launch
    local started=$SECONDS
    cassandra_wait
    export CHAT_TEST_CQL_URI="127.0.0.1:$native"
    # Tests stop and restart the server (same data) with this script.
    cat >"$CASSANDRA_DIR/restart.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
cd '$PWD'
source scripts/cassandra.sh
CASSANDRA_DIR='$CASSANDRA_DIR'
cassandra_restart
EOF
    export CHAT_TEST_CQL_RESTART="$CASSANDRA_DIR/restart.sh"
    export CHAT_TEST_CQL_CA="$CASSANDRA_DIR/ca.pem"
    # The chaos run pauses the server (SIGSTOP / SIGCONT) by this pid.
    export CHAT_TEST_CQL_PID_FILE="$CASSANDRA_DIR/pid"
    echo "CQL server (Cassandra $CASSANDRA_VERSION) at $CHAT_TEST_CQL_URI after $((SECONDS - started))s"
}

# Starts the server of $CASSANDRA_DIR in the background; its pid goes to $CASSANDRA_DIR/pid.
cassandra_launch() {
    local java lib jamm p
    java="$(cassandra_java)"
    lib="$CASSANDRA_HOME_DIR/lib"
    jamm="$(ls "$lib"/jamm-*.jar | head -n 1)"
    local opens=()
    for p in java.base/jdk.internal.misc java.base/jdk.internal.ref java.base/sun.nio.ch \
        java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
        java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc; do
        opens+=("--add-exports" "$p=ALL-UNNAMED")
    done
    for p in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
        java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
        java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal \
        java.base/sun.nio.ch java.base/java.io java.base/java.nio java.base/java.util.concurrent \
        java.base/java.util java.base/java.util.concurrent.atomic java.base/java.lang \
        java.base/java.math java.base/java.lang.reflect java.base/java.net \
        java.base/java.util.concurrent.locks java.management/com.sun.jmx.remote.security; do
        opens+=("--add-opens" "$p=ALL-UNNAMED")
    done
    "$java" -Xms2G -Xmx2G -XX:+UseG1GC -Djdk.attach.allowAttachSelf=true \
        "-javaagent:$jamm" "${opens[@]}" \
        -Dcassandra.config="file://$CASSANDRA_DIR/cassandra.yaml" \
        -Dcassandra-foreground=yes -Dcassandra.storagedir="$CASSANDRA_DIR" \
        -Dlogback.configurationFile="$CASSANDRA_DIR/logback.xml" \
        -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000 \
        -Dcassandra.superuser_setup_delay_ms=0 -Dcassandra.skip_sync=true \
        -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon \
        >>"$CASSANDRA_DIR/stdout.log" 2>&1 &
    echo $! >"$CASSANDRA_DIR/pid"
}

# Waits (up to 180 s) until the server of $CASSANDRA_DIR takes CQL connections.
cassandra_wait() {
    local native pid tries=0
    native="$(cat "$CASSANDRA_DIR/native")"
    pid="$(cat "$CASSANDRA_DIR/pid")"
    until (exec 3<>"/dev/tcp/127.0.0.1/$native") 2>/dev/null; do
        tries=$((tries + 1))
        if [ "$tries" -ge 180 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "Cassandra did not come up; its log:" >&2
            tail -n 40 "$CASSANDRA_DIR/cassandra.log" "$CASSANDRA_DIR/stdout.log" >&2
            return 1
        fi
        sleep 1
    done
}

# Stops the server of $CASSANDRA_DIR (SIGTERM, as an operator would) and waits until it is gone.
cassandra_halt() {
    if [ -f "$CASSANDRA_DIR/pid" ]; then
        local pid
        pid="$(cat "$CASSANDRA_DIR/pid")"
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
}

# Stops the server and starts it again on the same data.
cassandra_restart() {
    cassandra_halt
    cassandra_launch
    cassandra_wait
}

cassandra_stop() {
    if [ -n "${CASSANDRA_DIR:-}" ]; then
        cassandra_halt
    fi
    if [ -n "${CASSANDRA_DIR:-}" ]; then
        rm -rf "$CASSANDRA_DIR"
    fi
}
