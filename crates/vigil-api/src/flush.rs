//! `POST /flush`, as Loki's ingester has it: moves every entry still held in the log heads
//! into segments on the object store. Unlike Loki's, it answers only once the flush is done
//! (204), so a test or benchmark can measure what was stored right after. The flush itself
//! belongs to the log store; the server hands it in as a [`FlushFn`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;

/// Flushes every log head entry into segments; `Err` carries why it failed.
pub type FlushFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The `POST /flush` route, to merge into the main router.
pub fn flush_router(flush: FlushFn) -> Router {
    Router::new()
        .route("/flush", post(flush_all))
        .with_state(flush)
}

async fn flush_all(State(flush): State<FlushFn>) -> Response {
    match flush().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => {
            tracing::error!(error = %err, "flush failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("flush failed: {err}\n"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn post_flush(flush: FlushFn) -> (StatusCode, String) {
        let reply = flush_router(flush)
            .oneshot(
                Request::post("/flush")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("reply");
        let status = reply.status();
        let body = axum::body::to_bytes(reply.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).to_string())
    }

    #[tokio::test]
    async fn flush_runs_once_per_request_and_reports_failures() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let ok: FlushFn = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
        assert_eq!(post_flush(ok.clone()).await.0, StatusCode::NO_CONTENT);
        assert_eq!(post_flush(ok).await.0, StatusCode::NO_CONTENT);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let failing: FlushFn = Arc::new(|| Box::pin(async { Err("disk full".to_string()) }));
        let (status, body) = post_flush(failing).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("disk full"), "{body}");
    }
}
