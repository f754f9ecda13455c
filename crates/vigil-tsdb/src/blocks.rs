//! The block lifecycle: cutting head ranges into blocks, uploading them to the object
//! store, keeping a local cache, checkpointing the WAL after a cut, compacting adjacent
//! blocks into larger ones, and deleting blocks past retention.
//!
//! Object layout: `metrics/<tenant>/blocks/<ulid>/{chunks,index,meta.json}`; `meta.json` is
//! uploaded last and deleted first, so a block without it is not committed and never read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use vigil_model::{Labels, MatchOp, Matcher, Sample, TenantId};

use crate::TsdbError;
use crate::block::{BlockCompaction, BlockMeta, BlockReader, BlockWriter, ChunkData, NewBlockMeta};
use crate::chunk::{ENCODING_XOR, XorChunk, decode_xor};
use crate::db::{DbInner, TenantDb};
use crate::head::extend_sorted;

const BLOCK_FILES: [&str; 3] = ["chunks", "index", "meta.json"];

/// What one maintenance run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Blocks cut from heads.
    pub blocks_cut: usize,
    /// Blocks written by compaction.
    pub blocks_compacted: usize,
    /// Blocks deleted by retention or replaced by compaction.
    pub blocks_deleted: usize,
    /// Whether the WAL was checkpointed.
    pub checkpointed: bool,
}

fn tenant_prefix(tenant: &TenantId) -> String {
    format!("metrics/{}/blocks", tenant.as_str())
}

fn object_path(tenant: &TenantId, ulid: &str, file: &str) -> ObjectPath {
    ObjectPath::from(format!("{}/{ulid}/{file}", tenant_prefix(tenant)))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TsdbError> + Send + 'static,
) -> Result<T, TsdbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| TsdbError::io("blocking task", std::io::Error::other(err)))?
}

/// Loads every committed block of every tenant, downloading missing ones into the cache.
pub(crate) async fn load_all(inner: &Arc<DbInner>) -> Result<usize, TsdbError> {
    let root = ObjectPath::from("metrics");
    let listing = inner.store.list_with_delimiter(Some(&root)).await?;
    let mut loaded = 0;
    for tenant_dir in listing.common_prefixes {
        let Some(name) = tenant_dir.filename() else {
            continue;
        };
        let Ok(tenant) = TenantId::new(name) else {
            tracing::warn!(prefix = %tenant_dir, "skipping object store prefix that is not a tenant id");
            continue;
        };
        let blocks_root = ObjectPath::from(tenant_prefix(&tenant));
        let blocks = inner.store.list_with_delimiter(Some(&blocks_root)).await?;
        let db = inner.tenant(&tenant);
        for block_dir in blocks.common_prefixes {
            let Some(ulid) = block_dir.filename().map(str::to_string) else {
                continue;
            };
            match open_cached_or_download(inner, &tenant, &ulid).await {
                Ok(Some(reader)) => {
                    db.blocks.write().push(reader);
                    loaded += 1;
                }
                Ok(None) => {
                    tracing::warn!(tenant = %tenant, block = %ulid, "skipping uncommitted block (no meta.json)")
                }
                Err(err) => return Err(err),
            }
        }
        db.blocks
            .write()
            .sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    }
    Ok(loaded)
}

async fn open_cached_or_download(
    inner: &DbInner,
    tenant: &TenantId,
    ulid: &str,
) -> Result<Option<Arc<BlockReader>>, TsdbError> {
    let cache_dir = inner.cache_dir().join(tenant.as_str()).join(ulid);
    if !cache_dir.join("meta.json").exists() {
        let meta_path = object_path(tenant, ulid, "meta.json");
        match inner.store.head(&meta_path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.into()),
        }
        let tmp = inner
            .options
            .data_dir
            .join("block-tmp")
            .join(format!("download-{ulid}"));
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(|e| TsdbError::io(format!("create {}", tmp.display()), e))?;
        for file in BLOCK_FILES {
            let bytes = inner
                .store
                .get(&object_path(tenant, ulid, file))
                .await?
                .bytes()
                .await?;
            tokio::fs::write(tmp.join(file), &bytes)
                .await
                .map_err(|e| TsdbError::io(format!("write {file} of block {ulid}"), e))?;
        }
        move_dir(&tmp, &cache_dir).await?;
    }
    let reader = blocking(move || Ok(BlockReader::open(&cache_dir)?)).await?;
    Ok(Some(Arc::new(reader)))
}

async fn move_dir(from: &Path, to: &Path) -> Result<(), TsdbError> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| TsdbError::io(format!("create {}", parent.display()), e))?;
    }
    let _ = tokio::fs::remove_dir_all(to).await;
    tokio::fs::rename(from, to)
        .await
        .map_err(|e| TsdbError::io(format!("move {} to {}", from.display(), to.display()), e))
}

