use thiserror::Error;
use vigil_model::Labels;

/// What went wrong with one appended item; the API maps kinds to HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendErrorKind {
    /// The input itself is wrong (bad labels, out of order, too old): the sender must not retry.
    InvalidInput,
    /// A per-tenant limit was hit (series count, rate): the sender may retry later.
    LimitExceeded,
}

/// A rejected sample or metadata record. Other items of the same batch are unaffected.
#[derive(Debug, Clone, Error)]
pub enum AppendError {
    /// The sample is older than the series' newest sample by more than the out-of-order window.
    #[error(
        "out of order sample: timestamp {timestamp_ms} is more than the out-of-order window behind the newest sample ({newest_ms}) of series {labels}"
    )]
    OutOfOrder {
        /// The series.
        labels: Labels,
        /// The rejected sample's timestamp (ms).
        timestamp_ms: i64,
        /// The series' newest timestamp (ms).
        newest_ms: i64,
    },
    /// The sample is older than anything the head still accepts (already compacted into blocks).
    #[error(
        "sample too old: timestamp {timestamp_ms} is before the oldest writable time {min_valid_ms} for series {labels}"
    )]
    TooOld {
        /// The series.
        labels: Labels,
        /// The rejected sample's timestamp (ms).
        timestamp_ms: i64,
        /// The oldest timestamp still writable (ms).
        min_valid_ms: i64,
    },
    /// The sample lies further in the future than the storage accepts (clock skew or a bug in
    /// the sender); taking it would make retention, which counts from the newest data, delete
    /// everything else.
    #[error(
        "sample too far in the future: timestamp {timestamp_ms} is after the newest writable time {max_valid_ms} for series {labels}"
    )]
    TooNew {
        /// The series.
        labels: Labels,
        /// The rejected sample's timestamp (ms).
        timestamp_ms: i64,
        /// The newest timestamp accepted now (ms).
        max_valid_ms: i64,
    },
    /// A sample with the same timestamp but a different value exists.
    #[error(
        "duplicate sample for timestamp {timestamp_ms} with a different value in series {labels}"
    )]
    DuplicateTimestamp {
        /// The series.
        labels: Labels,
        /// The conflicting timestamp (ms).
        timestamp_ms: i64,
    },
    /// The label set is unusable (e.g. no metric name).
    #[error("invalid series {labels}: {reason}")]
    InvalidSeries {
        /// The series.
        labels: Labels,
        /// Why it was rejected.
        reason: String,
    },
    /// The tenant reached its series limit.
    #[error("per-tenant series limit of {limit} reached, series {labels} was not created")]
    SeriesLimit {
        /// The series that could not be created.
        labels: Labels,
        /// The configured limit.
        limit: usize,
    },
}

impl AppendError {
    /// The class of the error, for status mapping.
    pub fn kind(&self) -> AppendErrorKind {
        match self {
            Self::SeriesLimit { .. } => AppendErrorKind::LimitExceeded,
            _ => AppendErrorKind::InvalidInput,
        }
    }
}

/// The class of a [`StorageError`], for status mapping in one place (the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The caller asked for something invalid.
    InvalidInput,
    /// The storage is starting, shutting down or overloaded: retry later.
    Unavailable,
    /// I/O failure or corruption: an internal error.
    Internal,
}

/// A failure of a storage operation as a whole.
#[derive(Debug, Error)]
pub enum StorageError {
    /// An I/O error while reading or writing storage files.
    #[error("storage i/o error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored data failed a check (checksum, magic, version).
    #[error("corrupt data in {what}: {reason}")]
    Corrupt {
        /// What is corrupt (file, block id).
        what: String,
        /// What check failed.
        reason: String,
    },
    /// The storage cannot take the request now.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The request is invalid for the storage (e.g. no matchers).
    #[error("{0}")]
    InvalidInput(String),
    /// Anything else.
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl StorageError {
    /// The class of the error, for status mapping.
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            Self::InvalidInput(_) => StorageErrorKind::InvalidInput,
            Self::Unavailable(_) => StorageErrorKind::Unavailable,
            Self::Io { .. } | Self::Corrupt { .. } | Self::Internal(_) => {
                StorageErrorKind::Internal
            }
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
