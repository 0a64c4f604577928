//! The HTTP API's edges: every error is `{"error": Error}` JSON with a documented reason
//! (unknown path, wrong method with `Allow`, oversized and mistyped bodies), messages carry
//! no parser internals, and CORS preflights are answered for configured origins only.

use serde_json::Value;

use crate::common::*;

async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn every_http_error_is_json_with_a_documented_reason() {
    let node = TestNode::start().await;
    let base = format!("http://{}", node.addr);
    let client = http_client();

    let (status, _, body) = send(client.get(format!("{base}/v1/nothing/here"))).await;
    assert_eq!((status, reason(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, headers, body) = send(client.get(format!("{base}/v1/auth/login"))).await;
    assert_eq!(
        (status, reason(&body)),
        (405, "METHOD_NOT_ALLOWED"),
        "{body}"
    );
    assert!(
        headers
            .get("allow")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let big = "x".repeat(64 * 1024);
    let (status, _, body) = send(
        client
            .post(format!("{base}/v1/auth/login"))
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!((status, reason(&body)), (413, "BODY_TOO_LARGE"), "{body}");
    let (status, _, body) = send(
        client
            .post(format!("{base}/v1/auth/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=a&password=b"),
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        "{body}"
    );
    // A body of the wrong shape says where, not what the parser thought.
    for bad in [r#"{"username": 5}"#, "{not json", r#"{"username": "a""#] {
        let (status, _, body) = send(
            client
                .post(format!("{base}/v1/auth/login"))
                .header("content-type", "application/json")
                .body(bad),
        )
        .await;
        assert_eq!(
            (status, reason(&body)),
            (400, "MALFORMED_REQUEST"),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("invalid type") && !message.contains("expected"),
            "{message}"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn cors_preflights_are_answered_for_configured_origins_only() {
    let allowed = "https://chat.example.com";
    let node = TestNode::start_with(|c| c.http.cors_allowed_origins = vec![allowed.into()]).await;
    let url = format!("http://{}/v1/auth/login", node.addr);
    let client = http_client();
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
    };
    let (status, headers, _) = send(preflight(allowed)).await;
    assert!((200..300).contains(&status), "{status}");
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), allowed);
    let methods = headers
        .get("access-control-allow-methods")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed_headers = headers.get("access-control-allow-headers").unwrap();
    assert!(allowed_headers.to_str().unwrap().contains("authorization"));
    // Another origin gets no grant, and the actual request carries none either.
    let (_, headers, _) = send(preflight("https://evil.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());
    let (status, headers, _) = send(
        client
            .post(&url)
            .header("origin", allowed)
            .json(&serde_json::json!({"username": "nobody", "password": "whatever1"})),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), allowed);
    node.stop().await;

    // By default: same origin only.
    let node = TestNode::start().await;
    let url = format!("http://{}/v1/auth/login", node.addr);
    let r = http_client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    node.stop().await;
}
