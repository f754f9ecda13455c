//! Log segments (layout in `docs/format/log-segment.md`): what one flush of a tenant's
//! chunks produces. `data.parquet` holds the entries, one stream per row group, rows in
//! time order; `index.bin` holds the stream label sets with their row groups and roaring
//! postings per label pair; `content.bin` the content index (trigrams and token
//! filters); `meta.json`, written last, commits the segment.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use vigil_model::{Direction, Label, Labels, LogEntry, LogTimeRange, MatchOp, Matcher};
use vigil_storage::{LogBatch, StorageError, rows_containing};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::LogStoreError;
use crate::codec::{Reader, Writer, seal, unseal};
use crate::content::{ContentBuilder, ContentIndex, TrigramSet};
use crate::tokens;

pub(crate) const DATA_FILE: &str = "data.parquet";
pub(crate) const INDEX_FILE: &str = "index.bin";
pub(crate) const CONTENT_FILE: &str = "content.bin";
pub(crate) const META_FILE: &str = "meta.json";
/// Files in upload order; `meta.json` last commits the segment.
pub(crate) const SEGMENT_FILES: [&str; 4] = [DATA_FILE, INDEX_FILE, CONTENT_FILE, META_FILE];
/// Files in deletion order; `meta.json` first, so a segment is never visible half deleted.
pub(crate) const DELETE_ORDER: [&str; 4] = [META_FILE, DATA_FILE, INDEX_FILE, CONTENT_FILE];

const INDEX_MAGIC: &[u8; 4] = b"VLIX";
const INDEX_VERSION: u8 = 1;
const COL_TIMESTAMP: usize = 1;
const COL_LINE: usize = 2;
const COL_METADATA: usize = 3;

/// `meta.json` of a segment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentMeta {
    /// Format version of the segment (1).
    pub version: u32,
    /// The segment's ULID.
    pub id: String,
    /// Oldest entry (ns).
    pub min_time_ns: i64,
    /// Newest entry (ns).
    pub max_time_ns: i64,
    /// Entries stored.
    pub entries: u64,
    /// Streams stored.
    pub streams: u64,
    /// Bytes of lines and structured metadata stored (uncompressed).
    pub raw_bytes: u64,
    /// Sizes of the segment's files in bytes.
    pub files: BTreeMap<String, u64>,
    /// Segments this one replaced by compaction.
    #[serde(default)]
    pub compacted_from: Vec<String>,
}

/// One stream in a segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamInfo {
    pub(crate) labels: Labels,
    pub(crate) min_time_ns: i64,
    pub(crate) max_time_ns: i64,
    pub(crate) row_groups: Range<u32>,
}

fn arrow_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("stream_id", DataType::UInt32, false),
        Field::new("timestamp_ns", DataType::Int64, false),
        Field::new("line", DataType::Utf8, false),
        Field::new("structured_metadata", DataType::Utf8, true),
    ]))
}

fn metadata_json(labels: &Labels) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

fn parse_metadata(json: &str) -> Result<Labels, LogStoreError> {
    let map: BTreeMap<String, String> = serde_json::from_str(json)
        .map_err(|e| LogStoreError::corrupt("segment structured metadata", e.to_string()))?;
    Labels::from_unsorted_unique(map.into_iter().map(|(n, v)| Label::new(n, v)).collect())
        .map_err(|e| LogStoreError::corrupt("segment structured metadata", e.to_string()))
}

/// Writes `data.parquet`, `index.bin` and `content.bin` of a segment into `dir`.
/// `streams` must be sorted by labels with entries sorted and de-duplicated.
pub(crate) fn write_files(
    dir: &Path,
    id: &str,
    streams: &[(Labels, Vec<LogEntry>)],
    layout: SegmentLayout,
    compacted_from: Vec<String>,
) -> Result<SegmentMeta, LogStoreError> {
    let mut writer = SegmentWriter::create(dir, id, layout, compacted_from)?;
    for (labels, entries) in streams {
        writer.begin_stream(labels.clone())?;
        for entry in entries {
            writer.push(entry.clone())?;
        }
    }
    writer.finish()
}

