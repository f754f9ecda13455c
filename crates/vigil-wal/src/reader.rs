//! Sequential record reading with damage detection, shared by repair, replay and checkpoints.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{WalError, io_error};
use crate::format::{
    self, END_MARKER_LEN, END_MARKER_LENGTH, FILE_HEADER_LEN, HeaderProblem, RECORD_HEADER_LEN,
};

const READ_BUFFER_BYTES: usize = 1 << 20;

/// Why reading stopped before the end of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The frame claims more bytes than the file has left.
    Torn {
        /// Bytes the frame needs from its start.
        needed: u64,
        /// Bytes left in the file from the frame's start.
        available: u64,
    },
    /// The stored crc does not match the frame's bytes.
    CrcMismatch {
        /// The crc stored in the frame.
        stored: u32,
        /// The crc of the bytes read.
        computed: u32,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Torn { needed, available } => write!(
                f,
                "torn record: needs {needed} bytes but only {available} remain"
            ),
            Damage::CrcMismatch { stored, computed } => write!(
                f,
                "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
        }
    }
}

/// One step of reading.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A record with a valid crc.
    Record(&'a [u8]),
    /// An end marker with a valid crc.
    EndMarker {
        /// The record count it stores.
        record_count: u64,
    },
    /// The file ends exactly at a frame boundary.
    End,
    /// The frame starting at [`RecordReader::offset`] is damaged.
    Damaged(Damage),
}

/// Reads frames of one segment or checkpoint file front to back.
pub(crate) struct RecordReader {
    path: PathBuf,
    reader: BufReader<File>,
    file_len: u64,
    offset: u64,
    payload: Vec<u8>,
}

/// The outcome of opening a file and checking its header.
pub(crate) enum Opened {
    /// The header is valid; frames follow.
    Reader(RecordReader),
    /// The header is short, corrupt or of another version.
    BadHeader(HeaderProblem),
}

impl RecordReader {
    /// Opens `path` and checks its header against `magic`.
    pub(crate) fn open(path: &Path, magic: [u8; 4]) -> Result<Opened, WalError> {
        let file = File::open(path).map_err(|error| io_error("open", path, error))?;
        let file_len = file
            .metadata()
            .map_err(|error| io_error("stat", path, error))?
            .len();
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        let header_len = FILE_HEADER_LEN.min(file_len) as usize;
        let mut header = [0u8; FILE_HEADER_LEN as usize];
        reader
            .read_exact(&mut header[..header_len])
            .map_err(|error| io_error("read header of", path, error))?;
        if let Err(problem) = format::check_file_header(magic, &header[..header_len]) {
            return Ok(Opened::BadHeader(problem));
        }
        Ok(Opened::Reader(RecordReader {
            path: path.to_path_buf(),
            reader,
            file_len,
            offset: FILE_HEADER_LEN,
            payload: Vec::new(),
        }))
    }

