//! Byte layout of segments and checkpoints (see `docs/format/wal.md`).

use std::path::{Path, PathBuf};

/// Magic bytes opening every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 4] = *b"VWAL";
/// Magic bytes opening every checkpoint file.
pub(crate) const CHECKPOINT_MAGIC: [u8; 4] = *b"VWCP";
/// The only format version this crate reads and writes.
pub(crate) const FORMAT_VERSION: u8 = 1;
/// Size of the file header shared by segments and checkpoints.
pub(crate) const FILE_HEADER_LEN: u64 = 8;
/// Size of a record frame before its payload: length and crc.
pub(crate) const RECORD_HEADER_LEN: usize = 8;
/// The length value reserved for the end marker that seals segments and checkpoints.
pub(crate) const END_MARKER_LENGTH: u32 = u32::MAX;
/// Size of the end marker: reserved length, crc, record count.
pub(crate) const END_MARKER_LEN: usize = 16;
/// The largest payload a record can carry.
pub(crate) const MAX_RECORD_LEN: u32 = END_MARKER_LENGTH - 1;

const SEGMENT_NAME_DIGITS: usize = 20;
const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TEMP_SUFFIX: &str = ".tmp";

/// The 8-byte header of a file with the given magic.
pub(crate) fn file_header(magic: [u8; 4]) -> [u8; FILE_HEADER_LEN as usize] {
    let [m0, m1, m2, m3] = magic;
    [m0, m1, m2, m3, FORMAT_VERSION, 0, 0, 0]
}

/// Why a file header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Fewer than 8 bytes.
    Short,
    /// Wrong magic or non-zero reserved bytes.
    Corrupt,
    /// Right magic, unknown version: written by a newer format, not damaged.
    UnsupportedVersion(u8),
}

/// Checks a file header read from disk (`bytes` may be shorter than a header).
pub(crate) fn check_file_header(magic: [u8; 4], bytes: &[u8]) -> Result<(), HeaderProblem> {
    let Some(header) = bytes.get(..FILE_HEADER_LEN as usize) else {
        return Err(HeaderProblem::Short);
    };
    if header[..4] != magic {
        return Err(HeaderProblem::Corrupt);
    }
    if header[4] != FORMAT_VERSION {
        return Err(HeaderProblem::UnsupportedVersion(header[4]));
    }
    if header[5..] != [0, 0, 0] {
        return Err(HeaderProblem::Corrupt);
    }
    Ok(())
}

/// The crc of a record frame: CRC32C over the stored length bytes, then the payload.
pub(crate) fn record_crc(length_bytes: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&length_bytes), payload)
}

/// Appends one framed record to `out`. The caller has checked `payload.len() <= MAX_RECORD_LEN`.
pub(crate) fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_RECORD_LEN as usize);
    let length_bytes = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&length_bytes);
    out.extend_from_slice(&record_crc(length_bytes, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The encoded size of a record with a payload of `payload_len` bytes.
pub(crate) fn framed_len(payload_len: usize) -> u64 {
    RECORD_HEADER_LEN as u64 + payload_len as u64
}

/// The end marker sealing a file of `record_count` records.
pub(crate) fn end_marker(record_count: u64) -> [u8; END_MARKER_LEN] {
    let length_bytes = END_MARKER_LENGTH.to_le_bytes();
    let count_bytes = record_count.to_le_bytes();
    let crc = record_crc(length_bytes, &count_bytes);
    let mut marker = [0u8; END_MARKER_LEN];
    marker[..4].copy_from_slice(&length_bytes);
    marker[4..8].copy_from_slice(&crc.to_le_bytes());
    marker[8..].copy_from_slice(&count_bytes);
    marker
}

/// The file name of segment `index`.
pub(crate) fn segment_file_name(index: u64) -> String {
    format!("{index:0width$}", width = SEGMENT_NAME_DIGITS)
}

/// The path of segment `index` in `dir`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(segment_file_name(index))
}

/// The file name of the checkpoint replacing segments below `index`.
pub(crate) fn checkpoint_file_name(index: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{}", segment_file_name(index))
}

/// The path of the checkpoint replacing segments below `index` in `dir`.
pub(crate) fn checkpoint_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(checkpoint_file_name(index))
}

