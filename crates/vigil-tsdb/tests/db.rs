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

/// Prometheus' strict behaviour: no out-of-order time window.
fn strict(dir: &Path) -> TsdbOptions {
    TsdbOptions {
        out_of_order_time_window_ms: 0,
        ..options(dir)
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
    let db = open(dir.path(), strict(dir.path())).await;
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
    let reopened = open(dir.path(), strict(dir.path())).await;
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
    let db = open(dir.path(), strict(dir.path())).await;
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

/// Appends samples one batch per call and returns the first rejection.
async fn try_write(
    db: &Tsdb,
    series: &[(Labels, Vec<Sample>)],
    options: AppendOptions,
) -> Result<(), AppendError> {
    let mut appender = db.appender(&tenant(), options);
    for (labels, samples) in series {
        for sample in samples {
            if let Err(err) = appender.append_sample(labels, *sample) {
                appender.rollback();
                return Err(err);
            }
        }
    }
    appender.commit().await.unwrap();
    Ok(())
}

fn series_named<'a>(all: &'a [Series], name: &str) -> &'a Series {
    all.iter()
        .find(|s| s.labels.metric_name() == Some(name))
        .unwrap_or_else(|| panic!("no series {name}"))
}

/// The demo's situation: a rule writes at "now", then 6 h of history arrive in time order
/// while maintenance keeps cutting blocks; nothing is lost, before or after a restart.
#[tokio::test]
async fn backfill_behind_cut_blocks_is_kept_within_the_time_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let now = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR) + 10 * HOUR + 123_000;
    let rule = vec![Sample::new(now, 1.0)];
    write(&db, &[(metric("rule"), rule.clone())]).await;
    let history = span(now - 6 * HOUR, 6);
    for batch in history.chunks(40) {
        // Also a late sample far behind the rule series' own newest sample.
        try_write(
            &db,
            &[
                (metric("history"), batch.to_vec()),
                (
                    metric("rule"),
                    vec![Sample::new(batch[0].timestamp_ms, 2.0)],
                ),
            ],
            AppendOptions::default(),
        )
        .await
        .unwrap();
        db.run_maintenance().await.unwrap();
    }
    let expect_rule: Vec<Sample> = history
        .chunks(40)
        .map(|b| Sample::new(b[0].timestamp_ms, 2.0))
        .chain(rule.iter().copied())
        .collect();
    let check = |db: &Tsdb| {
        let all = read(db, TimeRange::ALL);
        assert_eq!(series_named(&all, "history").samples, history);
        assert_eq!(series_named(&all, "rule").samples, expect_rule);
    };
    check(&db);
    // Late ranges were cut right away; compaction merged the overlapping cuts, one block
    // per range at most (7 ranges touched by 6 h that do not start on a boundary).
    let report = db.run_maintenance().await.unwrap();
    assert_eq!(report.blocks_cut, 0, "{report:?}");
    let blocks = db.block_count(&tenant());
    assert!((1..=7).contains(&blocks), "{blocks} blocks");
    // Restart without a clean close: WAL replay plus blocks give the same answer.
    drop(db);
    let reopened = open(dir.path(), options(dir.path())).await;
    check(&reopened);
    reopened.flush_head().await.unwrap();
    check(&reopened);
    drop(reopened);
    // The backfill's complete ranges are in blocks: they do not need the WAL any more.
    std::fs::remove_dir_all(dir.path().join("data/wal")).unwrap();
    let blocks_only = open(dir.path(), options(dir.path())).await;
    let cut = now.div_euclid(2 * HOUR) * (2 * HOUR);
    let all = read(&blocks_only, TimeRange::new(i64::MIN, cut - 1));
    let in_blocks: Vec<Sample> = history
        .iter()
        .copied()
        .filter(|s| s.timestamp_ms < cut)
        .collect();
    assert_eq!(series_named(&all, "history").samples.len(), in_blocks.len());
    assert!(series_named(&all, "history").samples == in_blocks);
}

