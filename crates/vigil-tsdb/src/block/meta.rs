//! `meta.json`: what a block covers, and the marker that it is complete.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{BlockError, FORMAT_VERSION, META_FILE, META_TMP_FILE};

/// The largest `meta.json` a reader accepts; real ones are a few hundred bytes plus 30 bytes
/// per compaction source.
const MAX_META_LEN: u64 = 16 << 20;

/// The contents of a block's `meta.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// The block's ULID, also the name of its directory.
    pub ulid: String,
    /// Earliest sample time the block may hold (ms, inclusive).
    pub min_time: i64,
    /// End of the block's time range (ms, exclusive, like Prometheus).
    pub max_time: i64,
    /// Counts over the block's contents.
    pub stats: BlockStats,
    /// Where the block comes from.
    pub compaction: BlockCompaction,
    /// Format version of `index` and `chunks`.
    pub version: u32,
    /// The tenant owning every series of the block.
    pub tenant: String,
}

/// Counts over a block's contents.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Number of series.
    pub num_series: u64,
    /// Number of chunks.
    pub num_chunks: u64,
    /// Number of samples over all chunks.
    pub num_samples: u64,
}

/// A block's compaction lineage.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockCompaction {
    /// 1 for a block cut from the head; compaction output is one above its highest input.
    pub level: u32,
    /// ULIDs of the level-1 blocks this block's data comes from.
    pub sources: Vec<String>,
}

/// Reads and checks `dir/meta.json`; a missing file means the block is not committed.
pub(crate) fn read_meta(dir: &Path) -> Result<(BlockMeta, u64), BlockError> {
    let path = dir.join(META_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(BlockError::NotCommitted {
                dir: dir.to_path_buf(),
            });
        }
        Err(err) => return Err(BlockError::io(&path, err)),
    };
    let len = file
        .metadata()
        .map_err(|err| BlockError::io(&path, err))?
        .len();
    if len > MAX_META_LEN {
        return Err(BlockError::corrupt(
            &path,
            format!("file is {len} bytes, more than the {MAX_META_LEN} bytes allowed"),
        ));
    }
    let mut bytes = Vec::new();
    // `take` guards against the file growing after the size check.
    file.take(MAX_META_LEN)
        .read_to_end(&mut bytes)
        .map_err(|err| BlockError::io(&path, err))?;
    let meta: BlockMeta = serde_json::from_slice(&bytes)
        .map_err(|err| BlockError::corrupt(&path, format!("invalid json: {err}")))?;

    if meta.version != u32::from(FORMAT_VERSION) {
        return Err(BlockError::corrupt(
            &path,
            format!(
                "unsupported block version {}, this reader supports {FORMAT_VERSION}",
                meta.version
            ),
        ));
    }
    if meta.ulid.parse::<Ulid>().is_err() {
        return Err(BlockError::corrupt(
            &path,
            format!("ulid {:?} is not a valid ULID", meta.ulid),
        ));
    }
    if meta.min_time >= meta.max_time {
        return Err(BlockError::corrupt(
            &path,
            format!(
                "empty time range: min_time {} is not before max_time {}",
                meta.min_time, meta.max_time
            ),
        ));
    }
    Ok((meta, bytes.len() as u64))
}

/// Commits a block: writes `meta.json` through a synced temporary file, renames it into place
/// and syncs the directory so the rename itself is durable. Returns the file's size.
pub(crate) fn write_meta(dir: &Path, meta: &BlockMeta) -> Result<u64, BlockError> {
    let tmp_path = dir.join(META_TMP_FILE);
    let final_path = dir.join(META_FILE);
    let mut bytes = serde_json::to_vec_pretty(meta)
        .map_err(|err| BlockError::io(&tmp_path, std::io::Error::other(err)))?;
    bytes.push(b'\n');

    let mut file = File::create(&tmp_path).map_err(|err| BlockError::io(&tmp_path, err))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|err| BlockError::io(&tmp_path, err))?;
    drop(file);
    fs::rename(&tmp_path, &final_path).map_err(|err| BlockError::io(&final_path, err))?;
    sync_dir(dir)?;
    Ok(bytes.len() as u64)
}

/// Makes the directory entries of `dir` (created, renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| BlockError::io(dir, err))
}
