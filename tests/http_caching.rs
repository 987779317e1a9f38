//! HTTP caching and delivery options end to end: ETag / If-None-Match, Last-Modified / If-Modified-Since
//! (counting pipeline runs and source downloads), the fallback image, presets and ONLY_PRESETS.

mod common;

use std::sync::atomic::Ordering;

use base64::Engine;
use common::{corpus_bytes, decode, get, origin, s3, start_app_state};

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn etag_from_source_etag_gives_304_via_a_conditional_upstream_request() {
    let server = s3::start("etag").await;
    server.put("images", "hopper.bmp", &corpus_bytes("formats/hopper.bmp"));
    let mut env = server.vars();
    env.extend(vars(&[("IMGPROXY_USE_ETAG", "true")]));
    let (app, state) = start_app_state(&env).await;
    let path = "/_/rs:fit:32:0/plain/s3://images/hopper.bmp@png";
    let first = get(app, path, &[]).await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 4, "{etag}");
    let again = get(app, path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), etag);
    assert_eq!(state.delivery_stats.pipeline_runs(), 1, "no processing for the 304");
    assert_eq!(server.counts.not_modified.load(Ordering::SeqCst), 1, "S3 answered the conditional GET with 304");
    // Other options: another digest, so the tag does not match and the image is made.
    let other = get(app, "/_/rs:fit:16:0/plain/s3://images/hopper.bmp@png", &[("if-none-match", &etag)]).await;
    assert_eq!(other.status, 200);
    assert_ne!(other.header("etag"), etag);
}

