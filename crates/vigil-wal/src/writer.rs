//! The writer thread: drains queued requests, writes them, fsyncs once per batch, answers.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::dir;
use crate::error::{WalError, io_error};
use crate::format::{self, END_MARKER_LEN, SEGMENT_MAGIC};
use crate::wal::{FsyncMode, WalStats};

/// Buffered bytes above which the writer hands them to the OS before the batch ends.
const FLUSH_THRESHOLD_BYTES: usize = 4 << 20;

/// Where an answer goes: an async caller or a blocked thread.
pub(crate) enum Reply<T> {
    /// Answer an `async` caller (works from any tokio runtime).
    Async(oneshot::Sender<Result<T, WalError>>),
    /// Answer a thread blocked in a `*_blocking` call.
    Blocking(SyncSender<Result<T, WalError>>),
}

impl<T> Reply<T> {
    fn send(self, result: Result<T, WalError>) {
        // A caller that stopped waiting (dropped future) is not an error for the writer.
        match self {
            Reply::Async(sender) => {
                let _ = sender.send(result);
            }
            Reply::Blocking(sender) => {
                let _ = sender.send(result);
            }
        }
    }
}

/// A request to the writer thread.
pub(crate) enum Request {
    /// Append records contiguously.
    Append {
        /// The records, already checked against the size limit.
        records: Vec<Vec<u8>>,
        /// Where to acknowledge.
        reply: Reply<()>,
    },
    /// Close the segment and start the next one.
    Cut {
        /// Where to send the new segment's index.
        reply: Reply<u64>,
    },
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    closing: bool,
}

/// Counters shared between the writer and [`Wal::stats`](crate::Wal::stats).
#[derive(Default)]
struct Counters {
    appends: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
    segments_created: AtomicU64,
}

/// State shared by the [`Wal`](crate::Wal) handle and its writer thread.
pub(crate) struct Shared {
    dir: PathBuf,
    segment_size_bytes: u64,
    fsync: FsyncMode,
    queue: Mutex<Queue>,
    wakeup: Condvar,
    active_segment: AtomicU64,
    counters: Counters,
}

impl Shared {
    /// The index of the segment being written.
    pub(crate) fn active_segment(&self) -> u64 {
        self.active_segment.load(Ordering::Acquire)
    }

    /// Queues a request; fails once the WAL is closing.
    pub(crate) fn submit(&self, request: Request) -> Result<(), WalError> {
        let mut queue = self.queue.lock();
        if queue.closing {
            return Err(WalError::Closed);
        }
        queue.requests.push(request);
        drop(queue);
        self.wakeup.notify_one();
        Ok(())
    }

    /// Makes the writer finish the queued requests and exit.
    pub(crate) fn begin_close(&self) {
        self.queue.lock().closing = true;
        self.wakeup.notify_one();
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> WalStats {
        let counters = &self.counters;
        WalStats {
            appends: counters.appends.load(Ordering::Relaxed),
            records: counters.records.load(Ordering::Relaxed),
            bytes: counters.bytes.load(Ordering::Relaxed),
            fsyncs: counters.fsyncs.load(Ordering::Relaxed),
            segments_created: counters.segments_created.load(Ordering::Relaxed),
            active_segment: self.active_segment(),
        }
    }
}

/// Creates segment `index` and starts the writer thread on it.
pub(crate) fn start(
    dir: PathBuf,
    segment_size_bytes: u64,
    fsync: FsyncMode,
    first_segment: u64,
) -> Result<(Arc<Shared>, JoinHandle<()>), WalError> {
    let segment = SegmentWriter::create(&dir, first_segment, fsync != FsyncMode::None)?;
    let shared = Arc::new(Shared {
        dir,
        segment_size_bytes,
        fsync,
        queue: Mutex::new(Queue::default()),
        wakeup: Condvar::new(),
        active_segment: AtomicU64::new(first_segment),
        counters: Counters::default(),
    });
    shared
        .counters
        .segments_created
        .fetch_add(1, Ordering::Relaxed);
    let mut writer = Writer {
        shared: Arc::clone(&shared),
        segment,
        failure: None,
    };
    let handle = std::thread::Builder::new()
        .name("vigil-wal-writer".to_owned())
        .spawn(move || {
            let _answer_leftovers = CloseOnExit(Arc::clone(&writer.shared));
            writer.run();
        })
        .map_err(|error| io_error("start writer thread for", &shared.dir, error))?;
    Ok((shared, handle))
}

/// Closes the queue when the writer thread exits, even by a panic, so that no caller waits
/// forever: dropping the leftover requests' reply senders answers them with
/// [`WalError::Closed`].
struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        let leftovers = {
            let mut queue = self.0.queue.lock();
            queue.closing = true;
            std::mem::take(&mut queue.requests)
        };
        drop(leftovers);
    }
}

