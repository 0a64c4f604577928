//! The files API over HTTP. Only HTTP semantics live here (streams, Range, caching headers,
//! Content-Disposition); what may be uploaded and who may read it is the file service's.
//!
//! - `POST /v1/files?name=<name>`: the request body is the file, streamed. `201` + `FileInfo`.
//! - `GET|HEAD /v1/files/{id}`: the bytes, with `Range` (one range) and `If-None-Match`.
//! - `GET|HEAD /v1/files/{id}/thumbnail`: the server-made thumbnail of an image.
//! - `GET /v1/files/{id}/info`: the `FileInfo`.
//!
//! Authentication: `Authorization: Bearer <token>`; or, for `<img src>` and links, a signed
//! URL from `get_file_url` (`?exp=&sig=`, no token in the URL); `?access_token=` is still
//! accepted but leaks the token into logs and history.

use std::ops::Range;

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chat_actors::{
    ChatError, Reason, convert,
    files::{BodyError, FileRecord, Variant},
};
use futures::{StreamExt as _, TryStreamExt as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::{
    respond::{bearer, error_response, json},
    state::Gateway,
};

/// Query of every files route.
#[derive(Debug, Default, Deserialize)]
pub struct FileQuery {
    /// The file name (uploads).
    name: Option<String>,
    /// A token for clients that cannot set headers (deprecated: use a signed URL).
    access_token: Option<String>,
    /// A signed URL's expiry (unix seconds).
    exp: Option<i64>,
    /// A signed URL's signature.
    sig: Option<String>,
}

/// RFC 5987 `attr-char`s stay as they are in `filename*`; everything else is encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

fn authenticate(g: &Gateway, headers: &HeaderMap, q: &FileQuery) -> Result<u64, ChatError> {
    let token = match bearer(headers) {
        "" => q.access_token.as_deref().unwrap_or("").trim(),
        t => t,
    };
    g.services.auth.verify_access(token)
}

fn parse_id(raw: &str) -> Result<u64, ChatError> {
    raw.parse().map_err(|_| ChatError::file_not_found())
}

/// `POST /v1/files`
pub async fn upload(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Query(q): Query<FileQuery>,
    body: Body,
) -> Response {
    let user = match authenticate(&g, &headers, &q) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let stream = body
        .into_data_stream()
        .map_err(|e| BodyError::from(e.to_string()))
        .boxed();
    let name = q.name.as_deref().unwrap_or("");
    match g.services.files.upload(user, name, declared, stream).await {
        Ok(file) => {
            let mut response = json(StatusCode::CREATED, &convert::file_info(&file));
            if let Ok(location) = HeaderValue::from_str(&format!("/v1/files/{}", file.id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(e) => error_response(&e),
    }
}

/// `GET /v1/files/{id}/info`
pub async fn info(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> Response {
    let result = async {
        let user = authenticate(&g, &headers, &q)?;
        g.services.files.readable(user, parse_id(&id)?).await
    }
    .await;
    match result {
        Ok(file) => json(StatusCode::OK, &convert::file_info(&file)),
        Err(e) => error_response(&e),
    }
}

/// `GET /v1/files/{id}`
pub async fn download(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> Response {
    serve(&g, &headers, &id, &q, Variant::Original).await
}

/// `GET /v1/files/{id}/thumbnail`
pub async fn thumbnail(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> Response {
    serve(&g, &headers, &id, &q, Variant::Thumbnail).await
}

/// What is served: the stored bytes' size, type, validator and name.
struct Served {
    size: u64,
    content_type: String,
    etag: String,
}

impl Served {
    fn of(file: &FileRecord, variant: Variant) -> Result<Self, ChatError> {
        let sha = convert::hex(&file.sha256);
        match variant {
            Variant::Original => Ok(Self {
                size: file.size,
                content_type: file.content_type.clone(),
                etag: format!("\"{sha}\""),
            }),
            Variant::Thumbnail => {
                let thumb = file.thumbnail.as_ref().ok_or_else(|| {
                    ChatError::NotFound(
                        Reason::ThumbnailNotReady,
                        "no thumbnail (not an image, or not made yet)".into(),
                    )
                })?;
                Ok(Self {
                    size: thumb.size,
                    content_type: thumb.content_type.clone(),
                    etag: format!("\"{sha}-thumb\""),
                })
            }
        }
    }
}

async fn serve(
    g: &Gateway,
    headers: &HeaderMap,
    id: &str,
    q: &FileQuery,
    variant: Variant,
) -> Response {
    let file = async {
        let id = parse_id(id)?;
        if let (Some(exp), Some(sig)) = (q.exp, q.sig.as_deref()) {
            // A signed URL grants these bytes by itself: no token, no access lookup.
            return g.services.files.by_url(id, variant, exp, sig).await;
        }
        let user = authenticate(g, headers, q)?;
        g.services.files.readable(user, id).await
    }
    .await;
    let file = match file {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let served = match Served::of(&file, variant) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let mut out = HeaderMap::new();
    common_headers(&mut out, &file, &served, variant);
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, &served.etag)) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    let range = match requested_range(headers, &served) {
        Ok(r) => r,
        Err(e) => {
            let mut response = error_response(&e);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", served.size)) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let stream = match g.services.files.read(&file, variant, range.clone()).await {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let (status, length) = match &range {
        Some(r) => {
            let value = format!("bytes {}-{}/{}", r.start, r.end - 1, served.size);
            if let Ok(v) = HeaderValue::from_str(&value) {
                out.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, r.end - r.start)
        }
        None => (StatusCode::OK, served.size),
    };
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    (status, out, Body::from_stream(stream)).into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// The one byte range to serve, `None` for the whole file. A malformed header, several
/// ranges, or an `If-Range` that no longer matches mean the whole file (RFC 9110 allows a
/// server to ignore Range); a range outside the file is `RANGE_NOT_SATISFIABLE`.
/// [`requested_range`] of a file of `size` bytes whose entity tag is `etag`.
pub(crate) fn range_of(
    headers: &HeaderMap,
    size: u64,
    etag: &str,
) -> Result<Option<Range<u64>>, ChatError> {
    let served = Served {
        size,
        content_type: String::new(),
        etag: etag.to_owned(),
    };
    requested_range(headers, &served)
}

fn requested_range(headers: &HeaderMap, served: &Served) -> Result<Option<Range<u64>>, ChatError> {
    let Some(value) = header_str(headers, header::RANGE) else {
        return Ok(None);
    };
    if let Some(if_range) = header_str(headers, header::IF_RANGE)
        && if_range.trim() != served.etag
    {
        return Ok(None);
    }
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ChatError::invalid(
            Reason::RangeNotSatisfiable,
            format!(
                "range {value:?} is outside the file's {} bytes",
                served.size
            ),
        )
    };
    let ranges = parsed.validate(served.size).map_err(|_| unsatisfiable())?;
    match ranges.as_slice() {
        [one] => Ok(Some(*one.start()..one.end() + 1)),
        _ => Ok(None),
    }
}

fn common_headers(out: &mut HeaderMap, file: &FileRecord, served: &Served, variant: Variant) {
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, &served.content_type);
    set(header::ETAG, &served.etag);
    set(header::ACCEPT_RANGES, "bytes");
    // The bytes behind an id never change; only the reader's right to them can, so caches
    // must be private to the reader.
    set(
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable",
    );
    let modified = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(file.created_at_ms).unwrap_or(0));
    set(header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
    // Uploaded bytes must never run as a page of this origin.
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    let name = match variant {
        Variant::Original => file.name.clone(),
        Variant::Thumbnail => format!("thumbnail-{}", file.name),
    };
    let inline = chat_actors::files::inspect::is_image(&served.content_type);
    set(
        header::CONTENT_DISPOSITION,
        &content_disposition(&name, inline),
    );
}

/// `inline` only for image types the browser renders harmlessly, `attachment` otherwise;
/// an ASCII `filename` fallback plus the exact UTF-8 name in `filename*` (RFC 6266).
pub fn content_disposition(name: &str, inline: bool) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    let encoded = utf8_percent_encode(name, ATTR_CHAR);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_safe() {
        assert_eq!(
            content_disposition("a b.txt", false),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        let d = content_disposition("사진 \"1\";.png", true);
        assert!(d.starts_with("inline; filename=\"__ _1_;.png\"; filename*=UTF-8''"));
        assert!(
            !d.contains("\"1\""),
            "quotes never end the quoted string: {d}"
        );
        assert!(d.ends_with("%EC%82%AC%EC%A7%84%20%221%22%3B.png"), "{d}");
    }

    #[test]
    fn ranges() {
        let served = Served {
            size: 100,
            content_type: "text/plain".into(),
            etag: "\"e\"".into(),
        };
        let with = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap_or(header::RANGE),
                    HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
                );
            }
            requested_range(&h, &served)
        };
        assert_eq!(with(&[]), Ok(None));
        assert_eq!(with(&[("range", "bytes=0-9")]), Ok(Some(0..10)));
        assert_eq!(with(&[("range", "bytes=90-")]), Ok(Some(90..100)));
        assert_eq!(with(&[("range", "bytes=-5")]), Ok(Some(95..100)));
        assert_eq!(with(&[("range", "bytes=0-1,5-6")]), Ok(None));
        assert_eq!(with(&[("range", "pages=1")]), Ok(None));
        assert_eq!(
            with(&[("range", "bytes=0-9"), ("if-range", "\"old\"")]),
            Ok(None)
        );
        assert_eq!(
            with(&[("range", "bytes=0-9"), ("if-range", "\"e\"")]),
            Ok(Some(0..10))
        );
        let e = with(&[("range", "bytes=100-200")])
            .err()
            .map(|e| e.reason());
        assert_eq!(e, Some(Reason::RangeNotSatisfiable));
        assert!(etag_matches("\"x\", W/\"e\"", "\"e\""));
        assert!(!etag_matches("\"x\"", "\"e\""));
    }
}
