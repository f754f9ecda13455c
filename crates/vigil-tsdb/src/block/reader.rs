//! Reading a committed block: validate everything on open, read chunks on demand.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use vigil_model::Matcher;

use super::chunks::{CHUNKS_HEADER_LEN, RECORD_OVERHEAD, check_chunks_header, decode_record};
use super::index::{IndexLimits, decode_index};
use super::meta::read_meta;
use super::{BlockError, BlockMeta, BlockSeries, CHUNKS_FILE, ChunkData, ChunkMeta, INDEX_FILE};
use crate::postings::MemPostings;

/// An opened, validated block.
///
/// Series, their chunk references and the postings live in memory (so memory grows with the
/// number of series and label strings of the block); chunk data stays on disk and is read
/// with positional reads, so one reader can serve concurrent queries through `&self`.
#[derive(Debug)]
pub struct BlockReader {
    dir: PathBuf,
    meta: BlockMeta,
    chunks_path: PathBuf,
    chunks_file: File,
    chunks_file_len: u64,
    size_bytes: u64,
    /// Sorted by labels; a series' id is its position.
    series: Vec<BlockSeries>,
    postings: MemPostings,
}

impl BlockReader {
    /// Opens the block in `dir`, validating `meta.json`, the `chunks` header and the whole
    /// `index` (magic, version, CRCs, bounds, ordering, postings against series, statistics).
    pub fn open(dir: &Path) -> Result<Self, BlockError> {
        let (meta, meta_len) = read_meta(dir)?;

        let chunks_path = dir.join(CHUNKS_FILE);
        let chunks_file =
            File::open(&chunks_path).map_err(|err| missing_or_io(&chunks_path, err))?;
        let chunks_file_len = chunks_file
            .metadata()
            .map_err(|err| BlockError::io(&chunks_path, err))?
            .len();
        if chunks_file_len < CHUNKS_HEADER_LEN {
            return Err(BlockError::corrupt(
                &chunks_path,
                format!(
                    "file is {chunks_file_len} bytes, shorter than its {CHUNKS_HEADER_LEN}-byte header"
                ),
            ));
        }
        let mut header = [0u8; CHUNKS_HEADER_LEN as usize];
        chunks_file
            .read_exact_at(&mut header, 0)
            .map_err(|err| BlockError::io(&chunks_path, err))?;
        check_chunks_header(&header).map_err(|reason| BlockError::corrupt(&chunks_path, reason))?;

        let index_path = dir.join(INDEX_FILE);
        // Reading the file whole allocates what the file system reports, never a stored length.
        let index_bytes = fs::read(&index_path).map_err(|err| missing_or_io(&index_path, err))?;
        let limits = IndexLimits {
            chunks_file_len,
            min_time_ms: meta.min_time,
            max_time_ms: meta.max_time,
        };
        let index = decode_index(&index_bytes, limits)
            .map_err(|reason| BlockError::corrupt(&index_path, reason))?;

        let found = (
            index.series.len() as u64,
            index.num_chunks,
            index.num_samples,
        );
        let stated = (
            meta.stats.num_series,
            meta.stats.num_chunks,
            meta.stats.num_samples,
        );
        if found != stated {
            return Err(BlockError::corrupt(
                &dir.join(super::META_FILE),
                format!(
                    "stats claim (series, chunks, samples) = {stated:?} but the index holds {found:?}"
                ),
            ));
        }

        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            chunks_path,
            chunks_file,
            chunks_file_len,
            size_bytes: meta_len + index_bytes.len() as u64 + chunks_file_len,
            series: index.series,
            postings: index.postings,
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Series matching all `matchers` (Prometheus semantics, see [`MemPostings::select`]),
    /// sorted by labels, each with only its chunks overlapping the inclusive
    /// `[min_ms, max_ms]`; series without such chunks are left out.
    pub fn select(&self, matchers: &[Matcher], min_ms: i64, max_ms: i64) -> Vec<BlockSeries> {
        let block_overlaps = self.meta.min_time <= max_ms && min_ms < self.meta.max_time;
        if !block_overlaps || min_ms > max_ms {
            return Vec::new();
        }
        // Ids ascend in label order, so the output is sorted without sorting.
        self.postings
            .select(matchers)
            .iter()
            .filter_map(|id| self.series.get(id as usize))
            .filter_map(|series| {
                let chunks: Vec<ChunkMeta> = series
                    .chunks
                    .iter()
                    .filter(|chunk| chunk.overlaps(min_ms, max_ms))
                    .copied()
                    .collect();
                (!chunks.is_empty()).then(|| BlockSeries {
                    labels: series.labels.clone(),
                    chunks,
                })
            })
            .collect()
    }

    /// Reads the chunk `chunk` refers to, checking its framing and CRC32C.
    pub fn read_chunk(&self, chunk: &ChunkMeta) -> Result<ChunkData, BlockError> {
        let record_len = RECORD_OVERHEAD + u64::from(chunk.data_len);
        let in_bounds = chunk.offset >= CHUNKS_HEADER_LEN
            && chunk
                .offset
                .checked_add(record_len)
                .is_some_and(|end| end <= self.chunks_file_len);
        if !in_bounds {
            return Err(BlockError::corrupt(
                &self.chunks_path,
                format!(
                    "chunk record of {record_len} bytes at offset {} is outside the file of {} bytes",
                    chunk.offset, self.chunks_file_len
                ),
            ));
        }
        // Bounded by the file length checked above.
        let mut record = vec![0u8; record_len as usize];
        self.chunks_file
            .read_exact_at(&mut record, chunk.offset)
            .map_err(|err| BlockError::io(&self.chunks_path, err))?;
        let (encoding, data_range) = decode_record(&record, chunk.data_len).map_err(|reason| {
            BlockError::corrupt(
                &self.chunks_path,
                format!("chunk at offset {}: {reason}", chunk.offset),
            )
        })?;
        Ok(ChunkData {
            min_time_ms: chunk.min_time_ms,
            max_time_ms: chunk.max_time_ms,
            num_samples: chunk.num_samples,
            encoding,
            data: Bytes::from(record).slice(data_range),
        })
    }

    /// Sorted label names of the series matching `matchers` (all series when empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        if matchers.is_empty() {
            return self.postings.label_names();
        }
        self.postings
            .label_names_for(&self.postings.select(matchers))
    }

    /// Sorted values of label `name` among the series matching `matchers` (all when empty).
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        if matchers.is_empty() {
            return self.postings.label_values(name);
        }
        self.postings
            .label_values_for(name, &self.postings.select(matchers))
    }

    /// The block's postings, e.g. for cardinality statistics.
    pub fn postings(&self) -> &MemPostings {
        &self.postings
    }

    /// Number of series in the block.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Total size of the block's files in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
}

/// A data file missing from a committed block is corruption, not a plain I/O failure.
fn missing_or_io(path: &Path, err: std::io::Error) -> BlockError {
    if err.kind() == ErrorKind::NotFound {
        BlockError::corrupt(path, "file is missing from a committed block")
    } else {
        BlockError::io(path, err)
    }
}
