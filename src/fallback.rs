//! The fallback image (SPEC §2 "Fallback image"): `IMGPROXY_FALLBACK_IMAGE_DATA` (base64),
//! `_PATH` or `_URL`, loaded once and kept, served processed with the request's own options when the
//! source cannot be fetched, with `IMGPROXY_FALLBACK_IMAGE_HTTP_CODE` and `IMGPROXY_FALLBACK_IMAGE_TTL`.
//!
//! Owns only where the bytes come from and the status/TTL rules; the request flow (`server/deliver.rs`)
//! decides when to use it and runs the ordinary pipeline on it. A fallback that cannot be loaded is
//! logged once and the original error is served instead.

use axum::http::StatusCode;
use bytes::Bytes;

use crate::config::Config;
use crate::configured_image::ConfiguredImage;
use crate::plan::{CacheRule, ResponsePolicy};
use crate::source::Sources;

/// The configured fallback image, if any.
pub struct Fallback {
    image: ConfiguredImage,
    http_code: u16,
    ttl: u32,
}

impl Fallback {
    /// Reads the settings; nothing is loaded until first needed.
    pub fn new(config: &Config) -> Fallback {
        let s = &config.source;
        let (data, path, url) = (&s.fallback_image_data, &s.fallback_image_path, &s.fallback_image_url);
        let without = "source errors are served as they are";
        Fallback {
            image: ConfiguredImage::new(data.as_ref(), path.as_ref(), url.as_ref(), "fallback image", without),
            http_code: config.imgproxy.fallback_image_http_code,
            ttl: config.imgproxy.fallback_image_ttl,
        }
    }

    /// Whether a fallback image is configured at all.
    pub fn is_configured(&self) -> bool {
        self.image.is_configured()
    }

    /// The fallback bytes, loaded on first use and kept (a URL is fetched once, through the same
    /// guarded source fetchers as any request). `None` when none is configured or it could not be loaded.
    pub async fn bytes(&self, sources: &Sources) -> Option<Bytes> {
        self.image.bytes(sources).await
    }

    /// `IMGPROXY_FALLBACK_IMAGE_HTTP_CODE`; 0 keeps the status the failure would have had.
    pub fn status(&self, original: StatusCode) -> StatusCode {
        match self.http_code {
            0 => original,
            code => StatusCode::from_u16(code).unwrap_or(original),
        }
    }

    /// The response policy for a fallback: `IMGPROXY_FALLBACK_IMAGE_TTL` when set replaces the TTL.
    pub fn policy(&self, policy: &ResponsePolicy) -> ResponsePolicy {
        let mut policy = policy.clone();
        if self.ttl > 0 {
            policy.cache = CacheRule::Ttl(self.ttl);
        }
        policy.cache_control_passthrough = false;
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configured_image::test_rows;

    fn config(vars: &[(&str, &str)]) -> Config {
        test_rows::config(&vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn origin_precedence_is_data_then_path_then_url() {
        for (name, vars, want) in test_rows::precedence("IMGPROXY_FALLBACK_IMAGE") {
            assert_eq!(Fallback::new(&test_rows::config(&vars)).image.origin(), want.as_ref(), "{name}");
        }
    }

    #[test]
    fn status_and_ttl_rules() {
        let f = Fallback::new(&config(&[]));
        assert_eq!(f.status(StatusCode::NOT_FOUND), StatusCode::OK, "default 200");
        let f = Fallback::new(&config(&[("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", "0")]));
        assert_eq!(f.status(StatusCode::BAD_GATEWAY), StatusCode::BAD_GATEWAY, "0 keeps the original");
        let f = Fallback::new(&config(&[
            ("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", "404"),
            ("IMGPROXY_FALLBACK_IMAGE_TTL", "60"),
        ]));
        assert_eq!(f.status(StatusCode::OK), StatusCode::NOT_FOUND);
        let policy = ResponsePolicy { cache_control_passthrough: true, ..ResponsePolicy::default() };
        let p = f.policy(&policy);
        assert_eq!(p.cache, CacheRule::Ttl(60));
        assert!(!p.cache_control_passthrough, "a fallback has no source headers to pass on");
    }

    #[tokio::test]
    async fn path_is_loaded_once_and_a_missing_one_is_none() {
        let dir = std::env::temp_dir().join(format!("lmp-fallback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let file = dir.join("f.bin");
        std::fs::write(&file, b"first").unwrap_or_else(|e| panic!("{e}"));
        let path = file.to_string_lossy().to_string();
        let c = config(&[("IMGPROXY_FALLBACK_IMAGE_PATH", &path)]);
        let sources = Sources::new(&c.source).unwrap_or_else(|e| panic!("{e}"));
        let f = Fallback::new(&c);
        assert_eq!(f.bytes(&sources).await.as_deref(), Some(&b"first"[..]));
        std::fs::write(&file, b"second").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.bytes(&sources).await.as_deref(), Some(&b"first"[..]), "kept, not re-read");
        let missing = config(&[("IMGPROXY_FALLBACK_IMAGE_PATH", "/nonexistent/lmp/f.png")]);
        assert_eq!(Fallback::new(&missing).bytes(&sources).await, None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
