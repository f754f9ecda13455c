//! Append, cut, checkpoint, reopen, replay.

use std::convert::Infallible;
use std::fs;

use vigil_wal::{FsyncMode, ReplayError, Wal, WalError};

use crate::support::{
    checkpoint_path, numbered, open_and_replay, options, replay_all, segment_path,
};

const MIB: u64 = 1 << 20;

#[test]
fn append_and_replay_across_segment_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    {
        let (wal, report) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
        assert!(report.is_clean());
        for segment in 0..4u64 {
            let records = numbered(&format!("segment{segment}"), 0..5);
            wal.append_blocking(records[..2].to_vec()).unwrap();
            wal.append_blocking(records[2..].to_vec()).unwrap();
            expected.extend(records);
            assert_eq!(wal.cut_segment().unwrap(), segment + 1);
        }
        wal.append_blocking(vec![Vec::new(), b"last".to_vec()])
            .unwrap();
        expected.extend([Vec::new(), b"last".to_vec()]);
        assert_eq!(wal.segment_indexes().unwrap(), [0, 1, 2, 3, 4]);
        wal.close();
    }
    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(records, expected);
    assert_eq!(wal.segment_indexes().unwrap(), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn reopen_appends_continue_after_the_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
        wal.append_blocking(numbered("first", 0..3)).unwrap();
    }
    {
        let (wal, records, _) = open_and_replay(dir.path(), MIB);
        assert_eq!(records, numbered("first", 0..3));
        assert_eq!(wal.stats().active_segment, 1);
        wal.append_blocking(numbered("second", 0..2)).unwrap();
    }
    let (wal, records, _) = open_and_replay(dir.path(), MIB);
    let mut expected = numbered("first", 0..3);
    expected.extend(numbered("second", 0..2));
    assert_eq!(records, expected);
    assert_eq!(wal.segment_indexes().unwrap(), [0, 1, 2]);
}

#[test]
fn checkpoint_replaces_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
    wal.append_blocking(numbered("a", 0..3)).unwrap();
    assert_eq!(wal.cut_segment().unwrap(), 1);
    wal.append_blocking(numbered("b", 0..3)).unwrap();
    let first_kept = wal.cut_segment().unwrap();
    wal.append_blocking(numbered("c", 0..3)).unwrap();

    let checkpoint_records = vec![b"state".to_vec(), Vec::new()];
    wal.write_checkpoint(first_kept, checkpoint_records.clone())
        .unwrap();
    assert_eq!(wal.segment_indexes().unwrap(), [2]);
    assert!(checkpoint_path(dir.path(), 2).exists());
    assert!(!segment_path(dir.path(), 0).exists());

    let mut expected = checkpoint_records.clone();
    expected.extend(numbered("c", 0..3));
    assert_eq!(replay_all(&wal), expected);

    // A later checkpoint replaces the earlier one.
    let first_kept = wal.cut_segment().unwrap();
    wal.append_blocking(numbered("d", 0..1)).unwrap();
    wal.write_checkpoint(first_kept, [b"newer state".to_vec()])
        .unwrap();
    drop(wal);
    assert!(!checkpoint_path(dir.path(), 2).exists());

    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert!(report.is_clean());
    assert_eq!(report.checkpoint, Some(3));
    let mut expected = vec![b"newer state".to_vec()];
    expected.extend(numbered("d", 0..1));
    assert_eq!(records, expected);
    let stats = wal.replay(|_| Ok::<(), Infallible>(())).unwrap();
    assert_eq!(stats.checkpoint, Some(3));
    assert_eq!(stats.checkpoint_records, 1);
    assert_eq!(stats.segment_records, 1);
    assert_eq!(stats.segments, 2);
}

#[test]
fn checkpoint_of_the_current_segment_index_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
    wal.append_blocking(numbered("kept", 0..2)).unwrap();
    wal.write_checkpoint(0, [b"nothing replaced".to_vec()])
        .unwrap();
    let mut expected = vec![b"nothing replaced".to_vec()];
    expected.extend(numbered("kept", 0..2));
    assert_eq!(replay_all(&wal), expected);
}

#[test]
fn checkpoint_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
    let error = wal.write_checkpoint(1, Vec::new()).unwrap_err();
    assert!(
        matches!(
            error,
            WalError::CheckpointBeyondActiveSegment {
                first_kept_segment: 1,
                active_segment: 0
            }
        ),
        "{error}"
    );
    wal.cut_segment().unwrap();
    wal.cut_segment().unwrap();
    wal.write_checkpoint(2, Vec::new()).unwrap();
    let error = wal.write_checkpoint(1, Vec::new()).unwrap_err();
    assert!(
        matches!(error, WalError::CheckpointOutdated { .. }),
        "{error}"
    );
    wal.write_checkpoint(2, [b"same index again".to_vec()])
        .unwrap();
    assert_eq!(replay_all(&wal), [b"same index again".to_vec()]);
}

