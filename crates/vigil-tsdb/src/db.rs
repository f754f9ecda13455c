//! The database: one WAL shared by all tenants, one head and one block list per tenant,
//! and the `vigil-storage` trait implementations over them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::ObjectStore;
use parking_lot::RwLock;
use vigil_model::{MetricMetadata, TenantId, TimeRange};
use vigil_storage::{
    AppendOptions, Appendable, Appender, Querier, Queryable, StorageError, TsdbStatus,
};
use vigil_wal::{Wal, WalOptions};

use crate::block::BlockReader;
use crate::head::{Head, HeadOptions};
use crate::head_append::HeadAppender;
use crate::head_wal::{self, WalRecord};
use crate::querier::TsdbQuerier;
use crate::{TsdbError, TsdbOptions};

/// One tenant's data: the head and the blocks already cut from it.
pub(crate) struct TenantDb {
    pub(crate) head: Arc<Head>,
    /// Open blocks, sorted by min time.
    pub(crate) blocks: RwLock<Vec<Arc<BlockReader>>>,
}

impl TenantDb {
    pub(crate) fn blocks_snapshot(&self) -> Vec<Arc<BlockReader>> {
        self.blocks.read().clone()
    }

    /// Newest time covered by any block (exclusive bound), if there are blocks.
    pub(crate) fn blocks_max_time_ms(&self) -> Option<i64> {
        self.blocks.read().iter().map(|b| b.meta().max_time).max()
    }
}

pub(crate) struct DbInner {
    pub(crate) options: TsdbOptions,
    pub(crate) wal: Wal,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) tenants: RwLock<HashMap<TenantId, Arc<TenantDb>>>,
    /// Commits hold it shared from WAL write to memory apply; checkpoints take it exclusively.
    pub(crate) apply_gate: tokio::sync::RwLock<()>,
    /// Serialises maintenance (block cuts, compaction, retention).
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    ready: AtomicBool,
}

impl DbInner {
    pub(crate) fn head_options(&self) -> HeadOptions {
        HeadOptions {
            block_range_ms: self.options.block_range_ms,
            out_of_order_window_ms: self.options.out_of_order_window_ms,
            out_of_order_time_window_ms: self.options.out_of_order_time_window_ms.max(0),
            max_future_ms: self.options.max_future_ms,
            max_samples_per_chunk: self
                .options
                .max_samples_per_chunk
                .clamp(1, crate::chunk::MAX_SAMPLES),
            max_series: self.options.max_series_per_tenant,
        }
    }

    pub(crate) fn tenant(&self, tenant: &TenantId) -> Arc<TenantDb> {
        if let Some(existing) = self.tenants.read().get(tenant) {
            return existing.clone();
        }
        let mut tenants = self.tenants.write();
        tenants
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(TenantDb {
                    head: Arc::new(Head::new(tenant.clone(), self.head_options())),
                    blocks: RwLock::new(Vec::new()),
                })
            })
            .clone()
    }

    pub(crate) fn existing_tenant(&self, tenant: &TenantId) -> Option<Arc<TenantDb>> {
        self.tenants.read().get(tenant).cloned()
    }

    pub(crate) fn all_tenants(&self) -> Vec<Arc<TenantDb>> {
        let mut all: Vec<Arc<TenantDb>> = self.tenants.read().values().cloned().collect();
        all.sort_by(|a, b| a.head.tenant.cmp(&b.head.tenant));
        all
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.options.data_dir.join("block-cache")
    }
}

/// What opening the database found and did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Blocks loaded from the object store.
    pub blocks_loaded: usize,
    /// WAL records replayed.
    pub records_replayed: u64,
    /// Samples replayed into the head although older than the newest block: late samples
    /// (out-of-order time window, `skip_time_checks`), or samples a crash between a block cut
    /// and its WAL checkpoint left in the WAL. The next block cut writes them out; queries and
    /// compaction deduplicate them with block data by timestamp.
    pub late_samples: u64,
    /// Human-readable description of any WAL repair.
    pub wal_repair: Option<String>,
}

/// The metrics storage engine. Cheap to clone.
#[derive(Clone)]
pub struct Tsdb {
    pub(crate) inner: Arc<DbInner>,
}

impl Tsdb {
    /// Opens the database: loads blocks from the object store, repairs and replays the WAL.
    /// Run it before serving; the storage is ready when it returns.
    pub async fn open(
        options: TsdbOptions,
        store: Arc<dyn ObjectStore>,
    ) -> Result<(Tsdb, OpenReport), TsdbError> {
        let wal_dir = options.data_dir.join("wal");
        let wal_options = WalOptions {
            dir: wal_dir,
            segment_size_bytes: options.wal_segment_size_bytes,
            fsync: options.wal_fsync,
        };
        let (wal, repair) = tokio::task::spawn_blocking(move || Wal::open(wal_options))
            .await
            .map_err(|err| TsdbError::io("wal open task", std::io::Error::other(err)))??;
        let inner = Arc::new(DbInner {
            options,
            wal,
            store,
            tenants: RwLock::new(HashMap::new()),
            apply_gate: tokio::sync::RwLock::new(()),
            maintenance: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
        });
        let wal_repair = (!repair.is_clean()).then(|| format!("{repair:?}"));
        let mut report = OpenReport {
            wal_repair,
            ..OpenReport::default()
        };
        report.blocks_loaded = crate::blocks::load_all(&inner).await?;
        let replay_inner = inner.clone();
        let (records, late) = tokio::task::spawn_blocking(move || replay(&replay_inner))
            .await
            .map_err(|err| TsdbError::io("wal replay task", std::io::Error::other(err)))??;
        report.records_replayed = records;
        report.late_samples = late;
        inner.ready.store(true, Ordering::Release);
        Ok((Tsdb { inner }, report))
    }

