//! The `logs:` section of the configuration file: the log store and the log push limits.

use serde::Deserialize;

/// `logs:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// A stream's chunk is cut once it holds this many bytes.
    pub chunk_target_bytes: usize,
    /// ... or once its oldest unflushed entry is this old.
    pub max_chunk_age: String,
    /// Active streams per tenant (0 = unlimited); more → 429.
    pub max_streams_per_tenant: usize,
    /// Segments whose newest entry is older than this are deleted.
    pub retention: String,
    /// Longest accepted line in bytes.
    pub max_line_size_bytes: usize,
    /// Truncate longer lines instead of rejecting them.
    pub max_line_size_truncate: bool,
    /// Per-tenant ingestion rate in bytes per second (0 = off); over it → 429.
    pub ingestion_rate_bytes: u64,
    /// Per-tenant burst in bytes.
    pub ingestion_burst_bytes: u64,
    /// Entries older than this are rejected.
    pub reject_older_than: String,
    /// Compaction merges a tenant's segments smaller than this into segments up to this
    /// size (stored bytes; 0 = no compaction).
    pub compaction_target_bytes: u64,
    /// Longest time range one compacted segment may cover (0 = unlimited).
    pub compaction_max_span: String,
    /// Segments replaced by compaction are deleted this long after being replaced.
    pub compaction_delete_delay: String,
    /// zstd level (1–22) of segments cut from the heads.
    pub compression_level: i32,
    /// zstd level (1–22) of segments written by compaction.
    pub compaction_compression_level: i32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            chunk_target_bytes: 1536 << 10,
            max_chunk_age: "1h".into(),
            max_streams_per_tenant: 10_000,
            retention: "31d".into(),
            max_line_size_bytes: 256 << 10,
            max_line_size_truncate: false,
            ingestion_rate_bytes: 10 << 20,
            ingestion_burst_bytes: 20 << 20,
            reject_older_than: "168h".into(),
            compaction_target_bytes: 128 << 20,
            compaction_max_span: "24h".into(),
            compaction_delete_delay: "2h".into(),
            compression_level: 3,
            compaction_compression_level: 6,
        }
    }
}
