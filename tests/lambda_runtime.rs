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
