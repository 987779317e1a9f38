//! The real binary as a native Lambda function, against an in-process emulation of the Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `/{id}/response`, `/{id}/error`) on 127.0.0.1, fed with
//! `aws_lambda_events`' own event fixtures edited for our paths (`tests/fixtures/lambda/`). Images are
//! checked with the `image` crate's decoders, which the app does not use for JPEG or WebP.

mod common;
mod lambda;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{decode, origin};
use lambda::{event, header, spawn_function, Emulator};
use serde_json::Value;

fn base64_body(response: &Value) -> Vec<u8> {
    assert_eq!(response["isBase64Encoded"], true, "{response}");
    let body = response["body"].as_str().expect("a body");
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64 body")
}

/// Height of a `target_width`-wide fit of a `width`×`height` source, rounded as imgproxy rounds.
fn fit_height(width: u32, height: u32, target_width: u32) -> u32 {
    (f64::from(height) * f64::from(target_width) / f64::from(width)).round() as u32
}

#[tokio::test]
async fn buffered_events_of_every_front_door_return_base64_images() {
    let emulator = Emulator::start().await;
    let spawned = Instant::now();
    let mut function = spawn_function(emulator.addr, &[]);

    // Function URL / API Gateway v2: a plain source, WebP by extension, 1600x1203 source.
    let fn_url = emulator.invoke("aws-req-fn-url", &event("function-url-v2.json")).await;
    let cold_start = spawned.elapsed();
    let first_poll = emulator.first_poll().map(|at| at.duration_since(spawned));
    eprintln!("cold start: first poll after {first_poll:?}, first response after {cold_start:?}");
    assert_eq!(fn_url.kind, "response");
    let json = fn_url.json();
    assert_eq!(json["statusCode"], 200, "{json}");
    assert_eq!(header(&json, "content-type"), "image/webp");
    assert_eq!(header(&json, "cache-control"), "max-age=31536000, public");
    assert_eq!(header(&json, "x-request-id"), "aws-req-fn-url", "the Lambda request id becomes ours");
    let webp = decode(&base64_body(&json));
    assert_eq!((webp.width(), webp.height()), (300, fit_height(1600, 1203, 300)));

    // REST v1: a base64 source (hopper.tif, 128x128), PNG out, multi-value headers in the event.
    let rest = emulator.invoke("aws-req-rest", &event("rest-v1.json")).await.json();
    assert_eq!(rest["statusCode"], 200, "{rest}");
    assert_eq!(header(&rest, "content-type"), "image/png");
    let png = decode(&base64_body(&rest));
    assert_eq!((png.width(), png.height()), (128, 128), "fit never enlarges");

    // ALB with multi-value headers: fill to 64x64 JPEG from a BMP.
    let alb = emulator.invoke("aws-req-alb", &event("alb.json")).await.json();
    assert_eq!(alb["statusCode"], 200, "{alb}");
    assert_eq!(header(&alb, "content-type"), "image/jpeg");
    let jpeg = decode(&base64_body(&alb));
    assert_eq!((jpeg.width(), jpeg.height()), (64, 64));

    // An error is text, not base64, with imgproxy's status.
    let mut bad = event("function-url-v2.json");
    lambda::set_path(&mut bad, "/_/unknown_option:1/plain/local:///photos/mate-FreshFlower.jpg");
    let error = emulator.invoke("aws-req-bad", &bad).await.json();
    assert_eq!(error["statusCode"], 404, "{error}");
    assert_eq!(error["isBase64Encoded"], false);
    assert_eq!(header(&error, "content-type"), "text/plain; charset=utf-8");

    let logs = function.stop().await;
    assert!(logs.contains(r#""request_id":"aws-req-fn-url""#), "request id missing from the logs:\n{logs}");
    assert!(cold_start < Duration::from_secs(5), "cold start took {cold_start:?}");
}

#[tokio::test]
async fn streaming_mode_frames_the_prelude_and_streams_raw_bytes() {
    let emulator = Emulator::start().await;
    let mut function = spawn_function(emulator.addr, &[("INVOKE_MODE", "RESPONSE_STREAM")]);
    let streamed = emulator.invoke("aws-req-stream", &event("function-url-v2.json")).await;
    assert_eq!(streamed.kind, "response");
    assert_eq!(streamed.header("lambda-runtime-function-response-mode"), "streaming");
    assert_eq!(streamed.header("content-type"), "application/vnd.awslambda.http-integration-response");
    assert_eq!(streamed.header("transfer-encoding"), "chunked");
    // The HTTP integration framing: JSON prelude, eight NUL bytes, then the body as is.
    let separator = streamed.body.windows(8).position(|w| w == [0u8; 8]).expect("no NUL separator");
    let prelude: Value = serde_json::from_slice(&streamed.body[..separator]).expect("prelude is JSON");
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(prelude["headers"]["content-type"], "image/webp");
    let webp = decode(&streamed.body[separator + 8..]);
    assert_eq!((webp.width(), webp.height()), (300, fit_height(1600, 1203, 300)));
    function.stop().await;
}

#[tokio::test]
async fn payload_cap_refits_processed_results_and_redirects_pass_through() {
    let origin = origin::start().await;
    let emulator = Emulator::start().await;
    let cap: usize = 60_000;
    let vars = [("LAMBDA_MAX_RESPONSE_BYTES", "60000"), ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true")];
    let mut function = spawn_function(emulator.addr, &vars);

    // A 600 px JPEG at q95 is well over 60 kB; lower quality brings it under without changing its size.
    let mut processed = event("function-url-v2.json");
    lambda::set_path(&mut processed, "/_/rs:fit:600:0/q:95/plain/local:///photos/mate-Dune.jpg@jpg");
    let json = emulator.invoke("aws-req-refit", &processed).await.json();
    assert_eq!(json["statusCode"], 200, "{json}");
    let bytes = base64_body(&json);
    assert!(bytes.len() <= cap, "{} bytes over the {cap} cap", bytes.len());
    let jpeg = decode(&bytes);
    assert_eq!((jpeg.width(), jpeg.height()), (600, fit_height(1680, 1050, 600)));

    // Skipped processing serves the source's own 80 kB: a 302 to the source, which never fails.
    let source = origin.url("/corpus/photos/mate-FreshFlower.jpg");
    let mut passed = event("function-url-v2.json");
    lambda::set_path(&mut passed, &format!("/_/skp:jpg/plain/{source}"));
    let json = emulator.invoke("aws-req-pass", &passed).await.json();
    assert_eq!(json["statusCode"], 302, "{json}");
    assert_eq!(header(&json, "location"), source);
    assert_eq!(json["body"].as_str().unwrap_or(""), "");
    function.stop().await;
}

#[test]
fn query_strings_with_commas_and_repeats_survive_every_event_shape() {
    for fixture in ["function-url-v2.json", "rest-v1.json", "alb.json"] {
        let mut request = lambda_http::request::from_str(&event(fixture).to_string()).expect(fixture);
        lambda_media_proxy::server::lambda::strip_rest_stage(&mut request);
        let query = request.uri().query().unwrap_or("");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let values = |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(values("src"), ["https://example.com/a,b.png"], "{fixture}: {query}");
        assert_eq!(values("tag"), ["x", "y"], "{fixture}: {query}");
        assert!(request.uri().path().starts_with("/_/rs:"), "{fixture}: {}", request.uri().path());
    }
}

/// A 20 MB "JPEG": a real photo followed by a byte pattern (decoders stop at its end-of-image marker; the
/// probe only reads its header), so the body is both a valid pass-through and checkable byte for byte.
fn big_source() -> bytes::Bytes {
    let mut bytes = common::corpus_bytes("photos/mate-FreshFlower.jpg");
    let pad = 20_000_000 - bytes.len();
    bytes.extend((0..pad).map(|i| (i % 251) as u8));
    bytes::Bytes::from(bytes)
}

/// A function URL event for `path` and an already encoded `query` (both places lambda_http may read).
fn url_event(path: &str, query: &str) -> Value {
    let mut event = event("function-url-v2.json");
    lambda::set_path(&mut event, path);
    event["rawQueryString"] = query.into();
    let pairs: serde_json::Map<String, Value> =
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned().into())).collect();
    event["queryStringParameters"] = pairs.into();
    event
}

/// Splits the streaming HTTP-integration framing: the JSON prelude, and where the body starts.
fn prelude(streamed: &lambda::Invocation) -> (Value, usize) {
    assert_eq!(streamed.kind, "response", "{}", String::from_utf8_lossy(&streamed.body));
    assert_eq!(streamed.header("lambda-runtime-function-response-mode"), "streaming");
    let separator = streamed.body.windows(8).position(|w| w == [0u8; 8]).expect("no NUL separator");
    let prelude: Value = serde_json::from_slice(&streamed.body[..separator]).expect("prelude is JSON");
    (prelude, separator + 8)
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn streaming_mode_passes_large_sources_through_as_they_arrive() {
    let big = big_source();
    let small = bytes::Bytes::from(common::corpus_bytes("photos/mate-FreshFlower.jpg"));
    let origin = lambda::slow_origin::SlowOrigin::start(big.clone(), small.clone()).await;
    let emulator = Emulator::start().await;
    let vars = [("INVOKE_MODE", "RESPONSE_STREAM"), ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true")];
    let mut function = spawn_function(emulator.addr, &vars);

    // Warm up (runtime, TLS roots, connection pool) so the memory peak below is the large bodies' own.
    let warm = emulator.invoke("warm", &url_event(&format!("/_/raw:1/plain/{}", origin.url("/small.jpg")), "")).await;
    let (head, at) = prelude(&warm);
    assert_eq!(head["statusCode"], 200, "{head}");
    assert_eq!(&warm.body[at..], &small[..]);
    let rss_before = function.peak_rss().expect("peak RSS");

    let misskey_query = format!("url={}", encode(&origin.url("/big.jpg")));
    let rows = [
        ("imgproxy raw, with Content-Length", url_event(&format!("/_/raw:1/plain/{}", origin.url("/big.jpg")), "")),
        (
            "imgproxy skip_processing, chunked",
            url_event(&format!("/_/skp:jpg/plain/{}", origin.url("/big-chunked.jpg")), ""),
        ),
        ("Misskey original", url_event("/proxy/big.jpg", &misskey_query)),
    ];
    for (i, (name, event)) in rows.into_iter().enumerate() {
        let streamed = emulator.invoke(&format!("big-{i}"), &event).await;
        let (head, at) = prelude(&streamed);
        assert_eq!(head["statusCode"], 200, "{name}: {head}");
        assert_eq!(head["headers"]["content-type"], "image/jpeg", "{name}");
        assert!(
            streamed.body[at..] == big[..],
            "{name}: body differs ({} of {} bytes)",
            streamed.body.len() - at,
            big.len()
        );
        let first_body_byte = streamed.arrival_of(at).expect("body arrived");
        let origin_done = *origin.finished().get(i).expect("the origin finished");
        assert!(
            first_body_byte < origin_done,
            "{name}: the first body byte arrived {:?} after the origin's last chunk left",
            first_body_byte.duration_since(origin_done)
        );
        let chunks_before_done = streamed.chunks.iter().filter(|(t, _)| *t < origin_done).count();
        eprintln!(
            "{name}: first body byte {:?} before the origin finished; {chunks_before_done} of {} chunks arrived before",
            origin_done.duration_since(first_body_byte),
            streamed.chunks.len()
        );
        assert!(chunks_before_done > 10, "{name}: only {chunks_before_done} chunks arrived before the origin finished");
    }
    let growth = function.peak_rss().expect("peak RSS").saturating_sub(rss_before);
    eprintln!("peak RSS grew by {} KiB over three 20 MB pass-throughs", growth / 1024);
    assert!(growth < big.len() as u64 / 2, "peak RSS grew by {growth} bytes: the body was buffered");
    function.stop().await;
}

#[tokio::test]
async fn streaming_mode_redirects_a_source_announced_over_the_cap_without_reading_it() {
    let big = big_source();
    let origin = lambda::slow_origin::SlowOrigin::start(big.clone(), bytes::Bytes::new()).await;
    let emulator = Emulator::start().await;
    let vars = [
        ("INVOKE_MODE", "RESPONSE_STREAM"),
        ("LAMBDA_MAX_RESPONSE_BYTES", "1000000"),
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
    ];
    let mut function = spawn_function(emulator.addr, &vars);
    let source = origin.url("/big.jpg");
    let streamed = emulator.invoke("over-cap", &url_event(&format!("/_/raw:1/plain/{source}"), "")).await;
    let (head, at) = prelude(&streamed);
    assert_eq!(head["statusCode"], 302, "{head}");
    assert_eq!(head["headers"]["location"], source.as_str());
    assert_eq!(streamed.body.len(), at, "a redirect has no body");
    // Only the header was read before the connection was dropped (socket buffers hold a few MB at most).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(origin.bytes_sent() < big.len() as u64 / 2, "{} bytes left the origin", origin.bytes_sent());
    assert!(origin.finished().is_empty(), "the whole source was sent");
    function.stop().await;
}

#[tokio::test]
async fn buffered_payload_cap_presigns_stored_results_and_serves_misskey_queries() {
    let s3 = common::s3::start("lambda-cap").await;
    s3.bucket("results");
    let small = bytes::Bytes::from(common::corpus_bytes("photos/mate-FreshFlower.jpg"));
    let origin = lambda::slow_origin::SlowOrigin::start(bytes::Bytes::new(), small.clone()).await;
    let emulator = Emulator::start().await;
    let mut vars: Vec<(String, String)> = s3.vars();
    for (k, v) in [
        ("LAMBDA_MAX_RESPONSE_BYTES", "50000"),
        ("RESULT_BUCKET", "results"),
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
    ] {
        vars.push((k.into(), v.into()));
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut function = spawn_function(emulator.addr, &vars);

    // A lossless result over the cap cannot be refitted: stored, and a 302 to a presigned GET that works.
    let mut processed = event("function-url-v2.json");
    lambda::set_path(&mut processed, "/_/rs:fit:600:0/plain/local:///photos/sharp_paper_2048x1536.png@png");
    let json = emulator.invoke("aws-req-presign", &processed).await.json();
    assert_eq!(json["statusCode"], 302, "{json}");
    let location = header(&json, "location");
    assert!(location.starts_with(&format!("{}/results/", s3.endpoint())), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let path = location.strip_prefix(&s3.endpoint()).expect("endpoint prefix");
    let served = common::get(s3.addr, path, &[]).await;
    assert_eq!(served.status, 200, "{}", String::from_utf8_lossy(&served.body));
    // s3s-fs does not keep `Content-Type` (S3 does): the bytes themselves must be the PNG.
    assert_eq!(image::guess_format(&served.body).ok(), Some(image::ImageFormat::Png));
    assert!(served.body.len() > 50_000, "{} bytes: why was it redirected?", served.body.len());
    let png = decode(&served.body);
    assert_eq!((png.width(), png.height()), (600, fit_height(2048, 1536, 600)));

    // Misskey through a function URL, buffered: `url` carries commas and its own query; `static=1`.
    let source_url = origin.url("/small.jpg?v=1,2&w=a,b");
    let query = format!("url={}&static=1", encode(&source_url));
    let json = emulator.invoke("aws-req-misskey", &url_event("/proxy/image.webp", &query)).await.json();
    assert_eq!(json["statusCode"], 200, "{json}");
    assert_eq!(header(&json, "content-type"), "image/webp");
    assert_eq!(origin.targets(), ["/small.jpg?v=1,2&w=a,b"], "the source URL reached the origin intact");
    let webp = decode(&base64_body(&json));
    let original = decode(&small);
    // `static`: fit inside 498×422 (SPEC §3), never enlarged.
    let scale = (498.0 / f64::from(original.width())).min(422.0 / f64::from(original.height())).min(1.0);
    let expected =
        ((f64::from(original.width()) * scale).round() as u32, (f64::from(original.height()) * scale).round() as u32);
    assert_eq!((webp.width(), webp.height()), expected);
    function.stop().await;
}

/// The three event shapes answered by the HTTP mode behind the real Lambda Web Adapter, buffered and
/// streamed. The adapter is a separate binary (crates.io `lambda_web_adapter`), too slow to build for
/// every CI run: `scripts/e2e-lwa` installs it and runs this with `LWA_BINARY` set.
#[tokio::test]
#[ignore = "needs the Lambda Web Adapter binary in LWA_BINARY: run scripts/e2e-lwa"]
async fn behind_the_lambda_web_adapter_the_http_mode_answers_every_event_shape() {
    let adapter = std::env::var("LWA_BINARY").expect("LWA_BINARY names the lambda-adapter binary");
    let emulator = Emulator::start().await;
    let spawned = Instant::now();
    let (mut lwa, mut app) = lambda::spawn_behind_adapter(emulator.addr, &adapter, "buffered");

    let json = emulator.invoke("lwa-fn-url", &event("function-url-v2.json")).await.json();
    eprintln!("adapter + app: first response after {:?}", spawned.elapsed());
    assert_eq!(json["statusCode"], 200, "{json}");
    assert_eq!(header(&json, "content-type"), "image/webp");
    let webp = decode(&base64_body(&json));
    assert_eq!((webp.width(), webp.height()), (300, fit_height(1600, 1203, 300)));

    let rest = emulator.invoke("lwa-rest", &event("rest-v1.json")).await.json();
    assert_eq!(rest["statusCode"], 200, "{rest}");
    let png = decode(&base64_body(&rest));
    assert_eq!((png.width(), png.height()), (128, 128));

    let alb = emulator.invoke("lwa-alb", &event("alb.json")).await.json();
    assert_eq!(alb["statusCode"], 200, "{alb}");
    let jpeg = decode(&base64_body(&alb));
    assert_eq!((jpeg.width(), jpeg.height()), (64, 64));

    let mut bad = event("function-url-v2.json");
    lambda::set_path(&mut bad, "/_/unknown_option:1/plain/local:///photos/mate-FreshFlower.jpg");
    let error = emulator.invoke("lwa-bad", &bad).await.json();
    assert_eq!(error["statusCode"], 404, "{error}");
    assert_eq!(error["isBase64Encoded"], false);
    let (_, logs) = (lwa.stop().await, app.stop().await);
    assert!(logs.contains(r#""dialect":"imgproxy""#), "the app logged no request:\n{logs}");

    // Response streaming: the adapter frames our HTTP response exactly as the native streaming door does.
    let emulator = Emulator::start().await;
    let (mut lwa, mut app) = lambda::spawn_behind_adapter(emulator.addr, &adapter, "response_stream");
    let streamed = emulator.invoke("lwa-stream", &event("function-url-v2.json")).await;
    let (head, at) = prelude(&streamed);
    assert_eq!(head["statusCode"], 200, "{head}");
    assert_eq!(head["headers"]["content-type"], "image/webp");
    let webp = decode(&streamed.body[at..]);
    assert_eq!((webp.width(), webp.height()), (300, fit_height(1600, 1203, 300)));
    lwa.stop().await;
    app.stop().await;
}

/// Cold start of both native front doors: process start → the first Runtime API poll → the answer to a
/// `/health` event (no image work, so this is init alone), median of 10 spawns. A measurement, not a
/// gate (timings depend on the machine's load): `LAMBDA_TEST_BINARY=…/release/lambda-media-proxy cargo
/// test --test lambda_runtime cold_start -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement: run it with a release binary in LAMBDA_TEST_BINARY"]
async fn cold_start_to_the_first_response() {
    let mut health = event("function-url-v2.json");
    lambda::set_path(&mut health, "/health");
    for (name, vars) in [("buffered", vec![]), ("streaming", vec![("INVOKE_MODE", "RESPONSE_STREAM")])] {
        let (mut polls, mut answers) = (Vec::new(), Vec::new());
        for i in 0..10 {
            let emulator = Emulator::start().await;
            let spawned = Instant::now();
            let mut function = spawn_function(emulator.addr, &vars);
            let answer = emulator.invoke(&format!("cold-{i}"), &health).await;
            answers.push(spawned.elapsed());
            polls.push(emulator.first_poll().expect("polled").duration_since(spawned));
            assert_eq!(answer.kind, "response");
            function.stop().await;
        }
        polls.sort();
        answers.sort();
        eprintln!(
            "{name}: first poll median {:?} (min {:?}), first response median {:?} (min {:?}, max {:?})",
            polls[5], polls[0], answers[5], answers[0], answers[9]
        );
        assert!(answers[5] < Duration::from_secs(1), "{name}: median cold start {:?}", answers[5]);
    }
}
