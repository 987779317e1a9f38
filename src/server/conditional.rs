//! HTTP validators (SPEC §2 "HTTP caching"): our `ETag` and `Last-Modified`, and the client's
//! `If-None-Match` / `If-Modified-Since` checked against them.
//!
//! As imgproxy, the ETag joins a digest of the canonical options (the whole plan, `IMGPROXY_ETAG_BUSTER`
//! and `cachebuster`) with the source's identity: its own ETag when it sent one (carried inside ours, so a
//! later `If-None-Match` can be turned into a conditional upstream request and answered 304 without a
//! download), else a digest of its bytes. Pure functions over strings and [`Fetched`]; the request flow
//! that uses them lives in `deliver.rs`.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::plan::Plan;
use crate::source::Fetched;

/// The validators the client sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientValidators {
    /// Entity tags from `If-None-Match`, as sent (quotes and `W/` kept); `*` matches anything.
    pub if_none_match: Vec<String>,
    /// `If-Modified-Since`, as sent.
    pub if_modified_since: Option<String>,
}

impl ClientValidators {
    /// Reads `If-None-Match` (comma-separated, possibly repeated) and `If-Modified-Since`.
    pub fn from_headers(headers: &HeaderMap) -> ClientValidators {
        let if_none_match = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        let if_modified_since =
            headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
        ClientValidators { if_none_match, if_modified_since }
    }
}

/// The validators of one response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` (quoted), when `IMGPROXY_USE_ETAG` is on.
    pub etag: Option<String>,
    /// `Last-Modified` (the source's), when `IMGPROXY_USE_LAST_MODIFIED` is on.
    pub last_modified: Option<String>,
}

/// A digest of everything but the source bytes that shapes the result: the plan (options, output rules,
/// `cachebuster`, policy) and `IMGPROXY_ETAG_BUSTER`.
pub fn options_digest(plan: &Plan, etag_buster: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{plan:?}").as_bytes());
    hash.update([0]);
    hash.update(etag_buster.as_bytes());
    hex::encode(&hash.finalize()[..8])
}

/// Our ETag for a result of `fetched` under `digest`: `"{digest}.s{base64url(source etag)}"` when the
/// source sent an ETag, else `"{digest}.b{sha256(bytes)}"`.
pub fn etag_for(digest: &str, fetched: &Fetched) -> String {
    match &fetched.etag {
        Some(source) => format!("\"{digest}.s{}\"", URL_SAFE_NO_PAD.encode(source)),
        None => format!("\"{digest}.b{}\"", hex::encode(&Sha256::digest(&fetched.bytes)[..16])),
    }
}

/// The source ETag to send upstream as `If-None-Match`: found in a client tag made under this `digest`
/// (another digest means other options or buster, whose cached copy is not ours to confirm).
pub fn upstream_etag(digest: &str, client: &ClientValidators) -> Option<String> {
    client.if_none_match.iter().find_map(|tag| {
        let (tag_digest, rest) = opaque(tag).split_once('.')?;
        let encoded = rest.strip_prefix('s').filter(|_| tag_digest == digest)?;
        String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
    })
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 §13.1.2 asks for GET) or is `*`.
pub fn etag_matches(client: &ClientValidators, etag: &str) -> bool {
    client.if_none_match.iter().any(|tag| tag == "*" || opaque(tag) == opaque(etag))
}

/// Whether a resource last modified at `last_modified` is unchanged since `If-Modified-Since`. Ignored
/// when `If-None-Match` is present (RFC 9110 §13.1.3) or either date does not parse.
pub fn unmodified_since(client: &ClientValidators, last_modified: &str) -> bool {
    if !client.if_none_match.is_empty() {
        return false;
    }
    let Some(since) = client.if_modified_since.as_deref().and_then(http_date) else {
        return false;
    };
    http_date(last_modified).is_some_and(|modified| modified <= since)
}

/// Seconds since the epoch of an HTTP date (IMF-fixdate).
pub fn http_date(value: &str) -> Option<i64> {
    use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
    DateTime::from_str(value.trim(), DateTimeFormat::HttpDate).ok().map(|t| t.secs())
}

