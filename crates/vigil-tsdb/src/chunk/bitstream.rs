//! Bit-granular writer and reader over byte buffers, most significant bit first.
//!
//! Both sides move whole 64-bit words instead of single bits. The writer keeps the word that
//! holds the write position in a register and stores it (plus the word after it) on every
//! write, so the bytes are complete at all times without ever reading memory back, which
//! would stall on store forwarding. The reader loads the next 64 bits in one go and lets the
//! caller pick fields out of them. Neither allocates per bit.

/// Appends bit fields to a byte buffer whose encoded prefix is valid after every write.
#[derive(Debug, Clone)]
pub(super) struct BitWriter {
    /// The encoded bytes followed by zero bytes; every bit past `bit_len` is zero. Viewed as
    /// big-endian 64-bit words at offsets that are multiples of 8.
    buf: Vec<u8>,
    /// Number of bits written so far, header included.
    bit_len: usize,
    /// Copy of the word that holds bit `bit_len` (`buf[8 * (bit_len / 64)..][..8]`).
    current_word: u64,
}

impl BitWriter {
    /// Starts a stream whose first bytes are `header`, reserving `capacity_bytes`.
    pub(super) fn with_header(header: &[u8], capacity_bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity_bytes.max(header.len()));
        buf.extend_from_slice(header);
        Self::from_buf(buf, header.len() * 8)
    }

    /// Resumes writing after `bit_len` bits of an existing encoding.
    ///
    /// The bits of `encoded` past `bit_len` must be zero and `encoded` must end in the byte
    /// that holds bit `bit_len - 1`; the decoder checks both before calling this.
    pub(super) fn resume(encoded: Vec<u8>, bit_len: usize) -> Self {
        debug_assert_eq!(encoded.len(), bit_len.div_ceil(8));
        debug_assert!(
            bit_len.is_multiple_of(8)
                || encoded
                    .last()
                    .is_some_and(|last| last << (bit_len % 8) == 0)
        );
        Self::from_buf(encoded, bit_len)
    }

    fn from_buf(mut buf: Vec<u8>, bit_len: usize) -> Self {
        let word_offset = bit_len / 64 * 8;
        if buf.len() < word_offset + 16 {
            buf.resize(word_offset + 16, 0);
        }
        let mut writer = Self {
            buf,
            bit_len,
            current_word: 0,
        };
        writer.current_word = writer.load_word(word_offset);
        writer
    }

    /// The encoded bytes: everything written so far, the last byte zero-padded.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..self.bit_len.div_ceil(8)]
    }

    /// Gives up the encoded bytes without the zeroed tail.
    pub(super) fn into_bytes(mut self) -> Vec<u8> {
        self.buf.truncate(self.bit_len.div_ceil(8));
        self.buf
    }

    /// Overwrites already written whole bytes starting at `offset` (used for header fields).
    pub(super) fn overwrite_bytes(&mut self, offset: usize, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() <= self.bit_len / 8);
        self.buf[offset..offset + bytes.len()].copy_from_slice(bytes);
        // Keep the register copy in sync when the patch lands in the word it mirrors.
        let current_word_offset = self.bit_len / 64 * 8;
        if offset + bytes.len() > current_word_offset {
            self.current_word = self.load_word(current_word_offset);
        }
    }

    /// Appends the low `nbits` bits of `value` (`nbits <= 64`), most significant first;
    /// higher bits of `value` are ignored.
    #[inline(always)]
    pub(super) fn write_bits(&mut self, value: u64, nbits: u32) {
        debug_assert!(nbits <= 64);
        if nbits == 0 {
            return;
        }
        let word_offset = self.bit_len / 64 * 8;
        let used_bits = (self.bit_len % 64) as u32;
        if self.buf.len() < word_offset + 16 {
            self.grow(word_offset + 16);
        }
        let field = value << (64 - nbits);
        let high_word = self.current_word | (field >> used_bits);
        // The part of the field that spills into the next word; none when `used_bits` is 0.
        let low_word = field.checked_shl(64 - used_bits).unwrap_or(0);
        let slots = &mut self.buf[word_offset..word_offset + 16];
        slots[..8].copy_from_slice(&high_word.to_be_bytes());
        slots[8..].copy_from_slice(&low_word.to_be_bytes());
        let crosses_word = used_bits + nbits >= 64;
        self.current_word = if crosses_word { low_word } else { high_word };
        self.bit_len += nbits as usize;
    }

    fn load_word(&self, offset: usize) -> u64 {
        let mut word_bytes = [0u8; 8];
        word_bytes.copy_from_slice(&self.buf[offset..offset + 8]);
        u64::from_be_bytes(word_bytes)
    }

    /// Zero-extends the buffer to its whole allocation, reallocating (at least doubling) when
    /// that is shorter than `min_len`, so growing happens once per allocation, not per word.
    #[cold]
    fn grow(&mut self, min_len: usize) {
        self.buf.reserve(min_len.saturating_sub(self.buf.len()));
        self.buf.resize(self.buf.capacity(), 0);
    }
}

