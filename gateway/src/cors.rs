//! CORS for browsers on other origins (`http.cors_allowed_origins`): preflights answered,
//! the API's methods and headers allowed, the headers clients read exposed. No credentials
//! (cookies) are involved: the API authenticates with bearer tokens.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The layer for `origins`; `None` when the list is empty (same origin only).
pub fn layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut list = Vec::with_capacity(origins.len());
        for origin in origins {
            let valid = origin.starts_with("http://") || origin.starts_with("https://");
            let value = HeaderValue::from_str(origin.trim_end_matches('/'))
                .ok()
                .filter(|_| valid)
                .ok_or_else(|| {
                    format!("http.cors_allowed_origins: {origin:?} is not an origin (https://host[:port])")
                })?;
            list.push(value);
        }
        AllowOrigin::list(list)
    };
    let grpc = |name: &'static str| HeaderName::from_static(name);
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::RANGE,
                grpc("x-grpc-web"),
                grpc("x-user-agent"),
                grpc("grpc-timeout"),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::CONTENT_RANGE,
                header::CONTENT_DISPOSITION,
                grpc("grpc-status"),
                grpc("grpc-message"),
                grpc("grpc-status-details-bin"),
                grpc("chat-reason"),
            ])
            .max_age(Duration::from_secs(600)),
    ))
}
