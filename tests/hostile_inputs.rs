//! Hostile inputs through the real app (issue 8, SPEC §6): pixel and frame bombs, compressed bodies
//! that would expand past the limit, truncated and corrupt files of every format, polyglots, hostile
//! SVG, and origins that trickle, stall, reset or lie about their length. Each must give the
//! documented status promptly (bounded by the small timeouts configured here), never a panic, never a
//! 5xx other than the documented 504 for a download timeout, and never a non-image body.
//!
//! Misbehaving origins are a raw TCP server on 127.0.0.1 written here (axum cannot lie about lengths
//! or reset a connection); every connection in this file targets 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{b64, corpus_bytes, get, png_header_bomb, start_app, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// IMGPROXY_DOWNLOAD_TIMEOUT in these tests: every stalled origin must be given up on after this.
const DOWNLOAD_TIMEOUT_S: u64 = 1;

/// What "promptly" means for a refusal that needs no waiting (bombs, corrupt files): far below the
/// timeouts, and far below what decoding a bomb would take.
const PROMPT: Duration = Duration::from_secs(3);

/// 64 MiB of zeros compressed with Debian's `brotli -q 11` (1.0.9): a 54-byte brotli bomb.
const BROTLI_BOMB_HEX: &str =
    "cfffff7ff82700e2b14020f7fe9ffffffff04f00c4610180eefd3fffffffe19f0088c32200ddfb7ffeffffc33f0110870500baf7ff03";

fn app_vars(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut vars = vec![
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
        ("IMGPROXY_DOWNLOAD_TIMEOUT", "1"),
        ("IMGPROXY_TIMEOUT", "5"),
        ("IMGPROXY_MAX_SRC_RESOLUTION", "16"),
        ("IMGPROXY_MAX_ANIMATION_FRAMES", "100"),
    ];
    vars.extend_from_slice(extra);
    vars
}

/// One canned answer of the raw origin.
#[derive(Clone)]
enum Answer {
    /// Status 200 with these extra header lines and this body, honest Content-Length.
    Body { headers: String, body: Vec<u8> },
    /// Writes these bytes verbatim (head and body, whatever they claim), then closes normally.
    Raw(Vec<u8>),
    /// Writes these bytes, then resets the connection (RST, not FIN).
    RawThenReset(Vec<u8>),
    /// Writes these bytes one per second (slowloris), forever.
    Trickle(Vec<u8>),
    /// Reads the request and never answers.
    Silent,
}

