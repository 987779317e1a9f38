//! Mode precedence, geometry and routing, as tables (no I/O).

use super::*;

fn config() -> Config {
    Config::from_vars(Vec::<(String, String)>::new()).unwrap()
}

fn request(query: &str) -> MisskeyRequest {
    parse_request("/image.webp", Some(query)).unwrap()
}

#[test]
fn precedence_rows() {
    let rows = [
        ("no flag passes through", "url=https://a.example/x.png", Mode::Original),
        ("emoji", "url=https://a.example/x&emoji=1", Mode::Emoji { animated: true }),
        ("emoji beats avatar", "url=https://a.example/x&avatar=1&emoji=1", Mode::Emoji { animated: true }),
        ("emoji static is first frame", "url=https://a.example/x&emoji=1&static=1", Mode::Emoji { animated: false }),
        ("avatar", "url=https://a.example/x&avatar=1", Mode::Avatar { animated: true }),
        ("avatar static", "url=https://a.example/x&avatar=1&static=1", Mode::Avatar { animated: false }),
        ("static beats preview", "url=https://a.example/x&preview=1&static=1", Mode::Static),
        ("preview beats badge", "url=https://a.example/x&badge=1&preview=1", Mode::Preview),
        ("badge", "url=https://a.example/x&badge=1", Mode::Badge),
        ("fallback is not a mode", "url=https://a.example/x&fallback=1", Mode::Original),
    ];
    for (name, query, want) in rows {
        assert_eq!(request(query).mode, want, "{name}");
    }
}

#[test]
fn geometry_rows() {
    let cfg = config();
    // (name, query, width, height, format, keep animation, frames)
    let rows = [
        ("emoji keeps animation", "emoji=1", 0, 128, ImageFormat::Webp, true, 500),
        ("emoji static", "emoji=1&static=1", 0, 128, ImageFormat::Webp, false, 1),
        ("avatar", "avatar=1", 0, 320, ImageFormat::Webp, true, 500),
        ("static", "static=1", 498, 422, ImageFormat::Webp, false, 1),
        ("preview", "preview=1", 200, 200, ImageFormat::Webp, false, 1),
        ("badge is png", "badge=1", 96, 96, ImageFormat::Png, false, 1),
        ("svg bound for pass-through", "", 2048, 2048, ImageFormat::Webp, false, 1),
    ];
    for (name, flags, w, h, format, animated, frames) in rows {
        let plan = compile(&cfg, &request(&format!("url=https://a.example/x.png&{flags}")));
        let p = &plan.process;
        let badge = format == ImageFormat::Png;
        assert_eq!((p.width, p.height, p.enlarge, p.resize_type), (w, h, badge, ResizeType::Fit), "{name}");
        assert!(p.auto_rotate, "{name}: EXIF orientation in every mode");
        assert_eq!(plan.output.format, Some(format), "{name}");
        assert_eq!(plan.output.quality_for(ImageFormat::Webp), 77, "{name}");
        assert_eq!(plan.output.keep_animation, animated, "{name}");
        assert_eq!(plan.output.loop_count, Some(0), "{name}");
        assert_eq!(plan.limits.max_animation_frames, frames, "{name}");
        assert_eq!(plan.limits.max_src_file_size, 262_144_000, "{name}");
        assert_eq!(plan.response.cache, CacheRule::Immutable, "{name}");
        assert_eq!(plan.response.error_max_age, Some(300), "{name}");
    }
}

#[test]
fn url_rows() {
    type Row = (&'static str, &'static str, Option<&'static str>, Result<&'static str, MisskeyError>);
    let rows: Vec<Row> = vec![
        ("query url", "/image.webp", Some("url=https%3A%2F%2Fa.example%2Fb.png"), Ok("https://a.example/b.png")),
        ("path-only form", "/a.example%2Fb.png", None, Ok("https://a.example/b.png")),
        ("path-only with flags", "/a.example", Some("emoji=1"), Ok("https://a.example/")),
        ("missing url behind a prefix", "/proxy/image.webp", Some("emoji=1"), Err(MisskeyError::MissingUrl)),
        ("repeated url", "/image.webp", Some("url=https://a/&url=https://b/"), Err(MisskeyError::RepeatedUrl)),
        ("relative url", "/image.webp", Some("url=/etc/passwd"), Err(MisskeyError::BadUrl)),
        ("file scheme", "/image.webp", Some("url=file:///etc/passwd"), Err(MisskeyError::BadUrl)),
    ];
    for (name, path, query, want) in rows {
        let got = parse_request(path, query).map(|r| r.url.to_string());
        let got = got.as_deref().map_err(Clone::clone);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn routing_rows() {
    let rows = [
        ("file name with url", "/image.webp", Some("url=x"), true),
        ("prefixed", "/proxy/avatar.webp", Some("url=x&avatar=1"), true),
        ("path-only single segment", "/example.com%2Fa.png", None, true),
        ("imgproxy plain path", "/_/rs:fit:300:0/plain/http://a/b.jpg@webp", None, false),
        ("imgproxy base64 path", "/sig/rs:fit:3:3/aHR0cDovL2EvYi5qcGc.png", None, false),
        ("imgproxy path with an unrelated query", "/sig/w:3/aHR0cDovL2EvYi5qcGc.png", Some("cb=1"), false),
        ("no dot in the last segment", "/proxy/image", Some("url=x"), false),
    ];
    for (name, path, query, want) in rows {
        assert_eq!(is_misskey_path(path, query), want, "{name}");
    }
}
