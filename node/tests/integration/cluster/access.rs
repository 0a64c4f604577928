//! Access across the cluster: a log-out on one node closes the log-in's socket on another
//! and its token is refused on every node, a node that starts afterwards included; a block
//! made on one node silences the direct room wherever it runs.

use super::*;

#[tokio::test]
async fn a_logout_on_one_node_closes_the_socket_on_another_and_holds_after_a_restart() {
    let Some(mut cluster) = TestCluster::start(3).await else {
        return;
    };
    let addrs: Vec<SocketAddr> = (0..3).map(|i| cluster.addr(i)).collect();
    let on = |i: usize| Http::new(addrs[i]);
    let [ann, ben] = on(0).signups(["ann", "ben"]).await;
    let mut far = Client::connect(cluster.addr(2), &ann.access_token, Wire::Json).await;
    let mut ben_far = Client::connect(cluster.addr(2), &ben.access_token, Wire::Json).await;
    let room = ben_far.create_direct(ann.id).await;
    far.open(room.id).await;

    let (status, _) = on(0).logout(&ann.refresh_token).await;
    assert_eq!(status, 200);
    assert_eq!(far.closed_code().await, Some(4101));
    for i in 0..3 {
        let (status, body) = on(i)
            .get_authed(&ann.access_token, "/v1/files/1/info")
            .await;
        assert_eq!(
            (status, reason(&body)),
            (401, "AUTH_REVOKED"),
            "node {i}: {body}"
        );
    }
    // A node that starts afterwards loads the revocation before it serves.
    cluster.kill9(1);
    cluster.restart(1);
    cluster.wait_for_members(3).await;
    let on = |i: usize| Http::new(cluster.addr(i));
    let (status, body) = on(1)
        .get_authed(&ann.access_token, "/v1/files/1/info")
        .await;
    assert_eq!((status, reason(&body)), (401, "AUTH_REVOKED"), "{body}");

    // A block made on node 0 holds in the room, wherever it runs.
    let ann2 = on(1).login("ann").await;
    let mut near = Client::connect(cluster.addr(0), &ann2.access_token, Wire::Json).await;
    ok_payload(
        near.call(Command::BlockUser(v1::BlockUserRequest { user_id: ben.id }))
            .await,
    );
    let p = ben_far.say(room.id, "m1", "hello?").await;
    assert_error(p, v1::ErrorCode::PermissionDenied, "BLOCKED");
    cluster.stop().await;
}
