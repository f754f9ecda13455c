//! `POST /api/v1/write` (and Mimir's `/api/v1/push`): the Prometheus remote_write receiver.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_ingest::remote_write::{self, RemoteWriteOptions, WriteOutcome};
use vigil_ingest::{IngestError, IngestErrorKind};

use crate::ApiState;
use crate::params::tenant;

const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";

/// Plain-text error answer, as Prometheus' receiver gives, with the written counts.
fn answer(status: StatusCode, message: String, outcome: Option<&WriteOutcome>) -> Response {
    let mut response = (status, message).into_response();
    let written = outcome
        .map(|o| (o.samples_written, o.histograms_written, o.exemplars_written))
        .unwrap_or_default();
    let headers = response.headers_mut();
    for (name, value) in [
        (SAMPLES_WRITTEN, written.0),
        (HISTOGRAMS_WRITTEN, written.1),
        (EXEMPLARS_WRITTEN, written.2),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn error_response(err: &IngestError) -> Response {
    let kind = err.kind();
    let status =
        StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match kind {
        IngestErrorKind::Internal | IngestErrorKind::Unavailable => {
            tracing::error!(error = %err, "remote write failed")
        }
        _ => tracing::debug!(error = %err, "remote write rejected"),
    }
    answer(status, format!("{err}\n"), err.outcome())
}

pub(crate) async fn remote_write(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.is_ready() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is still replaying its write-ahead log\n".into(),
            None,
        );
    }
    let Ok(_permit) = state.write_permits.try_acquire() else {
        let mut busy = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent write requests, retry later\n".into(),
            None,
        );
        busy.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return busy;
    };
    let tenant = match tenant(&headers, &state.options.default_tenant) {
        Ok(tenant) => tenant,
        Err(err) => return answer(err.status(), format!("{}\n", err.message()), None),
    };
    let version = match remote_write::negotiate(
        header_str(&headers, header::CONTENT_TYPE),
        header_str(&headers, header::CONTENT_ENCODING),
    ) {
        Ok(version) => version,
        Err(err) => return error_response(&err),
    };
    let options = RemoteWriteOptions {
        max_decompressed_bytes: state.options.max_decompressed_bytes,
        ..RemoteWriteOptions::default()
    };
    let appendable = state.appendable.clone();
    // Decompression, decoding and validation are CPU work: keep them off the async workers.
    let prepared = tokio::task::spawn_blocking(move || {
        let raw = remote_write::decompress(&body, options.max_decompressed_bytes)?;
        remote_write::prepare(appendable.as_ref(), &tenant, version, &raw, &options)
    })
    .await;
    let prepared = match prepared {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(err)) => return error_response(&err),
        Err(err) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("remote write task failed: {err}\n"),
                None,
            );
        }
    };
    match prepared.commit().await {
        Ok(outcome) => answer(StatusCode::NO_CONTENT, String::new(), Some(&outcome)),
        Err(err) => error_response(&err),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use axum::body::Body;
    use axum::http::Request;
    use prost::Message;
    use tower::ServiceExt;
    use vigil_ingest::proto::v1 as pb;
    use vigil_model::TenantId;
    use vigil_storage::memory::MemStorage;

    use crate::{ApiOptions, ApiState, BuildInfo};

    fn state(write_permits: usize) -> Arc<ApiState> {
        let storage = MemStorage::new();
        Arc::new(ApiState {
            appendable: Arc::new(storage.clone()),
            queryable: Arc::new(storage),
            options: ApiOptions {
                default_tenant: TenantId::new("fake").unwrap(),
                max_request_body_bytes: 1 << 20,
                max_decompressed_bytes: 1 << 20,
            },
            build_info: BuildInfo::default(),
            ready: Arc::new(AtomicBool::new(true)),
            write_permits: tokio::sync::Semaphore::new(write_permits),
            engine: vigil_promql::Engine::default(),
            logs: None,
        })
    }

    fn write_request() -> Request<Body> {
        let request = pb::WriteRequest {
            timeseries: vec![pb::TimeSeries {
                labels: vec![pb::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![pb::Sample {
                    value: 1.0,
                    timestamp: 1_000,
                }],
                ..Default::default()
            }],
            metadata: vec![],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap();
        Request::post("/api/v1/write")
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn writes_beyond_the_concurrency_cap_get_503_with_retry_after() {
        let busy = crate::router(state(0))
            .oneshot(write_request())
            .await
            .unwrap();
        assert_eq!(busy.status(), 503);
        assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
        let free = crate::router(state(1))
            .oneshot(write_request())
            .await
            .unwrap();
        assert_eq!(free.status(), 204);
    }

    #[tokio::test]
    async fn writes_before_replay_finished_get_503() {
        let not_ready = state(1);
        not_ready
            .ready
            .store(false, std::sync::atomic::Ordering::Release);
        let reply = crate::router(not_ready.clone())
            .oneshot(write_request())
            .await
            .unwrap();
        assert_eq!(reply.status(), 503);
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let ready = crate::router(not_ready.clone())
            .oneshot(get("/-/ready"))
            .await
            .unwrap();
        assert_eq!(ready.status(), 503, "not ready while the WAL replays");
        let healthy = crate::router(not_ready.clone())
            .oneshot(get("/-/healthy"))
            .await
            .unwrap();
        assert_eq!(healthy.status(), 200, "healthy all the same");
        let series = crate::router(not_ready)
            .oneshot(get("/api/v1/series?match[]=up"))
            .await
            .unwrap();
        assert_eq!(series.status(), 503, "reads wait for the replay too");
    }
}
