//! Logging: JSON lines to stdout via `tracing` (SPEC §7). `RUST_LOG` wins over `IMGPROXY_LOG_LEVEL`.
//! Also the redaction applied to anything taken from an error into a log line: URLs lose their
//! credentials and query strings (presigned URLs and tokens live there).

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; later calls are ignored (tests may call it repeatedly).
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// `text` with every `scheme://…` URL cut to scheme, host and path: `user:pass@` and `?query` are
/// replaced by `[redacted]`. Error messages from HTTP clients quote the URL they failed on.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>')).unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        out.push_str(&redact_one(url));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// An imgproxy path for the log: a `plain/` source URL loses its credentials and query string, escaped
/// (`%3F`, as imgproxy expects them) or not; the `@extension` stays.
pub fn redact_path(path: &str) -> String {
    let Some(at) = path.find("/plain/") else { return path.to_string() };
    let (head, source) = path.split_at(at + "/plain/".len());
    let (url, ext) = match source.rfind('@') {
        Some(i) if !source[i..].contains('/') => source.split_at(i),
        _ => (source, ""),
    };
    let url = url.replace("%3F", "?").replace("%3f", "?").replace("%23", "#");
    format!("{head}{}{ext}", redact_urls(&url))
}

/// One URL after its `://`.
fn redact_one(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, path) = url.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("[redacted]@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    match path.find(['?', '#']) {
        Some(q) => format!("{host}{}?[redacted]", &path[..q]),
        None => format!("{host}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        #[rustfmt::skip]
        let rows = [
            ("plain text is untouched", "source answered 404", "source answered 404"),
            ("query dropped", "error sending request for url (https://h/a.png?X-Amz-Signature=abc)",
                "error sending request for url (https://h/a.png?[redacted])"),
            ("credentials dropped", "http://user:secret@h:8080/p", "http://[redacted]@h:8080/p"),
            ("every URL", "a http://h/?k=1 b s3://x/y?versionId=2", "a http://h/?[redacted] b s3://x/y?[redacted]"),
            ("fragment counts as query", "http://h/p#tok", "http://h/p?[redacted]"),
        ];
        for (name, input, expected) in rows {
            assert_eq!(redact_urls(input), expected, "{name}");
        }
    }

    #[test]
    fn plain_source_urls_in_paths_lose_queries() {
        #[rustfmt::skip]
        let rows = [
            ("escaped query", "/rs:fit:4/plain/http://h/a.png%3Ftoken=x@webp", "/rs:fit:4/plain/http://h/a.png?[redacted]@webp"),
            ("credentials", "/plain/http://u:p@h/a.png", "/plain/http://[redacted]@h/a.png"),
            ("nothing to hide", "/rs:fit:4/plain/local:///a.png@png", "/rs:fit:4/plain/local:///a.png@png"),
            ("base64 source untouched", "/rs:fit:4/aHR0cDovL2g", "/rs:fit:4/aHR0cDovL2g"),
        ];
        for (name, input, expected) in rows {
            assert_eq!(redact_path(input), expected, "{name}");
        }
    }
}