/// The tag without `W/` and quotes.
fn opaque(tag: &str) -> &str {
    let tag = tag.trim();
    tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn client(inm: &[&str], ims: Option<&str>) -> ClientValidators {
        ClientValidators {
            if_none_match: inm.iter().map(|s| s.to_string()).collect(),
            if_modified_since: ims.map(str::to_string),
        }
    }

    fn fetched(etag: Option<&str>, bytes: &'static [u8]) -> Fetched {
        Fetched { etag: etag.map(str::to_string), bytes: Bytes::from_static(bytes), ..Fetched::default() }
    }

    #[test]
    fn etag_comes_from_source_etag_else_bytes() {
        let with_source = etag_for("d1", &fetched(Some("\"abc\""), b"x"));
        assert!(with_source.starts_with("\"d1.s") && with_source.ends_with('"'), "{with_source}");
        let a = etag_for("d1", &fetched(None, b"x"));
        let b = etag_for("d1", &fetched(None, b"y"));
        assert_ne!(a, b, "bytes change the tag");
        assert_ne!(etag_for("d2", &fetched(None, b"x")), a, "options change the tag");
    }

    #[test]
    fn upstream_etag_round_trips_only_for_the_same_options() {
        let ours = etag_for("d1", &fetched(Some("\"src-1\""), b""));
        assert_eq!(upstream_etag("d1", &client(&[&ours], None)).as_deref(), Some("\"src-1\""));
        let weak = format!("W/{ours}");
        assert_eq!(upstream_etag("d1", &client(&["\"other\"", &weak], None)).as_deref(), Some("\"src-1\""));
        assert_eq!(upstream_etag("d2", &client(&[&ours], None)), None, "other options");
        let by_bytes = etag_for("d1", &fetched(None, b"x"));
        assert_eq!(upstream_etag("d1", &client(&[&by_bytes], None)), None, "byte tags cannot go upstream");
        assert_eq!(upstream_etag("d1", &client(&["\"d1.s!!!\""], None)), None, "garbage is ignored");
    }

    #[test]
    fn if_none_match_rows() {
        let rows = [
            ("same tag", vec!["\"a.b1\""], "\"a.b1\"", true),
            ("weak form of the same tag", vec!["W/\"a.b1\""], "\"a.b1\"", true),
            ("one of a list", vec!["\"x\"", "\"a.b1\""], "\"a.b1\"", true),
            ("star", vec!["*"], "\"a.b1\"", true),
            ("other tag", vec!["\"a.b2\""], "\"a.b1\"", false),
            ("no header", vec![], "\"a.b1\"", false),
        ];
        for (name, inm, etag, want) in rows {
            assert_eq!(etag_matches(&client(&inm, None), etag), want, "{name}");
        }
    }

    #[test]
    fn if_modified_since_rows() {
        let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
        let rows = [
            ("same date", client(&[], Some(lm)), true),
            ("later date", client(&[], Some("Thu, 22 Oct 2015 07:28:00 GMT")), true),
            ("earlier date", client(&[], Some("Tue, 20 Oct 2015 07:28:00 GMT")), false),
            ("garbage date", client(&[], Some("yesterday")), false),
            ("no header", client(&[], None), false),
            ("if-none-match wins", client(&["\"x\""], Some(lm)), false),
        ];
        for (name, c, want) in rows {
            assert_eq!(unmodified_since(&c, lm), want, "{name}");
        }
    }

    #[test]
    fn headers_are_split_and_trimmed() {
        let mut headers = HeaderMap::new();
        headers.append(header::IF_NONE_MATCH, "\"a\", W/\"b\"".parse().unwrap_or_else(|e| panic!("{e}")));
        headers.append(header::IF_NONE_MATCH, "\"c\"".parse().unwrap_or_else(|e| panic!("{e}")));
        let c = ClientValidators::from_headers(&headers);
        assert_eq!(c.if_none_match, vec!["\"a\"", "W/\"b\"", "\"c\""]);
        assert_eq!(c.if_modified_since, None);
    }
}
