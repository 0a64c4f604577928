//! chatload against a real node (in-process, port 0): small runs of every scenario, checked
//! through the JSON report.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

use serde_json::Value;

async fn node() -> (chat_node::RunningNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = chat_node::NodeConfig::default();
    c.node.data_dir = dir.path().to_path_buf();
    c.http.listen = "127.0.0.1:0".into();
    c.auth.tokens.argon2_memory_kib = 1024;
    c.auth.tokens.argon2_iterations = 1;
    c.node.shutdown_timeout_secs = 5;
    c.limits = chat_actors::limits::LimitsConfig::unlimited();
    (chat_node::start(c).await.unwrap(), dir)
}

fn chatload(target: &str, args: &str) -> (bool, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let plot = dir.path().join("plot.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_chatload"))
        .args(["--quiet", "--target", target, "--json"])
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .args(args.split_whitespace())
        .output()
        .unwrap();
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if out.status.success() {
        let svg = std::fs::read_to_string(&plot).unwrap();
        assert!(svg.contains("<svg"), "plot is not an SVG");
    }
    (
        out.status.success(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn figure(report: &Value, name: &str) -> f64 {
    report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == name)
        .and_then(|f| f[1].as_f64())
        .unwrap_or_else(|| panic!("no figure {name} in {report}"))
}

/// Runs chatload off the runtime's threads; the run must succeed.
async fn run(target: &str, args: &str) -> Value {
    let (target, args) = (target.to_owned(), args.to_owned());
    let (ok, report, err) = tokio::task::spawn_blocking(move || chatload(&target, &args))
        .await
        .unwrap();
    assert!(ok, "{err}");
    report
}

/// Every expected delivery happened, with no gap and no error.
fn assert_all_delivered(report: &Value) {
    assert_eq!(
        figure(report, "deliveries"),
        figure(report, "deliveries expected"),
        "{report}"
    );
    assert_eq!(
        figure(report, "seq gaps") + figure(report, "error replies"),
        0.0,
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_run_against_a_real_node() {
    let (node, _dir) = node().await;
    let target = format!("http://{}", node.http_addr);
    let t = target.clone();
    let (ok, report, err) = tokio::task::spawn_blocking(move || {
        chatload(
            &t,
            "fanout --rooms 2 --members 3 --senders 2 --rate 100 --duration-secs 2",
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let sent = figure(&report, "messages sent");
    assert!(sent > 0.0);
    assert_eq!(
        figure(&report, "deliveries"),
        figure(&report, "deliveries expected"),
        "{report}"
    );
    assert_eq!(figure(&report, "acks"), sent);
    for v in [
        "seq gaps",
        "seq duplicates",
        "seq reorderings",
        "error replies",
    ] {
        assert_eq!(figure(&report, v), 0.0, "{v}: {report}");
    }

    let mixed = "mixed --rooms 2 --members 4 --senders 2 --rate 50 --duration-secs 2 --idle 5 \
                 --open-percent 50 --read-every 2 --typing-every 2";
    let report = run(&target, mixed).await;
    assert_all_delivered(&report);
    assert!(
        figure(&report, "chat-list updates received") > 0.0,
        "{report}"
    );
    assert!(figure(&report, "mark-read commands sent") > 0.0, "{report}");

    let t = target.clone();
    let (ok, report, err) = tokio::task::spawn_blocking(move || {
        chatload(
            &t,
            "history --rooms 1 --messages 300 --pages 20 --page-size 50",
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(figure(&report, "pages read"), 20.0);

    // Replies, reactions and edits mixed in: every reader sees every entry, history agrees.
    let report = run(&target, "timeline --rooms 2 --members 3 --entries 40").await;
    assert_eq!(figure(&report, "acked entries"), 240.0, "{report}");
    assert_eq!(figure(&report, "violations"), 0.0, "{report}");

    let t = target.clone();
    let args = format!(
        "--node-pid {} connections --count 50 --users 5 --hold-secs 0",
        std::process::id()
    );
    let (ok, report, err) = tokio::task::spawn_blocking(move || chatload(&t, &args))
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert_eq!(figure(&report, "connections open"), 50.0);
    figure(&report, "server memory per connection");

    // The same scenarios over gRPC Session streams.
    let fanout = "--transport grpc fanout --rooms 2 --members 3 --senders 2 --rate 100 \
                  --duration-secs 2";
    let report = run(&target, fanout).await;
    assert!(figure(&report, "messages sent") > 0.0);
    assert_all_delivered(&report);
    let connections = "--transport grpc connections --count 20 --users 5 --hold-secs 0";
    let report = run(&target, connections).await;
    assert_eq!(figure(&report, "connections open"), 20.0);
    node.shutdown().await;
}

#[test]
fn bad_flags_exit_non_zero_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_chatload"))
        .args(["--target", "http://192.0.2.1:8080", "fanout"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = Command::new(env!("CARGO_BIN_EXE_chatload"))
        .args(["fanout", "--rate", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
