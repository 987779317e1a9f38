//! End to end through the real router: imgproxy URLs in, images out, against a real origin on 127.0.0.1.
//! Results are checked with the `image` crate's decoders, which the app does not use for JPEG or WebP.

mod common;

use std::time::{Duration, Instant};

use common::{b64, decode, get, origin, sign, start_app};
use image::GenericImageView;

const LOOPBACK_OK: (&str, &str) = ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true");
const KEY: &str = "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881";
const SALT: &str = "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5";

fn signed_vars() -> Vec<(&'static str, &'static str)> {
    vec![LOOPBACK_OK, ("IMGPROXY_KEY", KEY), ("IMGPROXY_SALT", SALT)]
}

/// Signs `/{options}/plain/{source}` for the test key.
fn signed(options: &str, source: &str) -> String {
    sign(KEY, SALT, &format!("/{options}/plain/{source}"))
}

#[tokio::test]
async fn resize_types_give_exact_dimensions() {
    let origin = origin::start().await;
    let app = start_app(&signed_vars()).await;
    let photo = origin.url("/corpus/photos/eleph12mp.jpg"); // 4000x3000
    let small = origin.url("/corpus/formats/flower2.webp"); // 300x225
    let rows = [
        ("fit 400x0 keeps aspect", "rs:fit:400:0", &photo, (400, 300)),
        ("fill 200x200 crops", "rs:fill:200:200", &photo, (200, 200)),
        ("force stretches", "rs:force:300:100", &photo, (300, 100)),
        ("auto on a portrait box fits", "rs:auto:300:400", &photo, (300, 225)),
        ("auto on a landscape box fills", "rs:auto:400:100", &photo, (400, 100)),
        ("fill-down never enlarges", "rs:fill-down:600:600", &small, (225, 225)),
        ("no enlarge by default", "rs:fit:600:0", &small, (300, 225)),
        ("enlarge on", "rs:fit:600:0:1", &small, (600, 450)),
        ("dpr 2 doubles", "rs:fit:100:0/dpr:2", &small, (200, 150)),
        ("dpr does not enlarge", "rs:fit:200:0/dpr:2", &small, (300, 225)),
        ("width and height options", "w:160/h:160", &photo, (160, 120)),
    ];
    for (name, options, source, expected) in rows {
        let reply = get(app, &signed(options, &format!("{source}@png")), &[]).await;
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.header("content-type"), "image/png", "{name}");
        assert_eq!(decode(&reply.body).dimensions(), expected, "{name}");
    }
}

#[tokio::test]
async fn jpeg_source_defaults_to_jpeg_with_imgproxy_headers() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_TTL", "600"), ("IMGPROXY_ALLOW_ORIGIN", "*")]).await;
    let url = format!("/unsafe/rs:fit:400:0/plain/{}", origin.url("/corpus/photos/eleph12mp.jpg"));
    let reply = get(app, &url, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "image/jpeg");
    assert_eq!(reply.header("cache-control"), "max-age=600, public");
    assert_eq!(reply.header("content-disposition"), "inline; filename=\"eleph12mp.jpg\"");
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    assert_eq!(reply.header("content-security-policy"), "script-src 'none'");
    assert!(!reply.header("x-request-id").is_empty());
    assert_eq!(reply.header("vary"), "", "no auto/enforce flag is on");
    let image = decode(&reply.body);
    assert_eq!(image.dimensions(), (400, 300));
    assert_eq!(image::guess_format(&reply.body).unwrap(), image::ImageFormat::Jpeg);
}

#[tokio::test]
async fn output_format_from_extension_option_and_base64_source() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK]).await;
    let source = origin.url("/corpus/formats/ukui-city.png"); // 3640x2400 RGBA
    let encoded = b64(&source);
    let (head, tail) = encoded.split_at(10);
    let rows = [
        ("plain @webp", format!("/x/rs:fit:364:0/plain/{source}@webp"), "image/webp"),
        ("f:jpg", format!("/x/rs:fit:364:0/f:jpg/plain/{source}"), "image/jpeg"),
        ("extension beats f:", format!("/x/rs:fit:364:0/f:jpg/plain/{source}@png"), "image/png"),
        ("base64 split with .webp", format!("/x/rs:fit:364:0/{head}/{tail}.webp"), "image/webp"),
        ("png source stays png", format!("/x/rs:fit:364:0/{encoded}"), "image/png"),
    ];
    for (name, path, mime) in rows {
        let reply = get(app, &path, &[]).await;
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.header("content-type"), mime, "{name}");
        assert_eq!(decode(&reply.body).dimensions(), (364, 240), "{name}");
    }
}