/// Encodes time-sorted samples into XOR chunks of at most `max_samples` each.
pub(crate) fn encode_chunks(samples: &[Sample], max_samples: usize) -> Vec<ChunkData> {
    samples
        .chunks(max_samples.clamp(1, crate::chunk::MAX_SAMPLES))
        .map(|group| {
            let mut chunk = XorChunk::new();
            for sample in group {
                chunk.append(sample.timestamp_ms, sample.value);
            }
            ChunkData {
                min_time_ms: group.first().map(|s| s.timestamp_ms).unwrap_or_default(),
                max_time_ms: group.last().map(|s| s.timestamp_ms).unwrap_or_default(),
                num_samples: group.len() as u32,
                encoding: ENCODING_XOR,
                data: bytes::Bytes::copy_from_slice(chunk.bytes()),
            }
        })
        .collect()
}

/// Writes series (sorted by labels) as a block, uploads it and opens it from the cache.
async fn write_block(
    inner: &Arc<DbInner>,
    tenant: &TenantId,
    series: Vec<(Labels, Vec<Sample>)>,
    min_time: i64,
    max_time: i64,
    level: u32,
    sources: Vec<String>,
) -> Result<Arc<BlockReader>, TsdbError> {
    let ulid = ulid::Ulid::new().to_string();
    let tmp = inner.options.data_dir.join("block-tmp").join(&ulid);
    let max_samples = inner.options.max_samples_per_chunk;
    let (tenant_name, tmp_dir) = (tenant.to_string(), tmp.clone());
    let meta: BlockMeta = blocking(move || {
        if let Some(parent) = tmp_dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| TsdbError::io(format!("create {}", parent.display()), e))?;
        }
        let mut writer = BlockWriter::create(&tmp_dir)?;
        for (labels, samples) in &series {
            writer.add_series(labels, &encode_chunks(samples, max_samples))?;
        }
        let new_meta = NewBlockMeta {
            min_time,
            max_time,
            compaction: BlockCompaction { level, sources },
            tenant: tenant_name,
        };
        Ok(writer.finish(new_meta)?)
    })
    .await?;
    // Upload data first and meta.json last: its presence commits the block.
    for file in BLOCK_FILES {
        let bytes = tokio::fs::read(tmp.join(file))
            .await
            .map_err(|e| TsdbError::io(format!("read {file} of block {ulid}"), e))?;
        inner
            .store
            .put(&object_path(tenant, &ulid, file), PutPayload::from(bytes))
            .await?;
    }
    let cache_dir = inner.cache_dir().join(tenant.as_str()).join(&ulid);
    move_dir(&tmp, &cache_dir).await?;
    let reader = blocking(move || Ok(BlockReader::open(&cache_dir)?)).await?;
    tracing::info!(
        tenant = %tenant, block = %meta.ulid, min_time = meta.min_time, max_time = meta.max_time,
        series = meta.stats.num_series, samples = meta.stats.num_samples, level, "block written"
    );
    Ok(Arc::new(reader))
}

