//! The content index of a segment, in two parts that each prune `|=` literals:
//! - a tantivy index with one document per Parquet row group whose terms are the distinct
//!   byte trigrams of the row group's lines. A literal can only occur in a row group holding
//!   every trigram of the literal, so intersecting the trigram postings yields the row
//!   groups worth reading. Literals shorter than three bytes prune nothing by trigrams;
//! - from version 2, a Bloom filter of token keys per row group ([`crate::tokens`]), which
//!   prunes the random identifiers whose trigrams are everywhere.
//!
//! Persisted as one packed file (layout in `docs/format/log-segment.md`).

use std::path::{Path, PathBuf};

use parquet::bloom_filter::Sbbf;
use roaring::RoaringBitmap;
use tantivy::collector::DocSetCollector;
use tantivy::directory::RamDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema};
use tantivy::{Directory, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::LogStoreError;
use crate::codec::{Reader, Writer, seal, unseal};
use crate::tokens;

const MAGIC: &[u8; 4] = b"VLCI";
/// Version written; version 1 (no token filters) is still read.
const VERSION: u8 = 2;
const TRIGRAM_FIELD: &str = "trigram";
const ROW_GROUP_FIELD: &str = "row_group";

fn schema() -> (Schema, Field, Field) {
    let mut builder = Schema::builder();
    let trigram = builder.add_u64_field(TRIGRAM_FIELD, INDEXED);
    let row_group = builder.add_u64_field(ROW_GROUP_FIELD, FAST);
    (builder.build(), trigram, row_group)
}

fn trigram(bytes: &[u8]) -> u64 {
    (u64::from(bytes[0]) << 16) | (u64::from(bytes[1]) << 8) | u64::from(bytes[2])
}

/// Distinct trigrams of many lines, with a 2 MiB bitmap over the 24-bit trigram space.
pub(crate) struct TrigramSet {
    bits: Vec<u64>,
}

impl TrigramSet {
    pub(crate) fn new() -> Self {
        Self {
            bits: vec![0; (1 << 24) / 64],
        }
    }

    pub(crate) fn add_line(&mut self, line: &[u8]) {
        for window in line.windows(3) {
            let t = trigram(window) as usize;
            self.bits[t >> 6] |= 1 << (t & 63);
        }
    }

    /// The distinct trigrams added since the last drain, and a reset.
    pub(crate) fn drain(&mut self) -> Vec<u64> {
        let mut out = Vec::new();
        for (word_index, word) in self.bits.iter_mut().enumerate() {
            let mut w = *word;
            while w != 0 {
                let bit = w.trailing_zeros() as u64;
                out.push(((word_index as u64) << 6) | bit);
                w &= w - 1;
            }
            *word = 0;
        }
        out
    }
}

/// Builds the packed content index of a segment from each row group's trigrams.
#[cfg(test)]
pub(crate) fn build(
    scratch_dir: &Path,
    row_groups: impl Iterator<Item = (u32, Vec<u64>, Sbbf)>,
) -> Result<Vec<u8>, LogStoreError> {
    let mut builder = ContentBuilder::create(scratch_dir)?;
    for (row_group, trigrams, tokens) in row_groups {
        builder.add(row_group, trigrams, tokens)?;
    }
    builder.finish()
}

/// Builds a content index one row group at a time (memory bounded by the tantivy writer's
/// arena, not by the segment), then packs it.
pub(crate) struct ContentBuilder {
    scratch_dir: PathBuf,
    writer: IndexWriter<TantivyDocument>,
    trigram: Field,
    row_group: Field,
    /// The token filter of each row group added, in order.
    tokens: Vec<Sbbf>,
}

impl ContentBuilder {
    /// Starts an index in `scratch_dir` (created; removed by [`ContentBuilder::finish`]).
    pub(crate) fn create(scratch_dir: &Path) -> Result<Self, LogStoreError> {
        let (schema, trigram, row_group) = schema();
        std::fs::create_dir_all(scratch_dir)
            .map_err(|e| LogStoreError::io(format!("creating {}", scratch_dir.display()), e))?;
        let index = Index::create_in_dir(scratch_dir, schema)?;
        let writer = index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000)?;
        Ok(Self {
            scratch_dir: scratch_dir.to_path_buf(),
            writer,
            trigram,
            row_group,
            tokens: Vec::new(),
        })
    }

    /// Adds the trigrams and token filter of one row group; row groups come in order.
    pub(crate) fn add(
        &mut self,
        row_group: u32,
        trigrams: Vec<u64>,
        tokens: Sbbf,
    ) -> Result<(), LogStoreError> {
        if row_group as usize != self.tokens.len() {
            return Err(LogStoreError::corrupt(
                "content index writer",
                format!("row group {row_group} added after {}", self.tokens.len()),
            ));
        }
        self.tokens.push(tokens);
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.row_group, u64::from(row_group));
        for t in trigrams {
            doc.add_u64(self.trigram, t);
        }
        self.writer.add_document(doc)?;
        Ok(())
    }

    /// Commits the index and packs its files into the `content.bin` bytes.
    pub(crate) fn finish(self) -> Result<Vec<u8>, LogStoreError> {
        let Self {
            scratch_dir,
            mut writer,
            tokens,
            ..
        } = self;
        writer.commit()?;
        writer.wait_merging_threads()?;
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u8(VERSION);
        let mut files = Vec::new();
        for dir_entry in std::fs::read_dir(&scratch_dir)
            .map_err(|e| LogStoreError::io(format!("listing {}", scratch_dir.display()), e))?
        {
            let dir_entry = dir_entry.map_err(|e| LogStoreError::io("listing content index", e))?;
            let name = dir_entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".lock") {
                continue;
            }
            let data = std::fs::read(dir_entry.path())
                .map_err(|e| LogStoreError::io(format!("reading content index file {name}"), e))?;
            files.push((name, data));
        }
        files.sort();
        w.u32(files.len() as u32);
        for (name, data) in &files {
            w.bytes(name.as_bytes());
            w.bytes(data);
        }
        w.u32(tokens.len() as u32);
        let mut filter_bytes = Vec::new();
        for filter in &tokens {
            filter_bytes.clear();
            filter.write(&mut filter_bytes)?;
            w.bytes(&filter_bytes);
        }
        let _ = std::fs::remove_dir_all(&scratch_dir);
        Ok(seal(w.buf))
    }
}

