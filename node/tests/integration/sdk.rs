//! The TypeScript SDK (issue 19): its own tests (`sdk/js/test/*.test.mjs`, node's test
//! runner) against real nodes they start from this build's `chatnode`: both WebSocket wires
//! and long polling, re-authentication, a restart, a pause, truncated recovery, revocation,
//! refused connections, the fallback to long polling and the way back.

use std::path::PathBuf;

use crate::common::{ToolRun, run_tool};

#[tokio::test]
async fn the_js_sdk_passes_its_tests_against_real_nodes() {
    let Ok(sdk) = std::env::var("CHAT_TEST_SDK_JS") else {
        assert_eq!(
            std::env::var("CHAT_SKIP_SDK").unwrap_or_default(),
            "1",
            "CHAT_TEST_SDK_JS is not set: run ./scripts/test.sh (scripts/sdk.sh installs and \
             builds sdk/js), or set CHAT_SKIP_SDK=1 to skip the SDK's tests knowingly"
        );
        eprintln!("SDK tests SKIPPED (CHAT_SKIP_SDK=1)");
        return;
    };
    let sdk = PathBuf::from(sdk);
    assert!(
        sdk.join("dist/index.js").exists(),
        "sdk/js is not built: run ./scripts/test.sh (npm run build in sdk/js)"
    );
    let mut tests: Vec<String> = std::fs::read_dir(sdk.join("test"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test.mjs"))
        .map(|n| format!("test/{n}"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no SDK tests found");
    let mut cmd = std::process::Command::new("node");
    cmd.arg("--test")
        .args(&tests)
        .current_dir(&sdk)
        .env("CHATNODE_BIN", env!("CARGO_BIN_EXE_chatnode"));
    let ToolRun { success, log } = run_tool(cmd).await;
    assert!(success, "SDK tests failed:\n{log}");
    assert!(log.contains("# fail 0"), "{log}");
}