/// How a segment's data file is cut and compressed (the format is the same at any level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLayout {
    /// Most rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level of the data pages (1–22).
    pub zstd_level: i32,
}

/// Writes a segment's files one entry at a time: streams in label order, each stream's
/// entries sorted by `(timestamp_ns, line)` without duplicates. Memory holds one row group
/// and the content index writer's arena, whatever the segment's size.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    schema: Arc<Schema>,
    writer: ArrowWriter<File>,
    row_group_rows: usize,
    infos: Vec<StreamInfo>,
    content: ContentBuilder,
    trigrams: TrigramSet,
    row_group: u32,
    meta: SegmentMeta,
    /// Rows of the open row group of the current (last) stream in `infos`.
    buffer: Vec<LogEntry>,
}

impl SegmentWriter {
    /// Starts a segment in `dir` (created); nothing is committed until `meta.json` is written.
    pub(crate) fn create(
        dir: &Path,
        id: &str,
        layout: SegmentLayout,
        compacted_from: Vec<String>,
    ) -> Result<Self, LogStoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LogStoreError::io(format!("creating {}", dir.display()), e))?;
        let data_path = dir.join(DATA_FILE);
        let file = File::create(&data_path)
            .map_err(|e| LogStoreError::io(format!("creating {}", data_path.display()), e))?;
        let row_group_rows = layout.row_group_rows.max(1);
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(layout.zstd_level)?))
            .set_column_dictionary_enabled("line".into(), false)
            .set_column_encoding("line".into(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
            // Sorted nanosecond timestamps: deltas bit-packed take about half the bytes that
            // plain values under zstd do.
            .set_column_dictionary_enabled("timestamp_ns".into(), false)
            .set_column_encoding("timestamp_ns".into(), Encoding::DELTA_BINARY_PACKED)
            .set_max_row_group_row_count(Some(row_group_rows))
            .build();
        let schema = arrow_schema();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
        let content = ContentBuilder::create(&dir.join("content.scratch"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            schema,
            writer,
            row_group_rows,
            infos: Vec::new(),
            content,
            trigrams: TrigramSet::new(),
            row_group: 0,
            meta: SegmentMeta {
                version: 1,
                id: id.to_string(),
                min_time_ns: i64::MAX,
                max_time_ns: i64::MIN,
                entries: 0,
                streams: 0,
                raw_bytes: 0,
                files: BTreeMap::new(),
                compacted_from,
            },
            buffer: Vec::with_capacity(row_group_rows.min(1 << 16)),
        })
    }

    /// Ends the current stream and starts the next one (labels must sort after it).
    pub(crate) fn begin_stream(&mut self, labels: Labels) -> Result<(), LogStoreError> {
        self.write_row_group()?;
        self.infos.push(StreamInfo {
            labels,
            min_time_ns: i64::MAX,
            max_time_ns: i64::MIN,
            row_groups: self.row_group..self.row_group,
        });
        self.meta.streams += 1;
        Ok(())
    }

    /// Appends an entry to the current stream.
    pub(crate) fn push(&mut self, entry: LogEntry) -> Result<(), LogStoreError> {
        let Some(info) = self.infos.last_mut() else {
            return Err(LogStoreError::corrupt(
                "segment writer",
                "entry written before its stream",
            ));
        };
        info.min_time_ns = info.min_time_ns.min(entry.timestamp_ns);
        info.max_time_ns = info.max_time_ns.max(entry.timestamp_ns);
        self.meta.min_time_ns = self.meta.min_time_ns.min(entry.timestamp_ns);
        self.meta.max_time_ns = self.meta.max_time_ns.max(entry.timestamp_ns);
        self.meta.entries += 1;
        self.meta.raw_bytes += entry.size_bytes() as u64;
        self.trigrams.add_line(entry.line.as_bytes());
        self.buffer.push(entry);
        if self.buffer.len() >= self.row_group_rows {
            self.write_row_group()?;
        }
        Ok(())
    }

    /// Writes the buffered rows of the current stream as one row group.
    fn write_row_group(&mut self) -> Result<(), LogStoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let stream_id = self.infos.len().saturating_sub(1) as u32;
        let chunk = std::mem::take(&mut self.buffer);
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(UInt32Array::from(vec![stream_id; chunk.len()])),
                Arc::new(Int64Array::from_iter_values(
                    chunk.iter().map(|e| e.timestamp_ns),
                )),
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|e| e.line.as_str()),
                )),
                Arc::new(StringArray::from_iter(
                    chunk.iter().map(|e| metadata_json(&e.structured_metadata)),
                )),
            ],
        )?;
        self.writer.write(&batch)?;
        self.writer.flush()?;
        let mut keys: HashSet<&[u8], Xxh3DefaultBuilder> = HashSet::default();
        for entry in &chunk {
            tokens::line_keys(entry.line.as_bytes(), |k| {
                keys.insert(k);
            });
        }
        let filter = tokens::filter(keys.into_iter());
        self.content
            .add(self.row_group, self.trigrams.drain(), filter)?;
        self.row_group += 1;
        if let Some(info) = self.infos.last_mut() {
            info.row_groups.end = self.row_group;
        }
        self.buffer = chunk;
        self.buffer.clear();
        Ok(())
    }

    /// Closes the files and returns the segment's metadata (not yet written to `meta.json`).
    pub(crate) fn finish(mut self) -> Result<SegmentMeta, LogStoreError> {
        self.write_row_group()?;
        self.writer.close()?;
        let index_bytes = encode_index(&self.infos);
        write_file(&self.dir.join(INDEX_FILE), &index_bytes)?;
        let content_bytes = self.content.finish()?;
        write_file(&self.dir.join(CONTENT_FILE), &content_bytes)?;
        let mut meta = self.meta;
        for name in [DATA_FILE, INDEX_FILE, CONTENT_FILE] {
            let size = std::fs::metadata(self.dir.join(name))
                .map_err(|e| LogStoreError::io(format!("stat {name}"), e))?
                .len();
            meta.files.insert(name.to_string(), size);
        }
        Ok(meta)
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LogStoreError> {
    std::fs::write(path, bytes)
        .map_err(|e| LogStoreError::io(format!("writing {}", path.display()), e))
}

fn encode_index(streams: &[StreamInfo]) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(INDEX_MAGIC);
    w.u8(INDEX_VERSION);
    w.u32(streams.len() as u32);
    let mut postings: BTreeMap<(&str, &str), RoaringBitmap> = BTreeMap::new();
    for (id, stream) in streams.iter().enumerate() {
        w.labels(&stream.labels);
        w.i64(stream.min_time_ns);
        w.i64(stream.max_time_ns);
        w.u32(stream.row_groups.start);
        w.u32(stream.row_groups.end);
        for label in &stream.labels {
            postings
                .entry((&label.name, &label.value))
                .or_default()
                .insert(id as u32);
        }
    }
    w.u32(postings.len() as u32);
    for ((name, value), bitmap) in postings {
        w.bytes(name.as_bytes());
        w.bytes(value.as_bytes());
        let mut serialized = Vec::with_capacity(bitmap.serialized_size());
        // Writing into a Vec cannot fail.
        let _ = bitmap.serialize_into(&mut serialized);
        w.bytes(&serialized);
    }
    seal(w.buf)
}

