use async_trait::async_trait;
use vigil_model::{Labels, Matcher, MetricMetadata, Sample, TenantId, TimeRange};

use crate::{AppendError, StorageError};

/// Options for one appender. One struct, so new needs grow fields, not sub-traits.
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// Skip the out-of-order window and too-old checks (WAL replay, backfill tools).
    pub skip_time_checks: bool,
}

/// What a successful commit stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Float samples made durable (including idempotent duplicates).
    pub samples: u64,
    /// Metadata records stored.
    pub metadata: u64,
    /// Series created by this commit.
    pub new_series: u64,
}

/// Something that hands out appenders for a tenant.
pub trait Appendable: Send + Sync {
    /// A fresh appender for `tenant`. Nothing is visible or durable before `commit`.
    fn appender(&self, tenant: &TenantId, options: AppendOptions) -> Box<dyn Appender>;
}

/// A batch of writes for one tenant, applied atomically on `commit`.
///
/// `append_*` validates each item on its own: a rejected item returns an error and is left
/// out, the rest of the batch stays valid. `commit` returns only once the batch is durable
/// according to the storage's durability setting (e.g. after the WAL fsync).
#[async_trait]
pub trait Appender: Send {
    /// Buffers one float sample of the series `labels`.
    fn append_sample(&mut self, labels: &Labels, sample: Sample) -> Result<(), AppendError>;

    /// Buffers type/help/unit for a metric family.
    fn append_metadata(
        &mut self,
        metric_family: &str,
        metadata: MetricMetadata,
    ) -> Result<(), AppendError>;

    /// Makes the batch durable and visible.
    async fn commit(self: Box<Self>) -> Result<CommitStats, StorageError>;

    /// Drops the batch.
    fn rollback(self: Box<Self>);
}

/// What a reader intends, so storage can skip work.
#[derive(Debug, Clone, Default)]
pub struct SelectHints {
    /// Only the labels are needed, not the samples.
    pub series_only: bool,
    /// Stop after this many series (0 = no limit).
    pub limit: usize,
}

/// One series as read: its labels and its samples within the querier's range, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series identity.
    pub labels: Labels,
    /// Samples sorted by timestamp, no duplicates; empty when `series_only` was asked.
    pub samples: Vec<Sample>,
}

/// A lazy sequence of series sorted by labels; samples are decoded as the iterator advances.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Series, StorageError>> + Send>;

/// Something that can be read for a tenant.
pub trait Queryable: Send + Sync {
    /// A reader over `[range.min_ms, range.max_ms]` for `tenant`, seeing a consistent snapshot.
    fn querier(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<Box<dyn Querier>, StorageError>;

    /// Metric metadata per metric family, sorted by family name; `metric` restricts to one.
    fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<(String, Vec<MetricMetadata>)>, StorageError>;

    /// Cardinality statistics for `/api/v1/status/tsdb`, top `limit` entries per list.
    fn status(&self, tenant: &TenantId, limit: usize) -> Result<TsdbStatus, StorageError>;
}

/// A reader over one time range of one tenant.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` (at least one must not match the empty string) that have
    /// samples in the range, sorted by labels.
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<SeriesSet, StorageError>;

    /// Sorted, unique label names of series with samples in the range (restricted by matchers if any).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted, unique values of label `name` (restricted by matchers if any).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Head statistics as `/api/v1/status/tsdb` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in the in-memory head.
    pub num_series: u64,
    /// Distinct label name/value pairs in the head.
    pub num_label_pairs: u64,
    /// Chunks held by the head.
    pub chunk_count: u64,
    /// Oldest sample time in the head (ms), 0 when empty.
    pub min_time_ms: i64,
    /// Newest sample time in the head (ms), 0 when empty.
    pub max_time_ms: i64,
}

/// Cardinality statistics of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsdbStatus {
    /// Head statistics.
    pub head: HeadStats,
    /// Series count per metric name, largest first.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct value count per label name, largest first.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Bytes of label values per label name, largest first.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Series count per `name=value` pair, largest first.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}
