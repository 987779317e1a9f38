//! Shared test fixtures: a real origin server on 127.0.0.1, the real app router on 127.0.0.1, an HTTP client
//! that is not the app's own (hyper-util, not reqwest), independent decoders and generated hostile files.
#![allow(dead_code)]

pub mod origin;
pub mod s3;

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lambda_media_proxy::config::Config;
use lambda_media_proxy::server::{router, AppState};

/// `../shared/corpus` beside the repository (or `$CORPUS_DIR`).
pub fn corpus() -> PathBuf {
    std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// Reads a corpus file.
pub fn corpus_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(corpus().join(rel)).unwrap_or_else(|e| panic!("corpus file {rel}: {e}"))
}

/// Starts the real router with `vars` as its environment, on 127.0.0.1:0.
pub async fn start_app(vars: &[(&str, &str)]) -> SocketAddr {
    let config = Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).expect("config");
    let state = AppState::new(config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    addr
}

/// As [`start_app`], keeping the state so a test can read its counters.
pub async fn start_app_state(vars: &[(String, String)]) -> (SocketAddr, AppState) {
    let config = Config::from_vars(vars.iter().cloned()).expect("config");
    let state = AppState::new(config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, state)
}

/// A response as the test sees it.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// GET `path` from `addr` with extra headers.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request("GET", addr, path, headers).await
}

/// Any method.
pub async fn request(method: &str, addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut builder = Request::builder().method(method).uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = client.request(builder.body(Empty::new()).unwrap()).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status, headers: parts.headers, body }
}

/// imgproxy's signature, computed here with the primitives directly (SPEC §2).
pub fn sign(key_hex: &str, salt_hex: &str, path: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&hex::decode(key_hex).unwrap()).unwrap();
    mac.update(&hex::decode(salt_hex).unwrap());
    mac.update(path.as_bytes());
    format!("/{}{path}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// base64url without padding, as imgproxy source URLs use.
pub fn b64(url: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
}

/// Decodes with the `image` crate (an independent decoder: not what the app uses for JPEG/WebP).
pub fn decode(body: &[u8]) -> image::DynamicImage {
    image::load_from_memory(body).unwrap_or_else(|e| panic!("response is not a decodable image: {e}"))
}

/// Width and height of an AVIF from its `ispe` box (no AVIF decoder is linked in tests).
pub fn avif_size(body: &[u8]) -> (u32, u32) {
    assert_eq!(&body[4..8], b"ftyp", "not an ISO-BMFF file");
    assert!(body[8..32].windows(4).any(|w| w == b"avif" || w == b"avis"), "ftyp brand is not avif");
    let at = body.windows(4).position(|w| w == b"ispe").expect("no ispe box");
    let num = |o: usize| u32::from_be_bytes([body[o], body[o + 1], body[o + 2], body[o + 3]]);
    (num(at + 8), num(at + 12))
}

/// A PNG whose IHDR claims `width`×`height` followed by a tiny bogus IDAT: a pixel bomb by header.
pub fn png_header_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    push_chunk(&mut out, b"IHDR", &ihdr);
    push_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    push_chunk(&mut out, b"IEND", &[]);
    out
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}