#[tokio::test]
async fn etag_from_bytes_gives_304_without_processing_and_busters_change_it() {
    let origin = origin::start().await;
    let env = vars(&[("IMGPROXY_USE_ETAG", "true"), ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true")]);
    let (app, state) = start_app_state(&env).await;
    let src = origin.url("/corpus/formats/hopper.bmp");
    let path = format!("/_/rs:fit:32:0/plain/{src}@png");
    let first = get(app, &path, &[]).await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").to_string();
    let again = get(app, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert_eq!(state.delivery_stats.pipeline_runs(), 1, "downloaded and hashed, not processed");
    let busted = get(app, &format!("/_/rs:fit:32:0/cb:2/plain/{src}@png"), &[]).await;
    assert_ne!(busted.header("etag"), etag, "cachebuster is folded into the tag");
    let env = vars(&[
        ("IMGPROXY_USE_ETAG", "true"),
        ("IMGPROXY_ETAG_BUSTER", "b2"),
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
    ]);
    let (other_app, _) = start_app_state(&env).await;
    let rebusted = get(other_app, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(rebusted.status, 200, "IMGPROXY_ETAG_BUSTER invalidates old tags");
}

#[tokio::test]
async fn last_modified_and_if_modified_since_give_304() {
    let server = s3::start("lastmod").await;
    server.put("images", "hopper.bmp", &corpus_bytes("formats/hopper.bmp"));
    let mut env = server.vars();
    env.extend(vars(&[("IMGPROXY_USE_LAST_MODIFIED", "true")]));
    let (app, state) = start_app_state(&env).await;
    let path = "/_/rs:fit:32:0/plain/s3://images/hopper.bmp@png";
    let first = get(app, path, &[]).await;
    assert_eq!(first.status, 200);
    let last_modified = first.header("last-modified").to_string();
    assert!(last_modified.ends_with("GMT"), "{last_modified}");
    let same = get(app, path, &[("if-modified-since", &last_modified)]).await;
    assert_eq!(same.status, 304);
    let old = get(app, path, &[("if-modified-since", "Thu, 01 Jan 1998 00:00:00 GMT")]).await;
    assert_eq!(old.status, 200);
    assert_eq!(state.delivery_stats.pipeline_runs(), 2, "the 304 was not processed");
}

#[tokio::test]
async fn validators_are_off_by_default() {
    let server = s3::start("novalidators").await;
    server.put("images", "hopper.bmp", &corpus_bytes("formats/hopper.bmp"));
    let (app, _) = start_app_state(&server.vars()).await;
    let reply = get(app, "/_/plain/s3://images/hopper.bmp@png", &[("if-none-match", "*")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("etag"), "");
    assert_eq!(reply.header("last-modified"), "");
}

#[tokio::test]
async fn fallback_image_is_processed_for_a_missing_source_with_the_configured_status() {
    let server = s3::start("fallback").await;
    server.bucket("images");
    let data = base64::engine::general_purpose::STANDARD.encode(corpus_bytes("formats/chi.gif"));
    let mut env = server.vars();
    env.extend(vars(&[
        ("IMGPROXY_FALLBACK_IMAGE_DATA", &data),
        ("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", "404"),
        ("IMGPROXY_FALLBACK_IMAGE_TTL", "60"),
    ]));
    let (app, _) = start_app_state(&env).await;
    let reply = get(app, "/_/rs:fit:100:0/plain/s3://images/missing.jpg@png", &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("content-type"), "image/png");
    assert_eq!(reply.header("cache-control"), "max-age=60, public");
    let img = decode(&reply.body);
    assert_eq!((img.width(), img.height()), (100, 75), "the fallback got the request's options");
}

#[tokio::test]
async fn fallback_url_is_fetched_once_and_default_status_is_200() {
    let origin = origin::start().await;
    let fallback_url = origin.url("/corpus/formats/hopper.bmp");
    let env =
        vars(&[("IMGPROXY_FALLBACK_IMAGE_URL", &fallback_url), ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true")]);
    let (app, _) = start_app_state(&env).await;
    let missing = origin.url("/status/404");
    for _ in 0..2 {
        let reply = get(app, &format!("/_/rs:fit:50:0/plain/{missing}@png"), &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(decode(&reply.body).width(), 50);
    }
    assert_eq!(origin.hits(), 3, "two failed sources and one fallback download");
}

#[tokio::test]
async fn presets_apply_and_only_presets_rejects_plain_options() {
    let origin = origin::start().await;
    let src = origin.url("/corpus/formats/hopper.bmp");
    let base = [
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
        ("IMGPROXY_PRESETS", "default=rs:fit:100:0,small=rs:fit:40:0"),
    ];
    let (app, _) = start_app_state(&vars(&base)).await;
    let by_default = get(app, &format!("/_/plain/{src}@png"), &[]).await;
    assert_eq!(decode(&by_default.body).width(), 100, "default preset");
    let by_name = get(app, &format!("/_/pr:small/plain/{src}@png"), &[]).await;
    assert_eq!(decode(&by_name.body).width(), 40, "named preset");
    let unknown = get(app, &format!("/_/pr:nope/plain/{src}@png"), &[]).await;
    assert_eq!(unknown.status, 404, "unknown preset");

    let mut only = base.to_vec();
    only.push(("IMGPROXY_ONLY_PRESETS", "true"));
    let (only_app, _) = start_app_state(&vars(&only)).await;
    let refused = get(only_app, &format!("/_/rs:fit:10:0/plain/{src}@png"), &[]).await;
    assert_eq!(refused.status, 404, "plain options are refused with ONLY_PRESETS");
    let preset_only = get(only_app, &format!("/_/small/plain/{src}@png"), &[]).await;
    assert_eq!(preset_only.status, 200, "{:?}", preset_only.body);
    assert_eq!(decode(&preset_only.body).width(), 40, "bare preset names are presets");
}

#[tokio::test]
async fn filename_attachment_and_cors_preflight() {
    let origin = origin::start().await;
    let src = origin.url("/corpus/formats/hopper.bmp");
    let env =
        vars(&[("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"), ("IMGPROXY_ALLOW_ORIGIN", "https://a.example")]);
    let (app, _) = start_app_state(&env).await;
    let reply = get(app, &format!("/_/fn:pic/att:1/plain/{src}@png"), &[]).await;
    assert_eq!(reply.header("content-disposition"), "attachment; filename=\"pic.png\"");
    assert_eq!(reply.header("access-control-allow-origin"), "https://a.example");
    let preflight = common::request("OPTIONS", app, "/_/plain/x", &[("origin", "https://a.example")]).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), "https://a.example");
}
