//! Listing and syncing the WAL directory.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{WalError, io_error};
use crate::format::{self, FileKind};

/// The WAL-owned files of a directory, each list sorted by index.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    /// Segment indexes.
    pub(crate) segments: Vec<u64>,
    /// Checkpoint indexes (each replaces segments below it).
    pub(crate) checkpoints: Vec<u64>,
    /// Indexes of checkpoints left half-written.
    pub(crate) checkpoint_temps: Vec<u64>,
}

impl Listing {
    /// The newest checkpoint's index, if any.
    pub(crate) fn newest_checkpoint(&self) -> Option<u64> {
        self.checkpoints.last().copied()
    }
}

/// Lists the WAL-owned files of `dir`; other files are ignored.
pub(crate) fn list(dir: &Path) -> Result<Listing, WalError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(|error| io_error("list directory", dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| io_error("list directory", dir, error))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        match format::parse_file_name(&name) {
            Some(FileKind::Segment(index)) => listing.segments.push(index),
            Some(FileKind::Checkpoint(index)) => listing.checkpoints.push(index),
            Some(FileKind::CheckpointTemp(index)) => listing.checkpoint_temps.push(index),
            None => {
                tracing::debug!(dir = %dir.display(), file = %name, "ignoring file that is not part of the wal")
            }
        }
    }
    listing.segments.sort_unstable();
    listing.checkpoints.sort_unstable();
    listing.checkpoint_temps.sort_unstable();
    Ok(listing)
}

/// Makes file creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| io_error("fsync directory", dir, error))
}

/// Deletes a file; a file that is already gone is fine.
pub(crate) fn remove_file(path: &Path) -> Result<(), WalError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("delete", path, error)),
    }
}

/// The total size of the WAL-owned files of `dir`.
pub(crate) fn total_size(dir: &Path) -> Result<u64, WalError> {
    let listing = list(dir)?;
    let paths: Vec<PathBuf> = listing
        .segments
        .iter()
        .map(|&index| format::segment_path(dir, index))
        .chain(
            listing
                .checkpoints
                .iter()
                .map(|&index| format::checkpoint_path(dir, index)),
        )
        .chain(
            listing
                .checkpoint_temps
                .iter()
                .map(|&index| format::checkpoint_temp_path(dir, index)),
        )
        .collect();
    let mut total = 0;
    for path in paths {
        match fs::metadata(&path) {
            Ok(metadata) => total += metadata.len(),
            // A concurrent checkpoint may delete files between listing and stat.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error("stat", &path, error)),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_wal_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            format::segment_file_name(10),
            format::segment_file_name(2),
            format::checkpoint_file_name(2),
            "checkpoint.00000000000000000005.tmp".to_owned(),
            "README".to_owned(),
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.segments, [2, 10]);
        assert_eq!(listing.checkpoints, [2]);
        assert_eq!(listing.checkpoint_temps, [5]);
        assert_eq!(total_size(dir.path()).unwrap(), 4);
    }
}
