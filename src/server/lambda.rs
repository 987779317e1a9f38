//! The native AWS Lambda front doors (SPEC §1): the same [`router`] under `lambda_http`, buffered
//! (`lambda_http::run`) or streamed (`run_with_streaming_response`), with the payload cap of SPEC §5 in
//! front of it; and the choice between them and the plain HTTP server.
//!
//! `lambda_http` turns function URL / API Gateway v2, REST v1 and ALB events into `http::Request`s and
//! our responses back (binary bodies base64 with `isBase64Encoded`, `text/*` as text), so nothing here
//! knows an event's JSON. The choice is a pure function of what `config.rs` read plus one file-exists
//! check, because behind the Lambda Web Adapter the app also sees `AWS_LAMBDA_RUNTIME_API` and must still
//! serve HTTP. No network I/O happens before the first event (cold start).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

use crate::config::{LambdaConfig, RunMode};
use crate::metrics::otlp::Exporter;

use super::payload_limit::{self, PayloadLimit, ResultStore};
use super::{router, AppState};

/// Where the Lambda Web Adapter extension lives in an image that has it (its presence means "serve HTTP").
pub const LWA_EXTENSION_PATH: &str = "/opt/extensions/lambda-adapter";

/// The front door to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontDoor {
    /// axum on a TCP port (default; also behind the Lambda Web Adapter).
    Http,
    /// Native Lambda, buffered responses.
    Lambda,
    /// Native Lambda, streamed responses.
    LambdaStreaming,
}

/// SPEC §1: `RUN_MODE` wins; then the Web Adapter (`AWS_LWA_PORT` or its extension file) means HTTP; then
/// `AWS_LAMBDA_RUNTIME_API` means native Lambda, streamed when `INVOKE_MODE=RESPONSE_STREAM`; else HTTP.
pub fn select_front_door(config: &LambdaConfig, lwa_extension_exists: bool) -> FrontDoor {
    match config.run_mode {
        Some(RunMode::Http) => FrontDoor::Http,
        Some(RunMode::Lambda) => FrontDoor::Lambda,
        Some(RunMode::LambdaStream) => FrontDoor::LambdaStreaming,
        None if config.lwa_port_set || lwa_extension_exists => FrontDoor::Http,
        None if config.runtime_api_set && config.invoke_mode_streaming => FrontDoor::LambdaStreaming,
        None if config.runtime_api_set => FrontDoor::Lambda,
        None => FrontDoor::Http,
    }
}

/// The router as a Lambda serves it: the payload cap outside; inside, the REST stage stripped and the Lambda
/// request id joined to ours.
///
/// With `IMGPROXY_OPEN_TELEMETRY_ENABLE`, metrics are pushed over OTLP after every invocation, before
/// its response is returned: between invocations the sandbox is frozen, so a periodic push would stall,
/// and one that ends with the instance would be lost (issue 7; the collector is usually the ADOT Lambda
/// layer on localhost, a ~1 ms round trip).
pub fn app(state: AppState, limit: PayloadLimit) -> Router {
    let exporter = Exporter::new(state.metrics.clone(), &state.config.observability);
    router(state)
        .layer(middleware::from_fn(lambda_request))
        .layer(middleware::from_fn_with_state(exporter, flush_metrics))
        .layer(middleware::from_fn_with_state(limit, payload_limit::layer))
}

/// Runs the request, then pushes the metrics (when OTLP is on) before the response leaves.
async fn flush_metrics(State(exporter): State<Option<Exporter>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(exporter) = exporter {
        exporter.export().await;
    }
    response
}

/// Runs the native Lambda front door until the runtime stops. `store` is the result bucket for SPEC §5
/// rule 2 (`None`: oversized lossy results are shrunk instead, lossless ones fail with 500).
pub async fn run(
    mut state: AppState,
    streaming: bool,
    store: Option<Arc<dyn ResultStore>>,
) -> Result<(), lambda_http::Error> {
    let limit = PayloadLimit::new(&state.config.lambda, streaming, store);
    // The response stream can carry a source as it arrives (`passthrough.rs`); a buffered one cannot.
    state.stream_pass_through = streaming;
    tracing::info!(target: "lambda", streaming, max_response_bytes = limit.max_bytes, "waiting for events");
    let app = app(state, limit);
    if streaming {
        lambda_http::run_with_streaming_response(app).await
    } else {
        lambda_http::run(app).await
    }
}

