use std::path::PathBuf;

/// How and when the WAL makes appends durable (mirrors `vigil_wal::FsyncMode`).
pub use vigil_wal::FsyncMode;

/// Settings of the metrics storage engine. Built by `vigil-server` from the config file.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Directory for the WAL and the local block cache.
    pub data_dir: PathBuf,
    /// WAL durability mode.
    pub wal_fsync: FsyncMode,
    /// WAL segment size in bytes.
    pub wal_segment_size_bytes: u64,
    /// Time span of one head block, in milliseconds (default 2 h).
    pub block_range_ms: i64,
    /// How far behind a series' newest sample an out-of-order sample may be while it is still
    /// inside the head's writable range (default 10 min).
    pub out_of_order_window_ms: i64,
    /// Prometheus' `out_of_order_time_window`: a sample at most this far behind the tenant's
    /// newest time (the head's max time, or the newest block's end when the head is empty) is
    /// accepted even when it is older than the last cut block or far behind its series' newest
    /// sample; it is cut into an (overlapping) block at the next maintenance run. 0 turns late
    /// ingestion off (default 24 h).
    pub out_of_order_time_window_ms: i64,
    /// How far ahead of the wall clock a sample may be (default 10 min).
    pub max_future_ms: i64,
    /// Delete blocks whose newest sample is older than this, relative to the newest data (default 15 d).
    pub retention_ms: i64,
    /// Delete the oldest blocks while blocks take more than this many bytes (0 = no limit).
    pub retention_bytes: u64,
    /// Most samples in one head chunk before a new chunk is cut.
    pub max_samples_per_chunk: usize,
    /// Most series one tenant may have in the head (0 = unlimited).
    pub max_series_per_tenant: usize,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            wal_fsync: FsyncMode::Batch,
            wal_segment_size_bytes: 128 << 20,
            block_range_ms: 2 * 3_600_000,
            out_of_order_window_ms: 10 * 60_000,
            out_of_order_time_window_ms: 24 * 3_600_000,
            max_future_ms: 10 * 60_000,
            retention_ms: 15 * 24 * 3_600_000,
            retention_bytes: 0,
            max_samples_per_chunk: 120,
            max_series_per_tenant: 0,
        }
    }
}
