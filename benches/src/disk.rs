//! Blocks a server left on disk: what their `meta.json` says and how many bytes they take,
//! for bytes-per-sample figures of Vigil and, as a reference, Prometheus.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::BenchError;

/// Where a server keeps its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLayout {
    /// Vigil's object store: `<root>/metrics/<tenant>/blocks/<ulid>/{chunks,index,meta.json}`.
    Vigil,
    /// A Prometheus data dir: `<root>/<ulid>/{chunks/*,index,meta.json}`.
    Prometheus,
}

/// One committed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// The block's ULID.
    pub ulid: String,
    /// Start of the block's time range (ms).
    pub min_time: i64,
    /// End of the block's time range (ms, exclusive).
    pub max_time: i64,
    /// Compaction level: 1 for a block cut from the head.
    pub level: u64,
    /// ULIDs of the level-1 blocks whose data it holds (the block itself when level 1).
    pub sources: Vec<String>,
    /// Series in the block.
    pub num_series: u64,
    /// Samples in the block.
    pub num_samples: u64,
    /// Bytes of sample data and index (`chunks` and `index`; `meta.json` left out).
    pub data_bytes: u64,
    /// Bytes of the index alone.
    pub index_bytes: u64,
}

/// Sums over a set of blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockTotals {
    /// Number of blocks.
    pub blocks: usize,
    /// Samples in them.
    pub samples: u64,
    /// Bytes of chunks and index.
    pub bytes: u64,
    /// Bytes of the index alone.
    pub index_bytes: u64,
}

impl BlockTotals {
    /// Bytes per sample, when there are samples.
    pub fn bytes_per_sample(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.bytes as f64 / self.samples as f64)
    }

    /// Share of the bytes taken by the index, when there are bytes.
    pub fn index_share(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.index_bytes as f64 / self.bytes as f64)
    }
}

/// Adds up `blocks`.
pub fn totals(blocks: &[BlockInfo]) -> BlockTotals {
    BlockTotals {
        blocks: blocks.len(),
        samples: blocks.iter().map(|b| b.num_samples).sum(),
        bytes: blocks.iter().map(|b| b.data_bytes).sum(),
        index_bytes: blocks.iter().map(|b| b.index_bytes).sum(),
    }
}

/// Committed blocks under `root`. Blocks that disappear while being read (compaction deletes
/// its inputs) are skipped; a missing `root` means no blocks yet.
pub fn list_blocks(root: &Path, layout: BlockLayout) -> Result<Vec<BlockInfo>, BenchError> {
    let block_dirs = match layout {
        BlockLayout::Prometheus => subdirs(root)?,
        BlockLayout::Vigil => {
            let mut dirs = Vec::new();
            for tenant in subdirs(&root.join("metrics"))? {
                dirs.extend(subdirs(&tenant.join("blocks"))?);
            }
            dirs
        }
    };
    let mut blocks = Vec::new();
    for dir in block_dirs {
        let is_ulid = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 26 && n.chars().all(|c| c.is_ascii_alphanumeric()));
        if !is_ulid {
            continue;
        }
        if let Some(block) = read_block(&dir)? {
            blocks.push(block);
        }
    }
    blocks.sort_by(|a, b| (a.min_time, &a.ulid).cmp(&(b.min_time, &b.ulid)));
    Ok(blocks)
}

/// Drops blocks whose data a higher-level block also holds: between a compaction's commit
/// and the deletion of its inputs, both are on disk.
pub fn live_blocks(blocks: Vec<BlockInfo>) -> Vec<BlockInfo> {
    let covered_by_other = |block: &BlockInfo| {
        blocks.iter().any(|other| {
            other.level > block.level
                && !block.sources.is_empty()
                && block.sources.iter().all(|s| other.sources.contains(s))
        })
    };
    let doomed: HashSet<String> = blocks
        .iter()
        .filter(|b| covered_by_other(b))
        .map(|b| b.ulid.clone())
        .collect();
    blocks
        .into_iter()
        .filter(|b| !doomed.contains(&b.ulid))
        .collect()
}