/// The label index of a segment: streams and postings per label pair.
pub(crate) struct LabelIndex {
    pub(crate) streams: Vec<StreamInfo>,
    postings: BTreeMap<(String, String), RoaringBitmap>,
}

pub(crate) fn decode_index(bytes: &[u8]) -> Result<LabelIndex, LogStoreError> {
    let what = "segment label index";
    let mut r = Reader::new(unseal(bytes, what)?, what);
    let magic = [r.u8()?, r.u8()?, r.u8()?, r.u8()?];
    if &magic != INDEX_MAGIC {
        return Err(LogStoreError::corrupt(what, "bad magic"));
    }
    let version = r.u8()?;
    if version != INDEX_VERSION {
        return Err(LogStoreError::corrupt(
            what,
            format!("unknown version {version}"),
        ));
    }
    let count = r.u32()? as usize;
    let mut streams = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let labels = r.labels()?;
        let min_time_ns = r.i64()?;
        let max_time_ns = r.i64()?;
        let start = r.u32()?;
        let end = r.u32()?;
        streams.push(StreamInfo {
            labels,
            min_time_ns,
            max_time_ns,
            row_groups: start..end,
        });
    }
    let posting_count = r.u32()? as usize;
    let mut postings = BTreeMap::new();
    for _ in 0..posting_count {
        let name = r.string()?;
        let value = r.string()?;
        let bitmap = RoaringBitmap::deserialize_from(r.bytes()?).map_err(|e| {
            LogStoreError::corrupt(what, format!("postings of {name}={value:?}: {e}"))
        })?;
        postings.insert((name, value), bitmap);
    }
    Ok(LabelIndex { streams, postings })
}

