//! `X-Request-ID`: echo a sane incoming id (so traces join up through CloudFront/ALB), else make one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The incoming `X-Request-ID` when it is 1–100 characters of `[A-Za-z0-9_-]`, else a fresh 16-hex-digit id.
pub fn request_id(headers: &HeaderMap) -> String {
    let incoming = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    let sane = !incoming.is_empty()
        && incoming.len() <= 100
        && incoming.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if sane {
        return incoming.to_string();
    }
    // RandomState is seeded per process from the OS; the counter makes ids distinct within it.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_sane_ids_and_replaces_others() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "abc-123_X".parse().unwrap());
        assert_eq!(request_id(&headers), "abc-123_X");
        headers.insert("x-request-id", "bad id;".parse().unwrap());
        let fresh = request_id(&headers);
        assert_eq!(fresh.len(), 16);
        assert_ne!(fresh, request_id(&HeaderMap::new()));
    }
}
