//! The source part of an imgproxy path: `plain/{url}[@ext]` or `{base64url(url)}[.ext]` (SPEC §2
//! "Source"), decoded into a [`SourceRef`] plus the requested output extension.
//!
//! Only the four schemes we can fetch are accepted (http, https, s3, local); anything else is refused
//! here, before any I/O. This module does not decide whether a source is *allowed* (that is
//! `IMGPROXY_ALLOWED_SOURCES` and the address guard in `src/source/`), only whether it is well-formed.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::ParseError;
use crate::plan::SourceRef;

/// The token that marks a percent-escaped plain source (as imgproxy `options/url.go`).
const PLAIN: &str = "plain";

/// Base64url as imgproxy decodes sources (`base64.RawURLEncoding` after trimming `=`): padding is
/// optional and non-zero trailing bits are tolerated, as Go's non-strict decoder does.
const SOURCE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A decoded source: where to fetch from, and the extension written after `@` or `.`, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedSource {
    /// The location to fetch.
    pub source: SourceRef,
    /// The output extension as written (`png`, `webp`…), not yet checked against known formats.
    pub extension: Option<String>,
}

/// Decodes the source segments (everything after the options).
pub fn parse_source(segments: &[&str]) -> Result<DecodedSource, ParseError> {
    let (url, extension) = match segments.split_first() {
        None => return Err(ParseError::Malformed("missing source URL".into())),
        Some((&PLAIN, rest)) if !rest.is_empty() => decode_plain(&rest.join("/"))?,
        Some(_) => decode_base64(&segments.concat())?,
    };
    Ok(DecodedSource { source: parse_url(&url)?, extension })
}

/// `plain/{url}[@ext]`: the last `@` starts the extension (so `user@host` userinfo still works when
/// an extension follows); text after it containing `/` is part of the URL, not an extension.
fn decode_plain(joined: &str) -> Result<(String, Option<String>), ParseError> {
    let (escaped, extension) = match joined.rsplit_once('@') {
        Some((url, ext)) if !ext.contains('/') => (url, non_empty(ext)),
        _ => (joined, None),
    };
    if escaped.is_empty() {
        return Err(ParseError::Malformed("empty source URL".into()));
    }
    Ok((percent_decode_strict(escaped)?, extension))
}

/// `{base64url}[.ext]`, possibly split by `/` (already joined by the caller).
fn decode_base64(joined: &str) -> Result<(String, Option<String>), ParseError> {
    let (encoded, extension) = match joined.split_once('.') {
        Some((encoded, ext)) => (encoded, non_empty(ext)),
        None => (joined, None),
    };
    if encoded.is_empty() {
        return Err(ParseError::Malformed("empty source URL".into()));
    }
    if extension.as_deref().is_some_and(|ext| ext.contains('.')) {
        return Err(ParseError::BadSourceEncoding(format!("several extensions in `{joined}`")));
    }
    let bytes = SOURCE_BASE64
        .decode(encoded.trim_end_matches('='))
        .map_err(|e| ParseError::BadSourceEncoding(format!("invalid base64 ({e})")))?;
    let url = String::from_utf8(bytes).map_err(|_| ParseError::BadSourceEncoding("source URL is not UTF-8".into()))?;
    Ok((url, extension))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Percent-decoding that refuses malformed escapes (`%`, `%4`, `%zz`), as Go's `url.PathUnescape`.
fn percent_decode_strict(s: &str) -> Result<String, ParseError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = bytes.get(i + 1).and_then(|c| hex_value(*c));
        let lo = bytes.get(i + 2).and_then(|c| hex_value(*c));
        match (hi, lo) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return Err(ParseError::BadSourceEncoding(format!("bad percent-escape in `{s}`"))),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| ParseError::BadSourceEncoding("source URL is not UTF-8".into()))
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Proxies and CDNs may collapse `//` in a path, turning `plain/http://host` into `http:/host`;
/// imgproxy restores it (`fixPath`), and so do we. `local:/path` came from `local:///path`.
pub fn fix_collapsed_scheme(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once(":/") else { return url.to_string() };
    let is_scheme = !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !is_scheme || rest.starts_with('/') {
        return url.to_string();
    }
    let slashes = if scheme.eq_ignore_ascii_case("local") { ":///" } else { "://" };
    format!("{scheme}{slashes}{rest}")
}

