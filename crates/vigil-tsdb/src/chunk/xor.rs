//! The XOR chunk: Gorilla delta-of-delta timestamps and XOR-compressed values.
//!
//! Layout and rationale: `docs/format/chunk.md`. The appender ([`XorChunk`]) keeps the
//! encoded bytes complete after every append; the decoder ([`XorIter`]) walks any byte slice
//! and turns every inconsistency into a [`ChunkError`].

use std::iter::FusedIterator;

use vigil_model::Sample;

use super::bitstream::{BitReader, BitWriter, OutOfBits};
use super::{ChunkError, ENCODING_XOR};

/// Most samples one XOR chunk can hold: the header stores the count in 16 bits.
pub const MAX_SAMPLES: usize = u16::MAX as usize;

/// Encoding byte plus the big-endian 16-bit sample count.
const HEADER_LEN: usize = 3;
const NUM_SAMPLES_OFFSET: usize = 1;
/// Enough for a typical 120-sample chunk of a counter without reallocating.
const INITIAL_CAPACITY_BYTES: usize = 256;

/// The leading-zero count of a new XOR window is stored in 5 bits.
const MAX_LEADING_ZEROS: u32 = 31;
/// Prefix `11` + 5 bits of leading zeros + 6 bits of significant-bit count.
const NEW_WINDOW_HEADER_BITS: u32 = 13;
/// Prefix `10`.
const REUSED_WINDOW_HEADER_BITS: u32 = 2;
/// A varint carries at most 64 bits in 10 groups of 7.
const MAX_VARINT_BYTES: u32 = 10;

/// Where the previous XOR's meaningful bits were: `leading_zeros` above, `trailing_zeros`
/// below. Invariant: `leading_zeros + trailing_zeros < 64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct XorWindow {
    leading_zeros: u32,
    trailing_zeros: u32,
}

impl XorWindow {
    /// Bits between the leading and trailing zeros; at least 1.
    fn significant_bits(self) -> u32 {
        64 - self.leading_zeros - self.trailing_zeros
    }
}

/// What encoding or decoding the next sample depends on; identical on both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SeriesState {
    /// Timestamp of the last sample.
    timestamp: i64,
    /// `timestamp - previous timestamp`, modulo 2^64 (0 before the second sample).
    delta: u64,
    /// Bit pattern of the last value.
    value_bits: u64,
    /// The XOR window values may reuse; `None` until the first new-window header.
    window: Option<XorWindow>,
}

