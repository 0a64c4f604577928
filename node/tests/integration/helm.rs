//! The Helm chart and the binary agree (issue 9): render the chart for three replicas, then
//! run three `chatnode` processes with exactly the StatefulSet's arguments and environment
//! and the ConfigMap's file, each pod's host names mapped to its own loopback address, and
//! check that they form one cluster and chat.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

use base64::Engine as _;
use serde_json::Value;

use crate::common::*;

const RELEASE: &str = "chat";
const NAMESPACE: &str = "default";

/// Renders the chart with `sets` and returns its objects as JSON (helm prints YAML; the
/// Python of scripts/helm.sh, which has PyYAML, converts it).
fn render(sets: &[String]) -> Vec<Value> {
    let helm = std::env::var("CHAT_TEST_HELM")
        .expect("CHAT_TEST_HELM is not set: run ./scripts/test.sh (it installs Helm)");
    let python = std::env::var("CHAT_TEST_YAML_PYTHON")
        .expect("CHAT_TEST_YAML_PYTHON is not set: run ./scripts/test.sh");
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../helm/chatcluster");
    let mut cmd = std::process::Command::new(helm);
    cmd.args(["template", RELEASE]).arg(&chart).args([
        "--namespace",
        NAMESPACE,
        "--kube-version",
        "1.30.0",
    ]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut py = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; \
             print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    py.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let json = py.wait_with_output().unwrap();
    assert!(json.status.success());
    serde_json::from_slice(&json.stdout).unwrap()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// A container's environment as the kubelet would give it to pod `pod`: field references,
/// secret references (from `secrets`), and `$(VAR)` expansion of earlier variables.
fn pod_env(
    container: &Value,
    pod: &str,
    secrets: &HashMap<String, HashMap<String, String>>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = if let Some(v) = var["value"].as_str() {
            let mut v = v.to_owned();
            for (k, val) in &env {
                v = v.replace(&format!("$({k})"), val);
            }
            v
        } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.name" => pod.to_owned(),
                "metadata.namespace" => NAMESPACE.to_owned(),
                other => panic!("unexpected field reference {other}"),
            }
        } else if let Some(r) = var["valueFrom"].get("secretKeyRef") {
            let (secret, key) = (r["name"].as_str().unwrap(), r["key"].as_str().unwrap());
            secrets
                .get(secret)
                .and_then(|s| s.get(key))
                .unwrap_or_else(|| panic!("no key {key} in Secret {secret}"))
                .clone()
        } else {
            panic!("unexpected env entry {var}")
        };
        env.push((name, value));
    }
    env
}

