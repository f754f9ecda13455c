//! The [`Wal`] handle: options, open, replay, append, cut, checkpoint, close.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::checkpoint;
use crate::dir;
use crate::error::{ReplayError, WalError, io_error};
use crate::format::{self, MAX_RECORD_LEN, SEGMENT_MAGIC};
use crate::reader::{Opened, RecordReader, Tail, replay_records};
use crate::repair::{self, RepairReport};
use crate::writer::{self, Reply, Request, Shared};

/// When an append counts as durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FsyncMode {
    /// Group commit: appends drained together by the writer thread share one fsync.
    #[default]
    Batch,
    /// Every append call gets an fsync of its own.
    Always,
    /// Never fsync: an append returns once written to the OS (survives a process crash,
    /// not a power failure).
    None,
}

/// How to open a [`Wal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// The directory holding segments and checkpoints; created if missing.
    pub dir: PathBuf,
    /// The size after which the writer starts a new segment (exceeded only by a single
    /// append larger than this).
    pub segment_size_bytes: u64,
    /// When an append counts as durable.
    pub fsync: FsyncMode,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            dir: PathBuf::from("wal"),
            segment_size_bytes: 128 << 20,
            fsync: FsyncMode::Batch,
        }
    }
}

/// Counters since open, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Acknowledged append calls.
    pub appends: u64,
    /// Records in acknowledged append calls.
    pub records: u64,
    /// Bytes of acknowledged records, framing included.
    pub bytes: u64,
    /// Fsyncs of segment data by the writer thread (not counting new files and directories).
    pub fsyncs: u64,
    /// Segments created, including the one created by open.
    pub segments_created: u64,
    /// The segment being written.
    pub active_segment: u64,
}

/// What [`Wal::replay`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayStats {
    /// The checkpoint replayed first, by index, if any.
    pub checkpoint: Option<u64>,
    /// Records read from the checkpoint.
    pub checkpoint_records: u64,
    /// Segments read.
    pub segments: u64,
    /// Records read from segments.
    pub segment_records: u64,
    /// Payload bytes passed to the callback, checkpoint included.
    pub payload_bytes: u64,
}

/// A segmented, checksummed, group-committed write-ahead log of opaque records.
pub struct Wal {
    shared: Arc<Shared>,
    dir: PathBuf,
    fsync: FsyncMode,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    checkpoint_lock: Mutex<()>,
}

