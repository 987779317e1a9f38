//! End to end through the real router for the issue-3 options: trim, smart gravity, animated GIF out,
//! ICC conversion, watermark (data and URL), `max_result_dimension`. Sources are generated images in a
//! temporary `local://` root, the ICC fixtures, and corpus files from a real origin on 127.0.0.1.

mod common;

use base64::Engine;
use common::{decode, get, origin, start_app};
use image::GenericImageView;

const LOOPBACK_OK: (&str, &str) = ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true");

fn png(img: &image::RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// A fresh directory holding the generated sources, used as `IMGPROXY_LOCAL_FILESYSTEM_ROOT`.
fn generated_root(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("lmp-pipeline-options-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // 100×80 white with a red 60×40 block at (10, 30).
    let bordered = image::RgbaImage::from_fn(100, 80, |x, y| {
        let inside = (10..70).contains(&x) && (30..70).contains(&y);
        image::Rgba(if inside { [255, 0, 0, 255] } else { [255, 255, 255, 255] })
    });
    std::fs::write(dir.join("bordered.png"), png(&bordered)).expect("write");
    // 300×100 flat grey with a black/white checkerboard in x ≥ 220.
    let detail = image::RgbaImage::from_fn(300, 100, |x, y| match (x >= 220, (x / 8 + y / 8) % 2 == 0) {
        (true, true) => image::Rgba([0, 0, 0, 255]),
        (true, false) => image::Rgba([255, 255, 255, 255]),
        _ => image::Rgba([128, 128, 128, 255]),
    });
    std::fs::write(dir.join("detail.png"), png(&detail)).expect("write");
    std::fs::write(dir.join("blue.png"), png(&image::RgbaImage::from_pixel(200, 100, image::Rgba([0, 0, 255, 255]))))
        .expect("write");
    dir.to_string_lossy().into_owned()
}

#[tokio::test]
async fn trim_and_smart_gravity() {
    let root = generated_root("geometry");
    let app = start_app(&[("IMGPROXY_LOCAL_FILESYSTEM_ROOT", &root)]).await;
    let rows: &[(&str, &str, (u32, u32))] = &[
        ("trim keeps the red block", "/unsafe/t:10/plain/local:///bordered.png@png", (60, 40)),
        ("size is computed after trim", "/unsafe/t:10/rs:fit:30:0/plain/local:///bordered.png@png", (30, 20)),
        ("equal_hor trims both sides by 10", "/unsafe/t:10::1/plain/local:///bordered.png@png", (80, 40)),
        ("no trim", "/unsafe/rs:fit:0:0/plain/local:///bordered.png@png", (100, 80)),
    ];
    for (name, path, want) in rows {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(decode(&reply.body).dimensions(), *want, "{name}");
    }
    let detail_share = |body: &[u8]| {
        let img = decode(body).to_rgb8();
        let far = img.pixels().filter(|p| p[0].abs_diff(128) > 60).count();
        far * 100 / (img.width() * img.height()) as usize
    };
    for (name, path, detailed) in [
        ("fill with g:sm goes to the detail", "/unsafe/rs:fill:50:50/g:sm/plain/local:///detail.png@png", true),
        ("fill centred misses it", "/unsafe/rs:fill:50:50/plain/local:///detail.png@png", false),
        ("crop with sm gravity", "/unsafe/c:100:100:sm/plain/local:///detail.png@png", true),
    ] {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(detail_share(&reply.body) > 50, detailed, "{name}");
    }
}

#[tokio::test]
async fn animated_gif_output_keeps_frames_delays_and_loop() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_MAX_ANIMATION_FRAMES", "6")]).await;
    let source = origin.url("/corpus/formats/iss634.gif");
    for (name, path) in [
        ("@gif extension", format!("/unsafe/rs:fit:120:0/plain/{source}@gif")),
        ("f:gif option", format!("/unsafe/rs:fit:120:0/f:gif/plain/{source}")),
    ] {
        let reply = get(app, &path, &[]).await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.header("content-type"), "image/gif", "{name}");
        let mut d = gif::DecodeOptions::new().read_info(reply.body.as_ref()).expect("gif");
        assert_eq!((d.width(), d.height()), (120, 120), "{name}");
        let mut delays = Vec::new();
        while let Some(frame) = d.read_next_frame().expect("frame") {
            delays.push(frame.delay);
        }
        assert_eq!(delays.len(), 6, "{name}: capped by IMGPROXY_MAX_ANIMATION_FRAMES");
        assert_eq!(d.repeat(), gif::Repeat::Infinite, "{name}: the source loops forever");
        // The source's own delays, read by the gif crate straight from the corpus file; 0 or 1 cs is
        // written as 10 cs, which is how browsers (and libvips) play such frames.
        let src = common::corpus_bytes("formats/iss634.gif");
        let mut s = gif::DecodeOptions::new().read_info(src.as_slice()).expect("source gif");
        let mut want = Vec::new();
        while want.len() < 6 {
            let cs = s.read_next_frame().expect("frame").expect("enough frames").delay;
            want.push(if cs <= 1 { 10 } else { cs });
        }
        assert_eq!(delays, want, "{name}");
    }
}

