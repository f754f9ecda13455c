//! Concurrent appenders: everything acknowledged is replayed, and batch mode shares fsyncs.

use std::sync::Arc;

use vigil_wal::{FsyncMode, Wal, WalStats};

use crate::support::{options, replay_all};

const TASKS: usize = 48;
const APPENDS_PER_TASK: usize = 20;

fn record(task: usize, append: usize, part: usize) -> Vec<u8> {
    format!("task{task}-append{append}-part{part}").into_bytes()
}

/// Runs `TASKS` tokio tasks appending concurrently and returns the WAL's stats.
async fn append_concurrently(wal: &Arc<Wal>) -> WalStats {
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let wal = Arc::clone(wal);
        handles.push(tokio::spawn(async move {
            for append in 0..APPENDS_PER_TASK {
                let records = vec![record(task, append, 0), record(task, append, 1)];
                wal.append(records).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    wal.stats()
}

/// Checks that each task's appends replay in order and each append's records are contiguous.
fn assert_replayed_in_order(records: &[Vec<u8>]) {
    assert_eq!(records.len(), TASKS * APPENDS_PER_TASK * 2);
    let mut next_append = vec![0usize; TASKS];
    for pair in records.chunks(2) {
        let first = String::from_utf8(pair[0].clone()).unwrap();
        let task: usize = first
            .strip_prefix("task")
            .and_then(|rest| rest.split('-').next())
            .unwrap()
            .parse()
            .unwrap();
        let append = next_append[task];
        assert_eq!(pair[0], record(task, append, 0));
        assert_eq!(pair[1], record(task, append, 1));
        next_append[task] += 1;
    }
    assert!(next_append.iter().all(|&count| count == APPENDS_PER_TASK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_mode_acknowledges_everything_with_fewer_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 1 << 20, FsyncMode::Batch)).unwrap();
    let wal = Arc::new(wal);
    let stats = append_concurrently(&wal).await;
    assert_eq!(stats.appends, (TASKS * APPENDS_PER_TASK) as u64);
    assert_eq!(stats.records, (TASKS * APPENDS_PER_TASK * 2) as u64);
    assert!(
        stats.fsyncs < stats.appends,
        "group commit should share fsyncs: {stats:?}"
    );
    wal.close();
    assert_replayed_in_order(&replay_all(&wal));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_mode_across_segment_rollovers() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 512, FsyncMode::Batch)).unwrap();
    let wal = Arc::new(wal);
    append_concurrently(&wal).await;
    assert!(wal.segment_indexes().unwrap().len() > 10);
    wal.close();
    drop(wal);
    let (wal, _) = Wal::open(options(dir.path(), 512, FsyncMode::Batch)).unwrap();
    assert_replayed_in_order(&replay_all(&wal));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn always_mode_fsyncs_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 1 << 20, FsyncMode::Always)).unwrap();
    let wal = Arc::new(wal);
    let stats = append_concurrently(&wal).await;
    assert_eq!(stats.fsyncs, stats.appends, "{stats:?}");
    assert_replayed_in_order(&replay_all(&wal));
}

#[tokio::test(flavor = "current_thread")]
async fn append_works_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 1 << 20, FsyncMode::Batch)).unwrap();
    wal.append(vec![b"one".to_vec()]).await.unwrap();
    wal.append(Vec::new()).await.unwrap();
    assert_eq!(replay_all(&wal), [b"one".to_vec()]);
}

#[test]
fn blocking_appends_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 1 << 20, FsyncMode::Batch)).unwrap();
    std::thread::scope(|scope| {
        for task in 0..TASKS {
            let wal = &wal;
            scope.spawn(move || {
                for append in 0..APPENDS_PER_TASK {
                    let records = vec![record(task, append, 0), record(task, append, 1)];
                    wal.append_blocking(records).unwrap();
                }
            });
        }
    });
    assert_eq!(wal.stats().appends, (TASKS * APPENDS_PER_TASK) as u64);
    assert_replayed_in_order(&replay_all(&wal));
}