impl Wal {
    /// Opens the WAL in `options.dir` (creating it), repairs damage, starts a new segment and
    /// the writer thread. A torn tail never stops it; see `docs/format/wal.md` for the rules.
    pub fn open(options: WalOptions) -> Result<(Wal, RepairReport), WalError> {
        let WalOptions {
            dir,
            segment_size_bytes,
            fsync,
        } = options;
        fs::create_dir_all(&dir).map_err(|error| io_error("create directory", &dir, error))?;
        let sync = fsync != FsyncMode::None;
        let recovered = repair::recover(&dir, sync)?;
        let (shared, handle) = writer::start(
            dir.clone(),
            segment_size_bytes,
            fsync,
            recovered.next_segment,
        )?;
        tracing::info!(
            dir = %dir.display(),
            segment = recovered.next_segment,
            checkpoint = ?recovered.report.checkpoint,
            clean = recovered.report.is_clean(),
            "opened wal"
        );
        let wal = Wal {
            shared,
            dir,
            fsync,
            writer_thread: Mutex::new(Some(handle)),
            checkpoint_lock: Mutex::new(()),
        };
        Ok((wal, recovered.report))
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Calls `on_record` with every record in order: the newest checkpoint's, then those of
    /// every segment from its index on. Call it before appending: it reads the files as they
    /// are, and a record still being written ends the replay of the last segment.
    pub fn replay<E>(
        &self,
        mut on_record: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<ReplayStats, ReplayError<E>> {
        let listing = dir::list(&self.dir)?;
        let mut stats = ReplayStats {
            checkpoint: listing.newest_checkpoint(),
            ..ReplayStats::default()
        };
        let mut payload_bytes = 0u64;
        if let Some(checkpoint_index) = stats.checkpoint {
            let path = format::checkpoint_path(&self.dir, checkpoint_index);
            stats.checkpoint_records = checkpoint::read(&path, |record| {
                payload_bytes += record.len() as u64;
                on_record(record)
            })?;
        }
        let segments: Vec<u64> = listing
            .segments
            .into_iter()
            .filter(|&index| {
                stats
                    .checkpoint
                    .is_none_or(|checkpoint| index >= checkpoint)
            })
            .collect();
        let mut expected_index = stats.checkpoint.or(segments.first().copied());
        for (position, &index) in segments.iter().enumerate() {
            if expected_index.is_some_and(|expected| expected != index) {
                return Err(WalError::MissingSegment {
                    dir: self.dir.clone(),
                    index: expected_index.unwrap_or(index),
                }
                .into());
            }
            let is_last = position + 1 == segments.len();
            let path = format::segment_path(&self.dir, index);
            stats.segment_records += replay_segment(&path, is_last, &mut |record| {
                payload_bytes += record.len() as u64;
                on_record(record)
            })?;
            stats.segments += 1;
            expected_index = index.checked_add(1);
        }
        stats.payload_bytes = payload_bytes;
        Ok(stats)
    }

    /// Appends `records` contiguously to one segment; returns once they are durable per
    /// [`FsyncMode`]. Works from any tokio runtime. If the future is dropped after it was
    /// first polled, the records may still be written.
    pub async fn append(&self, records: Vec<Vec<u8>>) -> Result<(), WalError> {
        check_record_sizes(&records)?;
        let (sender, receiver) = oneshot::channel();
        self.shared.submit(Request::Append {
            records,
            reply: Reply::Async(sender),
        })?;
        receiver.await.map_err(|_| WalError::Closed)?
    }

    /// Like [`Wal::append`], blocking the calling thread instead (not for async contexts).
    pub fn append_blocking(&self, records: Vec<Vec<u8>>) -> Result<(), WalError> {
        check_record_sizes(&records)?;
        let (sender, receiver) = mpsc::sync_channel(1);
        self.shared.submit(Request::Append {
            records,
            reply: Reply::Blocking(sender),
        })?;
        receiver.recv().map_err(|_| WalError::Closed)?
    }

    /// Closes the current segment and starts a new one, returning its index. Every record
    /// whose append returned before this call is in a segment with a lower index. Blocks.
    pub fn cut_segment(&self) -> Result<u64, WalError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.shared.submit(Request::Cut {
            reply: Reply::Blocking(sender),
        })?;
        receiver.recv().map_err(|_| WalError::Closed)?
    }

    /// Writes a checkpoint of `records` replacing every segment below `first_kept_segment`,
    /// atomically (temp file, fsync, rename, directory fsync), then deletes those segments and
    /// older checkpoints. `first_kept_segment` must not be above the segment being written
    /// (usually it is what [`Wal::cut_segment`] returned). Blocks.
    pub fn write_checkpoint(
        &self,
        first_kept_segment: u64,
        records: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<(), WalError> {
        let _one_checkpoint_at_a_time = self.checkpoint_lock.lock();
        let active_segment = self.shared.active_segment();
        if first_kept_segment > active_segment {
            return Err(WalError::CheckpointBeyondActiveSegment {
                first_kept_segment,
                active_segment,
            });
        }
        let listing = dir::list(&self.dir)?;
        let newest_checkpoint = listing.newest_checkpoint();
        if let Some(newest_checkpoint) =
            newest_checkpoint.filter(|&newest| newest > first_kept_segment)
        {
            return Err(WalError::CheckpointOutdated {
                first_kept_segment,
                newest_checkpoint,
            });
        }
        let sync = self.fsync != FsyncMode::None;
        let record_count = checkpoint::write(&self.dir, first_kept_segment, records, sync)?;
        tracing::info!(
            dir = %self.dir.display(),
            first_kept_segment,
            records = record_count,
            "wrote wal checkpoint"
        );
        self.delete_replaced(&listing, first_kept_segment, sync);
        Ok(())
    }

    /// Best effort: what is left behind is deleted by the next checkpoint or open.
    fn delete_replaced(&self, listing: &dir::Listing, first_kept_segment: u64, sync: bool) {
        let replaced_segments = listing
            .segments
            .iter()
            .filter(|&&index| index < first_kept_segment)
            .map(|&index| format::segment_path(&self.dir, index));
        let older_checkpoints = listing
            .checkpoints
            .iter()
            .filter(|&&index| index < first_kept_segment)
            .map(|&index| format::checkpoint_path(&self.dir, index));
        for path in replaced_segments.chain(older_checkpoints) {
            if let Err(error) = dir::remove_file(&path) {
                tracing::warn!(%error, "cannot delete file replaced by a wal checkpoint");
            }
        }
        if !sync {
            return;
        }
        if let Err(error) = dir::sync_dir(&self.dir) {
            tracing::warn!(%error, "cannot fsync wal directory after checkpoint cleanup");
        }
    }

    /// The indexes of the segments on disk, ascending.
    pub fn segment_indexes(&self) -> Result<Vec<u64>, WalError> {
        Ok(dir::list(&self.dir)?.segments)
    }

    /// The total size of segments and checkpoints on disk.
    pub fn size_bytes(&self) -> Result<u64, WalError> {
        dir::total_size(&self.dir)
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        self.shared.stats()
    }

    /// Answers the queued appends, flushes, and stops the writer thread. Later appends fail
    /// with [`WalError::Closed`]. Idempotent; also runs on drop.
    pub fn close(&self) {
        self.shared.begin_close();
        let Some(handle) = self.writer_thread.lock().take() else {
            return;
        };
        if handle.join().is_err() {
            tracing::error!(dir = %self.dir.display(), "wal writer thread panicked");
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("fsync", &self.fsync)
            .field("stats", &self.stats())
            .finish()
    }
}

fn check_record_sizes(records: &[Vec<u8>]) -> Result<(), WalError> {
    match first_oversized(records.iter().map(Vec::len)) {
        Some((position, len)) => Err(WalError::RecordTooLarge { position, len }),
        None => Ok(()),
    }
}

/// The position and length of the first length above the format's limit.
fn first_oversized(lengths: impl Iterator<Item = usize>) -> Option<(usize, usize)> {
    lengths
        .enumerate()
        .find(|&(_, len)| len > MAX_RECORD_LEN as usize)
}

/// Replays one segment. Only the last segment may lack an end marker or end in a torn record
/// (an append in flight); anything else is an error.
fn replay_segment<E>(
    path: &Path,
    is_last: bool,
    on_record: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<u64, ReplayError<E>> {
    let corrupt = |offset: u64, reason: String| WalError::CorruptSegment {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let mut reader = match RecordReader::open(path, SEGMENT_MAGIC)? {
        Opened::Reader(reader) => reader,
        Opened::BadHeader(problem) => {
            return Err(corrupt(0, format!("bad file header ({problem:?})")).into());
        }
    };
    let tail = if is_last {
        Tail::MayBeOpen
    } else {
        Tail::Sealed
    };
    replay_records(&mut reader, path, tail, corrupt, on_record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Wal>();
    }

    #[test]
    fn default_options() {
        let options = WalOptions::default();
        assert_eq!(options.dir, PathBuf::from("wal"));
        assert_eq!(options.segment_size_bytes, 128 * 1024 * 1024);
        assert_eq!(options.fsync, FsyncMode::Batch);
    }

    #[test]
    fn record_size_limit_finds_the_first_oversized_record() {
        // Lengths stand in for 4 GiB records that a test cannot allocate.
        let limit = MAX_RECORD_LEN as usize;
        assert_eq!(first_oversized([0, 10, limit].into_iter()), None);
        assert_eq!(
            first_oversized([0, limit + 1, limit + 2].into_iter()),
            Some((1, limit + 1))
        );
        assert!(check_record_sizes(&[Vec::new(), vec![0; 10]]).is_ok());
    }
}
