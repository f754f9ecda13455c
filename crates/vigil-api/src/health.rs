use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use crate::ApiState;

pub(crate) async fn healthy() -> (StatusCode, &'static str) {
    (StatusCode::OK, "Vigil is Healthy.\n")
}

pub(crate) async fn ready(State(state): State<Arc<ApiState>>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "Vigil is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }
}