/// End of the last block range a head cuts, with both Vigil's and Prometheus' rule: while the
/// head spans more than 1.5 ranges, cut the aligned range holding its oldest sample; the
/// head's oldest sample is then the first at or after that range's end. `timestamps` must be
/// sorted; `None` when nothing is cut.
pub fn head_cut_end(timestamps: &[i64], range_ms: i64) -> Option<i64> {
    let range = range_ms.max(1);
    let (&first, &last) = (timestamps.first()?, timestamps.last()?);
    let mut head_min = first;
    let mut cut_end = None;
    while last.saturating_sub(head_min) > range / 2 * 3 {
        let end = head_min.div_euclid(range) * range + range;
        cut_end = Some(end);
        let next = timestamps.partition_point(|&t| t < end);
        match timestamps.get(next) {
            Some(&t) => head_min = t,
            None => break,
        }
    }
    cut_end
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(BenchError::io(dir, err)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| BenchError::io(dir, err))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

/// Size of a file, or of all files in a directory (one level), `None` if it vanished.
fn size_of(path: &Path) -> Result<Option<u64>, BenchError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(BenchError::io(path, err)),
    };
    if !metadata.is_dir() {
        return Ok(Some(metadata.len()));
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(BenchError::io(path, err)),
    };
    let mut total = 0;
    for entry in entries {
        let entry = entry.map_err(|err| BenchError::io(path, err))?;
        match entry.metadata() {
            Ok(m) => total += m.len(),
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(BenchError::io(entry.path(), err)),
        }
    }
    Ok(Some(total))
}