#[tokio::test]
async fn png_alpha_onto_jpeg_is_flattened_on_white() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK]).await;
    // i_trns.png is 64x64 with transparent pixels; flattened onto the default white background.
    let reply = get(app, &format!("/x/plain/{}@jpg", origin.url("/corpus/formats/i_trns.png")), &[]).await;
    assert_eq!(reply.status, 200);
    let rgba = decode(&reply.body).to_rgb8();
    let source = image::load_from_memory(&common::corpus_bytes("formats/i_trns.png")).unwrap().to_rgba8();
    let (x, y) = source.enumerate_pixels().find(|(_, _, p)| p[3] == 0).map(|(x, y, _)| (x, y)).unwrap();
    let p = rgba.get_pixel(x, y);
    assert!(p[0] > 240 && p[1] > 240 && p[2] > 240, "transparent pixel became {p:?}, not white");
}

#[tokio::test]
async fn accept_negotiation_picks_avif_then_webp_and_varies() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_AUTO_AVIF", "true"), ("IMGPROXY_AUTO_WEBP", "true")]).await;
    let path = format!("/x/rs:fit:200:0/plain/{}", origin.url("/corpus/photos/mate-FreshFlower.jpg"));
    let avif = get(app, &path, &[("accept", "image/avif,image/webp,*/*")]).await;
    assert_eq!(avif.status, 200);
    assert_eq!(avif.header("content-type"), "image/avif");
    assert_eq!(avif.header("vary"), "Accept");
    assert_eq!(common::avif_size(&avif.body), (200, 150));
    let webp = get(app, &path, &[("accept", "image/webp,*/*")]).await;
    assert_eq!(webp.header("content-type"), "image/webp");
    assert_eq!(decode(&webp.body).dimensions(), (200, 150));
    let plain = get(app, &path, &[("accept", "image/*,*/*")]).await;
    assert_eq!(plain.header("content-type"), "image/jpeg", "wildcards do not count");
    assert_eq!(plain.header("vary"), "Accept");
}

#[tokio::test]
async fn bad_signature_is_403_without_contacting_the_origin() {
    let origin = origin::start().await;
    let app = start_app(&signed_vars()).await;
    let good = signed("rs:fit:100:0", &origin.url("/corpus/photos/mate-FreshFlower.jpg"));
    let tampered = good.replacen("rs:fit:100", "rs:fit:101", 1);
    let unsigned = format!("/unsafe/rs:fit:100:0/plain/{}", origin.url("/corpus/photos/mate-FreshFlower.jpg"));
    for path in [&tampered, &unsigned] {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, 403, "{path}");
        assert_eq!(reply.header("cache-control"), "no-cache");
    }
    assert_eq!(origin.connections(), 0, "a bad signature must not reach the origin");
    let reply = get(app, &good, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn malformed_urls_are_404_with_a_reason() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK]).await;
    let src = origin.url("/corpus/photos/mate-FreshFlower.jpg");
    let rows = [
        ("no source", "/unsafe/rs:fit:10:10".to_string()),
        ("bad base64", "/unsafe/rs:fit:10:10/!!!notbase64!!!.jpg".to_string()),
        ("bad percent escape", "/unsafe/plain/http%3A%2F%2Fa%zz/x.jpg".to_string()),
        ("unknown option", format!("/unsafe/nope:1/plain/{src}")),
        ("pro-only option", format!("/unsafe/adjust:1:1:1/plain/{src}")),
        ("rotate not a multiple of 90", format!("/unsafe/rot:45/plain/{src}")),
        ("unknown scheme", format!("/unsafe/plain/{}", "ftp://127.0.0.1/x.jpg")),
        ("unknown extension", format!("/unsafe/plain/{src}@xyz")),
        ("expired", format!("/unsafe/exp:1000/plain/{src}")),
    ];
    for (name, path) in rows {
        let reply = get(app, &path, &[]).await;
        assert_eq!(reply.status, 404, "{name}: {path}");
        let body = String::from_utf8_lossy(&reply.body);
        assert!(body.trim().len() > 3 && body.trim().lines().count() == 1, "{name}: one-line reason, got {body:?}");
    }
    assert_eq!(origin.connections(), 0);
}

