//! Checks run by the coverage-guided fuzz harness (`fuzz/`) and by the tests that replay its
//! checked-in corpus. Not an API: [`request`] feeds hostile input to every parser of HTTP
//! request parts this crate owns and panics when something that must hold does not.

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderValue, header},
};
use chat_actors::Reason;
use chat_proto::v1::{LoginRequest, LogoutRequest, RefreshRequest, SignupRequest};

use crate::{files, poll, respond};

/// The entity tag the fuzzed file answers `If-Range` with.
const ETAG: &str = "\"0123abcd\"";

/// One request's parts, separated by newlines in `data`: an `Authorization` value, a poll
/// cursor, a `Range` and an `If-Range` value, a file's size, a download name and a JSON body
/// (tried as each account request).
pub fn request(data: &[u8]) {
    let mut parts = data.splitn(7, |b| *b == b'\n');
    let mut next = || parts.next().unwrap_or_default();
    let (authorization, cursor, range, if_range) = (next(), next(), next(), next());
    let (size, name, body) = (next(), next(), next());

    check_bearer(authorization);
    check_cursor(&String::from_utf8_lossy(cursor));
    let size = std::str::from_utf8(size)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1000);
    check_range(range, if_range, size);
    check_disposition(&String::from_utf8_lossy(name));
    let body = Bytes::copy_from_slice(body);
    let _ = respond::parse::<SignupRequest>(&body);
    let _ = respond::parse::<LoginRequest>(&body);
    let _ = respond::parse::<RefreshRequest>(&body);
    let _ = respond::parse::<LogoutRequest>(&body);
}

fn headers(pairs: &[(header::HeaderName, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            map.insert(name.clone(), v);
        }
    }
    map
}

fn check_bearer(value: &[u8]) {
    let map = headers(&[(header::AUTHORIZATION, value)]);
    let token = respond::bearer(&map);
    assert_eq!(token, token.trim(), "a token keeps surrounding blanks");
    if !token.is_empty() {
        assert!(value.starts_with(b"Bearer "), "a token without the scheme");
    }
}

fn check_cursor(cursor: &str) {
    if let Ok((id, _)) = poll::parse_cursor(cursor) {
        assert_eq!(id.len(), 32, "{cursor:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{cursor:?}");
    }
}

fn check_range(range: &[u8], if_range: &[u8], size: u64) {
    let map = headers(&[(header::RANGE, range), (header::IF_RANGE, if_range)]);
    match files::range_of(&map, size, ETAG) {
        Ok(None) => {}
        Ok(Some(r)) => assert!(
            r.start < r.end && r.end <= size,
            "range {r:?} served from {size} bytes for {range:?}"
        ),
        Err(e) => assert_eq!(e.reason(), Reason::RangeNotSatisfiable, "{e}"),
    }
}

fn check_disposition(name: &str) {
    for inline in [false, true] {
        let value = files::content_disposition(name, inline);
        assert!(
            HeaderValue::from_str(&value).is_ok(),
            "not a header value: {value:?}"
        );
        assert_eq!(
            value.matches('"').count(),
            2,
            "the quoted name ends early: {value:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::fuzzing::corpus;

    /// Every checked-in input (seeds and what fuzzing found) passes the checks.
    #[test]
    fn the_corpus_replays() {
        corpus("http_request")
            .iter()
            .for_each(|i| super::request(i));
    }
}
