//! Log ingestion routes: `POST /loki/api/v1/push` (204 on success, plain-text 4xx naming the
//! rejected entries) and OTLP/HTTP `POST /otlp/v1/logs` and `POST /v1/logs` (200 with an
//! `ExportLogsServiceResponse` in the request's encoding, `partial_success` when some records
//! were refused). Decoding, validation and limits live in `vigil-ingest`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use vigil_ingest::logs::{DecodedPush, LogPushLimits, LogPushOutcome, RateLimiter};
use vigil_ingest::loki::{self, LokiFormat};
use vigil_ingest::otlp::{self, OtlpFormat};
use vigil_ingest::{IngestError, IngestErrorKind};
use vigil_model::TenantId;
use vigil_storage::LogAppendable;

use crate::params::tenant;

/// Shared state of the log ingestion routes.
pub struct LogsApiState {
    /// Where log entries go.
    pub appendable: Arc<dyn LogAppendable>,
    /// Tenant of requests without `X-Scope-OrgID`.
    pub default_tenant: TenantId,
    /// Validation limits.
    pub limits: LogPushLimits,
    /// Per-tenant ingestion rate.
    pub rate_limiter: RateLimiter,
    /// Largest body as sent (bytes).
    pub max_request_body_bytes: usize,
    /// Largest body after decompression (bytes).
    pub max_decompressed_bytes: usize,
    /// Set once the log store is open.
    pub ready: Arc<AtomicBool>,
}

/// The log ingestion routes, to merge into the main router.
pub fn logs_router(state: Arc<LogsApiState>) -> Router {
    let limit = state.max_request_body_bytes;
    Router::new()
        .route("/loki/api/v1/push", post(loki_push))
        .route("/otlp/v1/logs", post(otlp_logs))
        .route("/v1/logs", post(otlp_logs))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn status_of(err: &IngestError) -> StatusCode {
    let kind = err.kind();
    match kind {
        IngestErrorKind::Internal | IngestErrorKind::Unavailable => {
            tracing::error!(error = %err, "log push failed")
        }
        _ => tracing::debug!(error = %err, "log push rejected"),
    }
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn plain(status: StatusCode, message: String) -> Response {
    let mut response = (status, message).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn store(
    state: &LogsApiState,
    tenant: &TenantId,
    decoded: DecodedPush,
) -> Result<LogPushOutcome, IngestError> {
    vigil_ingest::logs::push(
        state.appendable.as_ref(),
        tenant,
        decoded,
        &state.limits,
        &state.rate_limiter,
        now_ns(),
    )
    .await
}

/// The request's tenant once the log store is ready; otherwise the plain-text answer
/// (503 before readiness, 400 for a bad `X-Scope-OrgID`).
fn ready_tenant(
    state: &LogsApiState,
    headers: &HeaderMap,
) -> Result<TenantId, (StatusCode, String)> {
    if !state.ready.load(Ordering::Acquire) {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "log storage is not ready\n".into(),
        ));
    }
    tenant(headers, &state.default_tenant)
        .map_err(|err| (err.status(), format!("{}\n", err.message())))
}

async fn loki_push(
    State(state): State<Arc<LogsApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = match ready_tenant(&state, &headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return plain(status, message),
    };
    let format = LokiFormat::from_content_type(header_str(&headers, header::CONTENT_TYPE));
    let encoding = header_str(&headers, header::CONTENT_ENCODING).map(str::to_string);
    let max = state.max_decompressed_bytes;
    let decoded =
        tokio::task::spawn_blocking(move || loki::decode(&body, format, encoding.as_deref(), max))
            .await;
    let decoded = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(err)) => return plain(status_of(&err), format!("{err}\n")),
        Err(err) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decode task failed: {err}\n"),
            );
        }
    };
    match store(&state, &tenant, decoded).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => plain(status_of(&err), format!("{err}\n")),
    }
}