/// An opened content index.
pub(crate) struct ContentIndex {
    reader: IndexReader,
    trigram: Field,
    /// The token filter of each row group (absent in version 1).
    tokens: Option<Vec<Sbbf>>,
}

impl ContentIndex {
    /// Opens a packed content index in memory.
    pub(crate) fn open(packed: &[u8]) -> Result<Self, LogStoreError> {
        let body = unseal(packed, "content index")?;
        let mut r = Reader::new(body, "content index");
        let magic = [r.u8()?, r.u8()?, r.u8()?, r.u8()?];
        if &magic != MAGIC {
            return Err(LogStoreError::corrupt("content index", "bad magic"));
        }
        let version = r.u8()?;
        if version != 1 && version != 2 {
            return Err(LogStoreError::corrupt(
                "content index",
                format!("unknown version {version}"),
            ));
        }
        let directory = RamDirectory::create();
        let count = r.u32()?;
        for _ in 0..count {
            let name = r.string()?;
            let data = r.bytes()?;
            directory
                .atomic_write(Path::new(&name), data)
                .map_err(|e| LogStoreError::io(format!("loading content index file {name}"), e))?;
        }
        let tokens = if version >= 2 {
            let count = r.u32()?;
            let mut filters = Vec::new();
            for row_group in 0..count {
                let filter = Sbbf::from_bytes(r.bytes()?)?;
                if filter.num_blocks() == 0 {
                    return Err(LogStoreError::corrupt(
                        "content index",
                        format!("empty token filter for row group {row_group}"),
                    ));
                }
                filters.push(filter);
            }
            Some(filters)
        } else {
            None
        };
        if !r.is_empty() {
            return Err(LogStoreError::corrupt("content index", "trailing bytes"));
        }
        let index = Index::open(directory)?;
        let trigram = index.schema().get_field(TRIGRAM_FIELD)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            reader,
            trigram,
            tokens,
        })
    }

    /// Row groups that may contain every literal; `None` when no literal can prune (every
    /// row group is a candidate).
    pub(crate) fn candidates(
        &self,
        literals: &[String],
    ) -> Result<Option<RoaringBitmap>, LogStoreError> {
        let by_trigrams = self.trigram_candidates(literals)?;
        let Some(filters) = &self.tokens else {
            return Ok(by_trigrams);
        };
        let keys: Vec<&[u8]> = literals
            .iter()
            .flat_map(|l| tokens::literal_keys(l.as_bytes()))
            .collect();
        if keys.is_empty() {
            return Ok(by_trigrams);
        }
        let passes = |row_group: u32| {
            filters
                .get(row_group as usize)
                .is_none_or(|f| keys.iter().all(|k| f.check(*k)))
        };
        Ok(Some(match by_trigrams {
            Some(bitmap) => bitmap.into_iter().filter(|&rg| passes(rg)).collect(),
            None => (0..filters.len() as u32).filter(|&rg| passes(rg)).collect(),
        }))
    }

    /// Row groups holding every trigram of every literal; `None` when no literal has one.
    fn trigram_candidates(
        &self,
        literals: &[String],
    ) -> Result<Option<RoaringBitmap>, LogStoreError> {
        let mut trigrams: Vec<u64> = literals
            .iter()
            .flat_map(|l| l.as_bytes().windows(3).map(trigram).collect::<Vec<_>>())
            .collect();
        trigrams.sort_unstable();
        trigrams.dedup();
        if trigrams.is_empty() {
            return Ok(None);
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = trigrams
            .iter()
            .map(|&t| {
                let term = Term::from_field_u64(self.trigram, t);
                (
                    Occur::Must,
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>,
                )
            })
            .collect();
        let searcher = self.reader.searcher();
        let docs = searcher.search(&BooleanQuery::new(clauses), &DocSetCollector)?;
        let mut out = RoaringBitmap::new();
        for address in docs {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64(ROW_GROUP_FIELD)?;
            if let Some(row_group) = column.first(address.doc_id) {
                out.insert(row_group as u32);
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_row_groups_without_the_literal() {
        let dir = tempfile::tempdir().unwrap();
        let groups = [
            vec!["GET /index.html 200", "POST /login 302"],
            vec!["disk full on /dev/sda1", "needle in a haystack"],
            vec!["nothing here", "or here"],
            vec!["id=x d=abcdefg efgh"],
            vec!["GET id=abcdefgh9 200"],
            vec!["5e1d0c4b9a8f7e6d5c4b3a", "b3a2918f7e6d5"],
            vec!["span=x5e1d0c4b9a8f7e6d5c4b3a2918f7e6d5y"],
        ];
        let mut set = TrigramSet::new();
        let trigrams: Vec<(u32, Vec<u64>, Sbbf)> = groups
            .iter()
            .enumerate()
            .map(|(i, lines)| {
                lines.iter().for_each(|l| set.add_line(l.as_bytes()));
                let mut keys = std::collections::HashSet::new();
                for line in lines {
                    tokens::line_keys(line.as_bytes(), |k| {
                        keys.insert(k);
                    });
                }
                (i as u32, set.drain(), tokens::filter(keys.into_iter()))
            })
            .collect();
        let packed = build(&dir.path().join("scratch"), trigrams.into_iter()).unwrap();
        let index = ContentIndex::open(&packed).unwrap();
        let hits = |lits: &[&str]| {
            index
                .candidates(&lits.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .map(|b| b.iter().collect::<Vec<u32>>())
        };
        assert_eq!(hits(&["needle"]), Some(vec![1]));
        assert_eq!(hits(&["eedl"]), Some(vec![1]), "infixes of words are found");
        assert_eq!(hits(&["here"]), Some(vec![2]));
        assert_eq!(hits(&["/"]), None, "too short to prune");
        assert_eq!(hits(&["needle", "GET"]), Some(vec![]));
        assert_eq!(hits(&["absent"]), Some(vec![]));
        assert_eq!(
            hits(&["id=abcdefgh"]),
            Some(vec![4]),
            "row group 3 holds every trigram but not the token"
        );
        assert_eq!(
            hits(&["abcdefgh"]),
            Some(vec![3, 4]),
            "unbounded on the left, the id may end a longer token: trigrams alone prune"
        );
        assert_eq!(
            hits(&["5e1d0c4b9a8f7e6d5c4b3a2918f7e6d5"]),
            Some(vec![6]),
            "a bare id: row group 5 holds its trigrams, not its winnowed grams"
        );
        let mut damaged = packed.clone();
        damaged[10] ^= 1;
        assert!(ContentIndex::open(&damaged).is_err());
    }
}