/// Reads one block directory; `None` when it is not committed or vanished meanwhile.
fn read_block(dir: &Path) -> Result<Option<BlockInfo>, BenchError> {
    let meta_path = dir.join("meta.json");
    let text = match std::fs::read_to_string(&meta_path) {
        Ok(text) => text,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(BenchError::io(&meta_path, err)),
    };
    let invalid = |reason: String| BenchError::InvalidMeta {
        path: meta_path.clone(),
        reason,
    };
    let meta: Value = serde_json::from_str(&text).map_err(|err| invalid(err.to_string()))?;
    // Vigil writes snake_case keys, Prometheus camelCase.
    let field = |value: &Value, snake: &str, camel: &str| -> Option<Value> {
        value.get(snake).or_else(|| value.get(camel)).cloned()
    };
    let int = |value: &Value, snake: &str, camel: &str| -> Result<i64, BenchError> {
        field(value, snake, camel)
            .and_then(|v| v.as_i64())
            .ok_or_else(|| invalid(format!("missing integer {snake:?}")))
    };
    let ulid = meta
        .get("ulid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing \"ulid\"".into()))?
        .to_string();
    let stats = meta
        .get("stats")
        .ok_or_else(|| invalid("missing \"stats\"".into()))?;
    let compaction = meta
        .get("compaction")
        .ok_or_else(|| invalid("missing \"compaction\"".into()))?;
    let mut sources: Vec<String> = compaction
        .get("sources")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if sources.is_empty() {
        sources.push(ulid.clone());
    }
    let (Some(index_bytes), Some(chunk_bytes)) =
        (size_of(&dir.join("index"))?, size_of(&dir.join("chunks"))?)
    else {
        return Ok(None);
    };
    Ok(Some(BlockInfo {
        min_time: int(&meta, "min_time", "minTime")?,
        max_time: int(&meta, "max_time", "maxTime")?,
        level: u64::try_from(int(compaction, "level", "level")?)
            .map_err(|_| invalid("negative level".into()))?,
        num_series: u64::try_from(int(stats, "num_series", "numSeries")?)
            .map_err(|_| invalid("negative num_series".into()))?,
        num_samples: u64::try_from(int(stats, "num_samples", "numSamples")?)
            .map_err(|_| invalid("negative num_samples".into()))?,
        data_bytes: index_bytes + chunk_bytes,
        index_bytes,
        sources,
        ulid,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ULID_A: &str = "01HV0000000000000000000000";
    const ULID_B: &str = "01HV0000000000000000000001";
    const ULID_C: &str = "01HV0000000000000000000002";

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn reads_vigil_blocks() {
        let root = tempfile::tempdir().unwrap();
        let block = root.path().join("metrics/fake/blocks").join(ULID_A);
        write(
            &block.join("meta.json"),
            br#"{"ulid":"01HV0000000000000000000000","min_time":0,"max_time":7200000,
                "stats":{"num_series":10,"num_chunks":40,"num_samples":4800},
                "compaction":{"level":1,"sources":[]},"version":1,"tenant":"fake"}"#,
        );
        write(&block.join("chunks"), &[0; 3000]);
        write(&block.join("index"), &[0; 1800]);
        // Uncommitted: no meta.json.
        write(
            &root
                .path()
                .join("metrics/fake/blocks")
                .join(ULID_B)
                .join("chunks"),
            &[0; 10],
        );
        let blocks = list_blocks(root.path(), BlockLayout::Vigil).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].sources, vec![ULID_A.to_string()]);
        let sums = totals(&blocks);
        assert_eq!((sums.samples, sums.bytes), (4800, 4800));
        assert_eq!(sums.bytes_per_sample(), Some(1.0));
        assert_eq!(sums.index_share(), Some(0.375));
    }

    #[test]
    fn reads_prometheus_blocks_and_drops_compacted_inputs() {
        let root = tempfile::tempdir().unwrap();
        for (ulid, level, sources, samples) in [
            (ULID_A, 1, format!("[\"{ULID_A}\"]"), 100),
            (ULID_B, 1, format!("[\"{ULID_B}\"]"), 100),
            (ULID_C, 2, format!("[\"{ULID_A}\",\"{ULID_B}\"]"), 200),
        ] {
            let dir = root.path().join(ulid);
            let meta = format!(
                r#"{{"ulid":"{ulid}","minTime":0,"maxTime":1,
                   "stats":{{"numSamples":{samples},"numSeries":1,"numChunks":1}},
                   "compaction":{{"level":{level},"sources":{sources}}},"version":1}}"#
            );
            write(&dir.join("meta.json"), meta.as_bytes());
            write(&dir.join("index"), &[0; 50]);
            write(&dir.join("chunks/000001"), &[0; 70]);
        }
        write(&root.path().join("wal/00000000"), &[0; 10]);
        let all = list_blocks(root.path(), BlockLayout::Prometheus).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].data_bytes, 120);
        let live = live_blocks(all);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].ulid, ULID_C);
    }

    #[test]
    fn invalid_meta_names_the_file() {
        let root = tempfile::tempdir().unwrap();
        write(&root.path().join(ULID_A).join("meta.json"), b"{");
        let err = list_blocks(root.path(), BlockLayout::Prometheus).unwrap_err();
        assert!(err.to_string().contains("meta.json"), "{err}");
    }

    #[test]
    fn head_cut_follows_the_one_and_a_half_range_rule() {
        let range = 100;
        // Spans exactly 1.5 ranges: nothing due.
        let times: Vec<i64> = (0..=150).collect();
        assert_eq!(head_cut_end(&times, range), None);
        // Spans 0..=160: [0,100) is cut, then 100..=160 stays.
        let times: Vec<i64> = (0..=160).collect();
        assert_eq!(head_cut_end(&times, range), Some(100));
        // Spans 0..=400: cut [0,100), [100,200), then 200..=400 > 150 so [200,300) too.
        let times: Vec<i64> = (0..=400).step_by(10).collect();
        assert_eq!(head_cut_end(&times, range), Some(300));
        assert_eq!(head_cut_end(&[], range), None);
    }
}
