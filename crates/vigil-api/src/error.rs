//! The one place where failures become HTTP statuses and Prometheus error envelopes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use vigil_storage::{StorageError, StorageErrorKind};

/// A failed API request, rendered as Prometheus' `{"status":"error",...}` envelope.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    /// A client error (`bad_data`, 400).
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// Storage or engine trouble that is not the client's fault (`internal`, 500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error_type: "internal",
            message: message.into(),
        }
    }

    /// Not ready or overloaded (`unavailable`, 503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error_type: "unavailable",
            message: message.into(),
        }
    }

    /// Unknown path (`not_found`, 404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error_type: "not_found",
            message: message.into(),
        }
    }

    /// Any Prometheus error type with its HTTP status (e.g. `execution`/422 for queries).
    pub(crate) fn typed(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err.kind() {
            StorageErrorKind::InvalidInput => ApiError::bad_data(err.to_string()),
            StorageErrorKind::Unavailable => ApiError::unavailable(err.to_string()),
            StorageErrorKind::Internal => {
                tracing::error!(error = %err, "storage error while serving a request");
                ApiError::internal(err.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.error_type, "error": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}
