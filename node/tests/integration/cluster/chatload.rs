//! chatload against the three-node cluster.

use super::*;

/// The `chatload` binary, built beside `chatnode` (scripts/test.sh builds the workspace).
fn chatload_bin() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_chatnode")).with_file_name("chatload");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p chat-loadtest` (./scripts/test.sh does)",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn chatload_runs_against_the_three_node_cluster() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = std::process::Command::new(chatload_bin());
    cmd.arg("--quiet");
    for addr in cluster.live_addrs() {
        cmd.args(["--target", &format!("http://{addr}")]);
    }
    // Members spread over the three nodes (clients go round-robin over the targets), so
    // most deliveries cross nodes.
    cmd.arg("--json").arg(&json).args([
        "fanout",
        "--rooms",
        "3",
        "--members",
        "6",
        "--senders",
        "3",
        "--rate",
        "150",
        "--duration-secs",
        "2",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let figure = |name: &str| {
        report["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[0] == name)
            .and_then(|f| f[1].as_f64())
            .unwrap_or_else(|| panic!("no figure {name} in {report}"))
    };
    assert!(figure("deliveries") > 0.0, "{report}");
    assert_eq!(
        figure("deliveries"),
        figure("deliveries expected"),
        "{report}"
    );
    for bad in [
        "seq gaps",
        "seq duplicates",
        "seq reorderings",
        "error replies",
    ] {
        assert_eq!(figure(bad), 0.0, "{bad}: {report}");
    }
    cluster.stop().await;
}