/// Undoes `lambda_http`'s REST v1 stage prefix: behind `https://…/{stage}/…` the event's own path has no
/// stage, and imgproxy paths (and signatures) are the same whichever domain or stage serves them. A path
/// that really starts with the stage (custom domains) is left alone. Other event shapes are untouched.
pub fn strip_rest_stage<B>(request: &mut axum::http::Request<B>) {
    let extensions = request.extensions();
    let Some(RequestContext::ApiGatewayV1(context)) = extensions.request_context_ref() else { return };
    let Some(prefix) = context.stage.as_deref().map(|stage| format!("/{stage}")) else { return };
    if extensions.raw_http_path().starts_with(&format!("{prefix}/")) {
        return;
    }
    let Some(rest) = request.uri().path_and_query().and_then(|pq| pq.as_str().strip_prefix(&prefix)) else { return };
    if !rest.starts_with('/') {
        return;
    }
    if let Ok(uri) = rest.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
}

/// Strips a REST stage (see [`strip_rest_stage`]) and uses the Lambda request id as `X-Request-ID` when the client sent none, so the access log line, the
/// response header and CloudWatch's `RequestId` agree; when the client sent one, logs the pair once.
async fn lambda_request(mut request: Request, next: Next) -> Response {
    strip_rest_stage(&mut request);
    let aws_id = request.extensions().lambda_context_ref().map(|c| c.request_id.clone());
    if let Some(aws_id) = aws_id {
        match request.headers().get("x-request-id").and_then(|v| v.to_str().ok()) {
            Some(client_id) => tracing::info!(target: "lambda", aws_request_id = %aws_id, request_id = client_id),
            None => {
                if let Ok(value) = HeaderValue::from_str(&aws_id) {
                    request.headers_mut().insert("x-request-id", value);
                }
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(run_mode: Option<RunMode>, lwa_port: bool, runtime_api: bool, streaming: bool) -> LambdaConfig {
        LambdaConfig {
            run_mode,
            lwa_port_set: lwa_port,
            runtime_api_set: runtime_api,
            invoke_mode_streaming: streaming,
            max_response_bytes: None,
        }
    }

    #[test]
    fn front_door_follows_spec_section_1() {
        use FrontDoor::*;
        #[rustfmt::skip]
        let rows = [
            ("nothing set: plain HTTP", env(None, false, false, false), false, Http),
            ("runtime API alone: native buffered", env(None, false, true, false), false, Lambda),
            ("runtime API + RESPONSE_STREAM: native streaming", env(None, false, true, true), false, LambdaStreaming),
            ("behind LWA by port: HTTP despite the runtime API", env(None, true, true, false), false, Http),
            ("behind LWA by extension file: HTTP", env(None, false, true, true), true, Http),
            ("INVOKE_MODE without the runtime API: HTTP", env(None, false, false, true), false, Http),
            ("RUN_MODE=http wins over the runtime API", env(Some(RunMode::Http), false, true, false), false, Http),
            ("RUN_MODE=lambda wins over LWA", env(Some(RunMode::Lambda), true, false, false), true, Lambda),
            ("RUN_MODE=lambda ignores INVOKE_MODE", env(Some(RunMode::Lambda), false, true, true), false, Lambda),
            ("RUN_MODE=lambda-stream", env(Some(RunMode::LambdaStream), false, false, false), false, LambdaStreaming),
        ];
        for (name, config, extension, expected) in rows {
            assert_eq!(select_front_door(&config, extension), expected, "{name}");
        }
    }

    fn rest_event(path: &str, stage: &str) -> String {
        let event = serde_json::json!({
            "resource": "/{proxy+}", "path": path, "httpMethod": "GET", "headers": {}, "multiValueHeaders": {},
            "queryStringParameters": {"a": "1,2"}, "multiValueQueryStringParameters": {"a": ["1,2"]},
            "requestContext": {"stage": stage, "path": format!("/{stage}{path}"), "httpMethod": "GET",
                "accountId": "1", "resourceId": "r", "requestId": "id", "identity": {}, "apiId": "a"},
            "body": null, "isBase64Encoded": false
        });
        event.to_string()
    }

    #[test]
    fn rest_stage_is_stripped_only_when_lambda_http_added_it() {
        let rows = [
            ("execute-api URL: the stage lambda_http added goes", "/_/w:10/x.png", "prod", "/_/w:10/x.png?a=1%2C2"),
            ("a path that starts with the stage keeps it", "/prod/_/w:10/x.png", "prod", "/prod/_/w:10/x.png?a=1%2C2"),
        ];
        for (name, path, stage, expected) in rows {
            let mut request = lambda_http::request::from_str(&rest_event(path, stage)).unwrap();
            strip_rest_stage(&mut request);
            assert_eq!(request.uri().path_and_query().map(|pq| pq.as_str()), Some(expected), "{name}");
        }
    }
}