    /// Offset of the next frame: the end of the last good frame.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Length of the file when it was opened.
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Reads the next frame. After `End` or `Damaged`, keeps returning the same answer.
    pub(crate) fn next_frame(&mut self) -> Result<Frame<'_>, WalError> {
        let available = self.file_len - self.offset;
        if available == 0 {
            return Ok(Frame::End);
        }
        if available < RECORD_HEADER_LEN as u64 {
            return Ok(Frame::Damaged(Damage::Torn {
                needed: RECORD_HEADER_LEN as u64,
                available,
            }));
        }
        let mut header = [0u8; RECORD_HEADER_LEN];
        self.read_exact_at_offset(&mut header)?;
        let length_bytes = [header[0], header[1], header[2], header[3]];
        let stored_crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let length = u32::from_le_bytes(length_bytes);
        let body_len = if length == END_MARKER_LENGTH {
            (END_MARKER_LEN - RECORD_HEADER_LEN) as u64
        } else {
            u64::from(length)
        };
        let needed = RECORD_HEADER_LEN as u64 + body_len;
        if needed > available {
            // Rewind so that repeated calls keep reporting the same damage.
            self.seek_to_offset()?;
            return Ok(Frame::Damaged(Damage::Torn { needed, available }));
        }
        // Checked against the bytes the file has left, so a garbage length cannot make us
        // allocate more than the file holds.
        self.payload.resize(body_len as usize, 0);
        let mut payload = std::mem::take(&mut self.payload);
        let read = self.read_exact_at_offset(&mut payload);
        self.payload = payload;
        read?;
        let computed_crc = format::record_crc(length_bytes, &self.payload);
        if computed_crc != stored_crc {
            self.seek_to_offset()?;
            return Ok(Frame::Damaged(Damage::CrcMismatch {
                stored: stored_crc,
                computed: computed_crc,
            }));
        }
        self.offset += needed;
        if length == END_MARKER_LENGTH {
            let mut count_bytes = [0u8; 8];
            count_bytes.copy_from_slice(&self.payload);
            return Ok(Frame::EndMarker {
                record_count: u64::from_le_bytes(count_bytes),
            });
        }
        Ok(Frame::Record(&self.payload))
    }

    /// Reads `buf.len()` bytes without moving `offset` (the frame is not accepted yet).
    fn read_exact_at_offset(&mut self, buf: &mut [u8]) -> Result<(), WalError> {
        self.reader
            .read_exact(buf)
            .map_err(|error| io_error("read", &self.path, error))
    }

    fn seek_to_offset(&mut self) -> Result<(), WalError> {
        use std::io::{Seek, SeekFrom};
        self.reader
            .seek(SeekFrom::Start(self.offset))
            .map(|_| ())
            .map_err(|error| io_error("seek in", &self.path, error))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::format::{SEGMENT_MAGIC, encode_record, file_header};

    fn write_file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn reader(bytes: &[u8]) -> (tempfile::NamedTempFile, RecordReader) {
        let file = write_file(bytes);
        match RecordReader::open(file.path(), SEGMENT_MAGIC).unwrap() {
            Opened::Reader(reader) => (file, reader),
            Opened::BadHeader(problem) => panic!("bad header: {problem:?}"),
        }
    }

    #[test]
    fn reads_records_then_end() {
        let mut bytes = file_header(SEGMENT_MAGIC).to_vec();
        encode_record(b"one", &mut bytes);
        encode_record(b"", &mut bytes);
        let (_file, mut reader) = reader(&bytes);
        assert!(matches!(
            reader.next_frame().unwrap(),
            Frame::Record(b"one")
        ));
        assert!(matches!(reader.next_frame().unwrap(), Frame::Record(b"")));
        assert!(matches!(reader.next_frame().unwrap(), Frame::End));
        assert_eq!(reader.offset(), bytes.len() as u64);
    }

    #[test]
    fn huge_garbage_length_is_torn_not_an_allocation() {
        let mut bytes = file_header(SEGMENT_MAGIC).to_vec();
        bytes.extend_from_slice(&[0xFE, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        let (_file, mut reader) = reader(&bytes);
        let frame = reader.next_frame().unwrap();
        assert!(
            matches!(frame, Frame::Damaged(Damage::Torn { .. })),
            "{frame:?}"
        );
        assert_eq!(reader.offset(), FILE_HEADER_LEN);
    }

    #[test]
    fn zero_filled_tail_is_damage() {
        let mut bytes = file_header(SEGMENT_MAGIC).to_vec();
        encode_record(b"kept", &mut bytes);
        let good_end = bytes.len() as u64;
        bytes.extend_from_slice(&[0; 64]);
        let (_file, mut reader) = reader(&bytes);
        assert!(matches!(
            reader.next_frame().unwrap(),
            Frame::Record(b"kept")
        ));
        let frame = reader.next_frame().unwrap();
        assert!(
            matches!(frame, Frame::Damaged(Damage::CrcMismatch { .. })),
            "{frame:?}"
        );
        assert_eq!(reader.offset(), good_end);
    }

    #[test]
    fn short_header_is_reported() {
        let file = write_file(&SEGMENT_MAGIC[..3]);
        let opened = RecordReader::open(file.path(), SEGMENT_MAGIC).unwrap();
        assert!(matches!(opened, Opened::BadHeader(HeaderProblem::Short)));
    }
}

/// Whether a file may stop without its end marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// The file must end with an end marker (checkpoints, segments before the last).
    Sealed,
    /// The file may stop without an end marker or in a torn record: the segment that was
    /// being written when the process stopped.
    MayBeOpen,
}

/// Feeds every record of `reader` to `on_record` and checks how the file ends: the end marker
/// must count exactly the records before it and be the last bytes of the file. `corrupt` builds
/// the error for the kind of file being read. Returns the number of records.
pub(crate) fn replay_records<E>(
    reader: &mut RecordReader,
    path: &Path,
    tail: Tail,
    corrupt: impl Fn(u64, String) -> WalError,
    on_record: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<u64, crate::error::ReplayError<E>> {
    let mut record_count = 0u64;
    loop {
        let offset = reader.offset();
        match reader.next_frame()? {
            Frame::Record(record) => {
                on_record(record).map_err(|error| crate::error::ReplayError::Callback {
                    path: path.to_path_buf(),
                    record: record_count,
                    error,
                })?;
                record_count += 1;
            }
            Frame::EndMarker {
                record_count: sealed_count,
            } => {
                if sealed_count != record_count || reader.offset() != reader.file_len() {
                    let reason = format!(
                        "end marker counts {sealed_count} records, {record_count} precede it, {} bytes follow it",
                        reader.file_len() - reader.offset()
                    );
                    return Err(corrupt(offset, reason).into());
                }
                return Ok(record_count);
            }
            Frame::End if tail == Tail::MayBeOpen => return Ok(record_count),
            Frame::Damaged(Damage::Torn { .. }) if tail == Tail::MayBeOpen => {
                return Ok(record_count);
            }
            Frame::End => return Err(corrupt(offset, "end marker is missing".to_owned()).into()),
            Frame::Damaged(damage) => return Err(corrupt(offset, damage.to_string()).into()),
        }
    }
}