/// An appendable Gorilla XOR chunk: the encoded bytes plus the state needed to extend them.
///
/// [`XorChunk::bytes`] is a complete, decodable chunk after every append.
#[derive(Debug, Clone)]
pub struct XorChunk {
    writer: BitWriter,
    num_samples: u16,
    first_timestamp: i64,
    state: SeriesState,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        Self {
            writer: BitWriter::with_header(&[ENCODING_XOR, 0, 0], INITIAL_CAPACITY_BYTES),
            num_samples: 0,
            first_timestamp: 0,
            state: SeriesState::default(),
        }
    }

    /// Appends one sample; `timestamp_ms` must be greater than the last appended timestamp.
    ///
    /// A non-increasing timestamp is caught by a `debug_assert!` only; in release builds it is
    /// encoded faithfully and the decoder then rejects the chunk.
    ///
    /// # Panics
    ///
    /// If the chunk already holds [`MAX_SAMPLES`] samples (see [`XorChunk::is_full`]).
    pub fn append(&mut self, timestamp_ms: i64, value: f64) {
        assert!(
            !self.is_full(),
            "xor chunk already holds the maximum of {MAX_SAMPLES} samples"
        );
        debug_assert!(
            self.num_samples == 0 || timestamp_ms > self.state.timestamp,
            "timestamp {timestamp_ms} appended after {}",
            self.state.timestamp
        );
        let value_bits = value.to_bits();
        let writer = &mut self.writer;
        if self.num_samples >= 2 {
            let delta = timestamp_ms.wrapping_sub(self.state.timestamp) as u64;
            let delta_of_delta = delta.wrapping_sub(self.state.delta) as i64;
            let value_fields =
                encode_value(&mut self.state.window, self.state.value_bits, value_bits);
            match delta_of_delta_field(delta_of_delta) {
                Some(timestamp_field) => write_fields(writer, timestamp_field, value_fields),
                None => {
                    writer.write_bits(0b1111, 4);
                    writer.write_bits(delta_of_delta as u64, 64);
                    write_fields(writer, Field::EMPTY, value_fields);
                }
            }
            self.state.delta = delta;
        } else if self.num_samples == 1 {
            let delta = timestamp_ms.wrapping_sub(self.state.timestamp) as u64;
            write_varint(writer, delta);
            let value_fields =
                encode_value(&mut self.state.window, self.state.value_bits, value_bits);
            write_fields(writer, Field::EMPTY, value_fields);
            self.state.delta = delta;
        } else {
            write_varint(writer, zigzag_encode(timestamp_ms));
            writer.write_bits(value_bits, 64);
            self.first_timestamp = timestamp_ms;
        }
        self.state.timestamp = timestamp_ms;
        self.state.value_bits = value_bits;
        self.num_samples += 1;
        self.writer
            .overwrite_bytes(NUM_SAMPLES_OFFSET, &self.num_samples.to_be_bytes());
    }

    /// Number of samples appended so far.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num_samples)
    }

    /// True when the chunk holds [`MAX_SAMPLES`] samples and refuses further appends.
    pub fn is_full(&self) -> bool {
        self.num_samples() >= MAX_SAMPLES
    }

    /// Timestamp of the first sample, `None` for an empty chunk.
    pub fn first_timestamp(&self) -> Option<i64> {
        (self.num_samples > 0).then_some(self.first_timestamp)
    }

    /// Timestamp of the last sample, `None` for an empty chunk.
    pub fn last_timestamp(&self) -> Option<i64> {
        (self.num_samples > 0).then_some(self.state.timestamp)
    }

    /// The complete encoded chunk, sample count included.
    pub fn bytes(&self) -> &[u8] {
        self.writer.bytes()
    }

    /// Gives up the encoded chunk, e.g. to store it in a block.
    pub fn into_bytes(self) -> Vec<u8> {
        self.writer.into_bytes()
    }

    /// Iterates over the samples in timestamp order.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.bytes())
    }

    /// Validates `bytes` by decoding them fully and restores the appender state, so appends
    /// continue exactly as if the chunk had never been serialised.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<XorChunk, ChunkError> {
        let mut decoder = XorDecoder::new(&bytes)?;
        while decoder.next_sample()?.is_some() {}
        decoder.check_end()?;
        let (num_samples, first_timestamp, state) =
            (decoder.num_samples, decoder.first_timestamp, decoder.state);
        let bit_len = decoder.reader.bit_pos();
        Ok(Self {
            writer: BitWriter::resume(bytes, bit_len),
            num_samples,
            first_timestamp,
            state,
        })
    }
}

impl<'a> IntoIterator for &'a XorChunk {
    type Item = Sample;
    type IntoIter = XorIter<'a>;

    fn into_iter(self) -> XorIter<'a> {
        self.iter()
    }
}

/// Decodes all samples of an XOR chunk, rejecting anything that is not exactly a valid chunk.
pub fn decode_xor(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut iter = XorIter::new(bytes);
    // Every sample takes at least 2 bits, so a lying header cannot force a huge allocation.
    let capacity = iter.size_hint().1.unwrap_or(0).min(bytes.len() * 4);
    let mut samples = Vec::with_capacity(capacity);
    samples.extend(&mut iter);
    match iter.error {
        Some(error) => Err(error),
        None => Ok(samples),
    }
}

/// Samples [`XorIter`] decodes ahead in one tight loop, whose state then stays in registers.
const DECODE_BATCH: usize = 16;

