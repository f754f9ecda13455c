//! Chunk encodings: the compressed run of consecutive samples of one series.
//!
//! The head appends to an open chunk sample by sample and blocks store closed chunks
//! verbatim. The only encoding is the Gorilla-style XOR encoding ([`XorChunk`]); its byte
//! layout is specified in `docs/format/chunk.md`. Decoding never trusts its input: corrupt or
//! truncated bytes yield a [`ChunkError`], never a panic.
//!
//! This module depends only on `vigil-model`.

mod bitstream;
mod xor;

pub use xor::{MAX_SAMPLES, XorChunk, XorIter, decode_xor};

/// Encoding byte of the XOR (Gorilla) encoding, version 1; the first byte of every XOR chunk.
pub const ENCODING_XOR: u8 = 1;

/// Why a chunk's bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The bytes are too short to hold the fixed header.
    #[error("chunk of {len} bytes is shorter than its {header_len}-byte header")]
    TruncatedHeader {
        /// Length of the rejected input.
        len: usize,
        /// Length of the fixed header.
        header_len: usize,
    },
    /// The first byte names an encoding this module does not know.
    #[error(
        "chunk encoding byte {encoding:#04x} is unknown (expected {ENCODING_XOR:#04x} for xor)"
    )]
    UnknownEncoding {
        /// The encoding byte found.
        encoding: u8,
    },
    /// The bytes end in the middle of a sample.
    #[error("chunk ends inside sample {sample_index} of {num_samples}")]
    Truncated {
        /// Zero-based index of the sample being decoded.
        sample_index: usize,
        /// Sample count announced by the header.
        num_samples: usize,
    },
    /// A varint has more than 64 bits of payload.
    #[error("varint of sample {sample_index} overflows 64 bits")]
    VarintOverflow {
        /// Zero-based index of the sample being decoded.
        sample_index: usize,
    },
    /// A value reuses the previous XOR window before any window was written.
    #[error("sample {sample_index} reuses the xor window before any window was written")]
    MissingXorWindow {
        /// Zero-based index of the sample being decoded.
        sample_index: usize,
    },
    /// A new XOR window claims more than 64 bits.
    #[error(
        "sample {sample_index} has an xor window of {leading_zeros} leading zeros and \
         {significant_bits} significant bits, more than 64 in total"
    )]
    InvalidXorWindow {
        /// Zero-based index of the sample being decoded.
        sample_index: usize,
        /// Leading zero count read from the window header.
        leading_zeros: u32,
        /// Significant bit count read from the window header.
        significant_bits: u32,
    },
    /// A timestamp is not strictly greater than the one before it.
    #[error(
        "sample {sample_index} has timestamp {timestamp_ms} which is not after the previous \
         timestamp {previous_timestamp_ms}"
    )]
    TimestampNotIncreasing {
        /// Zero-based index of the offending sample.
        sample_index: usize,
        /// The offending timestamp.
        timestamp_ms: i64,
        /// The timestamp of the sample before it.
        previous_timestamp_ms: i64,
    },
    /// Bytes follow the one that holds the last bit of the last sample.
    #[error(
        "chunk has {actual_len} bytes but its {num_samples} samples end at byte {expected_len}"
    )]
    TrailingBytes {
        /// Sample count announced by the header.
        num_samples: usize,
        /// Length implied by the decoded samples.
        expected_len: usize,
        /// Length of the input.
        actual_len: usize,
    },
    /// The unused low bits of the final byte are not zero.
    #[error(
        "final chunk byte {final_byte:#010b} has non-zero padding in its low {padding_bits} bits"
    )]
    NonZeroPadding {
        /// The final byte of the input.
        final_byte: u8,
        /// Number of padding bits at the low end of that byte.
        padding_bits: u32,
    },
}
