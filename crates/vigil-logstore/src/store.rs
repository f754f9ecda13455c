//! The [`LogStore`]: opening (WAL replay, loading committed segments into the local cache),
//! the appender (WAL group commit, then the head), flushing due chunks into segments
//! (`cut → encode → upload → publish`, then a WAL checkpoint), and retention.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parking_lot::RwLock;
use vigil_model::{Labels, LogEntry, LogTimeRange, TenantId};
use vigil_storage::{
    LogAppendError, LogAppendOptions, LogAppendable, LogAppender, LogCommitStats, LogQuerier,
    LogQueryable, StorageError,
};
use vigil_wal::{Wal, WalOptions};

use crate::compact::{CompactionState, DeletionMark, marks_prefix};
use crate::head::{TenantHead, sort_dedup};
use crate::querier::LogStoreQuerier;
use crate::segment::{
    META_FILE, SEGMENT_FILES, SegmentLayout, SegmentMeta, SegmentReader, write_files,
};
use crate::{LogStoreError, LogStoreOptions, wal_record};

/// A stream's label set and its entries.
pub type StreamEntries = (Labels, Vec<LogEntry>);

/// One tenant's head and committed segments.
#[derive(Default)]
pub(crate) struct TenantLogs {
    pub(crate) head: RwLock<TenantHead>,
    pub(crate) segments: RwLock<Vec<Arc<SegmentReader>>>,
    pub(crate) compaction: parking_lot::Mutex<CompactionState>,
}

pub(crate) struct Inner {
    pub(crate) options: LogStoreOptions,
    wal: Wal,
    pub(crate) store: Arc<dyn ObjectStore>,
    tenants: RwLock<HashMap<TenantId, Arc<TenantLogs>>>,
    /// Commits hold it shared across WAL append and head apply; the checkpoint takes it
    /// exclusively to cut the WAL and snapshot the head at one consistent point.
    commit_gate: tokio::sync::RwLock<()>,
    /// One flush, retention, compaction or deletion step at a time.
    pub(crate) maintenance: tokio::sync::Mutex<()>,
}

impl Inner {
    fn tenant(&self, tenant: &TenantId) -> Arc<TenantLogs> {
        if let Some(existing) = self.tenants.read().get(tenant) {
            return existing.clone();
        }
        self.tenants
            .write()
            .entry(tenant.clone())
            .or_default()
            .clone()
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.options.data_dir.join("cache")
    }

    pub(crate) fn tenant_list(&self) -> Vec<(TenantId, Arc<TenantLogs>)> {
        self.tenants
            .read()
            .iter()
            .map(|(t, l)| (t.clone(), l.clone()))
            .collect()
    }
}

/// What opening the store found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// WAL records replayed.
    pub records_replayed: u64,
    /// Committed segments loaded.
    pub segments_loaded: usize,
    /// Segment directories skipped because `meta.json` was missing (never committed).
    pub uncommitted_skipped: usize,
    /// Committed segments skipped because a compacted segment replaced them (they carry a
    /// deletion mark or a committed segment lists them in `compacted_from`).
    pub replaced_skipped: usize,
}

/// What one flush or maintenance run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Segments written.
    pub segments_written: usize,
    /// Entries moved from heads into segments.
    pub entries_flushed: u64,
    /// Segments deleted by retention.
    pub segments_deleted: usize,
    /// Compacted segments written.
    pub segments_compacted: usize,
    /// Segments those replaced (marked for deletion after the delete delay).
    pub segments_replaced: usize,
    /// Replaced segments (and leftovers of dead uploads) deleted after the delete delay.
    pub replaced_deleted: usize,
}

/// The log store; cheap to clone.
#[derive(Clone)]
pub struct LogStore {
    pub(crate) inner: Arc<Inner>,
}

fn segment_prefix(tenant: &str) -> String {
    format!("logs/{tenant}/segments")
}