impl LabelIndex {
    /// Streams matching all matchers, resolved through the postings where a matcher names
    /// values (`=`, `=~` over literals) and by testing label values otherwise.
    pub(crate) fn matching(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let mut result: RoaringBitmap = (0..self.streams.len() as u32).collect();
        for matcher in matchers {
            let literals = match matcher.op {
                MatchOp::Equal if !matcher.value.is_empty() => Some(vec![matcher.value.clone()]),
                MatchOp::Regex => matcher.set_literals(),
                _ => None,
            };
            match literals {
                Some(values) => {
                    let mut union = RoaringBitmap::new();
                    for value in values {
                        if let Some(bitmap) = self.postings.get(&(matcher.name.clone(), value)) {
                            union |= bitmap;
                        }
                    }
                    result &= union;
                }
                None => {
                    result = result
                        .iter()
                        .filter(|&id| {
                            self.streams
                                .get(id as usize)
                                .is_some_and(|s| matcher.matches_labels(&s.labels))
                        })
                        .collect();
                }
            }
            if result.is_empty() {
                break;
            }
        }
        result
    }
}

/// An opened, committed segment in the local cache.
pub(crate) struct SegmentReader {
    pub(crate) meta: SegmentMeta,
    pub(crate) index: LabelIndex,
    data_path: PathBuf,
    parquet: ArrowReaderMetadata,
    /// Time range of each row group from the Parquet column statistics.
    row_group_times: Vec<(i64, i64)>,
    content: ContentIndex,
    pub(crate) dir: PathBuf,
}

