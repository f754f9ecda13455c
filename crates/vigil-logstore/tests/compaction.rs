//! Compaction of small segments: reads identical before and after, the delete delay, queries
//! in flight during the swap, a crash at every object-store step, retention over compacted
//! segments, and the conformance suite with compaction in every persist step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use parking_lot::Mutex;
use vigil_logstore::{LogStore, LogStoreOptions};
use vigil_model::{Direction, Labels, LogEntry, LogTimeRange, MatchOp, Matcher, TenantId};
use vigil_storage::log_conformance::{self, LogStorageUnderTest};
use vigil_storage::{LogAppendOptions, LogAppendable, LogQueryable, LogSelect, StreamEntry};

const HOUR_NS: i64 = 3_600_000_000_000;

fn local_store(dir: &Path) -> Arc<dyn ObjectStore> {
    std::fs::create_dir_all(dir).unwrap();
    // As vigil-objstore builds it: directories emptied by deletes are removed.
    Arc::new(
        LocalFileSystem::new_with_prefix(dir)
            .unwrap()
            .with_automatic_cleanup(true),
    )
}

fn options(dir: &Path) -> LogStoreOptions {
    LogStoreOptions {
        data_dir: dir.join("data"),
        row_group_rows: 16,
        compaction_target_bytes: 64 << 20,
        compaction_delete_delay_ns: HOUR_NS,
        ..LogStoreOptions::default()
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

/// Writes `flushes` rounds of entries over three streams, flushing after each round; returns
/// how many distinct entries were written. Lines repeat across streams and rounds so that
/// the content index has something to prune and the merge has equal lines to order.
async fn write_rounds(store: &LogStore, flushes: i64, base_ns: i64) -> u64 {
    let streams = [
        Labels::from_static(&[("app", "api"), ("env", "prod")]),
        Labels::from_static(&[("app", "api"), ("env", "dev")]),
        Labels::from_static(&[("app", "web"), ("env", "prod")]),
    ];
    let mut written = 0;
    for round in 0..flushes {
        let mut appender = store.log_appender(&tenant(), LogAppendOptions::default());
        for (s, stream) in streams.iter().enumerate() {
            for i in 0..40i64 {
                let ts = base_ns + round * 1_000_000 + i * 1_000 + s as i64;
                let line = match i % 10 {
                    0 => format!("ERROR needle-{} failed", round % 3),
                    5 => "GET /health 200".to_string(),
                    _ => format!("round {round} stream {s} entry {i}"),
                };
                let mut entry = LogEntry::new(ts, line);
                if i % 7 == 0 {
                    entry.structured_metadata = Labels::from_static(&[("trace_id", "abc")]);
                }
                appender.append_entry(stream, entry).unwrap();
                written += 1;
            }
        }
        // Two entries at one timestamp in one stream, and an exact duplicate (dropped).
        appender
            .append_entry(
                &streams[0],
                LogEntry::new(base_ns + round * 1_000_000, "same time b"),
            )
            .unwrap();
        appender
            .append_entry(
                &streams[0],
                LogEntry::new(base_ns + round * 1_000_000, "same time b"),
            )
            .unwrap();
        written += 1;
        appender.commit().await.unwrap();
        store.flush(true).await.unwrap();
    }
    written
}

fn selects(base_ns: i64) -> Vec<(LogTimeRange, LogSelect)> {
    let api = Matcher::equal("app", "api");
    let not_dev = Matcher::new(MatchOp::NotEqual, "env", "dev").unwrap();
    let any_app = Matcher::new(MatchOp::Regex, "app", "api|web").unwrap();
    let mut out = Vec::new();
    for direction in [Direction::Forward, Direction::Backward] {
        for limit in [0, 1, 7, 100] {
            for (matchers, line_contains) in [
                (vec![api.clone()], vec![]),
                (vec![any_app.clone()], vec![]),
                (vec![any_app.clone(), not_dev.clone()], vec![]),
                (vec![any_app.clone()], vec!["needle-1".to_string()]),
                (vec![api.clone()], vec!["ERROR".into(), "needle".into()]),
                (vec![any_app.clone()], vec!["absent-literal".into()]),
                (vec![any_app.clone()], vec!["/".into()]),
            ] {
                for range in [
                    LogTimeRange::ALL,
                    LogTimeRange::new(base_ns + 1_500_000, base_ns + 4_020_000),
                ] {
                    out.push((
                        range,
                        LogSelect {
                            matchers: matchers.clone(),
                            direction,
                            limit,
                            line_contains: line_contains.clone(),
                        },
                    ));
                }
            }
        }
    }
    out
}

fn run(store: &LogStore, range: LogTimeRange, select: &LogSelect) -> Vec<StreamEntry> {
    store
        .log_querier(&tenant(), range)
        .unwrap()
        .select_entries(select)
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
}

fn all_entries(store: &LogStore) -> Vec<StreamEntry> {
    let select = LogSelect {
        matchers: vec![Matcher::new(MatchOp::Regex, "app", ".+").unwrap()],
        ..LogSelect::default()
    };
    run(store, LogTimeRange::ALL, &select)
}

/// Reads every select, plus series and label values.
fn snapshot(store: &LogStore, base_ns: i64) -> Vec<String> {
    let mut out = Vec::new();
    for (range, select) in selects(base_ns) {
        out.push(format!(
            "{range:?} {select:?} → {:?}",
            run(store, range, &select)
        ));
    }
    let querier = store.log_querier(&tenant(), LogTimeRange::ALL).unwrap();
    let any = [Matcher::new(MatchOp::Regex, "app", ".+").unwrap()];
    out.push(format!("{:?}", querier.series(&any).unwrap()));
    out.push(format!("{:?}", querier.label_values("env", &any).unwrap()));
    out
}

/// Entries of the segments the store reads: what it loaded, duplicates included.
fn stored_entries(store: &LogStore) -> u64 {
    store
        .segment_metas(&tenant())
        .iter()
        .map(|m| m.entries)
        .sum()
}

fn segment_dirs(objects: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(objects.join("logs/t/segments")) {
        Ok(dir) => dir
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn mark_files(objects: &Path) -> usize {
    std::fs::read_dir(objects.join("logs/t/deletion-marks")).map_or(0, |d| d.count())
}

/// `compaction_zstd_level` reaches the compacted segment's data file: the same segments
/// compacted at level 19 store fewer bytes than at level 1, and read back the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compaction_level_sets_how_hard_compacted_segments_are_compressed() {
    let base = 1_700_000_000_000_000_000;
    let mut sizes = Vec::new();
    let mut reads = Vec::new();
    for level in [1, 19] {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        let options = LogStoreOptions {
            row_group_rows: 4096,
            compaction_zstd_level: level,
            ..options(dir.path())
        };
        let (store, _) = LogStore::open(options, local_store(&objects))
            .await
            .unwrap();
        write_rounds(&store, 12, base).await;
        let report = store.compact().await.unwrap();
        assert_eq!(report.segments_written, 1, "{report:?}");
        let metas = store.segment_metas(&tenant());
        sizes.push(metas[0].files["data.parquet"]);
        reads.push(snapshot(&store, base));
    }
    assert!(
        sizes[1] < sizes[0],
        "level 19 stored {} bytes, level 1 {}",
        sizes[1],
        sizes[0]
    );
    assert_eq!(reads[0], reads[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_read_identical_and_deletes_sources_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let base = 1_700_000_000_000_000_000;
    let (store, _) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    let written = write_rounds(&store, 12, base).await;
    assert_eq!(store.segment_count(&tenant()), 12);
    let before = snapshot(&store, base);
    assert_eq!(all_entries(&store).len() as u64, written);

    let report = store.compact().await.unwrap();
    assert_eq!(report.segments_written, 1, "{report:?}");
    assert_eq!(report.segments_replaced, 12);
    assert_eq!(store.segment_count(&tenant()), 1);
    let metas = store.segment_metas(&tenant());
    assert_eq!(metas[0].compacted_from.len(), 12);
    assert_eq!(metas[0].entries, written);
    let after = snapshot(&store, base);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
    assert_eq!(before.len(), after.len());
    // A second run finds nothing left to merge.
    assert_eq!(
        store.compact().await.unwrap(),
        vigil_logstore::CompactionReport::default()
    );

    // The sources stay on the object store, marked, until the delay has passed.
    assert_eq!(segment_dirs(&objects).len(), 13);
    assert_eq!(mark_files(&objects), 12);
    let marked_at = now_ns();
    assert_eq!(store.delete_replaced(marked_at).await.unwrap(), 0);
    assert_eq!(
        store
            .delete_replaced(marked_at + HOUR_NS - 60_000_000_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(segment_dirs(&objects).len(), 13);

    // Reopened within the delay: the marked sources are not loaded.
    store.close();
    drop(store);
    let (store, report) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    assert_eq!(report.segments_loaded, 1);
    assert_eq!(report.replaced_skipped, 12);
    assert_eq!(snapshot(&store, base), after);

    assert_eq!(
        store.delete_replaced(now_ns() + HOUR_NS + 1).await.unwrap(),
        12
    );
    assert_eq!(segment_dirs(&objects).len(), 1);
    assert_eq!(mark_files(&objects), 0);
    let cache: Vec<_> = std::fs::read_dir(store.cache_dir().join("t"))
        .unwrap()
        .collect();
    assert_eq!(
        cache.len(),
        1,
        "replaced segments leave the local cache too"
    );
    assert_eq!(snapshot(&store, base), after);
    store.close();
    drop(store);
    let (store, report) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    assert_eq!((report.segments_loaded, report.replaced_skipped), (1, 0));
    assert_eq!(snapshot(&store, base), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_targets_and_spans_bound_the_compacted_segments() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let base = 1_700_000_000_000_000_000;
    let (store, _) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    let written = write_rounds(&store, 8, base).await;
    let before = snapshot(&store, base);
    let one: u64 = store.segment_metas(&tenant())[0].files.values().sum();
    store.close();
    drop(store);
    // A target of two and a half segments' size: pairs merge (rounds are 1 ms apart, well
    // within the 2.5 ms span limit, which the test checks each output against).
    let opts = LogStoreOptions {
        compaction_target_bytes: one * 5 / 2,
        compaction_max_span_ns: 2_500_000,
        ..options(dir.path())
    };
    let (store, _) = LogStore::open(opts, local_store(&objects)).await.unwrap();
    let report = store.compact().await.unwrap();
    assert_eq!(report.segments_written, 4, "{report:?}");
    assert_eq!(store.segment_count(&tenant()), 4);
    for meta in store.segment_metas(&tenant()) {
        assert_eq!(meta.compacted_from.len(), 2);
        assert!(meta.max_time_ns - meta.min_time_ns <= 2_500_000);
    }
    assert_eq!(stored_entries(&store), written);
    assert_eq!(snapshot(&store, base), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_in_flight_during_the_swap_see_each_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let base = 1_700_000_000_000_000_000;
    let (store, _) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    let written = write_rounds(&store, 6, base).await;
    let expected = all_entries(&store);
    assert_eq!(expected.len() as u64, written);

    // An iterator half read before the swap, and a querier made before it.
    let select = LogSelect {
        matchers: vec![Matcher::new(MatchOp::Regex, "app", ".+").unwrap()],
        ..LogSelect::default()
    };
    let querier = store.log_querier(&tenant(), LogTimeRange::ALL).unwrap();
    let mut iter = querier.select_entries(&select).unwrap();
    let mut seen: Vec<StreamEntry> = iter.by_ref().take(100).map(|e| e.unwrap()).collect();

    // Queries running in a loop on another thread while compaction swaps.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicI64::new(0));
    let reader = {
        let (store, stop, reads, expected) =
            (store.clone(), stop.clone(), reads.clone(), expected.clone());
        tokio::task::spawn_blocking(move || {
            while !stop.load(Ordering::SeqCst) {
                assert_eq!(all_entries(&store), expected);
                reads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let report = store.compact().await.unwrap();
    assert_eq!(report.segments_written, 1);
    while reads.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    reader.await.unwrap();

    seen.extend(iter.map(|e| e.unwrap()));
    assert_eq!(seen, expected);
    let later: Vec<StreamEntry> = querier
        .select_entries(&select)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(later, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_compacted_segments_and_their_sources_stay_unloaded() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let opts = LogStoreOptions {
        retention_ns: HOUR_NS,
        ..options(dir.path())
    };
    let (store, _) = LogStore::open(opts.clone(), local_store(&objects))
        .await
        .unwrap();
    let old = now_ns() - 3 * HOUR_NS;
    write_rounds(&store, 4, old).await;
    let fresh = now_ns();
    // Fresh entries 3 h later: with a 1 h span limit they are not merged with the old ones.
    let written_fresh = write_rounds(&store, 3, fresh).await;
    store.close();
    drop(store);
    let (store, _) = LogStore::open(
        LogStoreOptions {
            compaction_max_span_ns: HOUR_NS,
            ..opts.clone()
        },
        local_store(&objects),
    )
    .await
    .unwrap();
    let report = store.compact().await.unwrap();
    assert_eq!(report.segments_written, 2, "{report:?}");
    assert_eq!(store.segment_count(&tenant()), 2);
    assert_eq!(store.apply_retention().await.unwrap(), 1);
    assert_eq!(store.segment_count(&tenant()), 1);
    assert_eq!(all_entries(&store).len() as u64, written_fresh);
    assert!(
        all_entries(&store)
            .iter()
            .all(|e| e.entry.timestamp_ns >= fresh)
    );

    // Reopen before the delay: the old sources are still on the object store, marked,
    // and stay unloaded although the segment that replaced them is gone.
    store.close();
    drop(store);
    let (store, report) = LogStore::open(opts.clone(), local_store(&objects))
        .await
        .unwrap();
    assert_eq!(report.segments_loaded, 1);
    assert_eq!(report.replaced_skipped, 7);
    assert_eq!(all_entries(&store).len() as u64, written_fresh);
    assert_eq!(store.delete_replaced(i64::MAX).await.unwrap(), 7);
    assert_eq!(segment_dirs(&objects).len(), 1);
}

/// An object store that fails every mutating call once `budget` of them have succeeded: the
/// state it leaves is what a crash at that step leaves.
#[derive(Debug)]
struct Crashing {
    inner: Arc<dyn ObjectStore>,
    budget: Arc<AtomicI64>,
}

impl fmt::Display for Crashing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crashing({})", self.inner)
    }
}

fn crashed() -> object_store::Error {
    object_store::Error::Generic {
        store: "crashing",
        source: "simulated crash".into(),
    }
}

impl Crashing {
    fn spend(&self) -> object_store::Result<()> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(crashed());
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for Crashing {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.spend()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        _location: &ObjectPath,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(crashed())
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        let inner = self.inner.clone();
        let budget = self.budget.clone();
        locations
            .then(move |location| {
                let inner = inner.clone();
                let budget = budget.clone();
                async move {
                    let location = location?;
                    if budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
                        return Err(crashed());
                    }
                    let mut one =
                        inner.delete_stream(futures::stream::iter([Ok(location)]).boxed());
                    one.next().await.unwrap_or_else(|| Err(crashed()))
                }
            })
            .boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        _from: &ObjectPath,
        _to: &ObjectPath,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(crashed())
    }

    async fn rename_opts(
        &self,
        _from: &ObjectPath,
        _to: &ObjectPath,
        _options: RenameOptions,
    ) -> object_store::Result<()> {
        Err(crashed())
    }
}

/// Crashes compaction and the delayed deletion after every possible number of successful
/// object-store writes and deletes; each time the reopened store reads every entry exactly
/// once (no segment loaded twice over), and the next maintenance finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_compaction_step_leaves_every_entry_exactly_once() {
    let base = 1_700_000_000_000_000_000;
    let mut completed_after = None;
    for crash_after in 0..64 {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        let budget = Arc::new(AtomicI64::new(i64::MAX));
        let crashing: Arc<dyn ObjectStore> = Arc::new(Crashing {
            inner: local_store(&objects),
            budget: budget.clone(),
        });
        let (store, _) = LogStore::open(options(dir.path()), crashing).await.unwrap();
        let written = write_rounds(&store, 3, base).await;
        let expected = all_entries(&store);
        assert_eq!(expected.len() as u64, written);

        budget.store(crash_after, Ordering::SeqCst);
        let outcome = async {
            store.compact().await?;
            store.delete_replaced(i64::MAX).await
        }
        .await;
        let crashed = outcome.is_err();
        store.close();
        drop(store);

        let (store, report) = LogStore::open(options(dir.path()), local_store(&objects))
            .await
            .unwrap();
        assert_eq!(
            stored_entries(&store),
            written,
            "crash after {crash_after} writes: {report:?}"
        );
        assert_eq!(all_entries(&store), expected, "crash after {crash_after}");

        // The next maintenance run completes compaction and deletion.
        store.compact().await.unwrap();
        store.delete_replaced(i64::MAX).await.unwrap();
        assert_eq!(
            store.segment_count(&tenant()),
            1,
            "crash after {crash_after}"
        );
        assert_eq!(stored_entries(&store), written);
        assert_eq!(all_entries(&store), expected);
        assert_eq!(segment_dirs(&objects).len(), 1, "crash after {crash_after}");
        assert_eq!(mark_files(&objects), 0, "crash after {crash_after}");
        store.close();
        drop(store);
        let (store, report) = LogStore::open(options(dir.path()), local_store(&objects))
            .await
            .unwrap();
        assert_eq!(
            (
                report.segments_loaded,
                report.replaced_skipped,
                report.uncommitted_skipped
            ),
            (1, 0, 0)
        );
        assert_eq!(all_entries(&store), expected);
        store.close();
        if !crashed {
            completed_after = Some(crash_after);
            break;
        }
    }
    // 3 sources: 4 uploads and 3 marks, then per source 4 deletes and the mark's.
    assert_eq!(
        completed_after,
        Some(22),
        "a crash was simulated after every step"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_with_compaction_passes_the_log_conformance_suite() {
    let dirs: Arc<Mutex<Vec<tempfile::TempDir>>> = Arc::default();
    let keep = dirs.clone();
    log_conformance::run_all(move |limits| {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogStoreOptions {
            unordered_window_ns: limits.unordered_window_ns,
            max_streams_per_tenant: limits.max_streams_per_tenant,
            compaction_max_span_ns: 0,
            ..options(dir.path())
        };
        let objects = local_store(&dir.path().join("objects"));
        let store = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(LogStore::open(opts, objects))
        })
        .unwrap()
        .0;
        keep.lock().push(dir);
        let persister = store.clone();
        LogStorageUnderTest {
            appendable: Arc::new(store.clone()),
            queryable: Arc::new(store),
            persist: Some(Arc::new(move || {
                let persister = persister.clone();
                Box::pin(async move {
                    persister.flush(true).await.unwrap();
                    persister.compact().await.unwrap();
                    persister.delete_replaced(i64::MAX).await.unwrap();
                })
            })),
        }
    })
    .await;
    drop(dirs);
}