/// The segment being appended to, with the bytes not yet handed to the OS.
struct SegmentWriter {
    index: u64,
    path: PathBuf,
    file: File,
    /// Bytes in the file plus bytes in `buffer`.
    len: u64,
    buffer: Vec<u8>,
    /// Records in the segment; the end marker repeats the count.
    record_count: u64,
    /// True when bytes were written (or buffered) since the last fsync.
    unsynced: bool,
}

impl SegmentWriter {
    /// Creates the file with its header; with `sync`, makes file and name durable first.
    fn create(dir: &Path, index: u64, sync: bool) -> Result<SegmentWriter, WalError> {
        let path = format::segment_path(dir, index);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|error| io_error("create segment", &path, error))?;
        let header = format::file_header(SEGMENT_MAGIC);
        file.write_all(&header)
            .map_err(|error| io_error("write header of segment", &path, error))?;
        if sync {
            file.sync_all()
                .map_err(|error| io_error("fsync new segment", &path, error))?;
            dir::sync_dir(dir)?;
        }
        Ok(SegmentWriter {
            index,
            path,
            file,
            len: header.len() as u64,
            buffer: Vec::new(),
            record_count: 0,
            unsynced: false,
        })
    }

    fn buffer_records(&mut self, records: &[Vec<u8>]) -> Result<(), WalError> {
        for record in records {
            format::encode_record(record, &mut self.buffer);
            self.len += format::framed_len(record.len());
            self.record_count += 1;
            self.unsynced = true;
            if self.buffer.len() >= FLUSH_THRESHOLD_BYTES {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Buffers the end marker; nothing may be appended after it.
    fn seal(&mut self) {
        self.buffer
            .extend_from_slice(&format::end_marker(self.record_count));
        self.len += END_MARKER_LEN as u64;
        self.unsynced = true;
    }

    fn flush(&mut self) -> Result<(), WalError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buffer)
            .map_err(|error| io_error("write segment", &self.path, error))?;
        self.buffer.clear();
        // One huge append should not pin its buffer for the life of the process.
        self.buffer.shrink_to(FLUSH_THRESHOLD_BYTES);
        Ok(())
    }

    /// Flushes and fsyncs; returns whether an fsync was needed.
    fn sync(&mut self) -> Result<bool, WalError> {
        self.flush()?;
        if !self.unsynced {
            return Ok(false);
        }
        self.file
            .sync_data()
            .map_err(|error| io_error("fsync segment", &self.path, error))?;
        self.unsynced = false;
        Ok(true)
    }
}

/// An append written but not yet acknowledged.
struct PendingAppend {
    reply: Reply<()>,
    record_count: u64,
    bytes: u64,
}

struct Writer {
    shared: Arc<Shared>,
    segment: SegmentWriter,
    /// The first write or fsync failure; set once, never cleared.
    failure: Option<WalError>,
}

impl Writer {
    fn run(&mut self) {
        loop {
            let (batch, closing) = {
                let mut queue = self.shared.queue.lock();
                while queue.requests.is_empty() && !queue.closing {
                    self.shared.wakeup.wait(&mut queue);
                }
                (std::mem::take(&mut queue.requests), queue.closing)
            };
            self.process(batch);
            if closing {
                break;
            }
        }
        self.finish();
    }

