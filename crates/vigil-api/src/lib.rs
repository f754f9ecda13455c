//! Vigil's HTTP API.
//!
//! Owns the axum routers and handlers, request parsing (Prometheus' time, duration and
//! selector conventions, GET query strings and POST forms alike), tenant resolution from
//! `X-Scope-OrgID`, the Prometheus JSON envelopes, and the one place where errors become
//! HTTP statuses (`error.rs`). It reaches storage only through the `vigil-storage` traits and
//! ingest through `vigil-ingest`; it must never name a storage engine crate.

mod error;
mod health;
mod logs;
mod loki;
mod params;
mod promjson;
mod query;
mod read;
pub mod rules;
pub mod slos;
mod state;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;
pub use logs::{LogsApiState, logs_router};
pub use params::{parse_selector, parse_time_ms};
pub use state::{ApiOptions, ApiState, BuildInfo};

/// The complete router of Vigil's HTTP API.
pub fn router(state: Arc<ApiState>) -> Router {
    let write_limit = state.options.max_request_body_bytes;
    let write_routes = Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/push", post(write::remote_write))
        .layer(DefaultBodyLimit::max(write_limit));
    Router::new()
        .route("/-/healthy", get(health::healthy).head(health::healthy))
        .route("/-/ready", get(health::ready).head(health::ready))
        .route("/api/v1/series", get(read::series).post(read::series))
        .route("/api/v1/labels", get(read::labels).post(read::labels))
        .route("/api/v1/label/{name}/values", get(read::label_values))
        .route("/api/v1/metadata", get(read::metadata))
        .route("/api/v1/status/buildinfo", get(read::buildinfo))
        .route("/api/v1/status/tsdb", get(read::tsdb_status))
        .merge(query::routes())
        .merge(loki::routes())
        .merge(write_routes)
        .fallback(error::not_found)
        .with_state(state)
}