impl SegmentReader {
    /// Opens the segment files in `dir` (meta.json must be present).
    pub(crate) fn open(dir: &Path) -> Result<Self, LogStoreError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| LogStoreError::io(format!("reading {}/{name}", dir.display()), e))
        };
        let meta: SegmentMeta = serde_json::from_slice(&read(META_FILE)?).map_err(|e| {
            LogStoreError::corrupt(format!("{}/meta.json", dir.display()), e.to_string())
        })?;
        if meta.version != 1 {
            return Err(LogStoreError::corrupt(
                "segment meta",
                format!("unknown version {}", meta.version),
            ));
        }
        let index = decode_index(&read(INDEX_FILE)?)?;
        let content = ContentIndex::open(&read(CONTENT_FILE)?)?;
        let data_path = dir.join(DATA_FILE);
        let file = File::open(&data_path)
            .map_err(|e| LogStoreError::io(format!("opening {}", data_path.display()), e))?;
        let parquet = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())?;
        let row_group_times = parquet
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| match rg.column(COL_TIMESTAMP).statistics() {
                Some(Statistics::Int64(s)) => (
                    s.min_opt().copied().unwrap_or(i64::MIN),
                    s.max_opt().copied().unwrap_or(i64::MAX),
                ),
                _ => (i64::MIN, i64::MAX),
            })
            .collect();
        Ok(Self {
            meta,
            index,
            data_path,
            parquet,
            row_group_times,
            content,
            dir: dir.to_path_buf(),
        })
    }

    /// The Parquet footer of `data.parquet`.
    pub(crate) fn parquet_metadata(&self) -> &parquet::file::metadata::ParquetMetaData {
        self.parquet.metadata()
    }

    /// Row groups of `stream` that overlap `range` and may contain all `literals`, in the
    /// order `direction` reads them.
    pub(crate) fn row_groups_for(
        &self,
        stream: u32,
        range: LogTimeRange,
        literals: &[String],
        direction: Direction,
    ) -> Result<Vec<u32>, LogStoreError> {
        let Some(info) = self.index.streams.get(stream as usize) else {
            return Ok(Vec::new());
        };
        let candidates = if literals.is_empty() {
            None
        } else {
            self.content.candidates(literals)?
        };
        let mut groups: Vec<u32> = info
            .row_groups
            .clone()
            .filter(|&rg| {
                self.row_group_times
                    .get(rg as usize)
                    .is_some_and(|&(min, max)| range.overlaps(min, max))
            })
            .filter(|rg| candidates.as_ref().is_none_or(|c| c.contains(*rg)))
            .collect();
        if direction == Direction::Backward {
            groups.reverse();
        }
        Ok(groups)
    }

    /// Decodes one row group into entries in time order.
    pub(crate) fn read_row_group(&self, row_group: u32) -> Result<Vec<LogEntry>, LogStoreError> {
        let file = File::open(&self.data_path)
            .map_err(|e| LogStoreError::io(format!("opening {}", self.data_path.display()), e))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.parquet.clone())
            .with_row_groups(vec![row_group as usize])
            .with_batch_size(65_536)
            .build()?;
        let mut out = Vec::new();
        let mut parsed = MetadataCache::default();
        for batch in reader {
            let batch = batch?;
            let column = |i: usize| batch.column(i).as_any();
            let bad = || LogStoreError::corrupt("segment data", "unexpected column type");
            let ts = column(1).downcast_ref::<Int64Array>().ok_or_else(bad)?;
            let lines = column(2).downcast_ref::<StringArray>().ok_or_else(bad)?;
            let metadata = column(3).downcast_ref::<StringArray>().ok_or_else(bad)?;
            for row in 0..batch.num_rows() {
                let structured_metadata = if metadata.is_null(row) {
                    Labels::empty()
                } else {
                    parsed.get(metadata.value(row))?
                };
                out.push(LogEntry {
                    timestamp_ns: ts.value(row),
                    line: lines.value(row).to_string(),
                    structured_metadata,
                });
            }
        }
        Ok(out)
    }
}

/// The bytes of `lines` up to the last of `offsets` as one `&str`, which the array's own
/// offsets address. Checked again: cheap beside decompression, and the workspace keeps
/// `unsafe` out.
fn string_values<'a>(lines: &'a StringArray, offsets: &[i32]) -> Result<&'a str, LogStoreError> {
    let end = offsets.last().map_or(0, |&o| o.max(0) as usize);
    let bytes = lines
        .value_data()
        .get(..end)
        .ok_or_else(|| LogStoreError::corrupt("segment lines", "offsets past the data"))?;
    std::str::from_utf8(bytes).map_err(|e| LogStoreError::corrupt("segment lines", e.to_string()))
}

/// Structured metadata repeats from entry to entry (`detected_level`, a few keys): parses
/// each distinct text once, remembering a few.
#[derive(Default)]
struct MetadataCache {
    parsed: Vec<(String, Labels)>,
}