async fn delete_block(inner: &DbInner, tenant: &TenantId, ulid: &str) -> Result<(), TsdbError> {
    // meta.json first: from then on the block is uncommitted everywhere.
    for file in ["meta.json", "index", "chunks"] {
        match inner.store.delete(&object_path(tenant, ulid, file)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let cache_dir = inner.cache_dir().join(tenant.as_str()).join(ulid);
    let _ = tokio::fs::remove_dir_all(&cache_dir).await;
    Ok(())
}

fn add_block(db: &TenantDb, reader: Arc<BlockReader>) {
    let mut blocks = db.blocks.write();
    blocks.push(reader);
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
}

/// Cuts due head ranges into blocks, checkpoints, compacts and applies retention.
pub(crate) async fn run_maintenance(
    inner: &Arc<DbInner>,
    force: bool,
) -> Result<MaintenanceReport, TsdbError> {
    let _serial = inner.maintenance.lock().await;
    let mut report = MaintenanceReport::default();
    let range = inner.options.block_range_ms;
    for db in inner.all_tenants() {
        let head = db.head.clone();
        // Each range is cut at most once per run: late samples that keep arriving for it
        // while it is written wait for the next run instead of making a block each.
        let mut cut_until = i64::MIN;
        while let Some((head_min, head_max)) = head.time_bounds() {
            let start = head_min.div_euclid(range) * range;
            let end = start.saturating_add(range);
            if start < cut_until {
                break;
            }
            // Like Prometheus: cut once the head spans 1.5 block ranges, keeping the newest
            // half range writable; when forced, cut every range that is complete. A range
            // that ends before the head's min valid time holds only late samples (the
            // out-of-order time window, or `skip_time_checks`): cut it into an overlapping
            // block right away, so late data does not stay in memory; compaction merges it.
            let due = head_max.saturating_sub(head_min) > range / 2 * 3;
            let late = end <= head.min_valid_time_ms();
            let complete = force && end <= head_max;
            if !(due || late || complete) {
                break;
            }
            let series = head.series_samples(start, end - 1);
            if !series.is_empty() {
                let reader = write_block(
                    inner,
                    &head.tenant,
                    series.clone(),
                    start,
                    end,
                    1,
                    Vec::new(),
                )
                .await?;
                add_block(&db, reader);
                report.blocks_cut += 1;
            }
            // Exclusive with commits: a commit checks that its series are still in the head
            // and applies its samples under the shared gate, so none can land in a series
            // that this truncation drops. Samples committed since `series_samples` (late
            // ones) are not in the block and stay in the head.
            let _exclusive = inner.apply_gate.write().await;
            head.truncate_before(end, &series);
            cut_until = end;
        }
    }
    if report.blocks_cut > 0 {
        checkpoint(inner).await?;
        report.checkpointed = true;
    }
    for db in inner.all_tenants() {
        report.blocks_compacted += compact(inner, &db, &mut report.blocks_deleted).await?;
        report.blocks_deleted += apply_retention(inner, &db).await?;
    }
    Ok(report)
}

/// Replaces the WAL up to now with a snapshot of the heads.
async fn checkpoint(inner: &Arc<DbInner>) -> Result<(), TsdbError> {
    let first_kept = {
        // No commit is between its WAL write and its memory apply while we cut the segment,
        // so everything in older segments is reflected in the heads we snapshot below.
        let _exclusive = inner.apply_gate.write().await;
        let cutter = inner.clone();
        blocking(move || Ok(cutter.wal.cut_segment()?)).await?
    };
    let writer = inner.clone();
    blocking(move || {
        let mut records = Vec::new();
        for db in writer.all_tenants() {
            records.extend(db.head.snapshot_records());
        }
        writer.wal.write_checkpoint(first_kept, records)?;
        Ok(())
    })
    .await
}

/// Compaction levels: each level's range is three times the previous one.
fn level_ranges(block_range: i64, retention: i64) -> Vec<i64> {
    let cap = (retention / 10).max(block_range * 3);
    let mut ranges = Vec::new();
    let mut current = block_range.saturating_mul(3);
    while current <= cap && ranges.len() < 6 {
        ranges.push(current);
        current = current.saturating_mul(3);
    }
    ranges
}

/// The first run (by min time) of two or more blocks whose time ranges overlap, directly or
/// through each other. Block max times are exclusive.
fn overlapping_group(blocks: &[Arc<BlockReader>]) -> Option<Vec<Arc<BlockReader>>> {
    let mut sorted = blocks.to_vec();
    sorted.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    let mut group: Vec<Arc<BlockReader>> = Vec::new();
    let mut group_max = i64::MIN;
    for block in sorted {
        let meta = block.meta();
        if !group.is_empty() && meta.min_time < group_max {
            group_max = group_max.max(meta.max_time);
            group.push(block.clone());
            continue;
        }
        if group.len() >= 2 {
            return Some(group);
        }
        group_max = meta.max_time;
        group = vec![block.clone()];
    }
    (group.len() >= 2).then_some(group)
}

/// Writes the merge of `group` as one block covering all of it at `level`, swaps it in and
/// deletes the merged blocks.
async fn replace_with_merge(
    inner: &Arc<DbInner>,
    db: &Arc<TenantDb>,
    group: &[Arc<BlockReader>],
    level: u32,
    deleted: &mut usize,
) -> Result<(), TsdbError> {
    let merged = merge_blocks(group).await?;
    let sources: Vec<String> = group
        .iter()
        .flat_map(|b| {
            let meta = b.meta();
            if meta.compaction.sources.is_empty() {
                vec![meta.ulid.clone()]
            } else {
                meta.compaction.sources.clone()
            }
        })
        .collect();
    let min_time = group.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let max_time = group.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let reader = write_block(
        inner,
        &db.head.tenant,
        merged,
        min_time,
        max_time,
        level,
        sources,
    )
    .await?;
    {
        let mut list = db.blocks.write();
        list.retain(|b| !group.iter().any(|old| Arc::ptr_eq(old, b)));
        list.push(reader);
        list.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    }
    for old in group {
        delete_block(inner, &db.head.tenant, &old.meta().ulid).await?;
        *deleted += 1;
    }
    Ok(())
}

/// Merges overlapping blocks (late samples cut after their range) into one block each, then
/// groups of blocks that together fill one aligned window of a higher level.
async fn compact(
    inner: &Arc<DbInner>,
    db: &Arc<TenantDb>,
    deleted: &mut usize,
) -> Result<usize, TsdbError> {
    let mut written = 0;
    // Overlapping blocks first and regardless of age (like Prometheus' vertical compaction):
    // this bounds the small blocks late samples make to one per range, and keeps the level
    // windows below free of overlaps. Aligned ranges nest, so a merge covers the widest one.
    while let Some(group) = overlapping_group(&db.blocks_snapshot()) {
        let level = group
            .iter()
            .map(|b| b.meta().compaction.level)
            .max()
            .unwrap_or(1);
        replace_with_merge(inner, db, &group, level, deleted).await?;
        written += 1;
    }
    for window in level_ranges(inner.options.block_range_ms, inner.options.retention_ms) {
        loop {
            let blocks = db.blocks_snapshot();
            let newest = blocks
                .iter()
                .map(|b| b.meta().max_time)
                .max()
                .unwrap_or(i64::MIN);
            let mut groups: BTreeMap<i64, Vec<Arc<BlockReader>>> = BTreeMap::new();
            for block in &blocks {
                let meta = block.meta();
                let start = meta.min_time.div_euclid(window) * window;
                if meta.max_time <= start + window {
                    groups.entry(start).or_default().push(block.clone());
                }
            }
            // Only windows that are over (newer data exists past them) with 2+ blocks.
            let Some((_, group)) = groups
                .into_iter()
                .find(|(start, group)| group.len() >= 2 && start + window <= newest)
            else {
                break;
            };
            let level = group
                .iter()
                .map(|b| b.meta().compaction.level)
                .max()
                .unwrap_or(1)
                + 1;
            replace_with_merge(inner, db, &group, level, deleted).await?;
            written += 1;
        }
    }
    Ok(written)
}

/// All series of `group` with their samples merged; where blocks hold samples with the same
/// timestamp, the oldest block's (by ULID, i.e. the first written) is kept.
async fn merge_blocks(group: &[Arc<BlockReader>]) -> Result<Vec<(Labels, Vec<Sample>)>, TsdbError> {
    let mut group = group.to_vec();
    group.sort_by(|a, b| a.meta().ulid.cmp(&b.meta().ulid));
    blocking(move || {
        let all_series = Matcher::new(MatchOp::Regex, vigil_model::METRIC_NAME, ".*")
            .map_err(|err| TsdbError::CorruptRecord(err.to_string()))?;
        let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for block in &group {
            for series in block.select(std::slice::from_ref(&all_series), i64::MIN, i64::MAX) {
                let mut samples = Vec::new();
                for meta in &series.chunks {
                    let chunk = block.read_chunk(meta)?;
                    extend_sorted(&mut samples, decode_xor(&chunk.data)?);
                }
                let entry = merged.entry(series.labels).or_default();
                extend_sorted(entry, samples);
            }
        }
        Ok(merged.into_iter().collect())
    })
    .await
}

/// Deletes blocks entirely older than the retention time, then the oldest blocks while the
/// tenant's blocks exceed the size limit. Returns how many were deleted.
async fn apply_retention(inner: &Arc<DbInner>, db: &Arc<TenantDb>) -> Result<usize, TsdbError> {
    let blocks = db.blocks_snapshot();
    let head_max = db
        .head
        .time_bounds()
        .map(|(_, max)| max)
        .unwrap_or(i64::MIN);
    let newest = blocks
        .iter()
        .map(|b| b.meta().max_time)
        .max()
        .unwrap_or(i64::MIN)
        .max(head_max);
    if newest == i64::MIN {
        return Ok(0);
    }
    let horizon = newest.saturating_sub(inner.options.retention_ms);
    let mut doomed: Vec<Arc<BlockReader>> = blocks
        .iter()
        .filter(|b| b.meta().max_time <= horizon)
        .cloned()
        .collect();
    if inner.options.retention_bytes > 0 {
        let mut total: u64 = blocks
            .iter()
            .filter(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)))
            .map(|b| b.size_bytes())
            .sum();
        for block in &blocks {
            if total <= inner.options.retention_bytes {
                break;
            }
            if !doomed.iter().any(|d| Arc::ptr_eq(d, block)) {
                total = total.saturating_sub(block.size_bytes());
                doomed.push(block.clone());
            }
        }
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    db.blocks
        .write()
        .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)));
    for block in &doomed {
        tracing::info!(tenant = %db.head.tenant, block = %block.meta().ulid, max_time = block.meta().max_time, "deleting block past retention");
        delete_block(inner, &db.head.tenant, &block.meta().ulid).await?;
    }
    Ok(doomed.len())
}
