//! Primitive encodings shared by the block files: varints and a bounds-checked decoder.
//!
//! Decoding never panics and never allocates based on a length it has not checked against
//! the bytes actually present; failures are plain reasons that callers wrap with the file name.

/// Why a byte sequence could not be decoded; the caller adds which file it came from.
pub(crate) type Reason = String;

/// The longest valid uvarint encoding of a `u64`.
const MAX_UVARINT_LEN: usize = 10;

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Appends `value` zig-zag mapped, then as an unsigned varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, value: i64) {
    put_uvarint(buf, ((value << 1) ^ (value >> 63)) as u64);
}

/// A cursor over untrusted bytes whose reads fail instead of panicking.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder positioned at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Byte offset of the next read from the start of the decoded slice.
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    /// Reads the next `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize, what: &str) -> Result<&'a [u8], Reason> {
        if len > self.remaining() {
            return Err(format!(
                "{what} of {len} bytes at offset {} runs past the end ({} bytes remain)",
                self.position,
                self.remaining()
            ));
        }
        let start = self.position;
        self.position += len;
        Ok(&self.bytes[start..self.position])
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes that fits in a `u64`.
    pub(crate) fn uvarint(&mut self, what: &str) -> Result<u64, Reason> {
        let start = self.position;
        let mut value: u64 = 0;
        for index in 0..MAX_UVARINT_LEN {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(format!("{what} at offset {start} is truncated"));
            };
            self.position += 1;
            let low_bits = u64::from(byte & 0x7f);
            // The tenth byte may only contribute the single remaining bit of a u64.
            if index == MAX_UVARINT_LEN - 1 && byte > 1 {
                return Err(format!("{what} at offset {start} overflows 64 bits"));
            }
            value |= low_bits << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(format!("{what} at offset {start} overflows 64 bits"))
    }

    /// Reads a zig-zag mapped signed varint.
    pub(crate) fn varint(&mut self, what: &str) -> Result<i64, Reason> {
        let mapped = self.uvarint(what)?;
        Ok(((mapped >> 1) as i64) ^ -((mapped & 1) as i64))
    }

    /// Reads a uvarint that must fit in a `u32`.
    pub(crate) fn uvarint_u32(&mut self, what: &str) -> Result<u32, Reason> {
        let start = self.position;
        let value = self.uvarint(what)?;
        u32::try_from(value)
            .map_err(|_| format!("{what} {value} at offset {start} does not fit in 32 bits"))
    }

    /// Reads a uvarint used as a length or index into memory.
    pub(crate) fn uvarint_usize(&mut self, what: &str) -> Result<usize, Reason> {
        let start = self.position;
        let value = self.uvarint(what)?;
        usize::try_from(value)
            .map_err(|_| format!("{what} {value} at offset {start} does not fit in memory"))
    }

    /// Reads an element count and checks that `count` elements of at least
    /// `min_element_len` bytes each can fit in the remaining bytes, so callers may allocate
    /// for `count` elements without trusting the input.
    pub(crate) fn count(&mut self, what: &str, min_element_len: usize) -> Result<usize, Reason> {
        let start = self.position;
        let count = self.uvarint_usize(what)?;
        let needed = count.saturating_mul(min_element_len);
        if needed > self.remaining() {
            return Err(format!(
                "{what} {count} at offset {start} needs at least {needed} bytes but only {} remain",
                self.remaining()
            ));
        }
        Ok(count)
    }

    /// Reads a little-endian `u32`.
    pub(crate) fn u32_le(&mut self, what: &str) -> Result<u32, Reason> {
        let bytes = self.bytes(4, what)?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(array))
    }

    /// Reads a little-endian `u64`.
    pub(crate) fn u64_le(&mut self, what: &str) -> Result<u64, Reason> {
        let bytes = self.bytes(8, what)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    /// Fails unless every byte has been read.
    pub(crate) fn expect_end(&self, what: &str) -> Result<(), Reason> {
        match self.remaining() {
            0 => Ok(()),
            trailing => Err(format!(
                "{trailing} unexpected trailing bytes after {what} at offset {}",
                self.position
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn varints_round_trip(unsigned in any::<u64>(), signed in any::<i64>()) {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, unsigned);
            put_varint(&mut buf, signed);
            let mut decoder = Decoder::new(&buf);
            prop_assert_eq!(decoder.uvarint("u").unwrap(), unsigned);
            prop_assert_eq!(decoder.varint("s").unwrap(), signed);
            prop_assert!(decoder.expect_end("test").is_ok());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut decoder = Decoder::new(&bytes);
            while decoder.remaining() > 0 {
                if decoder.uvarint("u").is_err() {
                    break;
                }
            }
            let mut decoder = Decoder::new(&bytes);
            let _ = decoder.count("count", 3);
            let _ = decoder.u64_le("u64");
            let _ = decoder.bytes(usize::MAX, "huge");
        }
    }

    #[test]
    fn rejects_overflow_and_truncation() {
        let mut max = Vec::new();
        put_uvarint(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(Decoder::new(&max).uvarint("u"), Ok(u64::MAX));

        let mut overflowing = max.clone();
        overflowing[9] = 0x02;
        assert!(Decoder::new(&overflowing).uvarint("u").is_err());
        let eleven_bytes = [0x80u8; 10].iter().copied().chain([0]).collect::<Vec<_>>();
        assert!(Decoder::new(&eleven_bytes).uvarint("u").is_err());
        assert!(Decoder::new(&[0x80]).uvarint("u").is_err());

        let mut huge_count = Vec::new();
        put_uvarint(&mut huge_count, 1 << 40);
        let error = Decoder::new(&huge_count)
            .count("series count", 2)
            .unwrap_err();
        assert!(error.contains("series count"), "{error}");
    }
}