/// The input ended before the requested bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutOfBits;

/// Largest field the reader serves from its buffer in one step: after a refill at least 57
/// bits are buffered unless the input ends.
const MAX_BUFFERED_READ_BITS: u32 = 56;

/// Reads bit fields from a byte slice; reading past the end is an error, never a panic.
///
/// Upcoming bits sit left-aligned in a 64-bit buffer that [`BitReader::refill`] tops up with
/// one unaligned 8-byte load. Bits below the valid ones are either zero or the correct next
/// bits of the input (a later refill ORs the same bits into the same place), so a peek past
/// the valid bits never sees anything but the input or, at its end, zeros.
///
/// `Copy`, and its rare paths take and return it by value rather than through `&mut self`, so
/// a decode loop working on a local copy keeps it in registers.
#[derive(Debug, Clone, Copy)]
pub(super) struct BitReader<'a> {
    bytes: &'a [u8],
    /// First byte not yet loaded into `buffer`.
    next_byte: usize,
    /// Upcoming bits, most significant first.
    buffer: u64,
    /// How many of the top bits of `buffer` are valid: at most 63 after a fast refill, 64
    /// only once the tail has been loaded byte by byte (and no fast refill follows).
    buffered: u32,
}

impl<'a> BitReader<'a> {
    /// Reads `bytes` starting at byte `start_byte` (clamped to the end of the input).
    pub(super) fn new(bytes: &'a [u8], start_byte: usize) -> Self {
        Self {
            bytes,
            next_byte: start_byte.min(bytes.len()),
            buffer: 0,
            buffered: 0,
        }
    }

    /// The underlying input.
    pub(super) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of bits consumed so far, counted from the start of the input.
    pub(super) fn bit_pos(&self) -> usize {
        self.next_byte * 8 - self.buffered as usize
    }

    /// Buffers at least 57 bits, or everything that is left of the input.
    #[inline(always)]
    pub(super) fn refill(&mut self) {
        match self
            .bytes
            .get(self.next_byte..)
            .and_then(<[u8]>::first_chunk::<8>)
        {
            Some(next_bytes) => {
                self.buffer |= u64::from_be_bytes(*next_bytes) >> self.buffered;
                let whole_bytes_taken = (63 - self.buffered) / 8;
                self.next_byte += whole_bytes_taken as usize;
                self.buffered += whole_bytes_taken * 8;
            }
            None => *self = self.refilled_near_end(),
        }
    }

    /// [`Self::refill`] for the last few bytes, where fewer than 8 remain.
    #[cold]
    #[inline(never)]
    fn refilled_near_end(mut self) -> Self {
        while self.buffered <= MAX_BUFFERED_READ_BITS {
            let Some(&byte) = self.bytes.get(self.next_byte) else {
                break;
            };
            self.buffer |= u64::from(byte) << (56 - self.buffered);
            self.next_byte += 1;
            self.buffered += 8;
        }
        self
    }

    /// The upcoming bits, left-aligned, without consuming them. Only the first
    /// [`Self::buffered_bits`] are guaranteed; past the end of the input the rest are zero.
    #[inline(always)]
    pub(super) fn peek(&self) -> u64 {
        self.buffer
    }

    /// How many upcoming bits [`Self::peek`] holds for certain.
    #[inline(always)]
    pub(super) fn buffered_bits(&self) -> u32 {
        self.buffered
    }

    /// Skips `nbits` (`<= 63`) bits that the caller already took from [`Self::peek`].
    #[inline(always)]
    pub(super) fn consume(&mut self, nbits: u32) -> Result<(), OutOfBits> {
        debug_assert!(nbits < 64);
        if nbits > self.buffered {
            return Err(OutOfBits);
        }
        self.buffer <<= nbits;
        self.buffered -= nbits;
        Ok(())
    }

