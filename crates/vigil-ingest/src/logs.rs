//! The log push pipeline shared by Loki push and OTLP: `decode` (per protocol, in
//! [`crate::loki`] and [`crate::otlp`]) produces a [`DecodedPush`]; then `validate` (limits
//! per entry and stream, as Loki's distributor applies them), `rate` (per-tenant token
//! bucket) and `append` (through [`vigil_storage::LogAppender`], committed once) produce a
//! [`LogPushOutcome`].
//!
//! Bad entries never fail the whole request: they are counted and named, the valid rest is
//! committed, and only then is the request answered with [`IngestError::LogsPartial`] (400,
//! or 429 when a stream limit was hit). A request over the tenant's ingestion rate is
//! refused as a whole with [`IngestError::RateLimited`] (429) before anything is stored,
//! as Loki does.

mod append;
mod compression;
pub(crate) mod level;
mod rate;
mod validate;

use vigil_model::LogEntry;

pub use append::{LogPushOutcome, push};
pub use compression::{ContentEncoding, decompress_body};
pub use level::detect_level;
pub use rate::RateLimiter;
pub use validate::LogPushLimits;

/// One stream of a decoded push request, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedStream {
    /// The stream labels as the sender wrote them: name/value pairs, unsorted, unvalidated;
    /// or, when the protocol carries a label string that does not parse, why.
    pub labels: Result<Vec<(String, String)>, String>,
    /// The label set as the sender spelled it, for error messages.
    pub labels_text: String,
    /// The entries in request order; structured metadata already in [`LogEntry`] form.
    pub entries: Vec<LogEntry>,
    /// Entries of this stream that could not be decoded (bad timestamp or metadata), each
    /// as a message naming the stream and the entry; they count as rejected.
    pub invalid_entries: Vec<String>,
}

/// A decoded push request of any protocol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedPush {
    /// The streams in request order (the same labels may occur more than once).
    pub streams: Vec<DecodedStream>,
}

impl DecodedPush {
    /// Number of entries over all streams.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }
}
