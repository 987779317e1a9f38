//! End to end through the real router: the URL shapes Misskey itself generates, against a real origin on
//! 127.0.0.1 serving corpus images and generated media, checked with the `image` crate's decoders.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get as route_get;
use axum::Router;
use bytes::Bytes;
use common::{corpus_bytes, get, origin, request, start_app, Reply};
use futures_util::StreamExt;
use image::{AnimationDecoder, GenericImageView};

/// Loopback 127.0.0.1 only: 127.0.0.2 stays refused, so redirect tests can prove the guard.
const NETWORKS: (&str, &str) = ("MEDIA_PROXY_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1/32");
const CSP: &str = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";
const IMMUTABLE: &str = "max-age=31536000, immutable";

/// An ISO-BMFF header (`ftyp isom`) followed by filler: enough for any sniffer, not a playable file.
fn mp4() -> Vec<u8> {
    let mut v = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    v.extend((0..4000u32).map(|i| (i % 251) as u8));
    v
}

fn mp3() -> Vec<u8> {
    let mut v = b"ID3\x04\0\0\0\0\0\0".to_vec();
    v.extend([0xFF, 0xFB, 0x90, 0x64].repeat(500));
    v
}

fn webm() -> Vec<u8> {
    let mut v = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84];
    v.extend_from_slice(b"webm");
    v.extend(std::iter::repeat_n(0u8, 2000));
    v
}

fn png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// White with a single grey pixel: a badge of it would be empty.
fn nearly_uniform() -> Vec<u8> {
    let mut img = image::RgbImage::from_pixel(200, 200, image::Rgb([255, 255, 255]));
    img.put_pixel(3, 3, image::Rgb([250, 250, 250]));
    png(&image::DynamicImage::ImageRgb8(img))
}

fn wide() -> Vec<u8> {
    let img = image::RgbImage::from_fn(16000, 100, |x, y| image::Rgb([(x % 256) as u8, (y * 2) as u8, 90]));
    png(&image::DynamicImage::ImageRgb8(img))
}

fn generated(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        "clip.mp4" => mp4(),
        "song.mp3" => mp3(),
        "clip.webm" => webm(),
        "page.html" => b"<!doctype html><html><body>hi</body></html>".to_vec(),
        "empty.png" => Vec::new(),
        "truncated.png" => corpus_bytes("formats/ukui-city.png")[..4000].to_vec(),
        "uniform.png" => nearly_uniform(),
        "wide.png" => wide(),
        "script.svg" => br#"<svg xmlns="http://www.w3.org/2000/svg" width="300" height="150"><script>alert(1)</script><rect width="150" height="150" fill="blue"/></svg>"#.to_vec(),
        _ => return None,
    })
}

/// A second origin only for this dialect: generated media with `Range` support, naming headers, a
/// gzip-encoded endless body, a user-agent check and redirects.
struct MediaOrigin {
    addr: SocketAddr,
    streamed: Arc<AtomicU64>,
}

impl MediaOrigin {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn start_media_origin(redirect_to: String) -> MediaOrigin {
    let streamed = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/gen/{name}", route_get(generated_file))
        .route("/named", route_get(named))
        .route("/gzip-endless", route_get(gzip_endless))
        .route("/needs-agent", route_get(needs_agent))
        .route("/redirect", route_get(move || async move { (StatusCode::FOUND, [(header::LOCATION, redirect_to)]) }))
        .with_state(streamed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    MediaOrigin { addr, streamed }
}

/// Serves a generated file, honouring a single `bytes=a-b` range as a real media server would.
async fn generated_file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(bytes) = generated(&name) else { return StatusCode::NOT_FOUND.into_response() };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|r| r.strip_prefix("bytes="));
    let Some((a, b)) = range.and_then(|r| r.split_once('-')) else {
        // A misleading Content-Type on purpose: the type must come from the bytes.
        return ([(header::CONTENT_TYPE, "text/plain"), (header::ACCEPT_RANGES, "bytes")], bytes).into_response();
    };
    let start: usize = a.parse().unwrap();
    let end: usize = b.parse().unwrap_or(bytes.len() - 1).min(bytes.len() - 1);
    let part = bytes[start..=end].to_vec();
    let content_range = format!("bytes {start}-{end}/{}", bytes.len());
    (StatusCode::PARTIAL_CONTENT, [(header::CONTENT_RANGE, content_range)], part).into_response()
}