/// Streaming decoder over the bytes of an XOR chunk, yielding [`Sample`]s.
///
/// Decodes ahead in batches of 16 samples, kept inline (no allocation). On corrupt or truncated input it yields the samples before the damage, then stops and
/// keeps the reason in [`XorIter::error`]. Once it has returned `None`, `error()` being
/// `None` means the whole chunk was valid, with the same strictness as [`decode_xor`].
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    decoder: XorDecoder<'a>,
    /// Samples decoded ahead; `batch[batch_pos..batch_len]` are still to be yielded.
    batch: [Sample; DECODE_BATCH],
    batch_pos: usize,
    batch_len: usize,
    /// The decoder has nothing more to give (end of chunk or an error).
    exhausted: bool,
    error: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// Starts decoding `bytes`; header errors surface through [`XorIter::error`].
    pub fn new(bytes: &'a [u8]) -> Self {
        let (decoder, error) = match XorDecoder::new(bytes) {
            Ok(decoder) => (decoder, None),
            Err(error) => (XorDecoder::empty(bytes), Some(error)),
        };
        Self {
            decoder,
            batch: [Sample::new(0, 0.0); DECODE_BATCH],
            batch_pos: 0,
            batch_len: 0,
            exhausted: error.is_some(),
            error,
        }
    }

    /// Why decoding stopped early, if it did.
    ///
    /// Final once [`Iterator::next`] has returned `None`; it may be set earlier, while the
    /// samples decoded before the damage are still being yielded.
    pub fn error(&self) -> Option<&ChunkError> {
        self.error.as_ref()
    }

    /// Decodes the next batch and yields its first sample.
    #[inline(never)]
    fn next_from_new_batch(&mut self) -> Option<Sample> {
        if self.exhausted {
            return None;
        }
        let (decoded, failure) = self.decoder.decode_batch(&mut self.batch);
        self.batch_pos = 0;
        self.batch_len = decoded;
        if let Some(error) = failure {
            self.exhausted = true;
            self.error = Some(error);
        } else if self.decoder.remaining_samples() == 0 {
            self.exhausted = true;
            self.error = self.decoder.check_end().err();
        }
        if decoded == 0 {
            return None;
        }
        self.batch_pos = 1;
        self.batch.first().copied()
    }
}

impl Iterator for XorIter<'_> {
    type Item = Sample;

    #[inline]
    fn next(&mut self) -> Option<Sample> {
        if self.batch_pos < self.batch_len {
            let sample = self.batch.get(self.batch_pos).copied();
            self.batch_pos += 1;
            return sample;
        }
        self.next_from_new_batch()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let batched = self.batch_len - self.batch_pos;
        let undecoded = if self.exhausted {
            0
        } else {
            self.decoder.remaining_samples()
        };
        // Corrupt input can end the iteration early, so only the batched samples are certain.
        (batched, Some(batched + undecoded))
    }
}

impl FusedIterator for XorIter<'_> {}

/// Decodes one sample at a time, mirroring [`XorChunk::append`].
///
/// `Copy` so the batch loop can work on a local copy that the optimiser keeps in registers;
/// for the same reason nothing on the hot path passes `&mut self` to a function that is not
/// inlined.
#[derive(Debug, Clone, Copy)]
struct XorDecoder<'a> {
    reader: BitReader<'a>,
    num_samples: u16,
    next_index: usize,
    first_timestamp: i64,
    state: SeriesState,
}