    /// Reads an `nbits`-bit field (`nbits <= 64`) into the low bits of the result.
    #[inline(always)]
    pub(super) fn read_bits(&mut self, nbits: u32) -> Result<u64, OutOfBits> {
        debug_assert!(nbits <= 64);
        if nbits == 0 || nbits > MAX_BUFFERED_READ_BITS {
            let (reader, field) = self.read_bits_wide(nbits);
            *self = reader;
            return field;
        }
        self.read_bits_buffered(nbits)
    }

    /// [`Self::read_bits`] for empty fields and fields wider than one refill guarantees.
    #[cold]
    #[inline(never)]
    fn read_bits_wide(mut self, nbits: u32) -> (Self, Result<u64, OutOfBits>) {
        if nbits == 0 {
            return (self, Ok(0));
        }
        let field = self.read_bits_buffered(nbits - 32).and_then(|high| {
            let low = self.read_bits_buffered(32)?;
            Ok((high << 32) | low)
        });
        (self, field)
    }

    /// Reads `1 <= nbits <= MAX_BUFFERED_READ_BITS` bits.
    #[inline(always)]
    fn read_bits_buffered(&mut self, nbits: u32) -> Result<u64, OutOfBits> {
        debug_assert!((1..=MAX_BUFFERED_READ_BITS).contains(&nbits));
        if nbits > self.buffered {
            self.refill();
        }
        let field = self.buffer >> (64 - nbits);
        self.consume(nbits)?;
        Ok(field)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn writes_msb_first_across_byte_boundaries() {
        let mut writer = BitWriter::with_header(&[0xAB], 0);
        writer.write_bits(0b1, 1);
        writer.write_bits(0b0110, 4);
        writer.write_bits(0x1FF, 9);
        assert_eq!(writer.bytes(), &[0xAB, 0b1011_0111, 0b1111_1100]);
        assert_eq!(writer.into_bytes(), vec![0xAB, 0b1011_0111, 0b1111_1100]);
    }

    #[test]
    fn reader_reports_out_of_bits_instead_of_panicking() {
        let bytes = [0xFF, 0x00];
        let mut reader = BitReader::new(&bytes, 0);
        assert_eq!(reader.read_bits(3), Ok(0b111));
        assert_eq!(reader.read_bits(5), Ok(0b11111));
        assert_eq!(reader.read_bits(8), Ok(0));
        assert_eq!(reader.read_bits(1), Err(OutOfBits));
        assert_eq!(reader.read_bits(0), Ok(0));
        assert_eq!(reader.bit_pos(), 16);
    }

    proptest! {
        #[test]
        fn fields_round_trip(
            fields in prop::collection::vec((any::<u64>(), 0u32..=64), 0..64),
            header in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut writer = BitWriter::with_header(&header, 0);
            for &(value, nbits) in &fields {
                writer.write_bits(value, nbits);
            }
            let total_bits: u32 = fields.iter().map(|&(_, nbits)| nbits).sum();
            prop_assert_eq!(writer.bytes().len(), (header.len() * 8 + total_bits as usize).div_ceil(8));

            let mut reader = BitReader::new(writer.bytes(), header.len());
            for &(value, nbits) in &fields {
                let expected = value & u64::MAX.checked_shr(64 - nbits).unwrap_or(0);
                prop_assert_eq!(reader.read_bits(nbits), Ok(expected));
            }
        }

        #[test]
        fn resumed_writer_matches_uninterrupted(
            fields in prop::collection::vec((any::<u64>(), 0u32..=64), 0..32),
            split in 0usize..32,
        ) {
            let split = split.min(fields.len());
            let mut uninterrupted = BitWriter::with_header(&[], 0);
            let mut first_half = BitWriter::with_header(&[], 0);
            for &(value, nbits) in &fields {
                uninterrupted.write_bits(value, nbits);
            }
            for &(value, nbits) in &fields[..split] {
                first_half.write_bits(value, nbits);
            }
            let bit_len: u32 = fields[..split].iter().map(|&(_, nbits)| nbits).sum();
            let mut resumed = BitWriter::resume(first_half.into_bytes(), bit_len as usize);
            for &(value, nbits) in &fields[split..] {
                resumed.write_bits(value, nbits);
            }
            prop_assert_eq!(resumed.bytes(), uninterrupted.bytes());
        }
    }
}
