//! The browser client (`web/`), embedded in the binary so a node serves it with nothing
//! installed: `/` is the page, `/app/...` its modules and styles. Plain ES modules, no build
//! step: what is in `web/` is exactly what browsers get. `web/js/sdk.js` is the SDK (sdk/js)
//! bundled, checked in, and checked against its sources by the test command.

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// Every file of the client: path under `/app/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/app.css"),
    ),
    (
        "js/main.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/main.js"),
    ),
    (
        "js/state.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/state.js"),
    ),
    (
        "js/actions.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/actions.js"),
    ),
    (
        "js/events.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/events.js"),
    ),
    (
        "js/login.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/login.js"),
    ),
    (
        "js/chatlist.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/chatlist.js"),
    ),
    (
        "js/friends.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/friends.js"),
    ),
    (
        "js/chat.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/chat.js"),
    ),
    (
        "js/mentions.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/mentions.js"),
    ),
    (
        "js/pins.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/pins.js"),
    ),
    (
        "js/forward.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/forward.js"),
    ),
    (
        "js/dialogs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/dialogs.js"),
    ),
    (
        "js/api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/api.js"),
    ),
    (
        "js/conn.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/conn.js"),
    ),
    (
        "js/sdk.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/sdk.js"),
    ),
    (
        "js/h.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/js/h.js"),
    ),
];

const INDEX: &[u8] = include_bytes!("../../web/index.html");

/// Only this origin's scripts, styles, sockets and images (files are served here too): a
/// message can never bring in active content.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> Router<crate::state::Gateway> {
    Router::new()
        .route("/", get(index))
        .route("/app/{*path}", get(asset))
}

async fn index() -> Response {
    respond("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => respond(content_type, bytes),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn respond(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Not fingerprinted: revalidate, so a new node version is picked up at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
