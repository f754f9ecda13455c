//! Writing a block: stream series in label order, then commit with `meta.json`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ulid::Ulid;
use vigil_model::Labels;

use super::chunks::{CHUNKS_HEADER_LEN, chunks_header, encode_record};
use super::index::encode_index;
use super::meta::{sync_dir, write_meta};
use super::{
    BlockCompaction, BlockError, BlockMeta, BlockSeries, BlockStats, CHUNKS_FILE, ChunkData,
    ChunkMeta, FORMAT_VERSION, INDEX_FILE,
};

/// What the caller decides about a block; the writer derives ULID and statistics itself.
#[derive(Debug, Clone)]
pub struct NewBlockMeta {
    /// Start of the block's time range (ms, inclusive); every chunk must start at or after it.
    pub min_time: i64,
    /// End of the block's time range (ms, exclusive); every chunk must end before it.
    pub max_time: i64,
    /// The block's lineage. Empty `sources` mean a block cut from the head: the writer then
    /// records the block's own ULID as its only source.
    pub compaction: BlockCompaction,
    /// The tenant owning the block's series.
    pub tenant: String,
}

/// Writes one block directory.
///
/// Chunks are streamed to disk as series arrive; series metadata stays in memory until
/// [`BlockWriter::finish`] writes the index and commits. A writer dropped without `finish`, or
/// after an I/O error, leaves an uncommitted directory (no `meta.json`) that readers refuse
/// and cleanup may delete.
#[derive(Debug)]
pub struct BlockWriter {
    dir: PathBuf,
    ulid: Ulid,
    chunks_path: PathBuf,
    chunks: BufWriter<File>,
    /// Bytes written to `chunks` so far, i.e. the offset of the next record.
    chunks_len: u64,
    /// Scratch buffer for one chunk record.
    record: Vec<u8>,
    series: Vec<BlockSeries>,
    num_samples: u64,
    /// Smallest chunk min time and largest chunk max time seen so far.
    time_bounds: Option<(i64, i64)>,
    /// Set once an I/O error left the files in an unknown state.
    failed: bool,
}

impl BlockWriter {
    /// Creates the block directory `dir`, whose name must be the block's ULID and which must
    /// not exist yet, and starts its `chunks` file.
    pub fn create(dir: &Path) -> Result<Self, BlockError> {
        let name = dir.file_name().and_then(|name| name.to_str()).unwrap_or("");
        let ulid: Ulid = name.parse().map_err(|_| {
            BlockError::invalid_input(format!(
                "block directory {} is not named by a ULID",
                dir.display()
            ))
        })?;
        fs::create_dir(dir).map_err(|err| BlockError::io(dir, err))?;
        // Make the new directory's own entry durable, not just its contents later on.
        if let Some(parent) = dir.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            sync_dir(parent)?;
        }