    /// True once WAL replay has finished.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Cuts due blocks from the heads, checkpoints the WAL, compacts blocks and applies
    /// retention. The server calls it periodically; tests call it directly.
    pub async fn run_maintenance(&self) -> Result<crate::blocks::MaintenanceReport, TsdbError> {
        crate::blocks::run_maintenance(&self.inner, false).await
    }

    /// Like [`Tsdb::run_maintenance`], but also cuts the head's complete block ranges that are
    /// not yet due (graceful shutdown, tests).
    pub async fn flush_head(&self) -> Result<crate::blocks::MaintenanceReport, TsdbError> {
        crate::blocks::run_maintenance(&self.inner, true).await
    }

    /// Stops the WAL writer after flushing what it holds. Blocks briefly.
    pub fn close(&self) {
        self.inner.wal.close();
    }

    /// Number of blocks open for `tenant`.
    pub fn block_count(&self, tenant: &TenantId) -> usize {
        self.inner
            .existing_tenant(tenant)
            .map(|t| t.blocks.read().len())
            .unwrap_or(0)
    }
}

/// Replays the WAL into the heads; returns (records, samples older than the newest block).
///
/// Every sample is replayed, also those older than the blocks: an acknowledged late sample is
/// in no block yet. A sample that a block does hold (a crash came between the block cut and
/// the WAL checkpoint) is cut again into an overlapping block, and deduplicated by timestamp.
fn replay(inner: &DbInner) -> Result<(u64, u64), TsdbError> {
    let mut records = 0u64;
    let mut late = 0u64;
    // Samples whose series record comes later (concurrent commits reach the WAL in any order).
    let mut orphans: HashMap<(TenantId, u32), Vec<(i64, f64)>> = HashMap::new();
    let result = inner.wal.replay(|bytes: &[u8]| -> Result<(), TsdbError> {
        records += 1;
        match head_wal::decode(bytes)? {
            WalRecord::Series { tenant, series } => {
                let db = inner.tenant(&tenant);
                let mut index = db.head.index.write();
                for (id, labels) in series {
                    let created = index.insert(Some(id), labels);
                    if let Some(pending) = orphans.remove(&(tenant.clone(), id)) {
                        let samples = pending
                            .into_iter()
                            .map(|(t, v)| vigil_model::Sample::new(t, v));
                        db.head
                            .apply_batch(samples.map(|sample| (created.as_ref(), sample)));
                    }
                }
            }
            WalRecord::Samples { tenant, samples } => {
                let db = inner.tenant(&tenant);
                let min_valid = db.blocks_max_time_ms().unwrap_or(i64::MIN);
                let index = db.head.index.read();
                let mut known = Vec::with_capacity(samples.len());
                for (id, t, v) in samples {
                    if t < min_valid {
                        late += 1;
                    }
                    match index.series.get(&id) {
                        Some(series) => {
                            known.push((series.as_ref(), vigil_model::Sample::new(t, v)))
                        }
                        None => orphans
                            .entry((tenant.clone(), id))
                            .or_default()
                            .push((t, v)),
                    }
                }
                db.head.apply_batch(known);
            }
            WalRecord::Metadata {
                tenant,
                family,
                metadata,
            } => {
                inner.tenant(&tenant).head.add_metadata(family, metadata);
            }
        }
        Ok(())
    });
    result.map_err(|err| TsdbError::CorruptRecord(err.to_string()))?;
    let orphaned: usize = orphans.values().map(Vec::len).sum();
    if orphaned > 0 {
        tracing::warn!(
            samples = orphaned,
            "wal replay dropped samples of series with no series record"
        );
    }
    for tenant in inner.all_tenants() {
        if let Some(max) = tenant.blocks_max_time_ms() {
            tenant.head.raise_min_valid_time(max);
        }
    }
    Ok((records, late))
}

impl Appendable for Tsdb {
    fn appender(&self, tenant: &TenantId, options: AppendOptions) -> Box<dyn Appender> {
        let head = self.inner.tenant(tenant).head.clone();
        Box::new(HeadAppender::new(self.inner.clone(), head, options))
    }
}

impl Queryable for Tsdb {
    fn querier(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<Box<dyn Querier>, StorageError> {
        let querier = match self.inner.existing_tenant(tenant) {
            Some(db) => TsdbQuerier::new(db, range),
            None => TsdbQuerier::empty(range),
        };
        Ok(Box::new(querier))
    }

    fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<(String, Vec<MetricMetadata>)>, StorageError> {
        let Some(db) = self.inner.existing_tenant(tenant) else {
            return Ok(Vec::new());
        };
        let all = db.head.metadata.read();
        Ok(all
            .iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
            .map(|(name, entries)| (name.clone(), entries.clone()))
            .collect())
    }

    fn status(&self, tenant: &TenantId, limit: usize) -> Result<TsdbStatus, StorageError> {
        let Some(db) = self.inner.existing_tenant(tenant) else {
            return Ok(TsdbStatus::default());
        };
        Ok(crate::status::head_status(&db.head, limit))
    }
}