#[tokio::test]
async fn late_sample_survives_restart_before_its_block_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    let samples = span(start, 5);
    write(&db, &[(metric("x"), samples.clone())]).await;
    db.run_maintenance().await.unwrap();
    assert!(db.block_count(&tenant()) >= 1);
    // Behind the first block and far behind the series' newest sample.
    let late = Sample::new(start + 7_000, 42.0);
    write(&db, &[(metric("x"), vec![late])]).await;
    // Killed before any maintenance: only the WAL holds the late sample.
    drop(db);
    let mut expected = samples.clone();
    expected.insert(1, late);
    let reopened = open(dir.path(), options(dir.path())).await;
    assert_eq!(read(&reopened, TimeRange::ALL)[0].samples, expected);
    let blocks_before = reopened.block_count(&tenant());
    let report = reopened.run_maintenance().await.unwrap();
    assert_eq!(report.blocks_cut, 1, "the late sample's range: {report:?}");
    assert_eq!(
        reopened.block_count(&tenant()),
        blocks_before,
        "the overlapping block was merged into the existing one"
    );
    assert_eq!(read(&reopened, TimeRange::ALL)[0].samples, expected);
    drop(reopened);
    let again = open(dir.path(), options(dir.path())).await;
    assert_eq!(read(&again, TimeRange::ALL)[0].samples, expected);
}

#[tokio::test]
async fn equal_timestamps_in_blocks_and_head_are_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(dir.path())).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    let samples = span(start, 5);
    write(&db, &[(metric("d"), samples.clone())]).await;
    db.run_maintenance().await.unwrap();
    // The same samples again (a retried backfill): the head holds copies of block data.
    let first_range: Vec<Sample> = samples[..480].to_vec();
    write(&db, &[(metric("d"), first_range)]).await;
    assert_eq!(read(&db, TimeRange::ALL)[0].samples, samples, "query dedup");
    db.run_maintenance().await.unwrap();
    assert_eq!(
        read(&db, TimeRange::ALL)[0].samples,
        samples,
        "compaction dedup"
    );
    drop(db);
    let reopened = open(dir.path(), options(dir.path())).await;
    assert_eq!(read(&reopened, TimeRange::ALL)[0].samples, samples);
}

#[tokio::test]
async fn out_of_order_time_window_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TsdbOptions {
        // Not a multiple of the 15 s sample spacing: the edge sample is a new timestamp.
        out_of_order_time_window_ms: 3 * HOUR + 7_000,
        ..options(dir.path())
    };
    let db = open(dir.path(), opts.clone()).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    write(&db, &[(metric("w"), span(start, 5))]).await;
    db.run_maintenance().await.unwrap();
    let newest = span(start, 5).last().unwrap().timestamp_ms;
    let floor = newest - 3 * HOUR - 7_000;
    // Exactly at the window's edge: accepted although the range is in a block.
    try_write(
        &db,
        &[(metric("w"), vec![Sample::new(floor, 1.5)])],
        AppendOptions::default(),
    )
    .await
    .unwrap();
    // One millisecond further: rejected, naming the series and the oldest accepted time.
    let err = try_write(
        &db,
        &[(metric("other"), vec![Sample::new(floor - 1, 1.0)])],
        AppendOptions::default(),
    )
    .await
    .unwrap_err();
    match &err {
        AppendError::TooOld {
            timestamp_ms,
            min_valid_ms,
            ..
        } => {
            assert_eq!(*timestamp_ms, floor - 1);
            assert_eq!(*min_valid_ms, floor);
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("other"), "{err}");
    // The same with the window off: behind the cut block is too old.
    drop(db);
    let strict_db = open(dir.path(), strict(dir.path())).await;
    let err = try_write(
        &strict_db,
        &[(metric("w"), vec![Sample::new(floor + 1, 1.0)])],
        AppendOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AppendError::TooOld { .. }), "{err}");
    // skip_time_checks (backfill tools) lands anywhere, durably.
    let ancient = Sample::new(start - 10 * 24 * HOUR, 7.0);
    try_write(
        &strict_db,
        &[(metric("slo"), vec![ancient])],
        AppendOptions {
            skip_time_checks: true,
        },
    )
    .await
    .unwrap();
    strict_db.run_maintenance().await.unwrap();
    drop(strict_db);
    let reopened = open(dir.path(), strict(dir.path())).await;
    let all = read(&reopened, TimeRange::ALL);
    assert_eq!(series_named(&all, "slo").samples, vec![ancient]);
    assert!(
        series_named(&all, "w")
            .samples
            .contains(&Sample::new(floor, 1.5))
    );
}

