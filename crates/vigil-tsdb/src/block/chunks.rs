//! The `chunks` file: a header, then `encoding | data_len | data | crc32c` records.

use super::FORMAT_VERSION;
use super::encoding::{Decoder, Reason};

/// Magic bytes opening a `chunks` file.
pub(crate) const CHUNKS_MAGIC: [u8; 4] = *b"VGCK";

/// Length of the `chunks` header: magic and version byte.
pub(crate) const CHUNKS_HEADER_LEN: u64 = 5;

/// Bytes a record adds around its data: encoding (1), data length (4) and CRC32C (4).
pub(crate) const RECORD_OVERHEAD: u64 = 9;

/// The bytes opening every `chunks` file.
pub(crate) fn chunks_header() -> [u8; CHUNKS_HEADER_LEN as usize] {
    let [m0, m1, m2, m3] = CHUNKS_MAGIC;
    [m0, m1, m2, m3, FORMAT_VERSION]
}

/// Checks the header read from the start of a `chunks` file.
pub(crate) fn check_chunks_header(header: &[u8]) -> Result<(), Reason> {
    check_header(header, CHUNKS_MAGIC)
}

/// Checks `magic` and the version byte at the start of `header`.
pub(crate) fn check_header(header: &[u8], magic: [u8; 4]) -> Result<(), Reason> {
    let Some((found_magic, rest)) = header.split_first_chunk::<4>() else {
        return Err(format!(
            "file of {} bytes is too short for a header",
            header.len()
        ));
    };
    if *found_magic != magic {
        return Err(format!(
            "bad magic {found_magic:02x?}, expected {magic:02x?} ({:?})",
            String::from_utf8_lossy(&magic)
        ));
    }
    match rest.first() {
        Some(&FORMAT_VERSION) => Ok(()),
        Some(version) => Err(format!(
            "unsupported format version {version}, this reader supports {FORMAT_VERSION}"
        )),
        None => Err("file is too short for the version byte".to_owned()),
    }
}

/// Appends the record for a chunk of `encoding` holding `data` (at most `u32::MAX` bytes).
pub(crate) fn encode_record(buf: &mut Vec<u8>, encoding: u8, data: &[u8]) {
    debug_assert!(u32::try_from(data.len()).is_ok());
    let start = buf.len();
    buf.push(encoding);
    buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
    buf.extend_from_slice(data);
    let crc = crc32c::crc32c(&buf[start..]);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// Decodes one whole record (exactly `RECORD_OVERHEAD + data_len` bytes) whose index entry
/// promised `expected_data_len` bytes of data; returns the encoding and the data's range.
pub(crate) fn decode_record(
    record: &[u8],
    expected_data_len: u32,
) -> Result<(u8, std::ops::Range<usize>), Reason> {
    let mut decoder = Decoder::new(record);
    let encoding = decoder.bytes(1, "chunk encoding")?[0];
    let data_len = decoder.u32_le("chunk data length")?;
    if data_len != expected_data_len {
        return Err(format!(
            "chunk record holds {data_len} bytes of data but the index says {expected_data_len}"
        ));
    }
    let data_start = decoder.position();
    let data = decoder.bytes(data_len as usize, "chunk data")?;
    let data_range = data_start..data_start + data.len();
    let covered_len = decoder.position();
    let stored_crc = decoder.u32_le("chunk crc32c")?;
    decoder.expect_end("chunk record")?;
    let computed_crc = crc32c::crc32c(&record[..covered_len]);
    if stored_crc != computed_crc {
        return Err(format!(
            "chunk record crc32c mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"
        ));
    }
    Ok((encoding, data_range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_corruption() {
        let mut record = Vec::new();
        encode_record(&mut record, 1, b"hello");
        assert_eq!(record.len() as u64, RECORD_OVERHEAD + 5);
        let (encoding, range) = decode_record(&record, 5).unwrap();
        assert_eq!(encoding, 1);
        assert_eq!(&record[range], b"hello");

        assert!(
            decode_record(&record, 4)
                .unwrap_err()
                .contains("index says 4")
        );
        for position in 0..record.len() {
            let mut corrupted = record.clone();
            corrupted[position] ^= 0x10;
            assert!(decode_record(&corrupted, 5).is_err(), "flip at {position}");
        }
        assert!(decode_record(&record[..record.len() - 1], 5).is_err());
    }

    #[test]
    fn header_checks() {
        assert!(check_chunks_header(&chunks_header()).is_ok());
        assert!(check_chunks_header(b"VGCK").is_err());
        assert!(check_chunks_header(b"VGC").is_err());
        assert!(
            check_chunks_header(b"VGCK\x02")
                .unwrap_err()
                .contains("version 2")
        );
        assert!(
            check_chunks_header(b"VGIX\x01")
                .unwrap_err()
                .contains("magic")
        );
    }
}
