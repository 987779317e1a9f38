//! The payload cap against real images and a real loopback "bucket" that serves what was put.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::*;
use crate::pipeline::test_util::corpus;

type Objects = Arc<Mutex<HashMap<String, (Bytes, String)>>>;

/// A result store on 127.0.0.1: `put` keeps the object, the "presigned" URL is served by a real server.
struct LoopbackStore {
    addr: SocketAddr,
    objects: Objects,
}

impl LoopbackStore {
    async fn start() -> Arc<LoopbackStore> {
        let objects: Objects = Arc::default();
        let served = objects.clone();
        let app = Router::new().route(
            "/{*key}",
            get(move |Path(key): Path<String>| {
                let served = served.clone();
                async move {
                    let found = served.lock().unwrap().get(&key).cloned();
                    match found {
                        Some((bytes, content_type)) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
                        None => StatusCode::NOT_FOUND.into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Arc::new(LoopbackStore { addr, objects })
    }
}

use axum::response::IntoResponse;

impl ResultStore for LoopbackStore {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, content_type: &'a str) -> StoreFuture<'a, ()> {
        self.objects.lock().unwrap().insert(key.to_string(), (bytes, content_type.to_string()));
        Box::pin(async { Ok(()) })
    }

    fn presigned_get<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, String> {
        let url = format!("http://{}/{key}?X-Amz-Expires={}", self.addr, ttl.as_secs());
        Box::pin(async move { Ok(url) })
    }
}

fn limit(max_bytes: u64, store: Option<Arc<dyn ResultStore>>) -> PayloadLimit {
    PayloadLimit { max_bytes, streaming: false, store, presign_ttl: PRESIGN_TTL }
}

fn image_response(bytes: Vec<u8>, content_type: &'static str, delivery: Option<Delivery>) -> Response<Body> {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=31536000, public"));
    headers.insert("x-request-id", HeaderValue::from_static("req-1"));
    if let Some(delivery) = delivery {
        mark(&mut response, delivery);
    }
    response
}

async fn body(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

fn header_of<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn fetch(url: &str) -> (StatusCode, String, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let content_type = response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().to_string();
    let status = response.status();
    (status, content_type, response.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn bodies_under_the_cap_and_errors_are_untouched() {
    let png = corpus("formats/i_trns.png");
    let small = enforce(&limit(png.len() as u64, None), image_response(png.clone(), "image/png", None)).await;
    assert_eq!(small.status(), StatusCode::OK);
    assert_eq!(body(small).await, png);

    let mut error = image_response(vec![b'x'; 5000], "text/plain", None);
    *error.status_mut() = StatusCode::NOT_FOUND;
    let error = enforce(&limit(100, None), error).await;
    assert_eq!(error.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(error).await.len(), 5000);
}

#[tokio::test]
async fn oversized_pass_through_redirects_to_the_source() {
    let source_url = "https://images.example/big.jpg?a=1,2".to_string();
    let delivery = Delivery::PassThrough { source_url: Some(source_url.clone()) };
    let response = image_response(vec![0; 2000], "image/jpeg", Some(delivery));
    let response = enforce(&limit(1000, None), response).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(header_of(&response, "location"), source_url);
    assert_eq!(header_of(&response, "x-request-id"), "req-1");
    assert_eq!(header_of(&response, "cache-control"), "max-age=31536000, public");
    assert_eq!(header_of(&response, "content-type"), "");
    assert!(body(response).await.is_empty());
}

#[tokio::test]
async fn oversized_lossless_result_is_stored_and_served_from_a_presigned_url() {
    let store = LoopbackStore::start().await;
    let png = corpus("formats/i_trns.png");
    let response = image_response(png.clone(), "image/png", Some(Delivery::Processed { refit: false }));
    let response = enforce(&limit(1000, Some(store.clone())), response).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(header_of(&response, "cache-control").starts_with("max-age=3540"));
    let location = header_of(&response, "location").to_string();
    assert!(location.starts_with(&format!("http://{}/results/", store.addr)), "{location}");
    let (status, content_type, served) = fetch(&location).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "image/png"));
    assert_eq!(served, png);
    let decoded = image::load_from_memory(&served).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 64));
}

#[tokio::test]
async fn oversized_lossy_result_is_re_encoded_smaller_at_the_same_size() {
    let jpeg = corpus("photos/mate-Dune.jpg");
    let cap = jpeg.len() as u64 / 3;
    let response = image_response(jpeg, "image/jpeg", Some(Delivery::Processed { refit: true }));
    let response = enforce(&limit(cap, None), response).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, "content-type"), "image/jpeg");
    let bytes = body(response).await;
    assert!(bytes.len() as u64 <= cap, "{} > {cap}", bytes.len());
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1680, 1050));
}