/// A raw HTTP/1.1 origin on 127.0.0.1 answering by path, counting connections.
struct RawOrigin {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl RawOrigin {
    async fn start(routes: HashMap<&'static str, Answer>) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind raw origin");
        let addr = listener.local_addr().expect("raw origin addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let (routes, count) = (Arc::new(routes), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, routes.clone()));
            }
        });
        RawOrigin { addr, connections }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve(mut stream: TcpStream, routes: Arc<HashMap<&'static str, Answer>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let answer = routes.get(path.as_str()).cloned().unwrap_or(Answer::Raw(b"HTTP/1.1 404 Not Found\r\n\r\n".to_vec()));
    match answer {
        Answer::Body { headers, body } => {
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
        Answer::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        Answer::RawThenReset(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Linger 0 makes the close an RST. (Deprecated because a non-zero linger blocks on drop;
            // zero never does.)
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
            return;
        }
        Answer::Trickle(bytes) => {
            for byte in bytes.iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Answer::Silent => {
            let _ = stream.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
    let _ = stream.shutdown().await;
}

fn image(body: Vec<u8>) -> Answer {
    Answer::Body { headers: "Content-Type: image/png\r\n".into(), body }
}

fn imgproxy(source: &str, options: &str) -> String {
    format!("/_/{options}/{}", b64(source))
}

/// Asserts a hostile request got `want` within `within`, and that any 200 is a real image.
async fn expect(app: SocketAddr, path: &str, want: &[u16], within: Duration, what: &str) -> Reply {
    let started = Instant::now();
    let reply = get(app, path, &[]).await;
    let took = started.elapsed();
    let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).to_string();
    assert!(want.contains(&reply.status.as_u16()), "{what}: got {} ({body}), want {want:?}", reply.status);
    assert!(took < within, "{what}: took {took:?}, bound {within:?}");
    if reply.status == 200 {
        assert!(reply.header("content-type").starts_with("image/"), "{what}: {}", reply.header("content-type"));
        assert_valid_image(&reply, what);
    }
    reply
}

/// A 200 must decode (AVIF is checked by its header: no AVIF decoder is linked in tests).
fn assert_valid_image(reply: &Reply, what: &str) {
    if reply.header("content-type") == "image/avif" {
        let _ = common::avif_size(&reply.body);
        return;
    }
    if let Err(e) = image::load_from_memory(&reply.body) {
        panic!("{what}: a 200 that is not a decodable image ({}): {e}", reply.header("content-type"));
    }
}

/// Peak RSS of this test process (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) / 1024
}

#[path = "hostile_inputs/bombs.rs"]
mod bombs;

#[tokio::test]
async fn pixel_bombs_of_every_format_are_refused_before_decoding() {
    let mut routes = HashMap::new();
    let cases: Vec<(&'static str, Vec<u8>)> = bombs::pixel_bombs();
    for (name, body) in &cases {
        routes.insert(*name, image(body.clone()));
    }
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&app_vars(&[])).await;
    for (name, _) in &cases {
        for options in ["rs:fit:100:100", "rs:fill:10:10/f:webp", "raw:1"] {
            // SVG is the one vector case: its nominal size is not a pixel count, and it is rasterised at
            // the requested size; unresized, the rasteriser's own pixel limit refuses it.
            let ok_codes: &[u16] = if name.ends_with(".svg") && options != "raw:1" { &[200, 422] } else { &[422] };
            let what = format!("{name} with {options}");
            expect(app, &imgproxy(&origin.url(name), options), ok_codes, PROMPT, &what).await;
        }
    }
    // A 30000² RGBA raster alone would be 3.4 GiB; this process never got anywhere near that.
    assert!(peak_rss_mib() < 1536, "peak RSS {} MiB: a bomb was decoded", peak_rss_mib());
}

#[tokio::test]
async fn frame_bombs_are_refused_by_frame_count_before_decoding() {
    let mut routes = HashMap::new();
    routes.insert("/frames.gif", image(bombs::gif_frames(600, 600, 2_000)));
    routes.insert("/frames.png", image(bombs::apng_frame_bomb(1_000, 1_000, 1_000_000)));
    routes.insert("/frames.webp", image(bombs::animated_webp_canvas(2_000, 2_000, 500)));
    let origin = RawOrigin::start(routes).await;
    // Animated output keeps up to 100 frames: 600×600×100 = 36 MP, over the 16 MP limit.
    let app = start_app(&app_vars(&[])).await;
    for name in ["/frames.gif", "/frames.png", "/frames.webp"] {
        expect(app, &imgproxy(&origin.url(name), "rs:fit:50:50/f:webp"), &[422], PROMPT, name).await;
    }
    // Misskey's animated emoji keeps up to MEDIA_PROXY_MAX_ANIMATION_FRAMES (500): refused the same way.
    let url = percent_encoding::utf8_percent_encode(&origin.url("/frames.gif"), percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    expect(app, &format!("/proxy/emoji.webp?url={url}&emoji=1"), &[422], PROMPT, "misskey emoji").await;
}

#[tokio::test]
async fn compressed_bodies_are_never_expanded() {
    let gzip_bomb = bombs::gzip_zeros(64 << 20);
    let brotli_bomb = hex::decode(BROTLI_BOMB_HEX).expect("brotli constant");
    let gzip_png = bombs::gzip(&corpus_bytes("formats/i_trns.png"));
    let mut routes = HashMap::new();
    let encoded = |encoding: &str, body: Vec<u8>| Answer::Body {
        headers: format!("Content-Type: image/png\r\nContent-Encoding: {encoding}\r\n"),
        body,
    };
    routes.insert("/gzip-bomb.png", encoded("gzip", gzip_bomb.clone()));
    routes.insert("/br-bomb.png", encoded("br", brotli_bomb));
    routes.insert("/gzip-png.png", encoded("gzip", gzip_png));
    routes.insert("/deflate-bomb.png", encoded("deflate", gzip_bomb.clone()));
    let origin = RawOrigin::start(routes).await;
    // Under the size limit, the compressed bytes are the source: not an image format, 422.
    let app = start_app(&app_vars(&[])).await;
    for name in ["/gzip-bomb.png", "/br-bomb.png", "/gzip-png.png", "/deflate-bomb.png"] {
        expect(app, &imgproxy(&origin.url(name), "rs:fit:10:10"), &[422], PROMPT, name).await;
    }
    // With a size limit below the compressed size, the raw byte count trips it: 422 too.
    let limited = start_app(&app_vars(&[("IMGPROXY_MAX_SRC_FILE_SIZE", "16384")])).await;
    let reply = expect(limited, &imgproxy(&origin.url("/gzip-bomb.png"), "rs:fit:10:10"), &[422], PROMPT, "cap").await;
    assert!(String::from_utf8_lossy(&reply.body).contains("larger"), "size-limit message");
    assert!(gzip_bomb.len() > 16384 && gzip_bomb.len() < 1 << 20, "the bomb is small on the wire");
    assert!(peak_rss_mib() < 1536, "peak RSS {} MiB", peak_rss_mib());
}

#[tokio::test]
async fn truncated_and_corrupt_files_of_every_format_give_422_or_a_valid_image() {
    let files = [
        "formats/hopper_orientation_6.jpg",
        "formats/pil_sample_cmyk.jpg",
        "formats/i_trns.png",
        "formats/flower2.webp",
        "formats/hopper_orientation_6.webp",
        "formats/chi.gif",
        "formats/hopper.bmp",
        "formats/hopper.ico",
        "formats/hopper.tif",
        "formats/hopper.avif",
        "formats/gnome-dune.svg",
        "formats/iss634.webp",
        "formats/iss634.apng",
        "edge/truncated_jpeg.jpg",
        "edge/decompression_bomb.gif",
        "edge/broken_exif_dpi.jpg",
    ];
    let mut routes = HashMap::new();
    let mut names = Vec::new();
    for file in files {
        for (variant, body) in bombs::damaged(&corpus_bytes(file)) {
            let name: &'static str = Box::leak(format!("/{}/{variant}", file.replace('/', "_")).into_boxed_str());
            routes.insert(name, image(body));
            names.push(name);
        }
    }
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&app_vars(&[])).await;
    for name in &names {
        // Zero and a handful of bytes can never be an image: those must be 422. Longer damaged files may
        // still decode (libjpeg and libwebp recover from some damage, as libvips does): then a valid image.
        let want: &[u16] = if name.ends_with("/empty") || name.ends_with("/magic-only") { &[422] } else { &[200, 422] };
        expect(app, &imgproxy(&origin.url(name), "rs:fit:64:64"), want, PROMPT, name).await;
    }
    assert!(names.len() >= files.len() * 8, "{} damaged variants", names.len());
}

#[tokio::test]
async fn polyglots_are_served_as_the_sniffed_image_or_refused_never_as_markup() {
    let mut routes = HashMap::new();
    let cases = bombs::polyglots(&corpus_bytes("formats/i_trns.png"), &corpus_bytes("formats/chi.gif"));
    for (name, body) in &cases {
        let answer = Answer::Body { headers: "Content-Type: text/html\r\n".into(), body: body.clone() };
        routes.insert(*name, answer);
    }
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&app_vars(&[])).await;
    for (name, _) in &cases {
        for options in ["rs:fit:32:32", "raw:1"] {
            let reply = expect(app, &imgproxy(&origin.url(name), options), &[200, 422], PROMPT, name).await;
            assert!(!reply.header("content-type").contains("html"), "{name}: {}", reply.header("content-type"));
            assert!(!reply.header("content-type").contains("svg"), "{name}: SVG is never passed through");
        }
    }
}

#[tokio::test]
async fn hostile_svg_is_rasterised_without_fetching_expanding_or_scripting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let probed = Arc::new(AtomicUsize::new(0));
    let count = probed.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    let cases = bombs::hostile_svgs(port);
    let mut routes = HashMap::new();
    for (name, body) in &cases {
        routes.insert(*name, Answer::Body { headers: "Content-Type: image/svg+xml\r\n".into(), body: body.clone() });
    }
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&app_vars(&[])).await;
    for (name, _) in &cases {
        for options in ["rs:fit:64:64", "rs:fit:64:64/f:png", "raw:1"] {
            let reply = expect(app, &imgproxy(&origin.url(name), options), &[200, 422], PROMPT, name).await;
            let ct = reply.header("content-type");
            assert!(!ct.contains("svg") && !ct.contains("xml"), "{name} {options}: served as {ct}");
            assert!(!reply.body.windows(7).any(|w| w.eq_ignore_ascii_case(b"<script")), "{name}: script in output");
        }
    }
    assert_eq!(probed.load(Ordering::SeqCst), 0, "an SVG reference was fetched");
    assert!(peak_rss_mib() < 1536, "peak RSS {} MiB", peak_rss_mib());
}

#[tokio::test]
async fn misbehaving_origins_are_given_up_on_within_the_timeouts() {
    let png = corpus_bytes("formats/i_trns.png");
    let jpeg = corpus_bytes("formats/hopper_orientation_6.jpg");
    // `Connection: close` keeps each case on its own connection: after a short Content-Length the
    // client would otherwise pool the connection and read the rest as the next answer.
    let head = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n")
    };
    let with_body = |head: String, body: &[u8]| [head.as_bytes(), body].concat();
    let mut routes = HashMap::new();
    routes.insert("/slowloris-body", Answer::Trickle(with_body(head(png.len()), &png)));
    routes.insert("/slowloris-head", Answer::Trickle(head(png.len()).into_bytes()));
    routes.insert("/silent", Answer::Silent);
    routes.insert("/reset-mid-body", Answer::RawThenReset(with_body(head(png.len()), png.get(..400).unwrap_or(&[]))));
    routes.insert("/reset-before-head", Answer::RawThenReset(Vec::new()));
    routes.insert("/length-longer", Answer::Raw(with_body(head(png.len() + 5000), &png)));
    routes.insert("/length-shorter", Answer::Raw(with_body(head(100), &jpeg)));
    routes.insert(
        "/length-twice",
        Answer::Raw(with_body(
            format!("{}Content-Length: 7\r\n\r\n", &head(png.len())[..head(png.len()).len() - 2]),
            &png,
        )),
    );
    routes.insert(
        "/bad-chunks",
        Answer::Raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n".to_vec()),
    );
    routes.insert("/garbage-head", Answer::Raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()));
    routes.insert("/header-flood", Answer::Raw(bombs::header_flood()));
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&app_vars(&[])).await;
    let timeout_bound = Duration::from_millis(DOWNLOAD_TIMEOUT_S * 1000 + 1500);
    // Stalls are cut by IMGPROXY_DOWNLOAD_TIMEOUT: 504.
    for name in ["/slowloris-body", "/slowloris-head", "/silent"] {
        expect(app, &imgproxy(&origin.url(name), "rs:fit:10:10"), &[504], timeout_bound, name).await;
    }
    // A body that breaks off or a head that is not HTTP: the source can't be read, 404.
    for name in
        ["/reset-mid-body", "/reset-before-head", "/length-longer", "/bad-chunks", "/garbage-head", "/header-flood"]
    {
        expect(app, &imgproxy(&origin.url(name), "rs:fit:10:10"), &[404], PROMPT, name).await;
    }
    // A length shorter than the body: the client reads what was announced, a truncated JPEG header.
    expect(app, &imgproxy(&origin.url("/length-shorter"), "rs:fit:10:10"), &[422], PROMPT, "short").await;
    // Two different lengths: refused as a malformed response.
    expect(app, &imgproxy(&origin.url("/length-twice"), "rs:fit:10:10"), &[404], PROMPT, "twice").await;
    let connections = origin.connections.load(Ordering::SeqCst);
    assert!(connections >= 11, "every misbehaving origin must have been contacted: {connections}");
}