fn otlp_answer(
    format: OtlpFormat,
    status: StatusCode,
    outcome: Option<&LogPushOutcome>,
) -> Response {
    let body = otlp::response_body(format, outcome);
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

async fn otlp_logs(
    State(state): State<Arc<LogsApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = match ready_tenant(&state, &headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return plain(status, message),
    };
    let format = match OtlpFormat::from_content_type(header_str(&headers, header::CONTENT_TYPE)) {
        Ok(format) => format,
        Err(err) => return plain(status_of(&err), format!("{err}\n")),
    };
    let encoding = header_str(&headers, header::CONTENT_ENCODING).map(str::to_string);
    let max = state.max_decompressed_bytes;
    let discover = state.limits.discover_log_levels;
    let now = now_ns();
    let decoded = tokio::task::spawn_blocking(move || {
        otlp::decode(&body, format, encoding.as_deref(), max, now, discover)
    })
    .await;
    let decoded = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(err)) => return plain(status_of(&err), format!("{err}\n")),
        Err(err) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decode task failed: {err}\n"),
            );
        }
    };
    match store(&state, &tenant, decoded).await {
        Ok(outcome) => otlp_answer(format, StatusCode::OK, Some(&outcome)),
        // OTLP reports refused records as a partial success; the valid ones are stored.
        Err(IngestError::LogsPartial { outcome, .. }) if outcome.entries_over_limit == 0 => {
            otlp_answer(format, StatusCode::OK, Some(&outcome))
        }
        Err(err) => plain(status_of(&err), format!("{err}\n")),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use prost::Message;
    use tower::ServiceExt;
    use vigil_ingest::loki::proto as pb;
    use vigil_model::{LogTimeRange, Matcher};
    use vigil_storage::log_memory::MemLogStorage;
    use vigil_storage::{LogQueryable, LogSelect};

    use super::*;

    fn state(storage: &MemLogStorage) -> Arc<LogsApiState> {
        Arc::new(LogsApiState {
            appendable: Arc::new(storage.clone()),
            default_tenant: TenantId::new("fake").unwrap(),
            limits: LogPushLimits::default(),
            rate_limiter: RateLimiter::new(0, 0),
            max_request_body_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 20,
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    fn lines(storage: &MemLogStorage, tenant: &str, matcher: Matcher) -> Vec<String> {
        let querier = storage
            .log_querier(&TenantId::new(tenant).unwrap(), LogTimeRange::ALL)
            .unwrap();
        let select = LogSelect {
            matchers: vec![matcher],
            ..LogSelect::default()
        };
        querier
            .select_entries(&select)
            .unwrap()
            .map(|e| e.unwrap().entry.line)
            .collect()
    }

    #[tokio::test]
    async fn loki_protobuf_and_json_pushes_are_stored_per_tenant() {
        let storage = MemLogStorage::new();
        let now = now_ns();
        let request = pb::PushRequest {
            streams: vec![pb::StreamAdapter {
                labels: "{app=\"api\"}".into(),
                entries: vec![pb::EntryAdapter {
                    timestamp: Some(pb::Timestamp {
                        seconds: now / 1_000_000_000,
                        nanos: 0,
                    }),
                    line: "from protobuf".into(),
                    ..Default::default()
                }],
                hash: 0,
            }],
            format: String::new(),
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap();
        let reply = logs_router(state(&storage))
            .oneshot(
                Request::post("/loki/api/v1/push")
                    .header("content-type", "application/x-protobuf")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status(), 204);
        let json = format!(
            r#"{{"streams":[{{"stream":{{"app":"api"}},"values":[["{now}","from json"],["{now}","{}"]]}}]}}"#,
            "x".repeat(300_000)
        );
        let reply = logs_router(state(&storage))
            .oneshot(
                Request::post("/loki/api/v1/push")
                    .header("content-type", "application/json")
                    .header("x-scope-orgid", "team-a")
                    .body(Body::from(json))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "the long line is refused");
        let body = axum::body::to_bytes(reply.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("max entry size '262144' bytes exceeded"));
        assert_eq!(
            lines(&storage, "fake", Matcher::equal("app", "api")),
            ["from protobuf"]
        );
        assert_eq!(
            lines(&storage, "team-a", Matcher::equal("app", "api")),
            ["from json"],
            "good entry kept"
        );
    }

    #[tokio::test]
    async fn otlp_json_gets_an_otlp_json_response() {
        let storage = MemLogStorage::new();
        let body = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
            "scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello otlp"},"severityText":"INFO"}]}]}]}"#;
        let reply = logs_router(state(&storage))
            .oneshot(
                Request::post("/v1/logs")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.headers().get("content-type").unwrap(),
            "application/json"
        );
        let bytes = axum::body::to_bytes(reply.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"{}");
        assert_eq!(
            lines(&storage, "fake", Matcher::equal("service_name", "checkout")),
            ["hello otlp"]
        );
        let reply = logs_router(state(&storage))
            .oneshot(
                Request::post("/otlp/v1/logs")
                    .header("content-type", "text/plain")
                    .body(Body::from("x"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status(), 415);
    }
}
