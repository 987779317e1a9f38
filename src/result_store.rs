//! The optional result cache in `RESULT_BUCKET` (imgproxy OSS has none; SPEC "Result cache").
//!
//! Owns the object keys (a digest of the canonical plan, so two requests that would produce the same bytes
//! share one object), and the four S3 calls the rest of the program needs: look a result up, store one,
//! and hand out a presigned GET URL (the Lambda 6 MB rule redirects to it). Results carry the facts the
//! response needs (sizes, source validators) as object metadata, so a hit makes no source request and no
//! pipeline run. Knows nothing of HTTP requests, dialects or pixels; a failing store is reported to the
//! caller, which treats it as a miss: the cache is an optimisation, never a reason to fail a request.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::config::SourceConfig;
use crate::plan::{ImageFormat, Plan};
use crate::source::s3::{LazyClient, S3Settings};

/// Bumped when the meaning of a stored result changes, so old objects are simply never read again.
const KEY_VERSION: &str = "v1";

/// A stored result as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredResult {
    /// The encoded image.
    pub bytes: Bytes,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// User metadata written with [`ResultStore::put_with_metadata`] (lower-case names).
    pub metadata: HashMap<String, String>,
}

/// Why a store call failed (logged by the caller; the request goes on as a miss).
#[derive(Debug, thiserror::Error)]
#[error("result store: {0}")]
pub struct StoreError(String);

/// The `RESULT_BUCKET` cache.
pub struct ResultStore {
    client: LazyClient,
    bucket: String,
    prefix: String,
}

impl ResultStore {
    /// A store when `RESULT_BUCKET` is set; it shares the S3 endpoint, region and credentials of sources.
    pub fn new(config: &SourceConfig) -> Option<ResultStore> {
        let bucket = config.result_bucket.clone()?;
        let client = LazyClient::new(S3Settings::from_config(config));
        Some(ResultStore { client, bucket, prefix: config.result_prefix.clone() })
    }

    /// The key of the result of `plan` encoded as `format`: `{prefix}{digest}.{ext}`.
    pub fn key_for(&self, plan: &Plan, format: ImageFormat) -> String {
        format!("{}.{}", self.cache_key(plan), format.extension())
    }

    /// The key under which the request flow caches `plan`'s result before the output format is known
    /// (the plan already holds every input of the format choice: `Accept` flags, preferences, source).
    pub fn cache_key(&self, plan: &Plan) -> String {
        format!("{}{}", self.prefix, plan_digest(plan))
    }

    /// Reads a result; `Ok(None)` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<StoredResult>, StoreError> {
        let client = self.client.get().await;
        let answer = client.get_object().bucket(&self.bucket).key(key).send().await;
        let output = match answer {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() || e.raw().status().as_u16() == 404 => {
                return Ok(None)
            }
            Err(e) => return Err(StoreError(aws_sdk_s3::error::DisplayErrorContext(e).to_string())),
        };
        let content_type = output.content_type().map(str::to_string);
        let metadata = output.metadata().cloned().unwrap_or_default();
        let bytes = output.body.collect().await.map_err(|e| StoreError(e.to_string()))?.into_bytes();
        Ok(Some(StoredResult { bytes, content_type, metadata }))
    }

    /// Stores a result.
    pub async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), StoreError> {
        self.put_with_metadata(key, bytes, content_type, HashMap::new()).await
    }

    /// Stores a result with user metadata (sizes, source validators) for later hits.
    pub async fn put_with_metadata(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
        metadata: HashMap<String, String>,
    ) -> Result<(), StoreError> {
        let client = self.client.get().await;
        let request = client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_metadata(Some(metadata))
            .body(ByteStream::from(bytes));
        request.send().await.map_err(|e| StoreError(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// A presigned GET URL for `key`, valid for `ttl` (at most 7 days, as SigV4 allows).
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| StoreError(e.to_string()))?;
        let client = self.client.get().await;
        let request = client.get_object().bucket(&self.bucket).key(key).presigned(config).await;
        let presigned = request.map_err(|e| StoreError(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(presigned.uri().to_string())
    }
}

/// A digest of everything that decides the result bytes. `Plan`'s `Debug` form lists every field
/// (source, processing, output rules incl. the `Accept`-derived flags, limits, policy), so any change to
/// a field changes the key; the crate version is folded in so a new build never serves an old encoder's
/// output.
pub fn plan_digest(plan: &Plan) -> String {
    let mut hash = Sha256::new();
    hash.update(KEY_VERSION.as_bytes());
    hash.update(env!("CARGO_PKG_VERSION").as_bytes());
    hash.update(format!("{plan:?}").as_bytes());
    hex::encode(&hash.finalize()[..20])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SourceRef;

    fn plan(url: &str) -> Plan {
        Plan {
            source: SourceRef::Http(url::Url::parse(url).unwrap_or_else(|e| panic!("{e}"))),
            process: Default::default(),
            output: Default::default(),
            limits: Default::default(),
            response: Default::default(),
        }
    }

    fn store(prefix: &str) -> ResultStore {
        let mut config =
            crate::config::Config::from_vars(Vec::<(String, String)>::new()).unwrap_or_else(|e| panic!("{e}")).source;
        config.result_bucket = Some("results".into());
        config.result_prefix = prefix.into();
        ResultStore::new(&config).unwrap_or_else(|| panic!("no store"))
    }

    #[test]
    fn keys_change_with_every_input_of_the_result() {
        let s = store("cache/");
        let base = plan("http://example.com/a.jpg");
        let mut other_source = base.clone();
        other_source.source =
            SourceRef::Http(url::Url::parse("http://example.com/b.jpg").unwrap_or_else(|e| panic!("{e}")));
        let mut other_width = base.clone();
        other_width.process.width = 300;
        let mut auto_webp = base.clone();
        auto_webp.output.auto_webp = true;
        let keys = [&base, &other_source, &other_width, &auto_webp].map(|p| s.cache_key(p));
        for (i, a) in keys.iter().enumerate() {
            assert!(a.starts_with("cache/"), "{a}");
            for b in keys.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        assert_eq!(s.cache_key(&base), s.cache_key(&base.clone()), "same plan, same key");
    }

    #[test]
    fn key_for_names_the_format() {
        let s = store("");
        let p = plan("http://example.com/a.jpg");
        assert_eq!(s.key_for(&p, ImageFormat::Webp), format!("{}.webp", plan_digest(&p)));
        assert_ne!(s.key_for(&p, ImageFormat::Webp), s.key_for(&p, ImageFormat::Avif));
    }

    #[test]
    fn no_bucket_means_no_store() {
        let config = crate::config::Config::from_vars(Vec::<(String, String)>::new()).unwrap_or_else(|e| panic!("{e}"));
        assert!(ResultStore::new(&config.source).is_none());
    }
}
