//! S3 sources and the result cache against a real S3-compatible server (s3s + s3s-fs, SigV4 checked) on
//! 127.0.0.1: happy path, wrong credentials, missing key, versions, the header probe, cache hits.

mod common;

use std::sync::atomic::Ordering;

use common::{corpus_bytes, decode, get, s3, start_app_state};

fn with(mut vars: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars
}

#[tokio::test]
async fn s3_object_is_fetched_and_processed() {
    let server = s3::start("happy").await;
    server.put("images", "dir/hopper.bmp", &corpus_bytes("formats/hopper.bmp"));
    let (app, _) = start_app_state(&server.vars()).await;
    let reply = get(app, "/_/rs:fit:64:0/plain/s3://images/dir/hopper.bmp@png", &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), "image/png");
    let img = decode(&reply.body);
    assert_eq!((img.width(), img.height()), (64, 64));
    assert_eq!(reply.header("content-disposition"), "inline; filename=\"hopper.png\"");
}

#[tokio::test]
async fn s3_error_answers_map_to_statuses() {
    let server = s3::start("errors").await;
    server.put("images", "a.gif", &corpus_bytes("formats/chi.gif"));
    server.bucket("empty");
    let (app, _) = start_app_state(&server.vars()).await;
    let wrong = with(server.vars(), &[("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all-0000000000000000000")]);
    let (wrong_app, _) = start_app_state(&wrong).await;
    let rows = [
        ("missing key", app, "/_/plain/s3://images/nope.gif", 404),
        ("missing bucket", app, "/_/plain/s3://nobucket/a.gif", 404),
        ("missing version", app, "/_/plain/s3://images/a.gif%3Fv9", 404),
        ("wrong credentials", wrong_app, "/_/plain/s3://images/a.gif", 403),
    ];
    for (name, addr, path, status) in rows {
        let reply = get(addr, path, &[]).await;
        assert_eq!(reply.status, status, "{name}: {:?}", reply.body);
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains(s3::SECRET_KEY) && !body.contains("not-the-secret"), "{name}: {body}");
    }
}

#[tokio::test]
async fn s3_disabled_is_refused_before_any_request() {
    let server = s3::start("disabled").await;
    server.put("images", "a.gif", &corpus_bytes("formats/chi.gif"));
    let vars = with(server.vars(), &[("IMGPROXY_USE_S3", "false")]);
    let (app, _) = start_app_state(&vars).await;
    let reply = get(app, "/_/plain/s3://images/a.gif", &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(server.gets(), 0);
}

#[tokio::test]
async fn versioned_key_fetches_that_version() {
    let server = s3::start("versions").await;
    server.put("images", "pic", &corpus_bytes("formats/hopper.bmp")); // latest: 128x128
    server.put_version("images", "pic", "v1", &corpus_bytes("formats/chi.gif")); // old: 320x240
    let (app, _) = start_app_state(&server.vars()).await;
    let latest = decode(&get(app, "/_/plain/s3://images/pic@png", &[]).await.body);
    assert_eq!((latest.width(), latest.height()), (128, 128));
    let reply = get(app, "/_/plain/s3://images/pic%3Fv1@png", &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let old = decode(&reply.body);
    assert_eq!((old.width(), old.height()), (320, 240));
}

#[tokio::test]
async fn header_probe_refuses_a_pixel_bomb_before_the_full_download() {
    let server = s3::start("bomb").await;
    let mut bomb = common::png_header_bomb(30_000, 30_000);
    bomb.resize(200 * 1024, 0); // larger than the probe, so a full download would be a second GET
    server.put("images", "bomb.png", &bomb);
    let (app, _) = start_app_state(&server.vars()).await;
    let reply = get(app, "/_/plain/s3://images/bomb.png", &[]).await;
    assert_eq!(reply.status, 422);
    assert_eq!(server.gets(), 1, "only the ranged probe was made");
}

#[tokio::test]
async fn size_limit_is_enforced_from_the_announced_size() {
    let server = s3::start("size").await;
    server.put("images", "big.jpg", &corpus_bytes("photos/lake9mp.jpg"));
    let vars = with(server.vars(), &[("IMGPROXY_MAX_SRC_FILE_SIZE", "100000")]);
    let (app, _) = start_app_state(&vars).await;
    let reply = get(app, "/_/plain/s3://images/big.jpg", &[]).await;
    assert_eq!(reply.status, 422);
}

#[tokio::test]
async fn result_cache_serves_the_second_request_without_the_source() {
    let server = s3::start("cache").await;
    server.put("images", "hopper.bmp", &corpus_bytes("formats/hopper.bmp"));
    server.bucket("results");
    let vars = with(server.vars(), &[("RESULT_BUCKET", "results"), ("RESULT_PREFIX", "r/")]);
    let (app, state) = start_app_state(&vars).await;
    let path = "/_/rs:fill:40:30/plain/s3://images/hopper.bmp@png";
    let first = get(app, path, &[]).await;
    assert_eq!(first.status, 200);
    let source_gets = server.gets();
    assert_eq!(server.counts.puts.load(Ordering::SeqCst), 1, "result stored");
    let second = get(app, path, &[]).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body, "same bytes from the cache");
    assert_eq!(second.header("content-type"), "image/png");
    // One more GET: the result-bucket read; none to the source bucket.
    assert_eq!(server.gets(), source_gets + 1);
    assert_eq!(state.delivery_stats.pipeline_runs(), 1, "processed once");
    assert_eq!(state.delivery_stats.cache_hits.load(Ordering::SeqCst), 1);
    let other = get(app, "/_/rs:fill:20:20/plain/s3://images/hopper.bmp@png", &[]).await;
    assert_eq!(decode(&other.body).width(), 20, "other options are another key");
}

#[tokio::test]
async fn result_store_presigned_url_is_fetchable() {
    let server = s3::start("presign").await;
    server.bucket("results");
    let vars = with(server.vars(), &[("RESULT_BUCKET", "results")]);
    let (_, state) = start_app_state(&vars).await;
    let store = state.result_store.clone().expect("store configured");
    store.put("big/one.webp", bytes::Bytes::from_static(b"RIFF-test"), "image/webp").await.expect("put");
    let url = store.presigned_get("big/one.webp", std::time::Duration::from_secs(300)).await.expect("presign");
    let uri: hyper::Uri = url.parse().expect("uri");
    assert_eq!(uri.host(), Some("127.0.0.1"));
    let path = uri.path_and_query().expect("path").as_str();
    let reply = get(server.addr, path, &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(&reply.body[..], b"RIFF-test");
    let stored = store.get("big/one.webp").await.expect("get").expect("present");
    assert_eq!(&stored.bytes[..], b"RIFF-test");
    assert!(store.get("big/none.webp").await.expect("get").is_none());
}