impl MetadataCache {
    fn get(&mut self, text: &str) -> Result<Labels, LogStoreError> {
        if let Some((_, labels)) = self.parsed.iter().find(|(seen, _)| seen == text) {
            return Ok(labels.clone());
        }
        let labels = parse_metadata(text)?;
        if self.parsed.len() < 16 {
            self.parsed.push((text.to_string(), labels.clone()));
        }
        Ok(labels)
    }
}

impl SegmentReader {
    /// Time range of `row_group` from its statistics (everything when unknown).
    pub(crate) fn row_group_time(&self, row_group: u32) -> (i64, i64) {
        self.row_group_times
            .get(row_group as usize)
            .copied()
            .unwrap_or((i64::MIN, i64::MAX))
    }

    /// Reads one row group column by column for a scan: the rows within `range` as one
    /// batch, with the lines read only when `lines` is set or `literals` must be applied,
    /// and the rows containing every literal selected by searching the line buffer whole.
    pub(crate) fn scan_row_group(
        &self,
        row_group: u32,
        range: LogTimeRange,
        literals: &[String],
        lines: bool,
        visit: &mut dyn FnMut(&LogBatch<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let file = File::open(&self.data_path)
            .map_err(|e| LogStoreError::io(format!("opening {}", self.data_path.display()), e))?;
        let read_lines = lines || literals.iter().any(|l| !l.is_empty());
        let mut columns = vec![COL_TIMESTAMP, COL_METADATA];
        if read_lines {
            columns.push(COL_LINE);
        }
        let schema = self.parquet.metadata().file_metadata().schema_descr();
        let mask = ProjectionMask::roots(schema, columns);
        let rows = self
            .parquet
            .metadata()
            .row_groups()
            .get(row_group as usize)
            .map_or(0, |rg| rg.num_rows())
            .clamp(1, 1 << 20) as usize;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.parquet.clone())
            .with_row_groups(vec![row_group as usize])
            .with_projection(mask)
            .with_batch_size(rows)
            .build()
            .map_err(LogStoreError::from)?;
        let mut parsed = MetadataCache::default();
        let mut no_text_offsets: Vec<i32> = Vec::new();
        for batch in reader {
            let batch = batch.map_err(LogStoreError::from)?;
            let bad = || LogStoreError::corrupt("segment data", "unexpected column type");
            let column = |name: &str| batch.column_by_name(name).map(|c| c.as_any());
            let ts = column("timestamp_ns")
                .and_then(|c| c.downcast_ref::<Int64Array>())
                .ok_or_else(bad)?;
            let metadata = column("structured_metadata")
                .and_then(|c| c.downcast_ref::<StringArray>())
                .ok_or_else(bad)?;
            let times = ts.values();
            let lo = times.partition_point(|&t| t < range.start_ns);
            let hi = times.partition_point(|&t| t <= range.end_ns);
            if lo >= hi {
                continue;
            }
            let meta: Option<Vec<Labels>> = if metadata.null_count() == metadata.len() {
                None
            } else {
                Some(
                    (lo..hi)
                        .map(|row| {
                            if metadata.is_null(row) {
                                Ok(Labels::empty())
                            } else {
                                parsed.get(metadata.value(row))
                            }
                        })
                        .collect::<Result<_, _>>()?,
                )
            };
            let (text, offsets): (&str, &[i32]) = if read_lines {
                let lines = column("line")
                    .and_then(|c| c.downcast_ref::<StringArray>())
                    .ok_or_else(bad)?;
                let offsets = &lines.value_offsets()[lo..=hi];
                (string_values(lines, offsets)?, offsets)
            } else {
                no_text_offsets.clear();
                no_text_offsets.resize(hi - lo + 1, 0);
                ("", &no_text_offsets)
            };
            let selection =
                (!literals.is_empty()).then(|| rows_containing(text, offsets, literals));
            if selection.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            let batch = LogBatch::new(
                &times[lo..hi],
                offsets,
                text,
                meta.as_deref(),
                selection.as_deref(),
            )?;
            visit(&batch)?;
        }
        Ok(())
    }
}