#[tokio::test]
async fn pixel_bomb_header_is_422_before_decoding() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK]).await;
    let started = Instant::now();
    let reply = get(app, &format!("/x/rs:fit:100:0/plain/{}", origin.url("/bomb.png")), &[]).await;
    assert_eq!(reply.status, 422);
    assert!(String::from_utf8_lossy(&reply.body).to_lowercase().contains("resolution"));
    // 900 megapixels would take seconds and gigabytes to decode; refusal comes from the header.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn oversized_source_is_422_and_the_download_is_cut_short() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_MAX_SRC_FILE_SIZE", "100000")]).await;
    let reply = get(app, &format!("/x/plain/{}", origin.url("/endless")), &[]).await;
    assert_eq!(reply.status, 422);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let streamed = origin.counters.streamed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(streamed < 32 * 1024 * 1024, "origin streamed {streamed} bytes of 64 MiB: download was not aborted");
}

#[tokio::test]
async fn loopback_source_is_refused_with_zero_connections() {
    let origin = origin::start().await;
    let app = start_app(&[]).await;
    for url in [
        origin.url("/corpus/photos/mate-FreshFlower.jpg"),
        format!("http://localhost:{}/corpus/photos/mate-FreshFlower.jpg", origin.addr.port()),
    ] {
        let reply = get(app, &format!("/x/plain/{url}"), &[]).await;
        assert_eq!(reply.status, 404, "{url}");
    }
    assert_eq!(origin.connections(), 0);
}

#[tokio::test]
async fn upstream_status_codes_are_mapped() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK]).await;
    for (code, expected) in [(404, 404), (403, 403), (500, 502), (503, 502)] {
        let reply = get(app, &format!("/x/plain/{}", origin.url(&format!("/status/{code}"))), &[]).await;
        assert_eq!(reply.status, expected, "origin {code}");
    }
}

#[tokio::test]
async fn whole_request_timeout_is_503_and_download_timeout_504() {
    let origin = origin::start().await;
    let slow = format!("/x/plain/{}", origin.url("/slow"));
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_TIMEOUT", "1"), ("IMGPROXY_DOWNLOAD_TIMEOUT", "10")]).await;
    assert_eq!(get(app, &slow, &[]).await.status, 503);
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_TIMEOUT", "10"), ("IMGPROXY_DOWNLOAD_TIMEOUT", "1")]).await;
    assert_eq!(get(app, &slow, &[]).await.status, 504);
}

#[tokio::test]
async fn requests_beyond_workers_and_queue_get_429() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_WORKERS", "1"), ("IMGPROXY_REQUESTS_QUEUE_SIZE", "1")]).await;
    let slow = format!("/x/plain/{}", origin.url("/slow"));
    let first = tokio::spawn({
        let slow = slow.clone();
        async move { get(app, &slow, &[]).await.status }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = tokio::spawn({
        let slow = slow.clone();
        async move { get(app, &slow, &[]).await.status }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = get(app, &slow, &[]).await;
    assert_eq!(third.status, 429);
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(second.await.unwrap(), 200);
}

#[tokio::test]
async fn local_source_under_root_and_escapes_refused() {
    let root = common::corpus();
    let root = root.to_str().unwrap();
    let app = start_app(&[("IMGPROXY_LOCAL_FILESYSTEM_ROOT", root)]).await;
    let ok = get(app, "/x/rs:fit:64:0/plain/local:///formats/hopper.bmp@png", &[]).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(decode(&ok.body).dimensions(), (64, 64));
    for path in
        ["/x/plain/local:///../shared/corpus/formats/hopper.bmp", "/x/plain/local:///..%2F..%2Fmain%2FCargo.toml"]
    {
        assert_eq!(get(app, path, &[]).await.status, 404, "{path}");
    }
    assert_eq!(get(app, "/x/plain/local:///missing.png", &[]).await.status, 404);
}

#[tokio::test]
async fn path_prefix_is_stripped_and_required() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_PATH_PREFIX", "/img")]).await;
    let path = format!("/x/rs:fit:50:0/plain/{}", origin.url("/corpus/formats/flower2.webp"));
    assert_eq!(get(app, &format!("/img{path}"), &[]).await.status, 200);
    assert_eq!(get(app, &path, &[]).await.status, 404);
}

#[tokio::test]
async fn health_root_head_and_options() {
    let app = start_app(&[("IMGPROXY_ALLOW_ORIGIN", "https://example.test")]).await;
    for path in ["/health", "/healthz"] {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(&reply.body[..], b"OK\n");
        let head = common::request("HEAD", app, path, &[]).await;
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
    }
    assert!(String::from_utf8_lossy(&get(app, "/", &[]).await.body).contains("lambda-media-proxy"));
    let preflight = common::request("OPTIONS", app, "/x/plain/http://a/b.jpg", &[]).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), "https://example.test");
    let head = common::request("HEAD", app, "/x/nope:1/plain/http://a/b.jpg", &[]).await;
    assert_eq!(head.status, 404);
    assert!(head.body.is_empty());
}
