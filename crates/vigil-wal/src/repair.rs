//! Open-time scan and repair (the rules are in `docs/format/wal.md`).

use std::convert::Infallible;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::dir;
use crate::error::{ReplayError, WalError, io_error};
use crate::format::{self, FILE_HEADER_LEN, HeaderProblem, SEGMENT_MAGIC};
use crate::reader::{Frame, Opened, RecordReader};

/// What [`Wal::open`](crate::Wal::open) found on disk and what it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The newest checkpoint's index (it replaces segments below it), if any.
    pub checkpoint: Option<u64>,
    /// The segment cut short at the first damaged record, if any.
    pub truncation: Option<Truncation>,
    /// The first segment index missing from the sequence, if there was a hole.
    pub missing_segment: Option<u64>,
    /// Segments deleted because they came after damage or a hole.
    pub dropped_segments: Vec<u64>,
    /// Leftovers of interrupted checkpoints that were deleted: temp files, older checkpoints,
    /// segments a checkpoint replaced.
    pub removed_stale_files: Vec<PathBuf>,
}

impl RepairReport {
    /// True when no record was lost: nothing truncated, no hole, nothing dropped.
    pub fn is_clean(&self) -> bool {
        self.truncation.is_none()
            && self.missing_segment.is_none()
            && self.dropped_segments.is_empty()
    }
}

/// A segment cut short at its first damaged record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Truncation {
    /// The segment's index.
    pub segment: u64,
    /// The segment file.
    pub path: PathBuf,
    /// The new length: the end of the last good record (0 when the file was deleted).
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes_dropped: u64,
    /// What was wrong at `offset`.
    pub reason: String,
    /// True when the segment was the last one (a torn write rather than corruption).
    pub was_last_segment: bool,
    /// True when the file header itself was damaged and the file was deleted.
    pub file_deleted: bool,
}

/// The repaired state the writer starts from.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// What was found and changed.
    pub(crate) report: RepairReport,
    /// The index of the segment the writer creates.
    pub(crate) next_segment: u64,
}

/// What scanning one segment found.
struct Scan {
    file_len: u64,
    /// Records before the end marker or the damage.
    record_count: u64,
    /// True when a valid end marker closes the good part.
    sealed: bool,
    /// Where the good part ends and why, if it does not reach the end of the file.
    damage: Option<(u64, String)>,
}

/// The segment that continues the chain, remembered to seal it if needed.
struct LastKept {
    index: u64,
    record_count: u64,
    sealed: bool,
}

/// Scans every file of `wal_dir` and applies the repair rules. `sync` makes the changes durable.
pub(crate) fn recover(wal_dir: &Path, sync: bool) -> Result<Recovered, WalError> {
    let listing = dir::list(wal_dir)?;
    let mut report = RepairReport::default();

    for &index in &listing.checkpoint_temps {
        remove_stale(&format::checkpoint_temp_path(wal_dir, index), &mut report)?;
    }
    let checkpoint = listing.newest_checkpoint();
    if let Some(checkpoint_index) = checkpoint {
        for &older in listing
            .checkpoints
            .iter()
            .filter(|&&index| index < checkpoint_index)
        {
            remove_stale(&format::checkpoint_path(wal_dir, older), &mut report)?;
        }
        for &replaced in listing
            .segments
            .iter()
            .filter(|&&index| index < checkpoint_index)
        {
            remove_stale(&format::segment_path(wal_dir, replaced), &mut report)?;
        }
        verify_checkpoint(&format::checkpoint_path(wal_dir, checkpoint_index))?;
    }
    report.checkpoint = checkpoint;

    let chain: Vec<u64> = listing
        .segments
        .iter()
        .copied()
        .filter(|&index| checkpoint.is_none_or(|checkpoint_index| index >= checkpoint_index))
        .collect();
    let chain_start = checkpoint.or(chain.first().copied()).unwrap_or(0);
    let mut expected_index = chain_start;
    let mut last_kept: Option<LastKept> = None;
    let mut first_dropped_position = chain.len();
    for (position, &index) in chain.iter().enumerate() {
        if index != expected_index {
            tracing::error!(
                dir = %wal_dir.display(),
                missing_segment = expected_index,
                next_present_segment = index,
                "wal segment is missing, later segments are dropped"
            );
            report.missing_segment = Some(expected_index);
            first_dropped_position = position;
            break;
        }
        let is_last_segment = position + 1 == chain.len();
        let path = format::segment_path(wal_dir, index);
        let mut scan = scan_segment(&path)?;
        if scan.damage.is_none() && !scan.sealed && !is_last_segment {
            // Only the segment being written when the process stopped lacks an end marker;
            // anywhere else it means the file lost whole records at its end.
            let reason = "segment before the last one has no end marker".to_owned();
            scan.damage = Some((scan.file_len, reason));
        }
        let Some((offset, reason)) = scan.damage else {
            last_kept = Some(LastKept {
                index,
                record_count: scan.record_count,
                sealed: scan.sealed,
            });
            expected_index = match index.checked_add(1) {
                Some(next) => next,
                None => {
                    first_dropped_position = position + 1;
                    break;
                }
            };
            continue;
        };
        let file_deleted = offset < FILE_HEADER_LEN;
        if file_deleted {
            dir::remove_file(&path)?;
        } else {
            if offset < scan.file_len {
                truncate(&path, offset, sync)?;
            }
            last_kept = Some(LastKept {
                index,
                record_count: scan.record_count,
                sealed: scan.sealed,
            });
        }
        let truncation = Truncation {
            segment: index,
            path,
            offset: if file_deleted { 0 } else { offset },
            bytes_dropped: if file_deleted {
                scan.file_len
            } else {
                scan.file_len - offset
            },
            reason,
            was_last_segment: is_last_segment,
            file_deleted,
        };
        log_truncation(&truncation);
        report.truncation = Some(truncation);
        first_dropped_position = position + 1;
        break;
    }

    for &index in &chain[first_dropped_position..] {
        dir::remove_file(&format::segment_path(wal_dir, index))?;
        report.dropped_segments.push(index);
    }
    if !report.dropped_segments.is_empty() {
        tracing::error!(
            dir = %wal_dir.display(),
            segments = ?report.dropped_segments,
            "dropped wal segments that followed damage or a hole"
        );
    }
    if let Some(last) = last_kept.as_ref().filter(|last| !last.sealed) {
        seal(
            &format::segment_path(wal_dir, last.index),
            last.record_count,
            sync,
        )?;
    }
    let changed_dir = !report.removed_stale_files.is_empty()
        || !report.dropped_segments.is_empty()
        || report
            .truncation
            .as_ref()
            .is_some_and(|truncation| truncation.file_deleted);
    if sync && changed_dir {
        dir::sync_dir(wal_dir)?;
    }

    let next_segment = match last_kept {
        Some(last) => last
            .index
            .checked_add(1)
            .ok_or(WalError::SegmentIndexExhausted {
                last_segment: last.index,
            })?,
        None => chain_start,
    };
    Ok(Recovered {
        report,
        next_segment,
    })
}