async fn named() -> Response {
    let disposition = "attachment; filename=\"x.png\"; filename*=UTF-8''%E7%8C%AB.png";
    ([(header::CONTENT_DISPOSITION, disposition)], corpus_bytes("formats/hopper.bmp")).into_response()
}

async fn needs_agent(headers: HeaderMap) -> Response {
    match headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        Some("TestAgent/1") => corpus_bytes("formats/hopper.bmp").into_response(),
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

/// A gzip member header then endless bytes, counted as handed to the socket.
async fn gzip_endless(State(streamed): State<Arc<AtomicU64>>) -> Response {
    let chunk = Bytes::from([&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..], &vec![7u8; 64 * 1024 - 10]].concat());
    let stream = futures_util::stream::iter(0..1024).map(move |_| {
        streamed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok::<_, Infallible>(chunk.clone())
    });
    let headers = [(header::CONTENT_ENCODING, "gzip"), (header::CONTENT_TYPE, "image/png")];
    (headers, Body::from_stream(stream)).into_response()
}

/// Frames of a WebP: 1 for a still image (the decoder's frame iterator is for animations only).
fn frames(body: &[u8]) -> usize {
    if !body.windows(4).any(|w| w == b"ANIM") {
        return 1;
    }
    let decoder = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(body)).unwrap();
    decoder.into_frames().count()
}

/// The `ANIM` chunk's loop count (0 = forever).
fn loop_count(body: &[u8]) -> Option<u16> {
    let at = body.windows(4).position(|w| w == b"ANIM")?;
    Some(u16::from_le_bytes([body[at + 12], body[at + 13]]))
}

fn assert_misskey_headers(name: &str, reply: &Reply) {
    assert_eq!(reply.header("access-control-allow-origin"), "*", "{name}");
    assert_eq!(reply.header("access-control-allow-headers"), "*", "{name}");
    assert_eq!(reply.header("access-control-allow-methods"), "GET, OPTIONS", "{name}");
    assert_eq!(reply.header("content-security-policy"), CSP, "{name}");
}

/// What a row expects.
enum Want {
    /// 200, the source bytes untouched, this type and file name.
    Raw(&'static str, &'static str),
    /// 200 WebP of this size and frame count.
    Webp((u32, u32), usize),
    /// 200 PNG of this size.
    Png((u32, u32)),
    /// This error status.
    Error(u16),
    /// 200 with the placeholder.
    Placeholder,
}