/// The whole-request deadline (IMGPROXY_TIMEOUT) bounds a request even when the download timeout is
/// longer: a slowloris origin is cut at the request deadline.
#[tokio::test]
async fn request_deadline_bounds_a_slowloris_origin() {
    let png = corpus_bytes("formats/i_trns.png");
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", png.len());
    let mut routes = HashMap::new();
    routes.insert("/drip", Answer::Trickle([head.as_bytes(), &png].concat()));
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&[
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
        ("IMGPROXY_DOWNLOAD_TIMEOUT", "30"),
        ("IMGPROXY_TIMEOUT", "2"),
    ])
    .await;
    expect(app, &imgproxy(&origin.url("/drip"), "rs:fit:10:10"), &[503, 504], Duration::from_millis(3500), "drip")
        .await;
}

/// A crafted AVIF that makes rav1d 1.1.0 panic inside its `extern "C"` API (an abort, had it run in
/// this process): the corpus hopper.avif with byte 2943 changed from '5' to '0', found by fuzzing.
/// The decoder runs in a forked child (src/pipeline/isolated.rs), so the app answers 422 and keeps
/// serving: the same app then turns a valid AVIF into a JPEG of the right size.
#[tokio::test]
async fn an_avif_that_aborts_the_av1_decoder_is_a_422_and_the_server_lives_on() {
    let valid = corpus_bytes("formats/hopper.avif");
    let mut crafted = valid.clone();
    assert_eq!(crafted.get(2943), Some(&b'5'), "the corpus file this reproducer patches");
    crafted[2943] = b'0';
    let routes = HashMap::from([("/crafted.avif", image(crafted)), ("/hopper.avif", image(valid))]);
    let origin = RawOrigin::start(routes).await;
    let app = start_app(&app_vars(&[])).await;
    for round in 0..2 {
        let what = format!("crafted AVIF, round {round}");
        // The body is imgproxy's generic "Can't decode the source image"; the status is the contract.
        expect(app, &imgproxy(&origin.url("/crafted.avif"), "rs:fit:64:64/f:jpg"), &[422], PROMPT, &what).await;
        let reply =
            expect(app, &imgproxy(&origin.url("/hopper.avif"), "rs:fit:64:64/f:jpg"), &[200], PROMPT, "valid").await;
        assert_eq!(reply.header("content-type"), "image/jpeg");
        let img = common::decode(&reply.body);
        assert_eq!((img.width(), img.height()), (64, 64), "the valid AVIF after the crafted one");
    }
}