#[tokio::test]
async fn without_a_bucket_a_lossy_result_is_shrunk_and_a_lossless_one_fails_loudly() {
    let webp = corpus("formats/flower2.webp");
    let response = image_response(webp, "image/webp", Some(Delivery::Processed { refit: true }));
    let response = enforce(&limit(1500, None), response).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = body(response).await;
    assert!(bytes.len() <= 1500);
    assert!(image::load_from_memory(&bytes).unwrap().width() < 300);

    let png = image_response(corpus("formats/i_trns.png"), "image/png", None);
    assert_eq!(enforce(&limit(100, None), png).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn streaming_mode_streams_bodies_of_unknown_length() {
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 4000]))]);
    let mut response = Response::new(Body::from_stream(chunks));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    let streaming = PayloadLimit { streaming: true, ..limit(1000, None) };
    let response = enforce(&streaming, response).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await.len(), 4000);
}

#[tokio::test]
async fn a_stream_announced_over_the_cap_is_redirected_unread_in_either_mode() {
    for streaming in [false, true] {
        // A body that fails if polled: the decision must come from `Content-Length` alone.
        let polled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = polled.clone();
        let chunks = futures_util::stream::poll_fn(move |_| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            std::task::Poll::Ready(Some(Err::<Bytes, _>(std::io::Error::other("read"))))
        });
        let mut response = Response::new(Body::from_stream(chunks));
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("5000"));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
        mark(&mut response, Delivery::PassThrough { source_url: Some("https://a.example/big.jpg".into()) });
        let response = enforce(&PayloadLimit { streaming, ..limit(1000, None) }, response).await;
        assert_eq!(response.status(), StatusCode::FOUND, "streaming={streaming}");
        assert_eq!(header_of(&response, "location"), "https://a.example/big.jpg");
        assert_eq!(header_of(&response, "content-length"), "");
        assert!(!polled.load(std::sync::atomic::Ordering::SeqCst), "streaming={streaming}: body was read");
    }
}

#[tokio::test]
async fn a_stream_announced_under_the_cap_streams_untouched() {
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 800]))]);
    let mut response = Response::new(Body::from_stream(chunks));
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("800"));
    mark(&mut response, Delivery::PassThrough { source_url: Some("https://a.example/a.jpg".into()) });
    let streaming = PayloadLimit { streaming: true, ..limit(1000, None) };
    let response = enforce(&streaming, response).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await.len(), 800);
}

#[test]
fn limits_default_per_mode_and_follow_the_variable() {
    let mut config = LambdaConfig::default();
    assert_eq!(PayloadLimit::new(&config, false, None).max_bytes, 4_669_440);
    assert_eq!(PayloadLimit::new(&config, true, None).max_bytes, 20 * 1024 * 1024);
    config.max_response_bytes = Some(1234);
    assert_eq!(PayloadLimit::new(&config, false, None).max_bytes, 1234);
    // 6 MiB of envelope must hold the base64 of a body at the limit plus 64 KiB of JSON.
    assert!(BUFFERED_LIMIT.div_ceil(3) * 4 + 64 * 1024 <= 6 * 1024 * 1024);
}

#[test]
fn delivery_tells_pass_through_from_processed() {
    let probe = pipeline::Probe { format: ImageFormat::Jpeg, width: 1, height: 1, frames: 1 };
    let output = |bytes: &[u8], format| Output { bytes: bytes.to_vec(), format, width: 1, height: 1, source: probe };
    let http = SourceRef::Http(url::Url::parse("https://a.example/x.jpg").unwrap());
    let local = SourceRef::Local("/x.jpg".into());
    let rows = [
        (
            "same bytes from http",
            output(b"abc", ImageFormat::Jpeg),
            &http,
            Delivery::PassThrough { source_url: Some("https://a.example/x.jpg".into()) },
        ),
        (
            "same bytes from a local file",
            output(b"abc", ImageFormat::Jpeg),
            &local,
            Delivery::PassThrough { source_url: None },
        ),
        ("new jpeg", output(b"abd", ImageFormat::Jpeg), &http, Delivery::Processed { refit: true }),
        ("new png", output(b"abcd", ImageFormat::Png), &http, Delivery::Processed { refit: false }),
    ];
    for (name, out, source, expected) in rows {
        assert_eq!(Delivery::for_output(&out, b"abc", source), expected, "{name}");
    }
}
