//! A real S3-compatible server on 127.0.0.1:0: `s3s` (SigV4 checked against one key pair) over `s3s-fs`
//! (objects are files under a temporary directory), wrapped to count GETs and to add what s3s-fs lacks:
//! object versions (stored as `{key}.versions/{id}`) and `If-None-Match` answered with 304.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use s3s::dto::{GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, PutObjectInput, PutObjectOutput};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};

pub const ACCESS_KEY: &str = "AKIATESTLOCAL0000001";
pub const SECRET_KEY: &str = "local-test-secret-key-0000000000000000000";

/// What the server saw.
#[derive(Default)]
pub struct Counts {
    /// GetObject requests that passed authentication, per bucket.
    pub gets: AtomicUsize,
    /// GetObject answered 304.
    pub not_modified: AtomicUsize,
    /// PutObject requests.
    pub puts: AtomicUsize,
}

struct Counted {
    inner: s3s_fs::FileSystem,
    counts: Arc<Counts>,
}

#[async_trait::async_trait]
impl S3 for Counted {
    async fn get_object(&self, mut req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        if let Some(version) = req.input.version_id.take() {
            req.input.key = format!("{}.versions/{version}", req.input.key);
        }
        let if_none_match = req.input.if_none_match.take();
        let answer = self.inner.get_object(req).await?;
        let etag = answer.output.e_tag.as_deref();
        if if_none_match.is_some() && if_none_match.as_deref() == etag {
            self.counts.not_modified.fetch_add(1, Ordering::SeqCst);
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
        Ok(answer)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.counts.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_object(req).await
    }
}

/// A running server.
pub struct S3Server {
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub counts: Arc<Counts>,
}

impl S3Server {
    /// `http://127.0.0.1:port`, for `IMGPROXY_S3_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates `bucket/key` with `bytes` (s3s-fs keeps objects as plain files).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = self.root.join(bucket).join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write object");
    }

    /// Creates version `version` of `bucket/key`.
    pub fn put_version(&self, bucket: &str, key: &str, version: &str, bytes: &[u8]) {
        self.put(bucket, &format!("{key}.versions/{version}"), bytes);
    }

    /// Creates an empty bucket.
    pub fn bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root.join(bucket)).expect("mkdir bucket");
    }

    pub fn gets(&self) -> usize {
        self.counts.gets.load(Ordering::SeqCst)
    }

    /// Environment for the app: S3 on, this endpoint, these credentials.
    pub fn vars(&self) -> Vec<(String, String)> {
        [
            ("IMGPROXY_USE_S3", "true".to_string()),
            ("IMGPROXY_S3_ENDPOINT", self.endpoint()),
            ("IMGPROXY_S3_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Starts the server over a fresh directory under the system temp dir.
pub async fn start(name: &str) -> S3Server {
    let root = std::env::temp_dir().join(format!("lmp-s3-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("mkdir root");
    let counts = Arc::new(Counts::default());
    let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs");
    let mut builder = s3s::service::S3ServiceBuilder::new(Counted { inner: fs, counts: counts.clone() });
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build().into_shared();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let _ = conn.await;
            });
        }
    });
    S3Server { addr, root, counts }
}

/// Whether `path` exists under the server root (for result-cache assertions).
pub fn exists(root: &Path, bucket: &str) -> usize {
    std::fs::read_dir(root.join(bucket)).map(|d| d.count()).unwrap_or(0)
}
