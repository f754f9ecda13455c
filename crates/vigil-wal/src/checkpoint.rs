//! Writing and reading checkpoint files.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::dir;
use crate::error::{ReplayError, WalError, io_error};
use crate::format::{self, CHECKPOINT_MAGIC, HeaderProblem, MAX_RECORD_LEN};
use crate::reader::{Opened, RecordReader, Tail, replay_records};

const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Writes `checkpoint.{index}` atomically: temp file, fsync, rename, directory fsync.
/// Returns the number of records written.
pub(crate) fn write(
    wal_dir: &Path,
    index: u64,
    records: impl IntoIterator<Item = Vec<u8>>,
    sync: bool,
) -> Result<u64, WalError> {
    let temp_path = format::checkpoint_temp_path(wal_dir, index);
    let written = write_temp(&temp_path, records, sync);
    let record_count = match written {
        Ok(count) => count,
        Err(error) => {
            if let Err(cleanup) = dir::remove_file(&temp_path) {
                tracing::warn!(error = %cleanup, "cannot delete unfinished checkpoint");
            }
            return Err(error);
        }
    };
    let final_path = format::checkpoint_path(wal_dir, index);
    fs::rename(&temp_path, &final_path)
        .map_err(|error| io_error("rename checkpoint into place", &final_path, error))?;
    if sync {
        dir::sync_dir(wal_dir)?;
    }
    Ok(record_count)
}

fn write_temp(
    temp_path: &Path,
    records: impl IntoIterator<Item = Vec<u8>>,
    sync: bool,
) -> Result<u64, WalError> {
    let file = File::create(temp_path).map_err(|error| io_error("create", temp_path, error))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    let write_error = |error| io_error("write checkpoint", temp_path, error);
    out.write_all(&format::file_header(CHECKPOINT_MAGIC))
        .map_err(write_error)?;
    let mut record_count = 0u64;
    for (position, record) in records.into_iter().enumerate() {
        if record.len() > MAX_RECORD_LEN as usize {
            return Err(WalError::RecordTooLarge {
                position,
                len: record.len(),
            });
        }
        let length_bytes = (record.len() as u32).to_le_bytes();
        let crc = format::record_crc(length_bytes, &record);
        out.write_all(&length_bytes).map_err(write_error)?;
        out.write_all(&crc.to_le_bytes()).map_err(write_error)?;
        out.write_all(&record).map_err(write_error)?;
        record_count += 1;
    }
    out.write_all(&format::end_marker(record_count))
        .map_err(write_error)?;
    let file = out
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?;
    if sync {
        file.sync_all()
            .map_err(|error| io_error("fsync checkpoint", temp_path, error))?;
    }
    Ok(record_count)
}

/// Reads every record of a checkpoint into `on_record`, verifying the whole file.
/// Returns the number of records.
pub(crate) fn read<E>(
    path: &Path,
    mut on_record: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<u64, ReplayError<E>> {
    let corrupt = |offset: u64, reason: String| WalError::CorruptCheckpoint {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let mut reader = match RecordReader::open(path, CHECKPOINT_MAGIC)? {
        Opened::Reader(reader) => reader,
        Opened::BadHeader(HeaderProblem::UnsupportedVersion(version)) => {
            return Err(WalError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            }
            .into());
        }
        Opened::BadHeader(problem) => {
            return Err(corrupt(0, format!("bad file header ({problem:?})")).into());
        }
    };
    replay_records(&mut reader, path, Tail::Sealed, corrupt, &mut on_record)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn read_all(path: &Path) -> Result<Vec<Vec<u8>>, WalError> {
        let mut records = Vec::new();
        let result = read(path, |record| {
            records.push(record.to_vec());
            Ok::<_, Infallible>(())
        });
        match result {
            Ok(count) => {
                assert_eq!(count, records.len() as u64);
                Ok(records)
            }
            Err(ReplayError::Wal(error)) => Err(error),
            Err(ReplayError::Callback { error, .. }) => match error {},
        }
    }

    #[test]
    fn round_trip_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![b"a".to_vec(), Vec::new(), vec![7; 100_000]];
        assert_eq!(write(dir.path(), 4, records.clone(), true).unwrap(), 3);
        assert_eq!(
            read_all(&format::checkpoint_path(dir.path(), 4)).unwrap(),
            records
        );
        assert_eq!(
            dir::list(dir.path()).unwrap().checkpoint_temps,
            Vec::<u64>::new()
        );
    }

    #[test]
    fn empty_checkpoint_is_24_bytes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 0, Vec::new(), false).unwrap();
        let path = format::checkpoint_path(dir.path(), 0);
        assert_eq!(fs::metadata(&path).unwrap().len(), 24);
        assert_eq!(read_all(&path).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn every_truncation_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 1, vec![b"xy".to_vec(), b"z".to_vec()], false).unwrap();
        let path = format::checkpoint_path(dir.path(), 1);
        let bytes = fs::read(&path).unwrap();
        for len in 0..bytes.len() {
            fs::write(&path, &bytes[..len]).unwrap();
            let error = read_all(&path).unwrap_err();
            assert!(
                matches!(error, WalError::CorruptCheckpoint { .. }),
                "length {len}: {error}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        fs::write(&path, &trailing).unwrap();
        assert!(read_all(&path).is_err());
    }

    #[test]
    fn failed_write_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let error = write(&missing, 1, vec![Vec::new()], false).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("checkpoint.00000000000000000001.tmp"),
            "{error}"
        );
    }
}