/// The path a checkpoint is written to before it is renamed into place.
pub(crate) fn checkpoint_temp_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{}{TEMP_SUFFIX}", checkpoint_file_name(index)))
}

/// What a file name in the WAL directory denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A segment with this index.
    Segment(u64),
    /// A checkpoint replacing segments below this index.
    Checkpoint(u64),
    /// A checkpoint that was being written.
    CheckpointTemp(u64),
}

/// Classifies a file name; `None` for files the WAL does not own.
pub(crate) fn parse_file_name(name: &str) -> Option<FileKind> {
    if let Some(rest) = name.strip_prefix(CHECKPOINT_PREFIX) {
        if let Some(digits) = rest.strip_suffix(TEMP_SUFFIX) {
            return parse_index(digits).map(FileKind::CheckpointTemp);
        }
        return parse_index(rest).map(FileKind::Checkpoint);
    }
    parse_index(name).map(FileKind::Segment)
}

fn parse_index(digits: &str) -> Option<u64> {
    let is_index =
        digits.len() == SEGMENT_NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    if !is_index {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_frame_matches_the_documented_example() {
        let mut out = Vec::new();
        encode_record(b"hi", &mut out);
        assert_eq!(out, [0x02, 0, 0, 0, 0x59, 0x72, 0x5A, 0x88, b'h', b'i']);
    }

    #[test]
    fn crc_is_castagnoli() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(record_crc([0; 4], &[]), 0x4867_4BC7);
    }

    #[test]
    fn end_marker_matches_the_documented_layout() {
        let marker = end_marker(3);
        assert_eq!(
            marker[..8],
            [0xFF, 0xFF, 0xFF, 0xFF, 0x96, 0x78, 0xBB, 0x24]
        );
        assert_eq!(marker[8..], 3u64.to_le_bytes());
    }

    #[test]
    fn file_names_round_trip() {
        for index in [0, 1, 42, u64::MAX] {
            assert_eq!(
                parse_file_name(&segment_file_name(index)),
                Some(FileKind::Segment(index))
            );
            assert_eq!(
                parse_file_name(&checkpoint_file_name(index)),
                Some(FileKind::Checkpoint(index))
            );
            let temp = checkpoint_temp_path(Path::new(""), index);
            assert_eq!(
                parse_file_name(temp.to_str().unwrap()),
                Some(FileKind::CheckpointTemp(index))
            );
        }
        assert_eq!(segment_file_name(7), "00000000000000000007");
        for foreign in [
            "",
            "0001",
            "lock",
            "checkpoint.",
            "0000000000000000000x",
            "checkpoint.1.tmp",
        ] {
            assert_eq!(parse_file_name(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn header_checks() {
        let header = file_header(SEGMENT_MAGIC);
        assert_eq!(check_file_header(SEGMENT_MAGIC, &header), Ok(()));
        assert_eq!(
            check_file_header(CHECKPOINT_MAGIC, &header),
            Err(HeaderProblem::Corrupt)
        );
        assert_eq!(
            check_file_header(SEGMENT_MAGIC, &header[..7]),
            Err(HeaderProblem::Short)
        );
        let mut newer = header;
        newer[4] = 2;
        assert_eq!(
            check_file_header(SEGMENT_MAGIC, &newer),
            Err(HeaderProblem::UnsupportedVersion(2))
        );
        let mut reserved = header;
        reserved[7] = 1;
        assert_eq!(
            check_file_header(SEGMENT_MAGIC, &reserved),
            Err(HeaderProblem::Corrupt)
        );
    }
}