impl<'a> XorDecoder<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let Some((&[encoding, count_high, count_low], _)) = bytes.split_first_chunk::<HEADER_LEN>()
        else {
            return Err(ChunkError::TruncatedHeader {
                len: bytes.len(),
                header_len: HEADER_LEN,
            });
        };
        if encoding != ENCODING_XOR {
            return Err(ChunkError::UnknownEncoding { encoding });
        }
        Ok(Self {
            reader: BitReader::new(bytes, HEADER_LEN),
            num_samples: u16::from_be_bytes([count_high, count_low]),
            ..Self::empty(bytes)
        })
    }

    /// A decoder that yields nothing, for input whose header is unusable.
    fn empty(bytes: &'a [u8]) -> Self {
        Self {
            reader: BitReader::new(bytes, 0),
            num_samples: 0,
            next_index: 0,
            first_timestamp: 0,
            state: SeriesState::default(),
        }
    }

    fn remaining_samples(&self) -> usize {
        usize::from(self.num_samples).saturating_sub(self.next_index)
    }

    /// Decodes up to `out.len()` samples into `out`; returns how many, and the error that
    /// stopped decoding early, if any.
    fn decode_batch(&mut self, out: &mut [Sample]) -> (usize, Option<ChunkError>) {
        let mut decoded = 0;
        // Samples 0 and 1 have their own layout; take them outside the hot loop.
        while self.next_index < 2 && decoded < out.len() {
            match self.next_sample() {
                Ok(Some(sample)) => {
                    out[decoded] = sample;
                    decoded += 1;
                }
                Ok(None) => return (decoded, None),
                Err(error) => return (decoded, Some(error)),
            }
        }
        let mut local = *self;
        let mut failure = None;
        let wanted = (out.len() - decoded).min(local.remaining_samples());
        for slot in &mut out[decoded..decoded + wanted] {
            match local.decode_later_sample(local.next_index) {
                Ok(sample) => {
                    *slot = sample;
                    local.next_index += 1;
                    decoded += 1;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        *self = local;
        (decoded, failure)
    }

    /// Decodes the next sample, `Ok(None)` after the last one.
    #[inline]
    fn next_sample(&mut self) -> Result<Option<Sample>, ChunkError> {
        let sample_index = self.next_index;
        if sample_index >= usize::from(self.num_samples) {
            return Ok(None);
        }
        let sample = if sample_index >= 2 {
            self.decode_later_sample(sample_index)?
        } else {
            self.decode_first_samples(sample_index)?
        };
        self.next_index += 1;
        Ok(Some(sample))
    }

    /// Samples 0 and 1, which carry a varint timestamp (delta) instead of a delta-of-delta.
    #[cold]
    fn decode_first_samples(&mut self, sample_index: usize) -> Result<Sample, ChunkError> {
        let truncated = truncated_error(sample_index, self.num_samples);
        let (timestamp, value_bits) = if sample_index == 0 {
            let timestamp = zigzag_decode(self.read_varint(sample_index)?);
            let value_bits = self.reader.read_bits(64).map_err(truncated)?;
            self.first_timestamp = timestamp;
            (timestamp, value_bits)
        } else {
            let delta = self.read_varint(sample_index)?;
            let timestamp = self.next_timestamp(sample_index, delta)?;
            (timestamp, self.read_value(sample_index)?)
        };
        self.state.timestamp = timestamp;
        self.state.value_bits = value_bits;
        Ok(Sample::new(timestamp, f64::from_bits(value_bits)))
    }

    /// Samples 2 and later: the hot path.
    #[inline(always)]
    fn decode_later_sample(&mut self, sample_index: usize) -> Result<Sample, ChunkError> {
        let truncated = truncated_error(sample_index, self.num_samples);
        self.reader.refill();
        let delta_of_delta = self.read_delta_of_delta().map_err(truncated)?;
        let delta = self.state.delta.wrapping_add(delta_of_delta as u64);
        let timestamp = self.next_timestamp(sample_index, delta)?;
        let value_bits = self.read_value(sample_index)?;
        self.state.timestamp = timestamp;
        self.state.value_bits = value_bits;
        Ok(Sample::new(timestamp, f64::from_bits(value_bits)))
    }

    /// Applies `delta` to the last timestamp and checks the result moves forward.
    #[inline(always)]
    fn next_timestamp(&mut self, sample_index: usize, delta: u64) -> Result<i64, ChunkError> {
        let previous_timestamp_ms = self.state.timestamp;
        let timestamp_ms = previous_timestamp_ms.wrapping_add(delta as i64);
        if timestamp_ms <= previous_timestamp_ms {
            return Err(ChunkError::TimestampNotIncreasing {
                sample_index,
                timestamp_ms,
                previous_timestamp_ms,
            });
        }
        self.state.delta = delta;
        Ok(timestamp_ms)
    }

    fn read_varint(&mut self, sample_index: usize) -> Result<u64, ChunkError> {
        let truncated = truncated_error(sample_index, self.num_samples);
        let mut value = 0u64;
        for group in 0..MAX_VARINT_BYTES {
            let byte = self.reader.read_bits(8).map_err(truncated)?;
            // The tenth group holds only bit 63, so anything above 1 overflows.
            if group == MAX_VARINT_BYTES - 1 && byte > 1 {
                break;
            }
            value |= (byte & 0x7F) << (7 * group);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ChunkError::VarintOverflow { sample_index })
    }

    /// Reads a bucketed delta-of-delta; expects a freshly refilled reader.
    #[inline(always)]
    fn read_delta_of_delta(&mut self) -> Result<i64, OutOfBits> {
        let word = self.reader.peek();
        // `(word << prefix) as i64 >> (64 - width)` sign-extends the two's-complement payload.
        // An if-chain rather than a `match` on the prefix: it compiles to predictable branches
        // instead of an indirect jump.
        let (consumed_bits, delta_of_delta) = if word >> 63 == 0 {
            (1, 0)
        } else if word >> 62 == 0b10 {
            (2 + 14, ((word << 2) as i64) >> (64 - 14))
        } else if word >> 61 == 0b110 {
            (3 + 17, ((word << 3) as i64) >> (64 - 17))
        } else if word >> 60 == 0b1110 {
            (4 + 20, ((word << 4) as i64) >> (64 - 20))
        } else {
            self.reader.consume(4)?;
            return Ok(self.reader.read_bits(64)? as i64);
        };
        self.reader.consume(consumed_bits)?;
        Ok(delta_of_delta)
    }

    /// Reads an XOR-encoded value.
    #[inline(always)]
    fn read_value(&mut self, sample_index: usize) -> Result<u64, ChunkError> {
        let truncated = truncated_error(sample_index, self.num_samples);
        // The control bits and window header must be in the buffer to be peeked; after a
        // short delta-of-delta they always are.
        if self.reader.buffered_bits() < NEW_WINDOW_HEADER_BITS {
            self.reader.refill();
        }
        let word = self.reader.peek();
        if word >> 63 == 0 {
            self.reader.consume(1).map_err(truncated)?;
            return Ok(self.state.value_bits);
        }
        // Consume the header before trusting it: past the end the peeked word is zero padding.
        let window = if word >> 62 == 0b10 {
            self.reader
                .consume(REUSED_WINDOW_HEADER_BITS)
                .map_err(truncated)?;
            self.state
                .window
                .ok_or(ChunkError::MissingXorWindow { sample_index })?
        } else {
            self.reader
                .consume(NEW_WINDOW_HEADER_BITS)
                .map_err(truncated)?;
            let leading_zeros = ((word >> 57) & 0x1F) as u32;
            let significant_bits = match ((word >> 51) & 0x3F) as u32 {
                0 => 64,
                count => count,
            };
            if leading_zeros + significant_bits > 64 {
                return Err(ChunkError::InvalidXorWindow {
                    sample_index,
                    leading_zeros,
                    significant_bits,
                });
            }
            let window = XorWindow {
                leading_zeros,
                trailing_zeros: 64 - leading_zeros - significant_bits,
            };
            self.state.window = Some(window);
            window
        };
        let meaningful_bits = self
            .reader
            .read_bits(window.significant_bits())
            .map_err(truncated)?;
        Ok(self.state.value_bits ^ (meaningful_bits << window.trailing_zeros))
    }

    /// After the last sample: the input must end in the byte holding the last bit, and that
    /// byte's padding must be zero.
    fn check_end(&self) -> Result<(), ChunkError> {
        let end_bit = self.reader.bit_pos();
        let expected_len = end_bit.div_ceil(8);
        let bytes = self.reader.bytes();
        if bytes.len() != expected_len {
            return Err(ChunkError::TrailingBytes {
                num_samples: usize::from(self.num_samples),
                expected_len,
                actual_len: bytes.len(),
            });
        }
        let padding_bits = (expected_len * 8 - end_bit) as u32;
        match bytes.last() {
            Some(&final_byte) if padding_bits > 0 && final_byte << (8 - padding_bits) != 0 => {
                Err(ChunkError::NonZeroPadding {
                    final_byte,
                    padding_bits,
                })
            }
            _ => Ok(()),
        }
    }
}

fn truncated_error(
    sample_index: usize,
    num_samples: u16,
) -> impl Fn(OutOfBits) -> ChunkError + Copy {
    move |OutOfBits| ChunkError::Truncated {
        sample_index,
        num_samples: usize::from(num_samples),
    }
}

fn zigzag_encode(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn zigzag_decode(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn write_varint(writer: &mut BitWriter, mut value: u64) {
    while value >= 0x80 {
        writer.write_bits((value & 0x7F) | 0x80, 8);
        value >>= 7;
    }
    writer.write_bits(value, 8);
}

/// A bit field of at most 64 bits, held in the low `len` bits of `bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    bits: u64,
    len: u32,
}

impl Field {
    const EMPTY: Field = Field { bits: 0, len: 0 };
}

/// An encoded value: the control bits and window header (`head`, at most 13 bits) followed by
/// the meaningful XOR bits (`payload`, at most 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValueFields {
    head: Field,
    payload: Field,
}

/// True when `value` fits a `bits`-wide two's-complement field.
#[inline]
fn fits_signed(value: i64, bits: u32) -> bool {
    let limit = 1i64 << (bits - 1);
    (-limit..limit).contains(&value)
}

/// The bucketed delta-of-delta field, or `None` when only the 64-bit bucket holds it.
#[inline(always)]
fn delta_of_delta_field(delta_of_delta: i64) -> Option<Field> {
    let bucket = |prefix: u64, prefix_len: u32, payload_len: u32| {
        let payload = delta_of_delta as u64 & ((1 << payload_len) - 1);
        Some(Field {
            bits: (prefix << payload_len) | payload,
            len: prefix_len + payload_len,
        })
    };
    if delta_of_delta == 0 {
        Some(Field { bits: 0, len: 1 })
    } else if fits_signed(delta_of_delta, 14) {
        bucket(0b10, 2, 14)
    } else if fits_signed(delta_of_delta, 17) {
        bucket(0b110, 3, 17)
    } else if fits_signed(delta_of_delta, 20) {
        bucket(0b1110, 4, 20)
    } else {
        None
    }
}

/// Encodes `value_bits` against the previous value, updating the XOR window.
#[inline(always)]
fn encode_value(
    window: &mut Option<XorWindow>,
    previous_bits: u64,
    value_bits: u64,
) -> ValueFields {
    let xor = previous_bits ^ value_bits;
    if xor == 0 {
        return ValueFields {
            head: Field { bits: 0, len: 1 },
            payload: Field::EMPTY,
        };
    }
    let leading_zeros = xor.leading_zeros().min(MAX_LEADING_ZEROS);
    let trailing_zeros = xor.trailing_zeros();
    if let Some(current) = *window
        && leading_zeros >= current.leading_zeros
        && trailing_zeros >= current.trailing_zeros
    {
        return ValueFields {
            head: Field {
                bits: 0b10,
                len: REUSED_WINDOW_HEADER_BITS,
            },
            payload: Field {
                bits: xor >> current.trailing_zeros,
                len: current.significant_bits(),
            },
        };
    }
    let new_window = XorWindow {
        leading_zeros,
        trailing_zeros,
    };
    *window = Some(new_window);
    let significant_bits = new_window.significant_bits();
    // A count of 64 does not fit 6 bits and is stored as 0.
    let header =
        (0b11 << 11) | (u64::from(leading_zeros) << 6) | u64::from(significant_bits & 0x3F);
    ValueFields {
        head: Field {
            bits: header,
            len: NEW_WINDOW_HEADER_BITS,
        },
        payload: Field {
            bits: xor >> trailing_zeros,
            len: significant_bits,
        },
    }
}

/// Writes `prefix` (at most 24 bits) and the value's fields, in as few writes as fit a word.
#[inline(always)]
fn write_fields(writer: &mut BitWriter, prefix: Field, value: ValueFields) {
    let head_len = prefix.len + value.head.len;
    let head = (prefix.bits << value.head.len) | value.head.bits;
    let total_len = head_len + value.payload.len;
    if total_len <= 64 {
        // `value.payload.len < 64` here because the head holds at least one bit.
        writer.write_bits((head << value.payload.len) | value.payload.bits, total_len);
    } else {
        writer.write_bits(head, head_len);
        writer.write_bits(value.payload.bits, value.payload.len);
    }
}

#[cfg(test)]
mod tests;
