use std::path::PathBuf;

use vigil_wal::FsyncMode;

const SECOND_NS: i64 = 1_000_000_000;

/// Settings of the log store; `vigil-server` maps its config file onto them.
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// Local directory for the log WAL (`wal/`) and the segment cache (`cache/`).
    pub data_dir: PathBuf,
    /// WAL durability mode (group commit by default).
    pub wal_fsync: FsyncMode,
    /// WAL segment size in bytes.
    pub wal_segment_size_bytes: u64,
    /// A stream's head is cut into a chunk once it holds this many bytes (default 1.5 MiB).
    pub chunk_target_bytes: usize,
    /// ... or once its oldest unflushed entry arrived this long ago (default 1 h).
    pub max_chunk_age_ns: i64,
    /// How far behind a stream's newest entry an entry is still accepted (default 30 min,
    /// half the chunk age, as Loki's unordered writes).
    pub unordered_window_ns: i64,
    /// Active (in-head) streams per tenant (default 10 000; 0 = unlimited).
    pub max_streams_per_tenant: usize,
    /// Most rows per Parquet row group, the unit of time and content pruning (default 8192).
    pub row_group_rows: usize,
    /// Segments whose newest entry is older than this are deleted (default 31 d; 0 = keep).
    pub retention_ns: i64,
    /// Compaction merges a tenant's segments smaller than this (stored bytes) into segments
    /// of up to this size (default 128 MiB; 0 = no compaction).
    pub compaction_target_bytes: u64,
    /// Longest time range (newest minus oldest entry) of a compacted segment (default 24 h;
    /// 0 = unlimited); bounds how long retention keeps old entries merged with newer ones.
    pub compaction_max_span_ns: i64,
    /// Replaced segments are deleted this long after compaction marked them (default 2 h),
    /// so readers that listed them before the swap keep working.
    pub compaction_delete_delay_ns: i64,
    /// zstd level of segments cut from the heads (default 3: flushes stay cheap for ingest).
    pub flush_zstd_level: i32,
    /// zstd level of segments written by compaction (default 6), which rewrites most data
    /// once in the background: a stronger level there buys a smaller store for CPU that
    /// ingest does not wait on.
    pub compaction_zstd_level: i32,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            wal_fsync: FsyncMode::Batch,
            wal_segment_size_bytes: 64 << 20,
            chunk_target_bytes: 1536 << 10,
            max_chunk_age_ns: 3600 * SECOND_NS,
            unordered_window_ns: 1800 * SECOND_NS,
            max_streams_per_tenant: 10_000,
            row_group_rows: 8192,
            retention_ns: 31 * 24 * 3600 * SECOND_NS,
            compaction_target_bytes: 128 << 20,
            compaction_max_span_ns: 24 * 3600 * SECOND_NS,
            compaction_delete_delay_ns: 2 * 3600 * SECOND_NS,
            flush_zstd_level: 3,
            compaction_zstd_level: 6,
        }
    }
}