pub(crate) fn object_path(tenant: &TenantId, id: &str, file: &str) -> ObjectPath {
    ObjectPath::from(format!("{}/{id}/{file}", segment_prefix(tenant.as_str())))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LogStoreError> + Send + 'static,
) -> Result<T, LogStoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| LogStoreError::io("blocking task", std::io::Error::other(err)))?
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl LogStore {
    /// Opens the store: replays the WAL into the heads and loads every committed segment,
    /// downloading missing ones into the local cache.
    pub async fn open(
        options: LogStoreOptions,
        store: Arc<dyn ObjectStore>,
    ) -> Result<(LogStore, OpenReport), LogStoreError> {
        let wal_options = WalOptions {
            dir: options.data_dir.join("wal"),
            segment_size_bytes: options.wal_segment_size_bytes,
            fsync: options.wal_fsync,
        };
        let (wal, repair) = blocking(move || Ok(Wal::open(wal_options)?)).await?;
        if !repair.is_clean() {
            tracing::warn!(?repair, "log wal was repaired on open");
        }
        let inner = Arc::new(Inner {
            options,
            wal,
            store,
            tenants: RwLock::new(HashMap::new()),
            commit_gate: tokio::sync::RwLock::new(()),
            maintenance: tokio::sync::Mutex::new(()),
        });
        let mut report = OpenReport::default();
        let replay_inner = inner.clone();
        report.records_replayed = blocking(move || {
            let mut records = 0u64;
            replay_inner
                .wal
                .replay(|bytes| -> Result<(), LogStoreError> {
                    let record = wal_record::decode(bytes)?;
                    let tenant = replay_inner.tenant(&record.tenant);
                    let mut head = tenant.head.write();
                    for (labels, entries) in record.streams {
                        for entry in entries {
                            head.apply(&labels, entry);
                        }
                    }
                    records += 1;
                    Ok(())
                })
                .map_err(|err| LogStoreError::corrupt("log wal replay", err.to_string()))?;
            Ok(records)
        })
        .await?;
        let store = LogStore { inner };
        store.load_segments(&mut report).await?;
        Ok((store, report))
    }

    async fn load_segments(&self, report: &mut OpenReport) -> Result<(), LogStoreError> {
        let inner = &self.inner;
        let root = ObjectPath::from("logs");
        let tenants = inner.store.list_with_delimiter(Some(&root)).await?;
        for tenant_dir in tenants.common_prefixes {
            let Some(tenant) = tenant_dir.filename().and_then(|n| TenantId::new(n).ok()) else {
                continue;
            };
            let marks = self.load_marks(&tenant).await?;
            let prefix = ObjectPath::from(segment_prefix(tenant.as_str()));
            let segments = inner.store.list_with_delimiter(Some(&prefix)).await?;
            let mut committed = Vec::new();
            let mut uncommitted = BTreeSet::new();
            for segment_dir in segments.common_prefixes {
                let Some(id) = segment_dir.filename().map(str::to_string) else {
                    continue;
                };
                if marks.contains_key(&id) {
                    report.replaced_skipped += 1;
                    continue;
                }
                match self.read_meta(&tenant, &id).await? {
                    Some(meta) => committed.push(meta),
                    None => {
                        report.uncommitted_skipped += 1;
                        uncommitted.insert(id);
                    }
                }
            }
            // A segment a committed compacted segment lists in `compacted_from` is never
            // loaded, whether or not its deletion mark was written before a crash.
            let replaced_by: BTreeMap<&str, &str> = committed
                .iter()
                .flat_map(|m| {
                    m.compacted_from
                        .iter()
                        .filter(move |source| **source != m.id)
                        .map(move |source| (source.as_str(), m.id.as_str()))
                })
                .collect();
            let mut pending_marks = BTreeMap::new();
            let mut loaded = Vec::new();
            for meta in &committed {
                if let Some(by) = replaced_by.get(meta.id.as_str()) {
                    report.replaced_skipped += 1;
                    pending_marks.insert(meta.id.clone(), (*by).to_string());
                    continue;
                }
                match self.open_cached_or_download(&tenant, &meta.id).await? {
                    Some(reader) => loaded.push(Arc::new(reader)),
                    None => {
                        report.uncommitted_skipped += 1;
                        uncommitted.insert(meta.id.clone());
                    }
                }
            }
            report.segments_loaded += loaded.len();
            loaded.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
            self.remove_stale_cache(&tenant, &loaded).await;
            let logs = inner.tenant(&tenant);
            *logs.compaction.lock() = CompactionState {
                marks,
                pending_marks,
                uncommitted,
            };
            *logs.segments.write() = loaded;
        }
        Ok(())
    }

    /// The deletion marks of `tenant` on the object store, by segment id.
    async fn load_marks(
        &self,
        tenant: &TenantId,
    ) -> Result<BTreeMap<String, DeletionMark>, LogStoreError> {
        let prefix = ObjectPath::from(marks_prefix(tenant.as_str()));
        let listed = self.inner.store.list_with_delimiter(Some(&prefix)).await?;
        let mut marks = BTreeMap::new();
        for object in listed.objects {
            let Some(id) = object
                .location
                .filename()
                .and_then(|name| name.strip_suffix(".json"))
                .map(str::to_string)
            else {
                continue;
            };
            let bytes = match self.inner.store.get(&object.location).await {
                Ok(got) => got.bytes().await?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(err) => return Err(err.into()),
            };
            let mark = match serde_json::from_slice::<DeletionMark>(&bytes) {
                Ok(mark) if mark.id == id => mark,
                other => {
                    // The mark's existence is what matters (it is only written once the
                    // replacing segment is committed); restart its delay.
                    tracing::warn!(tenant = %tenant, segment = %id, parsed = ?other.err(), "unreadable deletion mark; keeping the segment unloaded");
                    DeletionMark {
                        version: 1,
                        id: id.clone(),
                        replaced_by: String::new(),
                        marked_at_ns: now_ns(),
                    }
                }
            };
            marks.insert(id, mark);
        }
        Ok(marks)
    }

    /// A segment's `meta.json` from the local cache or the object store; `None` when the
    /// segment was never committed.
    async fn read_meta(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<SegmentMeta>, LogStoreError> {
        let dir = self.inner.cache_dir().join(tenant.as_str()).join(id);
        if let Ok(bytes) = tokio::fs::read(dir.join(META_FILE)).await {
            match serde_json::from_slice(&bytes) {
                Ok(meta) => return Ok(Some(meta)),
                Err(err) => {
                    // A local copy torn by a crash: fetch the segment again.
                    tracing::warn!(dir = %dir.display(), error = %err, "unreadable cached segment meta; downloading again");
                    let _ = tokio::fs::remove_dir_all(&dir).await;
                }
            }
        }
        let bytes = match self
            .inner
            .store
            .get(&object_path(tenant, id, META_FILE))
            .await
        {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            LogStoreError::corrupt(format!("meta.json of segment {id}"), e.to_string())
        })
    }

    /// Removes cached segment directories of `tenant` that are not loaded (copies of
    /// replaced segments, writes that died before their commit) and dead downloads.
    async fn remove_stale_cache(&self, tenant: &TenantId, loaded: &[Arc<SegmentReader>]) {
        let keep: HashSet<&str> = loaded.iter().map(|s| s.meta.id.as_str()).collect();
        let dir = self.inner.cache_dir().join(tenant.as_str());
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            return;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().to_string();
            if !keep.contains(name.as_str()) {
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
            }
        }
    }

    async fn open_cached_or_download(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<SegmentReader>, LogStoreError> {
        let inner = &self.inner;
        let dir = inner.cache_dir().join(tenant.as_str()).join(id);
        if !dir.join(META_FILE).exists() {
            match inner.store.head(&object_path(tenant, id, META_FILE)).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(err) => return Err(err.into()),
            }
            let tmp = inner.cache_dir().join(format!(".download-{id}"));
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            tokio::fs::create_dir_all(&tmp)
                .await
                .map_err(|e| LogStoreError::io("creating download dir", e))?;
            for file in SEGMENT_FILES {
                let bytes = inner
                    .store
                    .get(&object_path(tenant, id, file))
                    .await?
                    .bytes()
                    .await?;
                tokio::fs::write(tmp.join(file), &bytes)
                    .await
                    .map_err(|e| LogStoreError::io(format!("writing {file} of segment {id}"), e))?;
            }
            let _ = tokio::fs::remove_dir_all(&dir).await;
            if let Some(parent) = dir.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| LogStoreError::io("creating cache dir", e))?;
            }
            tokio::fs::rename(&tmp, &dir)
                .await
                .map_err(|e| LogStoreError::io("moving downloaded segment", e))?;
        }
        let reader = blocking(move || SegmentReader::open(&dir)).await?;
        Ok(Some(reader))
    }

    /// Flushes chunks that are due (by size or age), or every head entry when `force`.
    pub async fn flush(&self, force: bool) -> Result<MaintenanceReport, LogStoreError> {
        let _one_at_a_time = self.inner.maintenance.lock().await;
        let mut report = MaintenanceReport::default();
        let tenants: Vec<(TenantId, Arc<TenantLogs>)> = self
            .inner
            .tenants
            .read()
            .iter()
            .map(|(t, l)| (t.clone(), l.clone()))
            .collect();
        let max_age = Duration::from_nanos(self.inner.options.max_chunk_age_ns.max(0) as u64);
        for (tenant, logs) in tenants {
            let due: Vec<(Labels, Vec<LogEntry>, usize)> = {
                let head = logs.head.read();
                head.streams
                    .iter()
                    .filter(|(_, s)| {
                        if force {
                            !s.entries.is_empty()
                        } else {
                            s.is_due(self.inner.options.chunk_target_bytes, max_age)
                        }
                    })
                    .map(|(labels, s)| (labels.clone(), s.entries.clone(), s.entries.len()))
                    .collect()
            };
            if !due.is_empty() {
                let flushed = self.write_segment(&tenant, &logs, due).await?;
                report.segments_written += 1;
                report.entries_flushed += flushed;
            }
            logs.head.write().drop_idle(max_age);
        }
        if report.segments_written > 0 {
            self.checkpoint().await?;
        }
        Ok(report)
    }

    async fn write_segment(
        &self,
        tenant: &TenantId,
        logs: &Arc<TenantLogs>,
        due: Vec<(Labels, Vec<LogEntry>, usize)>,
    ) -> Result<u64, LogStoreError> {
        let inner = &self.inner;
        let counts: Vec<(Labels, usize)> = due.iter().map(|(l, _, c)| (l.clone(), *c)).collect();
        let mut streams: Vec<(Labels, Vec<LogEntry>)> =
            due.into_iter().map(|(l, e, _)| (l, e)).collect();
        streams.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, entries) in &mut streams {
            sort_dedup(entries);
        }
        let id = ulid::Ulid::new().to_string();
        let dir = inner.cache_dir().join(tenant.as_str()).join(&id);
        let layout = SegmentLayout {
            row_group_rows: inner.options.row_group_rows,
            zstd_level: inner.options.flush_zstd_level,
        };
        let (write_dir, write_id) = (dir.clone(), id.clone());
        let meta =
            blocking(move || write_files(&write_dir, &write_id, &streams, layout, Vec::new()))
                .await?;
        let reader = Arc::new(self.commit_segment(tenant, &dir, &meta).await?);
        let window = inner.options.unordered_window_ns;
        // Publish and drop the flushed entries under both locks, so a reader sees them once.
        let mut segments = logs.segments.write();
        let mut head = logs.head.write();
        segments.push(reader);
        for (labels, count) in counts {
            head.remove_flushed(&labels, count, window);
        }
        tracing::info!(tenant = %tenant, segment = %id, entries = meta.entries, "flushed log segment");
        Ok(meta.entries)
    }

    /// Uploads a segment written into `dir` (its files first, `meta.json` last: the commit),
    /// then writes the local `meta.json` that marks the cached copy complete, and opens it.
    pub(crate) async fn commit_segment(
        &self,
        tenant: &TenantId,
        dir: &Path,
        meta: &SegmentMeta,
    ) -> Result<SegmentReader, LogStoreError> {
        let meta_json = serde_json::to_vec_pretty(meta)
            .map_err(|e| LogStoreError::corrupt("segment meta", e.to_string()))?;
        for file in SEGMENT_FILES {
            let bytes = if file == META_FILE {
                meta_json.clone()
            } else {
                tokio::fs::read(dir.join(file))
                    .await
                    .map_err(|e| LogStoreError::io(format!("reading {file}"), e))?
            };
            self.inner
                .store
                .put(
                    &object_path(tenant, &meta.id, file),
                    PutPayload::from(bytes),
                )
                .await?;
        }
        // The local meta.json marks the cached copy complete, after the upload committed it.
        tokio::fs::write(dir.join(META_FILE), &meta_json)
            .await
            .map_err(|e| LogStoreError::io("writing meta.json", e))?;
        let dir = dir.to_path_buf();
        blocking(move || SegmentReader::open(&dir)).await
    }

    /// Replaces the WAL up to now with a checkpoint holding what the heads still hold.
    async fn checkpoint(&self) -> Result<(), LogStoreError> {
        let (first_kept, records) = {
            let _no_commits = self.inner.commit_gate.write().await;
            let inner = self.inner.clone();
            let first_kept = blocking(move || Ok(inner.wal.cut_segment()?)).await?;
            let mut records = Vec::new();
            for (tenant, logs) in self.inner.tenants.read().iter() {
                let head = logs.head.read();
                let streams: Vec<(Labels, Vec<LogEntry>)> = head
                    .streams
                    .iter()
                    .filter(|(_, s)| !s.entries.is_empty())
                    .map(|(l, s)| (l.clone(), s.entries.clone()))
                    .collect();
                for chunk in streams.chunks(256) {
                    records.push(wal_record::encode(tenant, chunk));
                }
            }
            (first_kept, records)
        };
        let inner = self.inner.clone();
        blocking(move || Ok(inner.wal.write_checkpoint(first_kept, records)?)).await
    }

    /// Deletes segments past retention (`meta.json` first, so none is ever half visible).
    pub async fn apply_retention(&self) -> Result<usize, LogStoreError> {
        if self.inner.options.retention_ns <= 0 {
            return Ok(0);
        }
        let _one_at_a_time = self.inner.maintenance.lock().await;
        let cutoff = now_ns().saturating_sub(self.inner.options.retention_ns);
        let tenants: Vec<(TenantId, Arc<TenantLogs>)> = self
            .inner
            .tenants
            .read()
            .iter()
            .map(|(t, l)| (t.clone(), l.clone()))
            .collect();
        let mut deleted = 0;
        for (tenant, logs) in tenants {
            let expired: Vec<Arc<SegmentReader>> = {
                let mut segments = logs.segments.write();
                let (old, keep): (Vec<_>, Vec<_>) = segments
                    .drain(..)
                    .partition(|s| s.meta.max_time_ns < cutoff);
                *segments = keep;
                old
            };
            for segment in expired {
                for file in [
                    META_FILE,
                    crate::segment::DATA_FILE,
                    crate::segment::INDEX_FILE,
                    crate::segment::CONTENT_FILE,
                ] {
                    match self
                        .inner
                        .store
                        .delete(&object_path(&tenant, &segment.meta.id, file))
                        .await
                    {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                let _ = tokio::fs::remove_dir_all(&segment.dir).await;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// One maintenance pass: flush due chunks, retention, compaction of small segments, and
    /// deletion of replaced segments whose delete delay has passed.
    pub async fn run_maintenance(&self) -> Result<MaintenanceReport, LogStoreError> {
        let mut report = self.flush(false).await?;
        report.segments_deleted = self.apply_retention().await?;
        let compaction = self.compact().await?;
        report.segments_compacted = compaction.segments_written;
        report.segments_replaced = compaction.segments_replaced;
        report.replaced_deleted = self.delete_replaced(now_ns()).await?;
        Ok(report)
    }

    /// The metadata of `tenant`'s committed segments that reads use, by id.
    pub fn segment_metas(&self, tenant: &TenantId) -> Vec<SegmentMeta> {
        let mut metas: Vec<SegmentMeta> = self
            .inner
            .tenants
            .read()
            .get(tenant)
            .map(|t| t.segments.read().iter().map(|s| s.meta.clone()).collect())
            .unwrap_or_default();
        metas.sort_by(|a, b| a.id.cmp(&b.id));
        metas
    }

    /// Committed segments of `tenant`.
    pub fn segment_count(&self, tenant: &TenantId) -> usize {
        self.inner
            .tenants
            .read()
            .get(tenant)
            .map_or(0, |t| t.segments.read().len())
    }

    /// Bytes of unflushed entries over all tenants.
    pub fn head_bytes(&self) -> usize {
        self.inner
            .tenants
            .read()
            .values()
            .map(|t| t.head.read().bytes())
            .sum()
    }

    /// Stops the WAL writer; later commits fail.
    pub fn close(&self) {
        self.inner.wal.close();
    }

    /// The local directory of the segment cache.
    pub fn cache_dir(&self) -> PathBuf {
        self.inner.cache_dir()
    }
}

/// Reads a committed segment directory as the object store or cache holds it; used by
/// compat-fixture tests and tools.
pub fn read_segment_dir(
    dir: &Path,
) -> Result<(crate::SegmentMeta, Vec<StreamEntries>), LogStoreError> {
    let reader = SegmentReader::open(dir)?;
    let mut out = Vec::new();
    for info in &reader.index.streams {
        let mut entries = Vec::new();
        for rg in info.row_groups.clone() {
            entries.extend(reader.read_row_group(rg)?);
        }
        out.push((info.labels.clone(), entries));
    }
    Ok((reader.meta.clone(), out))
}

/// What one stream takes in a segment's `data.parquet`: compressed bytes per column, as
/// `(column name, bytes)` in schema order, over the stream's row groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFootprint {
    /// The stream's labels.
    pub labels: Labels,
    /// Its rows.
    pub entries: u64,
    /// Its Parquet row groups.
    pub row_groups: u32,
    /// Compressed bytes of each column over its row groups (page headers included).
    pub column_bytes: Vec<(String, u64)>,
}

/// The footprint of every stream of a committed segment directory, from the Parquet
/// footer and the label index only (no data page is read); for storage reports and tools.
pub fn segment_footprint(dir: &Path) -> Result<Vec<StreamFootprint>, LogStoreError> {
    let reader = SegmentReader::open(dir)?;
    let metadata = reader.parquet_metadata();
    let names: Vec<String> = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut out = Vec::new();
    for info in &reader.index.streams {
        let mut column_bytes: Vec<(String, u64)> = names.iter().map(|n| (n.clone(), 0)).collect();
        let mut entries = 0u64;
        for rg in info.row_groups.clone() {
            let Some(group) = metadata.row_groups().get(rg as usize) else {
                return Err(LogStoreError::corrupt(
                    format!("{}", dir.display()),
                    format!("label index names missing row group {rg}"),
                ));
            };
            entries += group.num_rows().max(0) as u64;
            for (slot, column) in column_bytes.iter_mut().zip(group.columns()) {
                slot.1 += column.compressed_size().max(0) as u64;
            }
        }
        out.push(StreamFootprint {
            labels: info.labels.clone(),
            entries,
            row_groups: info.row_groups.len() as u32,
            column_bytes,
        });
    }
    Ok(out)
}

struct LogStoreAppender {
    inner: Arc<Inner>,
    tenant: TenantId,
    options: LogAppendOptions,
    pending: Vec<(Labels, LogEntry)>,
    pending_newest: HashMap<Labels, i64>,
    pending_new_streams: HashSet<Labels>,
}

impl LogAppendable for LogStore {
    fn log_appender(&self, tenant: &TenantId, options: LogAppendOptions) -> Box<dyn LogAppender> {
        Box::new(LogStoreAppender {
            inner: self.inner.clone(),
            tenant: tenant.clone(),
            options,
            pending: Vec::new(),
            pending_newest: HashMap::new(),
            pending_new_streams: HashSet::new(),
        })
    }
}

#[async_trait]
impl LogAppender for LogStoreAppender {
    fn append_entry(&mut self, stream: &Labels, entry: LogEntry) -> Result<(), LogAppendError> {
        if stream.is_empty() {
            return Err(LogAppendError::InvalidStream {
                stream: stream.clone(),
                reason: "a stream needs at least one label".into(),
            });
        }
        let logs = self.inner.tenant(&self.tenant);
        let head = logs.head.read();
        let stored_newest = head.newest(stream);
        let newest = match (stored_newest, self.pending_newest.get(stream).copied()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let window = self.inner.options.unordered_window_ns;
        if let Some(newest_ns) = newest
            && !self.options.skip_time_checks
            && entry.timestamp_ns < newest_ns.saturating_sub(window)
        {
            return Err(LogAppendError::TooFarBehind {
                stream: stream.clone(),
                timestamp_ns: entry.timestamp_ns,
                newest_ns,
                window_ns: window,
            });
        }
        let limit = self.inner.options.max_streams_per_tenant;
        if stored_newest.is_none() && !self.pending_new_streams.contains(stream) {
            if limit > 0 && head.streams.len() + self.pending_new_streams.len() >= limit {
                return Err(LogAppendError::StreamLimit {
                    stream: stream.clone(),
                    limit,
                });
            }
            self.pending_new_streams.insert(stream.clone());
        }
        drop(head);
        let slot = self
            .pending_newest
            .entry(stream.clone())
            .or_insert(entry.timestamp_ns);
        *slot = (*slot).max(entry.timestamp_ns);
        self.pending.push((stream.clone(), entry));
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<LogCommitStats, StorageError> {
        let mut stats = LogCommitStats::default();
        if self.pending.is_empty() {
            return Ok(stats);
        }
        let mut grouped: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
        for (labels, entry) in self.pending {
            grouped.entry(labels).or_default().push(entry);
        }
        let streams: Vec<(Labels, Vec<LogEntry>)> = grouped.into_iter().collect();
        let record = wal_record::encode(&self.tenant, &streams);
        let _shared = self.inner.commit_gate.read().await;
        self.inner
            .wal
            .append(vec![record])
            .await
            .map_err(LogStoreError::from)?;
        let logs = self.inner.tenant(&self.tenant);
        let mut head = logs.head.write();
        for (labels, entries) in streams {
            for entry in entries {
                let bytes = entry.size_bytes() as u64;
                let (stored, created) = head.apply(&labels, entry);
                if created {
                    stats.new_streams += 1;
                }
                if stored {
                    stats.entries += 1;
                    stats.bytes += bytes;
                } else {
                    stats.duplicates += 1;
                }
            }
        }
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {}
}

impl LogQueryable for LogStore {
    fn log_querier(
        &self,
        tenant: &TenantId,
        range: LogTimeRange,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        let tenant = self.inner.tenants.read().get(tenant).cloned();
        Ok(Box::new(LogStoreQuerier { tenant, range }))
    }
}

/// Writes a complete, committed segment directory (`meta.json` last) from streams sorted by
/// labels with entries in time order; used to produce compat fixtures and by tools.
pub fn write_segment_dir(
    dir: &Path,
    id: &str,
    streams: &[(Labels, Vec<LogEntry>)],
    row_group_rows: usize,
) -> Result<crate::SegmentMeta, LogStoreError> {
    let layout = SegmentLayout {
        row_group_rows,
        zstd_level: LogStoreOptions::default().flush_zstd_level,
    };
    let meta = write_files(dir, id, streams, layout, Vec::new())?;
    let json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| LogStoreError::corrupt("segment meta", e.to_string()))?;
    std::fs::write(dir.join(META_FILE), json)
        .map_err(|e| LogStoreError::io("writing meta.json", e))?;
    Ok(meta)
}