fn verify_checkpoint(path: &Path) -> Result<(), WalError> {
    match checkpoint::read(path, |_| Ok::<(), Infallible>(())) {
        Ok(_) => Ok(()),
        Err(ReplayError::Wal(error)) => Err(error),
        Err(ReplayError::Callback { error, .. }) => match error {},
    }
}

fn scan_segment(path: &Path) -> Result<Scan, WalError> {
    let file_len = fs::metadata(path)
        .map_err(|error| io_error("stat", path, error))?
        .len();
    let mut scan = Scan {
        file_len,
        record_count: 0,
        sealed: false,
        damage: None,
    };
    let mut reader = match RecordReader::open(path, SEGMENT_MAGIC)? {
        Opened::Reader(reader) => reader,
        Opened::BadHeader(HeaderProblem::UnsupportedVersion(version)) => {
            return Err(WalError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        Opened::BadHeader(problem) => {
            let reason = match problem {
                HeaderProblem::Short => "file header is incomplete",
                _ => "file header is corrupt",
            };
            scan.damage = Some((0, reason.to_owned()));
            return Ok(scan);
        }
    };
    loop {
        let offset = reader.offset();
        match reader.next_frame()? {
            Frame::Record(_) => scan.record_count += 1,
            Frame::End => return Ok(scan),
            Frame::EndMarker { record_count } if record_count != scan.record_count => {
                let reason = format!(
                    "end marker counts {record_count} records but {} precede it",
                    scan.record_count
                );
                scan.damage = Some((offset, reason));
                return Ok(scan);
            }
            Frame::EndMarker { .. } => {
                scan.sealed = true;
                if reader.offset() < file_len {
                    let reason = "bytes follow the end marker".to_owned();
                    scan.damage = Some((reader.offset(), reason));
                }
                return Ok(scan);
            }
            Frame::Damaged(damage) => {
                scan.damage = Some((offset, damage.to_string()));
                return Ok(scan);
            }
        }
    }
}

/// Appends the end marker to a segment that lacks one (the last one of a stopped process).
fn seal(path: &Path, record_count: u64, sync: bool) -> Result<(), WalError> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|error| io_error("open for sealing", path, error))?;
    file.write_all(&format::end_marker(record_count))
        .map_err(|error| io_error("seal", path, error))?;
    if sync {
        file.sync_all()
            .map_err(|error| io_error("fsync sealed segment", path, error))?;
    }
    Ok(())
}

fn truncate(path: &Path, len: u64, sync: bool) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| io_error("open for repair", path, error))?;
    file.set_len(len)
        .map_err(|error| io_error("truncate", path, error))?;
    if sync {
        file.sync_all()
            .map_err(|error| io_error("fsync repaired segment", path, error))?;
    }
    Ok(())
}

fn remove_stale(path: &Path, report: &mut RepairReport) -> Result<(), WalError> {
    tracing::info!(file = %path.display(), "deleting leftover of an interrupted wal checkpoint");
    dir::remove_file(path)?;
    report.removed_stale_files.push(path.to_path_buf());
    Ok(())
}

fn log_truncation(truncation: &Truncation) {
    let file = truncation.path.display();
    if truncation.was_last_segment {
        tracing::warn!(
            %file,
            offset = truncation.offset,
            bytes_dropped = truncation.bytes_dropped,
            reason = %truncation.reason,
            file_deleted = truncation.file_deleted,
            "repaired torn tail of the last wal segment"
        );
    } else {
        tracing::error!(
            %file,
            offset = truncation.offset,
            bytes_dropped = truncation.bytes_dropped,
            reason = %truncation.reason,
            file_deleted = truncation.file_deleted,
            "truncated corrupt wal segment, later segments are dropped"
        );
    }
}
