//! The TSDB against the storage conformance suite, and its lifecycle: WAL replay, block
//! cutting, reopening from blocks alone, compaction and retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use vigil_model::{Labels, MatchOp, Matcher, Sample, TenantId, TimeRange};
use vigil_storage::{
    AppendError, AppendOptions, Appendable, Queryable, SelectHints, Series, conformance,
};
use vigil_tsdb::{Tsdb, TsdbOptions};

const HOUR: i64 = 3_600_000;

fn options(dir: &Path) -> TsdbOptions {
    TsdbOptions {
        data_dir: dir.join("data"),
        ..TsdbOptions::default()
    }
}

fn store(dir: &Path) -> Arc<dyn ObjectStore> {
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    Arc::new(LocalFileSystem::new_with_prefix(dir.join("objects")).unwrap())
}

async fn open(dir: &Path, options: TsdbOptions) -> Tsdb {
    Tsdb::open(options, store(dir)).await.unwrap().0
}

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

async fn write(db: &Tsdb, series: &[(Labels, Vec<Sample>)]) {
    let mut appender = db.appender(&tenant(), AppendOptions::default());
    for (labels, samples) in series {
        for sample in samples {
            appender.append_sample(labels, *sample).unwrap();
        }
    }
    appender.commit().await.unwrap();
}

fn read(db: &Tsdb, range: TimeRange) -> Vec<Series> {
    let matcher = Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap();
    let querier = db.querier(&tenant(), range).unwrap();
    querier
        .select(&[matcher], &SelectHints::default())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn metric(name: &str) -> Labels {
    Labels::from_static(&[("__name__", name), ("job", "test")])
}

/// `hours` hours of 15 s samples starting at `start`.
fn span(start: i64, hours: i64) -> Vec<Sample> {
    (0..hours * 240)
        .map(|i| Sample::new(start + i * 15_000, i as f64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsdb_passes_the_storage_conformance_suite() {
    let root = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let handle = tokio::runtime::Handle::current();
    conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = root.path().join(n.to_string());
        let db = tokio::task::block_in_place(|| handle.block_on(open(&dir, options(&dir))));
        (
            Arc::new(db.clone()) as Arc<dyn Appendable>,
            Arc::new(db) as Arc<dyn Queryable>,
        )
    })
    .await;
}

#[tokio::test]
async fn wal_replay_restores_head_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let samples = span(1_700_000_000_000, 1);
    write(
        &db,
        &[
            (metric("a"), samples.clone()),
            (metric("b"), samples[..10].to_vec()),
        ],
    )
    .await;
    db.close();
    drop(db);
    let reopened = open(dir.path(), options(dir.path())).await;
    let got = read(&reopened, TimeRange::ALL);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].samples, samples);
    assert_eq!(got[1].samples, samples[..10].to_vec());
}

#[tokio::test]
async fn head_is_cut_into_blocks_and_blocks_alone_serve_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    let samples = span(start, 7);
    write(
        &db,
        &[
            (metric("cpu"), samples.clone()),
            (metric("mem"), samples.clone()),
        ],
    )
    .await;
    let report = db.run_maintenance().await.unwrap();
    assert!(report.blocks_cut >= 2, "{report:?}");
    assert!(report.checkpointed);
    assert_eq!(
        read(&db, TimeRange::ALL)[0].samples,
        samples,
        "head and blocks merge seamlessly"
    );

    // Too old now: the range is in a block.
    let mut appender = db.appender(&tenant(), AppendOptions::default());
    let err = appender
        .append_sample(&metric("cpu"), Sample::new(start + 1, 1.0))
        .unwrap_err();
    assert!(matches!(err, AppendError::TooOld { .. }), "{err}");
    appender.rollback();
    db.close();
    drop(db);

    // Without the WAL, blocks still hold the cut ranges.
    std::fs::remove_dir_all(dir.path().join("data/wal")).unwrap();
    std::fs::remove_dir_all(dir.path().join("data/block-cache")).unwrap();
    let reopened = open(dir.path(), options(dir.path())).await;
    assert!(reopened.block_count(&tenant()) >= 2);
    let first_block = TimeRange::new(start, start + 2 * HOUR - 1);
    let got = read(&reopened, first_block);
    let expected: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| first_block.contains(s.timestamp_ms))
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].samples, expected);
}