/// (name, path and query with `U` for the source, source, expectation)
type Row = (&'static str, &'static str, &'static str, Want);

fn rows() -> Vec<Row> {
    use Want::*;
    vec![
        ("gif passes through", "/image.webp?url=U", "/corpus/formats/iss634.gif", Raw("image/gif", "iss634.gif")),
        (
            "gif fallback passes through",
            "/image.webp?url=U&fallback=1",
            "/corpus/formats/iss634.gif",
            Raw("image/gif", "iss634.gif"),
        ),
        ("gif emoji keeps 42 frames", "/emoji.webp?url=U&emoji=1", "/corpus/formats/iss634.gif", Webp((128, 128), 42)),
        ("gif emoji static", "/emoji.webp?url=U&emoji=1&static=1", "/corpus/formats/iss634.gif", Webp((128, 128), 1)),
        (
            "gif avatar never enlarges",
            "/avatar.webp?url=U&avatar=1",
            "/corpus/formats/iss634.gif",
            Webp((245, 245), 42),
        ),
        (
            "gif avatar static",
            "/avatar.webp?url=U&avatar=1&static=1",
            "/corpus/formats/iss634.gif",
            Webp((245, 245), 1),
        ),
        ("gif static", "/static.webp?url=U&static=1", "/corpus/formats/iss634.gif", Webp((245, 245), 1)),
        ("gif preview", "/preview.webp?url=U&preview=1", "/corpus/formats/iss634.gif", Webp((200, 200), 1)),
        (
            "gif preview fallback",
            "/preview.webp?url=U&fallback=1&preview=1",
            "/corpus/formats/iss634.gif",
            Webp((200, 200), 1),
        ),
        ("gif badge", "/emoji.png?url=U&badge=1", "/corpus/formats/iss634.gif", Png((96, 96))),
        (
            "webp emoji keeps 42 frames",
            "/emoji.webp?url=U&emoji=1",
            "/corpus/formats/iss634.webp",
            Webp((128, 128), 42),
        ),
        (
            "apng emoji keeps its 41 frames",
            "/emoji.webp?url=U&emoji=1",
            "/corpus/formats/iss634.apng",
            Webp((128, 128), 41),
        ),
        (
            "apng passes through as png",
            "/image.webp?url=U",
            "/corpus/formats/iss634.apng",
            Raw("image/png", "iss634.apng.png"),
        ),
        ("png alpha preview", "/preview.webp?url=U&preview=1", "/corpus/formats/ukui-city.png", Webp((200, 132), 1)),
        ("png alpha static", "/static.webp?url=U&static=1", "/corpus/formats/ukui-city.png", Webp((498, 328), 1)),
        ("png avatar", "/avatar.webp?url=U&avatar=1", "/corpus/formats/ukui-city.png", Webp((485, 320), 1)),
        ("bmp passes through", "/image.webp?url=U", "/corpus/formats/hopper.bmp", Raw("image/bmp", "hopper.bmp")),
        (
            "bmp preview never enlarges",
            "/preview.webp?url=U&preview=1",
            "/corpus/formats/hopper.bmp",
            Webp((128, 128), 1),
        ),
        ("ico passes through", "/image.webp?url=U", "/corpus/formats/hopper.ico", Raw("image/x-icon", "hopper.ico")),
        (
            "ico emoji never enlarges its 16x16",
            "/emoji.webp?url=U&emoji=1",
            "/corpus/formats/hopper.ico",
            Webp((16, 16), 1),
        ),
        (
            "exif jpeg emoji",
            "/emoji.webp?url=U&emoji=1",
            "/corpus/formats/hopper_orientation_6.jpg",
            Webp((128, 128), 1),
        ),
        ("svg is rasterised", "/svg.webp?url=U", "/corpus/formats/gnome-dune.svg", Webp((2048, 2048), 1)),
        ("svg with script is rasterised", "/svg.webp?url=U", "/gen/script.svg", Webp((300, 150), 1)),
        ("svg emoji", "/emoji.webp?url=U&emoji=1", "/gen/script.svg", Webp((256, 128), 1)),
        ("svg preview", "/preview.webp?url=U&preview=1", "/gen/script.svg", Webp((200, 100), 1)),
        ("16000x100 emoji never enlarges", "/emoji.webp?url=U&emoji=1", "/gen/wide.png", Webp((16000, 100), 1)),
        ("16000x100 preview", "/preview.webp?url=U&preview=1", "/gen/wide.png", Webp((200, 1), 1)),
        ("nearly uniform badge is 404", "/emoji.png?url=U&badge=1", "/gen/uniform.png", Error(404)),
        ("nearly uniform badge fallback", "/emoji.png?url=U&badge=1&fallback=1", "/gen/uniform.png", Placeholder),
        ("mp4 passes through", "/image.webp?url=U", "/gen/clip.mp4", Raw("video/mp4", "clip.mp4")),
        ("mp3 passes through", "/image.webp?url=U", "/gen/song.mp3", Raw("audio/mpeg", "song.mp3")),
        ("webm passes through", "/image.webp?url=U", "/gen/clip.webm", Raw("video/webm", "clip.webm")),
        ("mp4 with a conversion flag is 404", "/preview.webp?url=U&preview=1", "/gen/clip.mp4", Error(404)),
        ("html is refused", "/image.webp?url=U", "/gen/page.html", Error(403)),
        ("html with a flag is 404", "/emoji.webp?url=U&emoji=1", "/gen/page.html", Error(404)),
        ("html fallback", "/image.webp?url=U&fallback=1", "/gen/page.html", Placeholder),
        ("zero bytes refused", "/image.webp?url=U", "/gen/empty.png", Error(403)),
        (
            "truncated png passes through untouched",
            "/image.webp?url=U",
            "/gen/truncated.png",
            Raw("image/png", "truncated.png"),
        ),
        ("truncated png cannot be converted", "/preview.webp?url=U&preview=1", "/gen/truncated.png", Error(422)),
        ("truncated png fallback", "/preview.webp?url=U&preview=1&fallback=1", "/gen/truncated.png", Placeholder),
        ("upstream 404", "/image.webp?url=U", "/corpus/nope.png", Error(404)),
        ("upstream 404 fallback", "/image.webp?url=U&fallback=1", "/corpus/nope.png", Placeholder),
    ]
}

fn source_url(origin: &origin::Origin, media: &MediaOrigin, source: &str) -> String {
    if source.starts_with("/corpus/") {
        origin.url(source)
    } else {
        media.url(source)
    }
}

fn check(name: &str, reply: &Reply, want: &Want, source: &[u8]) {
    assert_misskey_headers(name, reply);
    let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
    match want {
        Want::Error(status) => {
            assert_eq!(reply.status.as_u16(), *status, "{name}: {body}");
            assert_eq!(reply.header("cache-control"), "max-age=300", "{name}");
        }
        Want::Placeholder => {
            assert_eq!(reply.status, 200, "{name}: {body}");
            assert_eq!((reply.header("content-type"), reply.header("cache-control")), ("image/png", "max-age=300"));
            assert_eq!(common::decode(&reply.body).dimensions(), (256, 256), "{name}");
        }
        Want::Raw(mime, file) => {
            assert_eq!(reply.status, 200, "{name}: {body}");
            assert_eq!(reply.header("content-type"), *mime, "{name}");
            assert_eq!(reply.header("cache-control"), IMMUTABLE, "{name}");
            assert_eq!(reply.header("content-disposition"), format!("inline; filename=\"{file}\""), "{name}");
            assert!(reply.body[..] == source[..], "{name}: body must be the source bytes");
        }
        Want::Webp(size, count) => {
            assert_eq!(reply.status, 200, "{name}: {body}");
            assert_eq!(
                (reply.header("content-type"), reply.header("cache-control")),
                ("image/webp", IMMUTABLE),
                "{name}"
            );
            assert!(
                reply.header("content-disposition").ends_with(".webp\""),
                "{name}: {}",
                reply.header("content-disposition")
            );
            assert_eq!(common::decode(&reply.body).dimensions(), *size, "{name}");
            assert_eq!(frames(&reply.body), *count, "{name}");
            if *count > 1 {
                assert_eq!(loop_count(&reply.body), Some(0), "{name}: loops forever");
            }
        }
        Want::Png(size) => {
            assert_eq!(reply.status, 200, "{name}: {body}");
            assert_eq!(
                (reply.header("content-type"), reply.header("cache-control")),
                ("image/png", IMMUTABLE),
                "{name}"
            );
            let img = common::decode(&reply.body);
            assert_eq!(img.dimensions(), *size, "{name}");
            assert!(img.color().has_alpha(), "{name}: a badge is an alpha mask");
        }
    }
}

#[tokio::test]
async fn misskey_url_shapes_with_and_without_a_proxy_prefix() {
    let origin = origin::start().await;
    let media = start_media_origin(String::new()).await;
    let app = start_app(&[NETWORKS]).await;
    for prefix in ["", "/proxy"] {
        for (name, shape, source, want) in rows() {
            let url = source_url(&origin, &media, source);
            let escaped = url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>();
            let path = format!("{prefix}{}", shape.replace('U', &escaped));
            let reply = get(app, &path, &[]).await;
            let bytes = if matches!(want, Want::Raw(..)) { fetch_source(&url).await } else { Vec::new() };
            check(&format!("{prefix} {name}"), &reply, &want, &bytes);
        }
    }
}

async fn fetch_source(url: &str) -> Vec<u8> {
    let path = url.split_once("//").unwrap().1;
    let (host, rest) = path.split_once('/').unwrap();
    get(host.parse().unwrap(), &format!("/{rest}"), &[]).await.body.to_vec()
}

#[tokio::test]
async fn exif_orientation_is_applied_for_emoji() {
    let origin = origin::start().await;
    let app = start_app(&[NETWORKS]).await;
    let emoji = |file: &str| format!("/emoji.webp?url={}&emoji=1", origin.url(&format!("/corpus/formats/{file}")));
    let rotated = common::decode(&get(app, &emoji("hopper_orientation_6.jpg"), &[]).await.body).to_rgb8();
    let upright = common::decode(&get(app, &emoji("hopper.bmp"), &[]).await.body).to_rgb8();
    let stored = image::load_from_memory(&corpus_bytes("formats/hopper_orientation_6.jpg")).unwrap().to_rgb8();
    let diff = |a: &image::RgbImage, b: &image::RgbImage| -> f64 {
        a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.as_raw().len() as f64
    };
    let (applied, ignored) = (diff(&rotated, &upright), diff(&stored, &upright));
    assert!(applied < 12.0 && applied * 3.0 < ignored, "rotated vs upright {applied}, unrotated vs upright {ignored}");
}

#[tokio::test]
async fn audio_video_range_is_forwarded_and_206_passed_back() {
    let media = start_media_origin(String::new()).await;
    let app = start_app(&[NETWORKS]).await;
    let path = format!("/proxy/clip.mp4?url={}", media.url("/gen/clip.mp4"));
    let reply = get(app, &path, &[("range", "bytes=100-199")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("content-type"), "video/mp4");
    assert_eq!(reply.header("content-range"), format!("bytes 100-199/{}", mp4().len()));
    assert_eq!(&reply.body[..], &mp4()[100..200]);
    assert_eq!(reply.header("cache-control"), IMMUTABLE);
    let whole = get(app, &path, &[]).await;
    assert_eq!((whole.status.as_u16(), whole.header("accept-ranges")), (200, "bytes"));
    assert_eq!(whole.body.len(), mp4().len());
}

#[tokio::test]
async fn names_come_from_the_upstream_header_with_rfc5987() {
    let media = start_media_origin(String::new()).await;
    let app = start_app(&[NETWORKS]).await;
    let reply = get(app, &format!("/preview.webp?url={}&preview=1", media.url("/named")), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-disposition"),
        "inline; filename=\"_.png.webp\"; filename*=UTF-8''%E7%8C%AB.png.webp"
    );
}

#[tokio::test]
async fn bad_urls_are_400_and_options_is_answered() {
    let app = start_app(&[NETWORKS]).await;
    for (name, path) in [
        ("repeated url", "/image.webp?url=http://127.0.0.1/a.png&url=http://127.0.0.1/b.png"),
        ("relative url", "/image.webp?url=/etc/passwd"),
        ("file url", "/proxy/image.webp?url=file:///etc/passwd"),
    ] {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, 400, "{name}");
        assert_eq!(reply.header("cache-control"), "max-age=300", "{name}");
    }
    // The path-only form is `https://{segment}`: routed to this dialect (its headers), and here the TLS
    // handshake with a plain-HTTP loopback origin fails, which is a 404 like any connection error.
    let plain = origin::start().await;
    let reply = get(app, &format!("/{}%2Fcorpus%2Fformats%2Fhopper.bmp", plain.addr), &[]).await;
    assert_eq!((reply.status.as_u16(), reply.header("cache-control")), (404, "max-age=300"));
    assert_eq!(reply.header("content-security-policy"), CSP);
    let reply = request("OPTIONS", app, "/proxy/image.webp?url=x", &[]).await;
    assert_eq!(reply.status, 204);
    assert_misskey_headers_cors_only(&reply);
}

fn assert_misskey_headers_cors_only(reply: &Reply) {
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    assert_eq!(reply.header("access-control-allow-methods"), "GET, OPTIONS");
    assert_eq!(reply.header("access-control-allow-headers"), "*");
}

#[tokio::test]
async fn redirect_to_a_private_address_is_refused_without_connecting() {
    let private = origin::start_on("127.0.0.2:0").await;
    let media = start_media_origin(private.url("/corpus/formats/hopper.bmp")).await;
    let app = start_app(&[NETWORKS]).await;
    let reply = get(app, &format!("/image.webp?url={}", media.url("/redirect")), &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("cache-control"), "max-age=300");
    assert_eq!(private.connections(), 0, "the refused address was never contacted");
}

#[tokio::test]
async fn gzip_body_beyond_the_size_limit_is_refused_promptly() {
    let media = start_media_origin(String::new()).await;
    let app = start_app(&[NETWORKS, ("MEDIA_PROXY_MAX_SIZE", "1000000")]).await;
    let started = Instant::now();
    let reply = get(app, &format!("/image.webp?url={}", media.url("/gzip-endless")), &[]).await;
    assert_eq!(reply.status, 422);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let streamed = media.streamed.load(Ordering::SeqCst);
    assert!(streamed < 16 << 20, "the download stopped near the limit, not at the end ({streamed} bytes)");
}

#[tokio::test]
async fn user_agent_and_recursion_guard() {
    let media = start_media_origin(String::new()).await;
    let vars = [NETWORKS, ("MEDIA_PROXY_USER_AGENT", "TestAgent/1"), ("MEDIA_PROXY_REJECT_RECURSIVE", "true")];
    let app = start_app(&vars).await;
    let path = format!("/image.webp?url={}", media.url("/needs-agent"));
    assert_eq!(get(app, &path, &[]).await.status, 200, "the configured agent reached the source");
    let looped = get(app, &path, &[("user-agent", "Misskey/2024.11.0 (https://a.example)")]).await;
    assert_eq!(looped.status, 403);
    let default_agent = start_app(&[NETWORKS]).await;
    assert_eq!(get(default_agent, &path, &[]).await.status, 403, "the source refused the default agent");
}

#[tokio::test]
async fn alpha_survives_conversion_and_head_has_no_body() {
    let origin = origin::start().await;
    let app = start_app(&[NETWORKS]).await;
    // i_trns.png has transparent pixels (tRNS); libwebp rightly drops an alpha plane that is all opaque.
    let path = format!("/preview.webp?url={}&preview=1", origin.url("/corpus/formats/i_trns.png"));
    let reply = get(app, &path, &[]).await;
    assert_eq!(reply.status, 200);
    let img = common::decode(&reply.body).to_rgba8();
    assert!(img.pixels().any(|p| p[3] < 128), "transparent pixels stay transparent in WebP");
    let head = request("HEAD", app, &path, &[]).await;
    assert_eq!((head.status.as_u16(), head.header("content-type"), head.body.len()), (200, "image/webp", 0));
    assert_eq!(head.header("cache-control"), IMMUTABLE);
}