/// (x, y, rgb) rows of libvips' sRGB conversion of the P3 fixture (`scripts/icc_fixture.py`).
fn libvips_reference() -> Vec<(u32, u32, [u8; 3])> {
    let path = format!("{}/tests/fixtures/icc/p3-patches.libvips-srgb.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("reference");
    let nums = |l: &str| l.split_whitespace().map(|n| n.parse::<u32>().expect("number")).collect::<Vec<_>>();
    let rows = text.lines().filter(|l| !l.starts_with('#')).map(nums);
    rows.map(|n| (n[0], n[1], [n[2] as u8, n[3] as u8, n[4] as u8])).collect()
}

#[tokio::test]
async fn icc_profiles_are_converted_to_srgb() {
    let root = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let app = start_app(&[("IMGPROXY_LOCAL_FILESYSTEM_ROOT", &root)]).await;
    let reference = libvips_reference();
    for (name, path, tolerance) in [
        ("png with iCCP", "/unsafe/plain/local:///icc/p3-patches.png@png", 2),
        ("jpeg with APP2", "/unsafe/plain/local:///icc/p3-patches.jpg@png", 6),
        ("webp with ICCP", "/unsafe/plain/local:///icc/p3-patches.webp@png", 2),
    ] {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, 200, "{name}");
        let img = decode(&reply.body).to_rgb8();
        for (x, y, want) in &reference {
            let got = img.get_pixel(*x, *y).0;
            let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(*w) <= tolerance);
            assert!(close, "{name} at ({x},{y}): got {got:?}, libvips {want:?}");
        }
    }
    // scp:0 keeps the P3 values (and the profile): the (200,120,40) patch is not moved to (213,115,0).
    let kept = get(app, "/unsafe/scp:0/plain/local:///icc/p3-patches.png@png", &[]).await;
    let px = decode(&kept.body).to_rgb8().get_pixel(56, 8).0;
    assert!(px[0].abs_diff(200) <= 2 && px[2].abs_diff(40) <= 2, "{px:?}");
}

#[tokio::test]
async fn watermark_from_data_and_from_url() {
    let root = generated_root("watermark");
    let red = png(&image::RgbaImage::from_pixel(10, 10, image::Rgba([255, 0, 0, 255])));
    let data = base64::engine::general_purpose::STANDARD.encode(&red);
    let app = start_app(&[("IMGPROXY_LOCAL_FILESYSTEM_ROOT", &root), ("IMGPROXY_WATERMARK_DATA", &data)]).await;
    let corner = |body: &[u8]| decode(body).to_rgb8().get_pixel(195, 95).0;
    let marked = get(app, "/unsafe/wm:1:soea/plain/local:///blue.png@png", &[]).await;
    assert_eq!(marked.status, 200);
    assert_eq!(corner(&marked.body), [255, 0, 0], "opaque red in the south-east corner");
    let half = get(app, "/unsafe/wm:0.5:soea/plain/local:///blue.png@png", &[]).await;
    let c = corner(&half.body);
    assert!(c[0].abs_diff(128) <= 3 && c[2].abs_diff(127) <= 3, "half opacity mixes: {c:?}");
    let plain = get(app, "/unsafe/rs:fit:0:0/plain/local:///blue.png@png", &[]).await;
    assert_eq!(corner(&plain.body), [0, 0, 255], "no wm option, no watermark");
    let tiled = get(app, "/unsafe/wm:1:re:0:0:0.05/plain/local:///blue.png@png", &[]).await;
    let img = decode(&tiled.body).to_rgb8();
    let red_px = img.pixels().filter(|p| p[0] > 200 && p[2] < 50).count();
    assert_eq!(red_px, 200 * 100, "replicated opaque tiles cover everything: {red_px}");

    // IMGPROXY_WATERMARK_URL: fetched once, lazily, through the guarded source client.
    let origin = origin::start().await;
    let url = origin.url("/corpus/formats/hopper.bmp");
    let app =
        start_app(&[LOOPBACK_OK, ("IMGPROXY_LOCAL_FILESYSTEM_ROOT", &root), ("IMGPROXY_WATERMARK_URL", &url)]).await;
    assert_eq!(origin.hits(), 0, "not fetched at start-up");
    for _ in 0..2 {
        let reply = get(app, "/unsafe/wm:1:nowe/plain/local:///blue.png@png", &[]).await;
        assert_eq!(reply.status, 200);
        let px = decode(&reply.body).to_rgb8().get_pixel(5, 5).0;
        assert_ne!(px, [0, 0, 255], "hopper is drawn in the north-west corner");
    }
    assert_eq!(origin.hits(), 1, "fetched once");
}

#[tokio::test]
async fn max_result_dimension_scales_down_and_avif_sources_decode() {
    let origin = origin::start().await;
    let app = start_app(&[LOOPBACK_OK, ("IMGPROXY_MAX_RESULT_DIMENSION", "300")]).await;
    let photo = origin.url("/corpus/photos/eleph12mp.jpg"); // 4000x3000
    for (name, options, want) in [
        ("fit 800 is scaled down to 300, not refused", "rs:fit:800:0", (300, 225)),
        ("within the limit", "rs:fit:200:0", (200, 150)),
        ("padding counts towards the limit", "rs:fit:400:0/pd:50", (300, 240)),
    ] {
        let reply = get(app, &format!("/unsafe/{options}/plain/{photo}@png"), &[]).await;
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(decode(&reply.body).dimensions(), want, "{name}");
    }
    let avif = origin.url("/corpus/formats/hopper.avif");
    let reply = get(app, &format!("/unsafe/rs:fit:64:0/plain/{avif}@png"), &[]).await;
    assert_eq!(reply.status, 200, "AVIF input: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(decode(&reply.body).dimensions(), (64, 64), "AVIF input is resized");
}
