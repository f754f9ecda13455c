use std::fmt;

use thiserror::Error;
use vigil_storage::{StorageError, StorageErrorKind};

use crate::remote_write::WriteOutcome;

/// The class of an [`IngestError`]: the one thing the API maps to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngestErrorKind {
    /// The request or some of its items are invalid; the sender must not retry (400).
    BadRequest,
    /// The content type, proto message or content encoding is not supported (415), so a
    /// remote write 2.0 sender can fall back to 1.0.
    UnsupportedMediaType,
    /// The body is larger than allowed (413).
    TooLarge,
    /// A per-tenant limit was reached; the sender may retry later (429).
    TooManyRequests,
    /// Storage cannot take writes right now; the sender should retry (503).
    Unavailable,
    /// Storage failed; the sender should retry (500).
    Internal,
}

impl IngestErrorKind {
    /// The HTTP status code for this class.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::UnsupportedMediaType => 415,
            Self::TooLarge => 413,
            Self::TooManyRequests => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

impl fmt::Display for IngestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::BadRequest => "bad request",
            Self::UnsupportedMediaType => "unsupported media type",
            Self::TooLarge => "too large",
            Self::TooManyRequests => "too many requests",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        };
        f.write_str(name)
    }
}

/// Why an ingest request failed, in whole or in part.
///
/// Every variant except [`IngestError::Partial`] means nothing of the request was written.
/// `Partial` means the valid part of the request *was* committed and carries the
/// [`WriteOutcome`], because remote write 2.0 responses must report the written counts even
/// when they answer 400 or 429.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The Content-Type or Content-Encoding is not one remote write supports.
    #[error("unsupported media type: {reason}")]
    UnsupportedMediaType {
        /// What was offered and what is accepted.
        reason: String,
    },
    /// The decompressed body would exceed the configured limit.
    #[error(
        "decompressed body of {decompressed_bytes} bytes exceeds the limit of {limit_bytes} bytes"
    )]
    TooLarge {
        /// The size the snappy header announces.
        decompressed_bytes: usize,
        /// The configured limit.
        limit_bytes: usize,
    },
    /// The body is not valid snappy or protobuf, or the request is structurally broken
    /// (e.g. a remote write 2.0 symbol reference out of range).
    #[error("{reason}")]
    Decode {
        /// What is wrong and where.
        reason: String,
    },
    /// The valid part of the request was committed but some items were rejected.
    ///
    /// The kind is [`IngestErrorKind::TooManyRequests`] when any item hit a per-tenant limit,
    /// [`IngestErrorKind::BadRequest`] otherwise.
    #[error("{message}")]
    Partial {
        /// What was written and what was rejected.
        outcome: Box<WriteOutcome>,
        /// One line naming the first rejected items, as sent back to the client.
        message: String,
    },
    /// A log push was partly stored: the valid entries were committed, some were refused.
    ///
    /// The kind is [`IngestErrorKind::TooManyRequests`] when any entry hit a per-tenant
    /// limit, [`IngestErrorKind::BadRequest`] otherwise.
    #[error("{message}")]
    LogsPartial {
        /// What was stored and what was refused.
        outcome: Box<crate::logs::LogPushOutcome>,
        /// The rejection reasons, as sent back to the client.
        message: String,
    },
    /// The tenant's ingestion rate is exhausted; nothing was written (429).
    #[error("{reason}")]
    RateLimited {
        /// The limit and the request's size.
        reason: String,
    },
    /// Committing the batch failed; nothing was written.
    #[error("storage commit failed: {0}")]
    Storage(#[source] StorageError),
}

impl IngestError {
    /// The class of the error, for the HTTP status.
    pub fn kind(&self) -> IngestErrorKind {
        match self {
            Self::UnsupportedMediaType { .. } => IngestErrorKind::UnsupportedMediaType,
            Self::TooLarge { .. } => IngestErrorKind::TooLarge,
            Self::Decode { .. } => IngestErrorKind::BadRequest,
            Self::Partial { outcome, .. } => {
                if outcome.over_limit > 0 {
                    IngestErrorKind::TooManyRequests
                } else {
                    IngestErrorKind::BadRequest
                }
            }
            Self::LogsPartial { outcome, .. } => {
                if outcome.entries_over_limit > 0 {
                    IngestErrorKind::TooManyRequests
                } else {
                    IngestErrorKind::BadRequest
                }
            }
            Self::RateLimited { .. } => IngestErrorKind::TooManyRequests,
            Self::Storage(err) => match err.kind() {
                StorageErrorKind::InvalidInput => IngestErrorKind::BadRequest,
                StorageErrorKind::Unavailable => IngestErrorKind::Unavailable,
                StorageErrorKind::Internal => IngestErrorKind::Internal,
            },
        }
    }

    /// What was written despite the error: `Some` only for [`IngestError::Partial`]; for every
    /// other variant nothing was written.
    pub fn outcome(&self) -> Option<&WriteOutcome> {
        match self {
            Self::Partial { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    pub(crate) fn decode(reason: impl Into<String>) -> Self {
        Self::Decode {
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(reason: impl Into<String>) -> Self {
        Self::UnsupportedMediaType {
            reason: reason.into(),
        }
    }
}