    /// Writes a batch in queue order, then makes it durable with one fsync (batch mode) and
    /// answers. A failure fails every append of the batch not yet acknowledged.
    fn process(&mut self, batch: Vec<Request>) {
        let mut awaiting_sync: Vec<PendingAppend> = Vec::new();
        for request in batch {
            if let Some(failure) = &self.failure {
                let stopped = WalError::Stopped {
                    cause: Box::new(failure.clone()),
                };
                match request {
                    Request::Append { reply, .. } => reply.send(Err(stopped)),
                    Request::Cut { reply } => reply.send(Err(stopped)),
                }
                continue;
            }
            match request {
                Request::Append { records, reply } => {
                    let pending = PendingAppend {
                        reply,
                        record_count: records.len() as u64,
                        bytes: records
                            .iter()
                            .map(|record| format::framed_len(record.len()))
                            .sum(),
                    };
                    let written = self
                        .write_append(&records, pending.bytes)
                        .and_then(|()| self.sync_if(FsyncMode::Always));
                    match written {
                        Ok(()) if self.shared.fsync == FsyncMode::Always => {
                            self.acknowledge(pending);
                        }
                        Ok(()) => awaiting_sync.push(pending),
                        Err(error) => {
                            self.fail(&error);
                            pending.reply.send(Err(error));
                        }
                    }
                }
                Request::Cut { reply } => match self.cut() {
                    Ok(index) => reply.send(Ok(index)),
                    Err(error) => {
                        self.fail(&error);
                        reply.send(Err(error));
                    }
                },
            }
        }
        if awaiting_sync.is_empty() {
            return;
        }
        // In batch mode this is the one fsync the whole batch shares; in no-fsync mode it only
        // hands the buffered bytes to the OS.
        let synced = match &self.failure {
            Some(failure) => Err(failure.clone()),
            None => self
                .sync_if(FsyncMode::Batch)
                .and_then(|()| self.segment.flush()),
        };
        match synced {
            Ok(()) => awaiting_sync
                .into_iter()
                .for_each(|pending| self.acknowledge(pending)),
            Err(error) => {
                self.fail(&error);
                for pending in awaiting_sync {
                    pending.reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Buffers one append's records, starting a new segment first if they would overflow it.
    fn write_append(&mut self, records: &[Vec<u8>], bytes: u64) -> Result<(), WalError> {
        let len_when_sealed = self
            .segment
            .len
            .saturating_add(bytes)
            .saturating_add(END_MARKER_LEN as u64);
        let would_overflow = len_when_sealed > self.shared.segment_size_bytes;
        if self.segment.record_count > 0 && would_overflow && !records.is_empty() {
            self.cut()?;
        }
        self.segment.buffer_records(records)
    }

    /// Fsyncs the current segment when the WAL runs in `mode`.
    fn sync_if(&mut self, mode: FsyncMode) -> Result<(), WalError> {
        if self.shared.fsync != mode {
            return Ok(());
        }
        if self.segment.sync()? {
            self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Seals the current segment, makes it durable (per mode) and starts the next one.
    fn cut(&mut self) -> Result<u64, WalError> {
        let sync = self.shared.fsync != FsyncMode::None;
        self.segment.seal();
        if sync {
            if self.segment.sync()? {
                self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.segment.flush()?;
        }
        let next_index =
            self.segment
                .index
                .checked_add(1)
                .ok_or(WalError::SegmentIndexExhausted {
                    last_segment: self.segment.index,
                })?;
        self.segment = SegmentWriter::create(&self.shared.dir, next_index, sync)?;
        self.shared
            .active_segment
            .store(next_index, Ordering::Release);
        self.shared
            .counters
            .segments_created
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(segment = next_index, "started wal segment");
        Ok(next_index)
    }

    fn acknowledge(&self, pending: PendingAppend) {
        let counters = &self.shared.counters;
        counters.appends.fetch_add(1, Ordering::Relaxed);
        counters
            .records
            .fetch_add(pending.record_count, Ordering::Relaxed);
        counters.bytes.fetch_add(pending.bytes, Ordering::Relaxed);
        pending.reply.send(Ok(()));
    }

    fn fail(&mut self, error: &WalError) {
        if self.failure.is_none() {
            tracing::error!(%error, "wal write failed, appends are refused until the wal is reopened");
            self.failure = Some(error.clone());
        }
    }

    /// Seals the segment and writes it out before the thread exits. After a failure the
    /// tail is left for the next open to repair.
    fn finish(&mut self) {
        if self.failure.is_some() {
            return;
        }
        self.segment.seal();
        let finished = if self.shared.fsync == FsyncMode::None {
            self.segment.flush()
        } else {
            self.segment.sync().map(|_| ())
        };
        if let Err(error) = finished {
            tracing::error!(%error, "cannot flush the wal segment on close");
        }
    }
}