#[tokio::test]
async fn checkpoint_and_replay_keep_everything_not_in_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    let samples = span(start, 5);
    write(&db, &[(metric("x"), samples.clone())]).await;
    db.run_maintenance().await.unwrap();
    let after: Vec<Sample> = (0..40)
        .map(|i| Sample::new(start + 5 * HOUR + i * 15_000, 1.0))
        .collect();
    write(&db, &[(metric("x"), after.clone())]).await;
    db.close();
    drop(db);
    let reopened = open(dir.path(), options(dir.path())).await;
    let mut all = samples;
    all.extend(after);
    assert_eq!(read(&reopened, TimeRange::ALL)[0].samples, all);
}

#[tokio::test]
async fn adjacent_blocks_are_compacted_and_retention_deletes_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TsdbOptions {
        retention_ms: 30 * HOUR,
        ..options(dir.path())
    };
    let db = open(dir.path(), opts.clone()).await;
    let start = 1_700_000_000_000 / (6 * HOUR) * (6 * HOUR);
    let samples = span(start, 13);
    write(&db, &[(metric("y"), samples.clone())]).await;
    let report = db.flush_head().await.unwrap();
    assert!(report.blocks_compacted >= 1, "{report:?}");
    assert_eq!(
        read(&db, TimeRange::ALL)[0].samples,
        samples,
        "compaction loses nothing"
    );
    let blocks_after_compaction = db.block_count(&tenant());
    assert!(
        blocks_after_compaction < 6,
        "blocks were merged: {blocks_after_compaction}"
    );

    // Data 40 hours later pushes the first blocks past the 30 h retention.
    let later: Vec<Sample> = (0..10)
        .map(|i| Sample::new(start + 40 * HOUR + i * 15_000, 1.0))
        .collect();
    write(&db, &[(metric("y"), later.clone())]).await;
    let report = db.run_maintenance().await.unwrap();
    assert!(report.blocks_deleted >= 1, "{report:?}");
    let remaining = read(&db, TimeRange::ALL);
    assert!(
        remaining[0].samples.first().unwrap().timestamp_ms
            >= start + 40 * HOUR - 30 * HOUR - 6 * HOUR
    );
    assert_eq!(remaining[0].samples.last(), later.last());
}

#[tokio::test]
async fn out_of_order_beyond_the_window_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    write(
        &db,
        &[(metric("o"), vec![Sample::new(1_700_000_000_000, 1.0)])],
    )
    .await;
    let mut appender = db.appender(&tenant(), AppendOptions::default());
    let err = appender
        .append_sample(
            &metric("o"),
            Sample::new(1_700_000_000_000 - 11 * 60_000, 1.0),
        )
        .unwrap_err();
    assert!(matches!(err, AppendError::OutOfOrder { .. }), "{err}");
    appender
        .append_sample(
            &metric("o"),
            Sample::new(1_700_000_000_000 - 9 * 60_000, 0.5),
        )
        .unwrap();
    appender.commit().await.unwrap();
    assert_eq!(read(&db, TimeRange::ALL)[0].samples.len(), 2);
}

#[tokio::test]
async fn size_retention_deletes_oldest_blocks_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    let series: Vec<(Labels, Vec<Sample>)> = (0..20)
        .map(|i| (metric(&format!("m{i}")), span(start, 9)))
        .collect();
    write(&db, &series).await;
    db.run_maintenance().await.unwrap();
    let blocks_before = db.block_count(&tenant());
    assert!(blocks_before >= 3, "{blocks_before}");
    drop(db);

    // Reopen with a limit of half the blocks' bytes on disk: the oldest go first.
    let cache = dir.path().join("data/block-cache/t");
    let total: u64 = std::fs::read_dir(&cache)
        .unwrap()
        .flat_map(|block| std::fs::read_dir(block.unwrap().path()).unwrap())
        .map(|file| file.unwrap().metadata().unwrap().len())
        .sum();
    let limited = TsdbOptions {
        retention_bytes: total / 2,
        ..options(dir.path())
    };
    let db = open(dir.path(), limited).await;
    let report = db.run_maintenance().await.unwrap();
    assert!(
        report.blocks_deleted >= 1 && report.blocks_deleted < blocks_before,
        "{report:?}"
    );
    let remaining = read(&db, TimeRange::ALL);
    let kept = &remaining[0].samples;
    assert!(
        kept.first().unwrap().timestamp_ms >= start + 2 * HOUR,
        "the oldest block is gone"
    );
    assert_eq!(kept.last(), series[0].1.last(), "the newest data stays");
}