        let chunks_path = dir.join(CHUNKS_FILE);
        let file =
            File::create_new(&chunks_path).map_err(|err| BlockError::io(&chunks_path, err))?;
        let mut chunks = BufWriter::with_capacity(1 << 20, file);
        chunks
            .write_all(&chunks_header())
            .map_err(|err| BlockError::io(&chunks_path, err))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            ulid,
            chunks_path,
            chunks,
            chunks_len: CHUNKS_HEADER_LEN,
            record: Vec::new(),
            series: Vec::new(),
            num_samples: 0,
            time_bounds: None,
            failed: false,
        })
    }

    /// The block's ULID, taken from the directory name.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a series and writes its chunks.
    ///
    /// Series must come in strictly increasing [`Labels`] order, have at least one label and
    /// at least one chunk; chunks must be ordered by min time, have `min <= max` and at most
    /// `u32::MAX` bytes of data. Rejected input leaves the writer usable.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkData]) -> Result<(), BlockError> {
        self.check_not_failed()?;
        self.check_series(labels, chunks)?;

        let mut chunk_metas = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            self.record.clear();
            encode_record(&mut self.record, chunk.encoding, &chunk.data);
            if let Err(err) = self.chunks.write_all(&self.record) {
                self.failed = true;
                return Err(BlockError::io(&self.chunks_path, err));
            }
            chunk_metas.push(ChunkMeta {
                min_time_ms: chunk.min_time_ms,
                max_time_ms: chunk.max_time_ms,
                num_samples: chunk.num_samples,
                offset: self.chunks_len,
                // `check_series` rejected longer data.
                data_len: chunk.data.len() as u32,
            });
            self.chunks_len += self.record.len() as u64;
            self.num_samples += u64::from(chunk.num_samples);
            let (min, max) = self
                .time_bounds
                .unwrap_or((chunk.min_time_ms, chunk.max_time_ms));
            self.time_bounds = Some((min.min(chunk.min_time_ms), max.max(chunk.max_time_ms)));
        }
        self.series.push(BlockSeries {
            labels: labels.clone(),
            chunks: chunk_metas,
        });
        Ok(())
    }

    fn check_not_failed(&self) -> Result<(), BlockError> {
        if self.failed {
            return Err(BlockError::invalid_input(format!(
                "block writer for {} failed earlier and cannot continue",
                self.dir.display()
            )));
        }
        Ok(())
    }

    fn check_series(&self, labels: &Labels, chunks: &[ChunkData]) -> Result<(), BlockError> {
        if labels.is_empty() {
            return Err(BlockError::invalid_input("series has no labels"));
        }
        if let Some(previous) = self.series.last()
            && previous.labels >= *labels
        {
            return Err(BlockError::OutOfOrderSeries {
                previous: previous.labels.clone(),
                current: labels.clone(),
            });
        }
        if u32::try_from(self.series.len()).is_err() {
            return Err(BlockError::invalid_input(format!(
                "series {labels} does not fit: a block holds at most {} series",
                u32::MAX
            )));
        }
        if chunks.is_empty() {
            return Err(BlockError::invalid_input(format!(
                "series {labels} has no chunks"
            )));
        }
        let mut previous_min_time = i64::MIN;
        for (index, chunk) in chunks.iter().enumerate() {
            let problem = if chunk.min_time_ms > chunk.max_time_ms {
                Some(format!(
                    "min time {} is after max time {}",
                    chunk.min_time_ms, chunk.max_time_ms
                ))
            } else if chunk.min_time_ms < previous_min_time {
                Some(format!(
                    "min time {} is before the previous chunk's {previous_min_time}",
                    chunk.min_time_ms
                ))
            } else if u32::try_from(chunk.data.len()).is_err() {
                Some(format!("{} bytes of data exceed 4 GiB", chunk.data.len()))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(BlockError::invalid_input(format!(
                    "chunk {index} of series {labels}: {problem}"
                )));
            }
            previous_min_time = chunk.min_time_ms;
        }
        Ok(())
    }

    /// Writes the index, syncs both files and commits the block by writing `meta.json`.
    ///
    /// Fails without committing when a chunk lies outside `[min_time, max_time)`.
    pub fn finish(mut self, new_meta: NewBlockMeta) -> Result<BlockMeta, BlockError> {
        self.check_not_failed()?;
        self.check_meta(&new_meta)?;

        self.chunks
            .flush()
            .and_then(|()| self.chunks.get_ref().sync_all())
            .map_err(|err| BlockError::io(&self.chunks_path, err))?;

        let index_path = self.dir.join(INDEX_FILE);
        let index = encode_index(&self.series).map_err(|err| BlockError::io(&index_path, err))?;
        let mut index_file =
            File::create_new(&index_path).map_err(|err| BlockError::io(&index_path, err))?;
        index_file
            .write_all(&index)
            .and_then(|()| index_file.sync_all())
            .map_err(|err| BlockError::io(&index_path, err))?;
        // The data files' directory entries must be durable before the commit marker is.
        sync_dir(&self.dir)?;

        let ulid = self.ulid.to_string();
        let mut compaction = new_meta.compaction;
        if compaction.sources.is_empty() {
            compaction.sources.push(ulid.clone());
        }
        let meta = BlockMeta {
            ulid,
            min_time: new_meta.min_time,
            max_time: new_meta.max_time,
            stats: BlockStats {
                num_series: self.series.len() as u64,
                num_chunks: self.series.iter().map(|s| s.chunks.len() as u64).sum(),
                num_samples: self.num_samples,
            },
            compaction,
            version: u32::from(FORMAT_VERSION),
            tenant: new_meta.tenant,
        };
        write_meta(&self.dir, &meta)?;
        tracing::debug!(
            block = %meta.ulid,
            num_series = meta.stats.num_series,
            num_chunks = meta.stats.num_chunks,
            index_bytes = index.len(),
            chunks_bytes = self.chunks_len,
            "block committed"
        );
        Ok(meta)
    }

    fn check_meta(&self, new_meta: &NewBlockMeta) -> Result<(), BlockError> {
        if new_meta.min_time >= new_meta.max_time {
            return Err(BlockError::invalid_input(format!(
                "block time range is empty: min_time {} is not before max_time {}",
                new_meta.min_time, new_meta.max_time
            )));
        }
        if new_meta.compaction.level == 0 {
            return Err(BlockError::invalid_input(
                "compaction level must be at least 1",
            ));
        }
        if let Some((min, max)) = self.time_bounds
            && (min < new_meta.min_time || max >= new_meta.max_time)
        {
            return Err(BlockError::invalid_input(format!(
                "chunks span [{min}, {max}], outside the block's [{}, {})",
                new_meta.min_time, new_meta.max_time
            )));
        }
        Ok(())
    }
}
