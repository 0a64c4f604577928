//! `chatnode` as a child process (for SIGKILL, SIGTERM and the cluster).

use super::*;

/// A `chatnode` process (for crash tests).
pub struct NodeProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// The node's log lines after the one that gave its address.
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for NodeProcess {
    /// A test that fails midway must not leave its node running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Starts `chatnode` on `data_dir` with port 0 and returns once it is ready (it logs
    /// `http_addr=` then).
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, extra_env, "http_addr=")
    }

    /// Starts a node and returns as soon as it listens, ready or not.
    pub fn start_listening(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, extra_env, "listen_addr=")
    }

    fn spawn(data_dir: &Path, extra_env: &[(&str, &str)], marker: &'static str) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"));
        cmd.env_clear()
            .env("CHAT__NODE__DATA_DIR", data_dir)
            .env("CHAT__HTTP__LISTEN", "127.0.0.1:0")
            .env("CHAT__AUTH__SIGNING_KEY", SIGNING_KEY_B64)
            .env("CHAT__AUTH__ARGON2_MEMORY_KIB", "1024")
            .env("CHAT__AUTH__ARGON2_ITERATIONS", "1")
            .env("CHAT__LOG__LEVEL", "info,fjall=warn,lsm_tree=warn")
            .env("CHAT__STORE__BACKEND", "embedded")
            .env("CHAT__LIMITS__MESSAGES_PER_SEC", "1000000")
            .env("CHAT__LIMITS__MESSAGE_BURST", "1000000")
            .env("CHAT__LIMITS__ROOMS_PER_HOUR", "1000000")
            .env("CHAT__LIMITS__SIGNUPS_PER_IP_PER_HOUR", "1000000")
            .env("CHAT__LIMITS__LOGINS_PER_IP_PER_MIN", "1000000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        if let Some((uri, keyspace)) = cql_backend(data_dir) {
            cmd.env("CHAT__STORE__BACKEND", "cql")
                .env("CHAT__STORE__CQL__CONTACT_POINTS", format!("[\"{uri}\"]"))
                .env("CHAT__STORE__CQL__KEYSPACE", keyspace);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Self::launch(cmd, marker)
    }

    /// Starts `chatnode` with exactly these arguments and environment (nothing of the test
    /// defaults), once ready.
    pub fn start_exact(args: &[String], env: &[(String, String)]) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"));
        cmd.env_clear()
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        Self::launch(cmd, "http_addr=")
    }

    fn launch(mut cmd: std::process::Command, marker: &'static str) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = cmd.spawn().expect("spawn chatnode");
        let stdout = child.stdout.take().unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = log.recv_timeout(left) else {
                let status = child.try_wait().ok().flatten();
                panic!(
                    "chatnode did not report its address (exit: {status:?}); its output:\n{}",
                    seen.join("\n")
                );
            };
            seen.push(line.clone());
            if let Some(rest) = line.split(marker).nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Self { child, addr, log }
    }

    /// Waits until the node has logged a line containing `needle` `times` more times.
    pub fn wait_for_log(&self, needle: &str, times: usize) {
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut seen = 0;
        while seen < times {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the node never logged {needle:?} {times} times"));
            if line.contains(needle) {
                seen += 1;
            }
        }
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's resident memory (VmRSS), bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kib * 1024
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

/// What a tool run as a child process did: whether it succeeded, and everything it printed
/// (stdout, then stderr).
pub struct ToolRun {
    pub success: bool,
    pub log: String,
}

/// Runs a tool (node, grpcurl, python) to the end, off the runtime's threads.
pub async fn run_tool(mut cmd: std::process::Command) -> ToolRun {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the tool starts"))
        .await
        .unwrap();
    ToolRun {
        success: out.status.success(),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