#[test]
fn segments_roll_over_at_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let segment_size = 100;
    let (wal, _) = Wal::open(options(dir.path(), segment_size, FsyncMode::None)).unwrap();
    // Each append is 2 records of 8 + 10 bytes: 36 bytes. Two fit between the 8-byte header
    // and the 16-byte end marker.
    for i in 0..10 {
        wal.append_blocking(vec![vec![i; 10], vec![i; 10]]).unwrap();
    }
    // A single append larger than a segment gets a segment of its own.
    wal.append_blocking(vec![vec![0xEE; 500]]).unwrap();
    wal.append_blocking(vec![b"after".to_vec()]).unwrap();
    wal.close();
    let segments = wal.segment_indexes().unwrap();
    let sizes: Vec<u64> = segments
        .iter()
        .map(|&index| fs::metadata(segment_path(dir.path(), index)).unwrap().len())
        .collect();
    assert_eq!(sizes, [96, 96, 96, 96, 96, 532, 37]);
    let records = replay_all(&wal);
    assert_eq!(records.len(), 22);
    assert_eq!(records[20], vec![0xEE; 500]);
}

#[test]
fn appends_after_close_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
    wal.append_blocking(numbered("x", 0..1)).unwrap();
    wal.close();
    wal.close();
    let error = wal.append_blocking(numbered("y", 0..1)).unwrap_err();
    assert!(matches!(error, WalError::Closed), "{error}");
    assert!(matches!(wal.cut_segment(), Err(WalError::Closed)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let error = runtime
        .block_on(wal.append(numbered("z", 0..1)))
        .unwrap_err();
    assert!(matches!(error, WalError::Closed), "{error}");
    assert_eq!(replay_all(&wal), numbered("x", 0..1));
}

#[test]
fn io_failure_stops_the_wal_and_reopen_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 64, FsyncMode::Batch)).unwrap();
    wal.append_blocking(numbered("acknowledged", 0..2)).unwrap();
    // Occupy the next segment's name so that rolling over fails.
    fs::write(segment_path(dir.path(), 1), b"squatter").unwrap();
    let error = wal.append_blocking(vec![vec![1; 64]]).unwrap_err();
    assert!(matches!(error, WalError::Io { .. }), "{error}");
    assert!(
        error.to_string().contains("00000000000000000001"),
        "{error}"
    );
    let error = wal.append_blocking(numbered("later", 0..1)).unwrap_err();
    assert!(matches!(error, WalError::Stopped { .. }), "{error}");
    assert!(matches!(wal.cut_segment(), Err(WalError::Stopped { .. })));
    drop(wal);

    let (wal, records, report) = open_and_replay(dir.path(), 64);
    assert_eq!(records, numbered("acknowledged", 0..2));
    let truncation = report.truncation.unwrap();
    assert_eq!(truncation.segment, 1);
    assert!(truncation.file_deleted);
    wal.append_blocking(numbered("again", 0..1)).unwrap();
}

#[test]
fn replay_stops_at_a_callback_error() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
    wal.append_blocking(numbered("r", 0..5)).unwrap();
    let mut seen = 0;
    let error = wal
        .replay(|record| {
            if record == b"r-3" {
                return Err("bad record");
            }
            seen += 1;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(seen, 3);
    match error {
        ReplayError::Callback {
            record,
            error,
            path,
        } => {
            assert_eq!(record, 3);
            assert_eq!(error, "bad record");
            assert_eq!(path, segment_path(dir.path(), 0));
        }
        ReplayError::Wal(error) => panic!("unexpected wal error {error}"),
    }
}

#[test]
fn stats_and_size_track_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Always)).unwrap();
    assert_eq!(wal.size_bytes().unwrap(), 8);
    for _ in 0..3 {
        wal.append_blocking(vec![b"abc".to_vec(), Vec::new()])
            .unwrap();
    }
    let stats = wal.stats();
    assert_eq!(stats.appends, 3);
    assert_eq!(stats.records, 6);
    assert_eq!(stats.bytes, 3 * (11 + 8));
    assert_eq!(stats.fsyncs, 3, "always mode fsyncs every append");
    assert_eq!(stats.segments_created, 1);
    assert_eq!(wal.size_bytes().unwrap(), 8 + 3 * 19);
}

#[test]
fn no_fsync_mode_never_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(options(dir.path(), 64, FsyncMode::None)).unwrap();
    for i in 0..20 {
        wal.append_blocking(numbered("n", i..i + 1)).unwrap();
    }
    wal.cut_segment().unwrap();
    assert_eq!(wal.stats().fsyncs, 0);
    assert_eq!(replay_all(&wal), numbered("n", 0..20));
}

#[test]
fn open_on_a_file_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    fs::write(&not_a_dir, b"").unwrap();
    let error = Wal::open(options(&not_a_dir, MIB, FsyncMode::Batch)).unwrap_err();
    assert!(matches!(error, WalError::Io { .. }), "{error}");
}

#[test]
fn newer_format_version_is_refused_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
        wal.append_blocking(numbered("v", 0..1)).unwrap();
    }
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[4] = 2;
    fs::write(&path, &bytes).unwrap();
    let error = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap_err();
    assert!(
        matches!(error, WalError::UnsupportedVersion { version: 2, .. }),
        "{error}"
    );
    assert_eq!(fs::read(&path).unwrap(), bytes, "the file is left alone");
}

#[test]
fn foreign_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("NOTES"), b"keep me").unwrap();
    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert!(records.is_empty());
    assert!(report.is_clean());
    drop(wal);
    assert_eq!(fs::read(dir.path().join("NOTES")).unwrap(), b"keep me");
}
