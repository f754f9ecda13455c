//! Query errors, classified by Prometheus' `errorType`.

/// Prometheus' `errorType` values a query can fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed query or parameters (HTTP 400).
    BadData,
    /// Evaluation failed (HTTP 422).
    Execution,
    /// The query ran past its timeout (HTTP 503).
    Timeout,
    /// The client went away or the query was cancelled (HTTP 499 in Prometheus' logs, 503 on the wire).
    Canceled,
    /// Storage failed (HTTP 500 or 503 when not ready).
    Internal,
    /// Storage is not ready yet (HTTP 503).
    Unavailable,
}

impl ErrorKind {
    /// The `errorType` string of the JSON envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

/// A failed query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub kind: ErrorKind,
    pub message: String,
}

impl QueryError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        QueryError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadData, message)
    }

    pub fn execution(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Execution, message)
    }
}

impl From<vigil_storage::StorageError> for QueryError {
    fn from(err: vigil_storage::StorageError) -> Self {
        let kind = match err.kind() {
            vigil_storage::StorageErrorKind::Unavailable => ErrorKind::Unavailable,
            vigil_storage::StorageErrorKind::InvalidInput => ErrorKind::BadData,
            _ => ErrorKind::Internal,
        };
        QueryError::new(kind, err.to_string())
    }
}
