//! Immutable blocks: the on-disk (and later object-store) form of compacted series data.
//!
//! A block is a directory named by its ULID holding three files: `chunks` (the encoded sample
//! chunks, opaque to this module), `index` (symbol table, series with their chunk references,
//! postings) and `meta.json`, written last as the commit marker. The byte layout is specified
//! in `docs/format/block.md`; `tests/block_compat.rs` opens a committed version-1 fixture so
//! the format cannot drift silently.
//!
//! [`BlockWriter`] streams series in label order and commits the block; [`BlockReader`] opens
//! a committed block, validating every file as untrusted input, keeps series and postings in
//! memory and reads chunks on demand with positional reads.

mod chunks;
mod encoding;
mod error;
mod index;
mod meta;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use vigil_model::Labels;

pub use error::BlockError;
pub use meta::{BlockCompaction, BlockMeta, BlockStats};
pub use reader::BlockReader;
pub use writer::{BlockWriter, NewBlockMeta};

/// The block format version this code writes and reads (`docs/format/block.md`).
pub const FORMAT_VERSION: u8 = 1;

/// Name of the metadata file, whose presence marks a block as committed.
pub const META_FILE: &str = "meta.json";

/// Name of the index file.
pub const INDEX_FILE: &str = "index";

/// Name of the chunks file.
pub const CHUNKS_FILE: &str = "chunks";

/// Temporary name `meta.json` is written under before the committing rename.
const META_TMP_FILE: &str = "meta.json.tmp";

/// Where one chunk of a series lives in a block's `chunks` file, and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Timestamp of the chunk's first sample (ms, inclusive).
    pub min_time_ms: i64,
    /// Timestamp of the chunk's last sample (ms, inclusive).
    pub max_time_ms: i64,
    /// Number of samples in the chunk.
    pub num_samples: u32,
    /// Byte offset of the chunk's record in the `chunks` file.
    pub offset: u64,
    /// Length of the chunk's encoded data (without the record framing).
    pub data_len: u32,
}

impl ChunkMeta {
    /// True when the chunk's time range shares an instant with the inclusive `[min_ms, max_ms]`.
    pub fn overlaps(&self, min_ms: i64, max_ms: i64) -> bool {
        self.min_time_ms <= max_ms && min_ms <= self.max_time_ms
    }
}

/// One encoded chunk: what the writer is given and what [`BlockReader::read_chunk`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkData {
    /// Timestamp of the chunk's first sample (ms, inclusive).
    pub min_time_ms: i64,
    /// Timestamp of the chunk's last sample (ms, inclusive).
    pub max_time_ms: i64,
    /// Number of samples in the chunk.
    pub num_samples: u32,
    /// How `data` encodes the samples (1 = Gorilla XOR); opaque to blocks.
    pub encoding: u8,
    /// The encoded samples.
    pub data: Bytes,
}

/// A series of a block with references to its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSeries {
    /// The series' labels.
    pub labels: Labels,
    /// The series' chunks, ordered by min time.
    pub chunks: Vec<ChunkMeta>,
}
