//! The v1 format fixture: opened and replayed on every run, and reproduced byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_wal::{FsyncMode, Wal};

use crate::support::{copy_dir, open_and_replay, options};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wal-v1")
}

fn checkpoint_records() -> Vec<Vec<u8>> {
    vec![
        b"checkpoint record 1".to_vec(),
        b"checkpoint record 2".to_vec(),
    ]
}

/// What replaying the fixture yields.
fn expected_records() -> Vec<Vec<u8>> {
    let mut records = checkpoint_records();
    records.extend([b"after first cut".to_vec(), Vec::new(), b"tail 1".to_vec()]);
    records.push((0..=255u8).collect());
    records
}

/// Writes the fixture: a checkpoint replacing segment 0, then segments 1 and 2.
fn write_fixture(dir: &Path) {
    let (wal, _) = Wal::open(options(dir, 1 << 20, FsyncMode::Batch)).unwrap();
    wal.append_blocking(vec![b"replaced by the checkpoint".to_vec(), Vec::new()])
        .unwrap();
    assert_eq!(wal.cut_segment().unwrap(), 1);
    wal.append_blocking(vec![b"after first cut".to_vec(), Vec::new()])
        .unwrap();
    assert_eq!(wal.cut_segment().unwrap(), 2);
    wal.write_checkpoint(1, checkpoint_records()).unwrap();
    wal.append_blocking(vec![b"tail 1".to_vec(), (0..=255u8).collect()])
        .unwrap();
    wal.close();
}

fn wal_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            (name, fs::read(entry.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn v1_fixture_replays_the_expected_records() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), dir.path());
    let (wal, records, report) = open_and_replay(dir.path(), 1 << 20);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.checkpoint, Some(1));
    assert_eq!(records, expected_records());
    assert_eq!(wal.segment_indexes().unwrap(), [1, 2, 3]);
}

#[test]
fn writer_still_produces_the_v1_fixture_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let written = wal_files(dir.path());
    let names: Vec<&str> = written.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "00000000000000000001",
            "00000000000000000002",
            "checkpoint.00000000000000000001"
        ]
    );
    assert_eq!(written, wal_files(&fixture_dir()));
}

/// Run once to create the fixture: `cargo test -p vigil-wal -- --ignored generate_v1_fixture`.
/// A format change gets a new version and a new fixture directory; v1 is never rewritten.
#[test]
#[ignore = "creates the committed fixture; it must never be regenerated"]
fn generate_v1_fixture() {
    let dir = fixture_dir();
    assert!(!dir.exists(), "{} exists: v1 is frozen", dir.display());
    write_fixture(&dir);
}