#[tokio::test]
async fn overlapping_blocks_are_merged_without_losing_samples() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TsdbOptions {
        retention_ms: 30 * 24 * HOUR,
        ..options(dir.path())
    };
    let db = open(dir.path(), opts.clone()).await;
    let start = 1_700_000_000_000 / (18 * HOUR) * (18 * HOUR);
    // Even minutes first, cut and compacted into wide blocks ...
    let even: Vec<Sample> = (0..20 * 30)
        .map(|i| Sample::new(start + i * 120_000, i as f64))
        .collect();
    write(&db, &[(metric("m"), even.clone())]).await;
    db.flush_head().await.unwrap();
    let compacted = db.block_count(&tenant());
    // ... then the odd minutes of the first 18 h arrive late, one maintenance run per hour.
    let odd: Vec<Sample> = (0..18 * 30)
        .map(|i| Sample::new(start + 60_000 + i * 120_000, -(i as f64)))
        .collect();
    for hour in odd.chunks(30) {
        write(&db, &[(metric("m"), hour.to_vec())]).await;
        db.run_maintenance().await.unwrap();
        assert!(
            db.block_count(&tenant()) <= compacted + 1,
            "overlaps are merged as they appear: {} blocks",
            db.block_count(&tenant())
        );
    }
    let mut all = even.clone();
    all.extend(odd);
    all.sort_by_key(|s| s.timestamp_ms);
    let got = read(&db, TimeRange::ALL);
    assert_eq!(got[0].samples.len(), all.len());
    assert!(got[0].samples == all);
    assert_eq!(db.block_count(&tenant()), compacted);
    drop(db);
    // The first 18 h, odd minutes included, are in blocks alone.
    std::fs::remove_dir_all(dir.path().join("data/wal")).unwrap();
    let reopened = open(dir.path(), opts).await;
    let first = TimeRange::new(start, start + 18 * HOUR - 1);
    let expected: Vec<Sample> = all
        .iter()
        .copied()
        .filter(|s| first.contains(s.timestamp_ms))
        .collect();
    let got = read(&reopened, first);
    assert_eq!(got[0].samples.len(), expected.len());
    assert!(got[0].samples == expected);
}

/// A query that started before maintenance moved samples from the head into a block still
/// reads every sample: whether the move lands before its selection or while it iterates
/// the selected series (samples that left the head are read from the new block).
#[tokio::test]
async fn reads_racing_a_block_cut_see_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), strict(dir.path())).await;
    let start = 1_700_000_000_000 / (2 * HOUR) * (2 * HOUR);
    let samples = span(start, 7);
    let series = [
        (metric("cpu"), samples.clone()),
        (metric("mem"), samples.clone()),
    ];
    write(&db, &series).await;
    let matcher = Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap();

    // The querier exists, its selection runs after the cut.
    let before_select = db.querier(&tenant(), TimeRange::ALL).unwrap();
    // The selection exists, its series are read after the next cut.
    let second = db.querier(&tenant(), TimeRange::ALL).unwrap();
    let report = db.run_maintenance().await.unwrap();
    assert!(report.blocks_cut >= 2, "{report:?}");
    let got: Vec<Series> = before_select
        .select(std::slice::from_ref(&matcher), &SelectHints::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 2);
    for s in &got {
        assert_eq!(s.samples, samples, "selected after the cut: {}", s.labels);
    }

    // More hours, so the next maintenance cuts again while `selected` is unread.
    let later = span(start + 7 * HOUR, 4);
    write(
        &db,
        &[
            (metric("cpu"), later.clone()),
            (metric("mem"), later.clone()),
        ],
    )
    .await;
    let selected = second.select(&[matcher], &SelectHints::default()).unwrap();
    let report = db.run_maintenance().await.unwrap();
    assert!(report.blocks_cut >= 1, "{report:?}");
    let got: Vec<Series> = selected.map(Result::unwrap).collect();
    let all: Vec<Sample> = samples.iter().chain(&later).copied().collect();
    assert_eq!(got.len(), 2);
    for s in &got {
        assert_eq!(
            s.samples.len(),
            all.len(),
            "read after the second cut: {}",
            s.labels
        );
        assert_eq!(s.samples, all, "read after the second cut: {}", s.labels);
    }
}