#[tokio::test]
async fn three_nodes_configured_by_the_chart_form_one_cluster_and_chat() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CHAT_TEST_CQL_URI").is_empty() || var("CHAT_TEST_NATS_URL").is_empty() {
        assert_eq!(
            var("CHAT_SKIP_CLUSTER"),
            "1",
            "the chart test needs the servers of ./scripts/test.sh (or CHAT_SKIP_CLUSTER=1)"
        );
        return;
    }
    let tag = format!("helm{}", std::process::id());
    let keyspace = format!("chat_{tag}");
    let sets = vec![
        "replicaCount=3".to_owned(),
        format!("nats.url={}", var("CHAT_TEST_NATS_URL")),
        format!("nats.subjectPrefix={tag}"),
        format!("cql.contactPoints={{{}}}", var("CHAT_TEST_CQL_URI")),
        format!("cql.keyspace={keyspace}"),
        "cql.replicationFactor=1".to_owned(),
        format!("files.s3.endpoint={}", var("CHAT_TEST_S3_ENDPOINT")),
        format!("files.s3.bucket={}", var("CHAT_TEST_S3_BUCKET")),
        "files.s3.allowHttp=true".to_owned(),
        "files.s3.credentialsSecret=s3-credentials".to_owned(),
        "log.format=text".to_owned(),
        // Mutual TLS between the pods, from a Secret as cert-manager would make it.
        "cluster.tls.secret=cluster-tls".to_owned(),
    ];
    let objects = render(&sets);
    let full = format!("{RELEASE}-chatcluster");
    let sts = object(&objects, "StatefulSet", &full);
    assert_eq!(sts["spec"]["replicas"], 3);
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    let toml = object(&objects, "ConfigMap", &full)["data"]["chatnode.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let tls_volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "cluster-tls")
        .expect("a cluster-tls volume");
    assert_eq!(tls_volume["secret"]["secretName"], "cluster-tls");
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "cluster-tls" && m["mountPath"] == "/etc/chat/cluster-tls")
    );
    // The Secret's files (tls.crt, tls.key, ca.crt): one certificate naming the headless
    // service (nodes dial it to find each other) and every pod of it (peers announce their
    // pod names), signed by the cluster's CA.
    let tls_dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let pod_key = rcgen::KeyPair::generate().unwrap();
    let service = format!("{full}-peers.{NAMESPACE}.svc.cluster.local");
    let pod_cert = rcgen::CertificateParams::new(vec![service.clone(), format!("*.{service}")])
        .unwrap()
        .signed_by(&pod_key, &ca)
        .unwrap();
    for (file, pem) in [
        ("tls.crt", pod_cert.pem()),
        ("tls.key", pod_key.serialize_pem()),
        ("ca.crt", ca.pem()),
    ] {
        std::fs::write(tls_dir.path().join(file), pem).unwrap();
    }
    assert!(toml.contains("tls_ca_file = \"/etc/chat/cluster-tls/ca.crt\""));
    let toml = toml.replace(
        "/etc/chat/cluster-tls/",
        &format!("{}/", tls_dir.path().display()),
    );
    // Secrets: the chart's generated one, and the S3 credentials an operator would create.
    let mut secrets: HashMap<String, HashMap<String, String>> = HashMap::new();
    let generated = object(&objects, "Secret", &full);
    let b64 = base64::engine::general_purpose::STANDARD;
    secrets.insert(
        full.clone(),
        generated["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let bytes = b64.decode(v.as_str().unwrap()).unwrap();
                (k.clone(), String::from_utf8(bytes).unwrap())
            })
            .collect(),
    );
    secrets.insert(
        "s3-credentials".into(),
        HashMap::from([
            ("access-key-id".into(), var("CHAT_TEST_S3_ACCESS_KEY")),
            ("secret-access-key".into(), var("CHAT_TEST_S3_SECRET_KEY")),
        ]),
    );
    // Where the pod would have its volumes; the config file at its mount path's name.
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["mountPath"] == "/etc/chat"));
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args, ["--config", "/etc/chat/chatnode.toml"]);

    // One loopback address per pod; the pods' and the headless service's names map there.
    let headless = format!("{full}-peers.{NAMESPACE}.svc.cluster.local");
    let ip = |i: usize| -> IpAddr { format!("127.0.0.{}", 20 + i).parse().unwrap() };
    let mut aliases: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "\"{full}-{i}.{full}-peers.{NAMESPACE}.svc.cluster.local\" = [\"{}\"]",
                ip(i)
            )
        })
        .collect();
    aliases.push(format!(
        "\"{headless}\" = [{}]",
        (0..3)
            .map(|i| format!("\"{}\"", ip(i)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let aliases = format!("{{ {} }}", aliases.join(", "));
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let pod = format!("{full}-{i}");
        let config = dir.path().join("chatnode.toml");
        std::fs::write(&config, &toml).unwrap();
        let mut env = pod_env(container, &pod, &secrets);
        // What differs between a pod and a process on this machine: its own IP (the chart
        // binds 0.0.0.0), the volume paths, and DNS.
        env.extend([
            ("CHAT__HTTP__LISTEN".into(), format!("{}:0", ip(i))),
            ("CHAT__CLUSTER__LISTEN".into(), format!("{}:4370", ip(i))),
            (
                "CHAT__NODE__DATA_DIR".into(),
                dir.path().display().to_string(),
            ),
            ("CHAT__CLUSTER__HOST_ALIASES".into(), aliases.clone()),
        ]);
        let args = vec!["--config".to_owned(), config.display().to_string()];
        nodes.push(NodeProcess::start_exact(&args, &env));
    }
    // One cluster (over mutual TLS): every node sees the three pods.
    let want: Vec<String> = (0..3).map(|i| format!("{full}-{i}")).collect();
    let deadline = std::time::Instant::now() + PATIENCE;
    for node in &nodes {
        loop {
            let (_, body) = Http::new(node.addr).get("/v1/cluster").await;
            let v: Value = serde_json::from_str(&body).unwrap();
            let members: Vec<String> = v["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect();
            if members == want {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "members: {members:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // And they chat: tokens from one pod work on the others (the Secret's signing key).
    let http = Http::new(nodes[0].addr);
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(nodes[1].addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(nodes[2].addr, &ben.access_token, Wire::Json).await;
    let room = a.create_group("helm", &[ben.id]).await;
    b.open(room.id).await;
    a.say_ok(room.id, "h1", "configured by the chart").await;
    assert_eq!(b.next_message().await.body, "configured by the chart");
    for node in nodes {
        node.kill9();
    }
    let cql = chat_store::CqlConfig {
        contact_points: vec![var("CHAT_TEST_CQL_URI")],
        keyspace,
        ..chat_store::CqlConfig::default()
    };
    chat_store::CqlStore::drop_keyspace(&cql).await.unwrap();
}
