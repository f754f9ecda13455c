//! Helpers shared by the test modules.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use vigil_wal::{FsyncMode, RepairReport, Wal, WalOptions};

/// Options for a WAL in `dir`.
pub(crate) fn options(dir: &Path, segment_size_bytes: u64, fsync: FsyncMode) -> WalOptions {
    WalOptions {
        dir: dir.to_path_buf(),
        segment_size_bytes,
        fsync,
    }
}

/// Every record `wal` replays, in order.
pub(crate) fn replay_all(wal: &Wal) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    wal.replay(|record| {
        records.push(record.to_vec());
        Ok::<(), Infallible>(())
    })
    .unwrap();
    records
}

/// Opens the WAL in `dir`, replays it and returns the open WAL, its records and the report.
pub(crate) fn open_and_replay(
    dir: &Path,
    segment_size_bytes: u64,
) -> (Wal, Vec<Vec<u8>>, RepairReport) {
    let (wal, report) = Wal::open(options(dir, segment_size_bytes, FsyncMode::Batch)).unwrap();
    let records = replay_all(&wal);
    (wal, records, report)
}

/// Records `"{prefix}-{i}"` for `i` in `range`.
pub(crate) fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range
        .map(|i| format!("{prefix}-{i}").into_bytes())
        .collect()
}

/// The path of segment `index` in `dir`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}"))
}

/// The path of the checkpoint replacing segments below `index` in `dir`.
pub(crate) fn checkpoint_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("checkpoint.{index:020}"))
}

/// Copies the files (not subdirectories) of `from` into `to`.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