/// Parses the decoded URL and maps its scheme to a [`SourceRef`].
fn parse_url(raw: &str) -> Result<SourceRef, ParseError> {
    let url = url::Url::parse(raw).map_err(|e| ParseError::BadSourceEncoding(format!("`{raw}`: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(SourceRef::Http(url)),
        "s3" => s3_source(&url),
        "local" => local_source(&url),
        other => Err(ParseError::UnsupportedScheme(other.to_string())),
    }
}

/// `s3://bucket/key[?versionId]`: the whole query is the version id, as imgproxy's S3 transport.
fn s3_source(url: &url::Url) -> Result<SourceRef, ParseError> {
    let bucket = url.host_str().unwrap_or_default();
    let key = percent_decode_lossy(url.path().trim_start_matches('/'));
    if bucket.is_empty() || key.is_empty() {
        return Err(ParseError::BadSourceEncoding(format!("`{url}`: s3 sources need a bucket and a key")));
    }
    let version_id = url.query().filter(|q| !q.is_empty()).map(str::to_string);
    Ok(SourceRef::S3 { bucket: bucket.to_string(), key, version_id })
}

/// `local:///path`: a host would be silently ignored by imgproxy; we refuse it so `local://a/b` is
/// not mistaken for `/a/b`.
fn local_source(url: &url::Url) -> Result<SourceRef, ParseError> {
    if url.host_str().is_some_and(|h| !h.is_empty()) {
        return Err(ParseError::BadSourceEncoding(format!("`{url}`: local sources are written local:///path")));
    }
    let path = percent_decode_lossy(url.path());
    if path.is_empty() || path == "/" {
        return Err(ParseError::BadSourceEncoding(format!("`{url}`: empty local path")));
    }
    Ok(SourceRef::Local(path))
}

fn percent_decode_lossy(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(s: &str) -> SourceRef {
        SourceRef::Http(url::Url::parse(s).unwrap())
    }

    fn decode(path: &str) -> Result<DecodedSource, ParseError> {
        let segments: Vec<&str> = path.split('/').collect();
        parse_source(&segments)
    }

    fn ok(source: SourceRef, ext: Option<&str>) -> Result<DecodedSource, ParseError> {
        Ok(DecodedSource { source, extension: ext.map(str::to_string) })
    }

    #[test]
    fn decodes_sources() {
        let s3 = |bucket: &str, key: &str, v: Option<&str>| SourceRef::S3 {
            bucket: bucket.into(),
            key: key.into(),
            version_id: v.map(str::to_string),
        };
        let rows: Vec<(&str, &str, Result<DecodedSource, ParseError>)> = vec![
            ("plain http", "plain/http://example.com/a.jpg", ok(http("http://example.com/a.jpg"), None)),
            (
                "plain with @ext",
                "plain/https://example.com/a.jpg@webp",
                ok(http("https://example.com/a.jpg"), Some("webp")),
            ),
            ("plain escaped query", "plain/http://x.com/a%3Fb%3Dc%26d", ok(http("http://x.com/a?b=c&d"), None)),
            (
                "plain escaped space",
                "plain/http://x.com/a%20b.png@png",
                ok(http("http://x.com/a%20b.png"), Some("png")),
            ),
            ("plain escaped url", "plain/http%3A%2F%2Fx.com%2Fp.png", ok(http("http://x.com/p.png"), None)),
            ("plain last @ wins", "plain/http://u@x.com/a@b.png@jpg", ok(http("http://u@x.com/a@b.png"), Some("jpg"))),
            ("plain userinfo, no ext", "plain/http://u@x.com/a.png", ok(http("http://u@x.com/a.png"), None)),
            ("plain trailing @ is no ext", "plain/http://x.com/a.png@", ok(http("http://x.com/a.png"), None)),
            ("plain s3", "plain/s3://bucket/dir/key.png", ok(s3("bucket", "dir/key.png", None), None)),
            ("plain s3 version", "plain/s3://b/k.png%3Fv123@avif", ok(s3("b", "k.png", Some("v123")), Some("avif"))),
            ("plain s3 escaped key", "plain/s3://b/a%2520b.png", ok(s3("b", "a b.png", None), None)),
            ("plain local", "plain/local:///img/a.png", ok(SourceRef::Local("/img/a.png".into()), None)),
            ("base64", "aHR0cDovL2V4YW1wbGUuY29tL2EucG5n", ok(http("http://example.com/a.png"), None)),
            (
                "base64 .ext",
                "aHR0cDovL2V4YW1wbGUuY29tL2EucG5n.webp",
                ok(http("http://example.com/a.png"), Some("webp")),
            ),
            (
                "base64 split by /",
                "aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png",
                ok(http("http://example.com/images/curiosity.jpg"), Some("png")),
            ),
            ("base64 padded", "aHR0cDovL3guY29tL2E=.png", ok(http("http://x.com/a"), Some("png"))),
            ("base64 s3", "czM6Ly9iL2sucG5nP3Yx", ok(s3("b", "k.png", Some("v1")), None)),
            ("base64 local", "bG9jYWw6Ly8vYS5wbmc", ok(SourceRef::Local("/a.png".into()), None)),
        ];
        for (name, path, expected) in rows {
            assert_eq!(decode(path), expected, "{name}");
        }
    }

    #[test]
    fn rejects() {
        type Check = fn(&ParseError) -> bool;
        let bad: Check = |e| matches!(e, ParseError::BadSourceEncoding(_));
        let scheme: Check = |e| matches!(e, ParseError::UnsupportedScheme(_));
        let malformed: Check = |e| matches!(e, ParseError::Malformed(_));
        let rows: [(&str, &str, Check); 16] = [
            ("bad escape", "plain/http://x.com/%zz.png", bad),
            ("truncated escape", "plain/http://x.com/a%2", bad),
            ("escape of invalid utf-8", "plain/http://x.com/%ff", bad),
            ("bad base64", "!!notbase64!!", bad),
            ("base64 of non-utf8", "__8", bad),
            ("two extensions", "aHR0cDovL3guY29tL2E.png.jpg", bad),
            ("relative url", "plain/example.com/a.png", bad),
            ("http without host", "plain/http://", bad),
            ("s3 without key", "plain/s3://bucket", bad),
            ("local with host", "plain/local://etc/passwd", bad),
            ("ftp", "plain/ftp://x.com/a.png", scheme),
            ("file", "plain/file:///etc/passwd", scheme),
            ("data", "plain/data:image/png;base64,AAAA", scheme),
            ("empty plain", "plain/@png", malformed),
            ("empty base64", ".png", malformed),
            ("nothing", "", malformed),
        ];
        for (name, path, check) in rows {
            let got = decode(path);
            assert!(got.as_ref().is_err_and(check), "{name}: {got:?}");
        }
        assert!(matches!(parse_source(&[]), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn collapsed_scheme_slashes_are_restored() {
        let rows = [
            ("http", "http:/x.com/a.png", "http://x.com/a.png"),
            ("https with port", "https:/x.com:8080/a", "https://x.com:8080/a"),
            ("local", "local:/img/a.png", "local:///img/a.png"),
            ("intact", "http://x.com/a:/b", "http://x.com/a:/b"),
            ("intact local", "local:///a", "local:///a"),
            ("no scheme", "x.com/a:/b", "x.com/a:/b"),
            ("no colon", "abc", "abc"),
        ];
        for (name, input, expected) in rows {
            assert_eq!(fix_collapsed_scheme(input), expected, "{name}");
        }
    }

    #[test]
    fn plain_alone_is_read_as_base64() {
        // As imgproxy: `plain` with nothing after it is not the plain marker but a (bad) base64 URL.
        assert!(matches!(decode("plain"), Err(ParseError::BadSourceEncoding(_))));
    }
}
