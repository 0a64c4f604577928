//! Who may join: the cookie, discovery through NATS, mutual TLS between nodes.

use super::*;

#[tokio::test]
async fn a_node_with_the_wrong_cookie_is_refused() {
    let Some(mut cluster) = TestCluster::start(2).await else {
        return;
    };
    // A third node with another cookie, listing both as peers.
    cluster.dirs.push(tempfile::tempdir().unwrap());
    cluster.ports.push(free_port());
    let intruder = cluster.spawn(2, &[("CHAT__CLUSTER__COOKIE", "not-the-cluster-cookie")]);
    cluster.nodes.push(Some(intruder));
    // Its handshakes fail (the cookie is checked by ractor_cluster's authentication), again
    // and again as it retries; nobody counts it, and it counts nobody.
    cluster.nodes[0]
        .as_ref()
        .unwrap()
        .wait_for_log("authentication failure", 3);
    assert_eq!(cluster.members(0).await, vec!["n0", "n1"]);
    assert_eq!(cluster.members(1).await, vec!["n0", "n1"]);
    assert_eq!(cluster.members(2).await, vec!["n2"]);
    cluster.stop().await;
}

#[tokio::test]
async fn a_node_that_knows_no_peer_finds_the_cluster_through_nats() {
    let Some(mut cluster) = TestCluster::start(2).await else {
        return;
    };
    cluster.dirs.push(tempfile::tempdir().unwrap());
    cluster.ports.push(free_port());
    let newcomer = cluster.spawn(2, &[("CHAT__CLUSTER__PEERS", "[]")]);
    cluster.nodes.push(Some(newcomer));
    // It announces itself and hears the others' announcements on the bus.
    cluster.wait_for_members(3).await;
    cluster.stop().await;
}

#[tokio::test]
async fn nodes_talk_over_mutual_tls_and_refuse_a_node_without_a_cluster_certificate() {
    if services().is_none() {
        return;
    }
    // A cluster CA, and one certificate for the nodes (all on 127.0.0.1 here).
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let node_key = rcgen::KeyPair::generate().unwrap();
    let node_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&node_key, &ca)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let tls = vec![
        (
            "CHAT__CLUSTER__TLS_CERT_FILE".to_owned(),
            write("node.pem", node_cert.pem()),
        ),
        (
            "CHAT__CLUSTER__TLS_KEY_FILE".to_owned(),
            write("node.key", node_key.serialize_pem()),
        ),
        (
            "CHAT__CLUSTER__TLS_CA_FILE".to_owned(),
            write("ca.pem", ca.pem()),
        ),
    ];
    let Some(mut cluster) = TestCluster::start_on(3, None, tls).await else {
        return;
    };
    // One cluster, and it chats.
    let http = Http::new(cluster.addr(0));
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(cluster.addr(1), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(2), &ben.access_token, Wire::Json).await;
    let room = a.create_group("encrypted", &[ben.id]).await;
    b.open(room.id).await;
    a.say_ok(room.id, "t1", "over TLS").await;
    assert_eq!(b.next_message().await.body, "over TLS");
    // A node with the right cookie but no certificate (plaintext) is not let in.
    cluster.dirs.push(tempfile::tempdir().unwrap());
    cluster.ports.push(free_port());
    let plain = cluster.spawn(
        3,
        &[
            ("CHAT__CLUSTER__TLS_CERT_FILE", ""),
            ("CHAT__CLUSTER__TLS_KEY_FILE", ""),
            ("CHAT__CLUSTER__TLS_CA_FILE", ""),
        ],
    );
    cluster.nodes.push(Some(plain));
    // Its sessions open and die at once (no TLS handshake), again and again.
    cluster.nodes[3]
        .as_ref()
        .unwrap()
        .wait_for_log("TCP Session closed", 2);
    assert_eq!(cluster.members(0).await, vec!["n0", "n1", "n2"]);
    assert_eq!(cluster.members(3).await, vec!["n3"]);
    cluster.stop().await;
}
