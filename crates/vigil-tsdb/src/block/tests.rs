//! Round-trip, validation and corruption tests of the block writer and reader.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use proptest::prelude::*;
use vigil_model::{Labels, MatchOp, Matcher};

use super::*;

const BLOCK_MIN_TIME: i64 = 1_700_000_000_000;
const BLOCK_MAX_TIME: i64 = BLOCK_MIN_TIME + 7_200_000;

/// A small deterministic generator, so failures reproduce without a seed printout.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Input series for a block: sorted, unique label sets with one to five chunks of random
/// bytes each, spread over the block's time range.
fn generate_series(seed: u64, count: usize) -> BTreeMap<Labels, Vec<ChunkData>> {
    let mut rng = XorShift(seed);
    let mut series = BTreeMap::new();
    while series.len() < count {
        let mut pairs = vec![
            (
                "__name__",
                rng.pick(&["up", "http_requests_total", "cpu_seconds", "mem"]),
            ),
            ("job", rng.pick(&["api", "web", "db", "batch"])),
        ];
        let instance = format!("host-{}", rng.below(80));
        pairs.push(("instance", instance.as_str()));
        if rng.below(3) == 0 {
            pairs.push(("env", rng.pick(&["prod", "dev"])));
        }
        if rng.below(4) == 0 {
            pairs.push(("code", rng.pick(&["200", "500", "404"])));
        }
        let labels = Labels::try_from_pairs(pairs).unwrap();

        let num_chunks = 1 + rng.below(5);
        let mut chunks = Vec::new();
        let mut time = BLOCK_MIN_TIME + rng.below(100_000) as i64;
        for _ in 0..num_chunks {
            let min_time_ms = time;
            let max_time_ms = min_time_ms + rng.below(1_000_000) as i64;
            time = max_time_ms + 1 + rng.below(300_000) as i64;
            let data: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            chunks.push(ChunkData {
                min_time_ms,
                max_time_ms,
                num_samples: 1 + rng.below(120) as u32,
                encoding: 1,
                data: Bytes::from(data),
            });
        }
        series.insert(labels, chunks);
    }
    series
}

fn new_meta() -> NewBlockMeta {
    NewBlockMeta {
        min_time: BLOCK_MIN_TIME,
        max_time: BLOCK_MAX_TIME,
        compaction: BlockCompaction {
            level: 1,
            sources: Vec::new(),
        },
        tenant: "team-a".to_owned(),
    }
}

fn block_dir(parent: &Path) -> PathBuf {
    parent.join(ulid::Ulid::new().to_string())
}

fn write_block(dir: &Path, series: &BTreeMap<Labels, Vec<ChunkData>>) -> BlockMeta {
    let mut writer = BlockWriter::create(dir).unwrap();
    for (labels, chunks) in series {
        writer.add_series(labels, chunks).unwrap();
    }
    writer.finish(new_meta()).unwrap()
}

fn matcher(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

/// Matcher sets covering every operator, literal sets, regexes that match "" and absent labels.
fn matcher_sets() -> Vec<Vec<Matcher>> {
    vec![
        vec![],
        vec![matcher(MatchOp::Equal, "__name__", "up")],
        vec![matcher(MatchOp::Equal, "__name__", "nope")],
        vec![matcher(MatchOp::Equal, "env", "")],
        vec![matcher(MatchOp::NotEqual, "env", "")],
        vec![
            matcher(MatchOp::Equal, "__name__", "up"),
            matcher(MatchOp::NotEqual, "job", "api"),
        ],
        vec![matcher(MatchOp::Regex, "job", "api|web")],
        vec![matcher(MatchOp::Regex, "instance", "host-1.*")],
        vec![matcher(MatchOp::Regex, "code", "5..|")],
        vec![matcher(MatchOp::NotRegex, "job", "api|db")],
        vec![matcher(MatchOp::NotRegex, "code", ".+")],
        vec![
            matcher(MatchOp::Regex, "__name__", ".+"),
            matcher(MatchOp::NotRegex, "env", "prod"),
            matcher(MatchOp::Regex, "instance", "host-[0-3].*"),
        ],
        vec![matcher(MatchOp::Equal, "missing", "")],
        vec![matcher(MatchOp::NotEqual, "missing", "x")],
    ]
}

fn brute_force_select(
    series: &BTreeMap<Labels, Vec<ChunkData>>,
    matchers: &[Matcher],
    min_ms: i64,
    max_ms: i64,
) -> Vec<(Labels, Vec<(i64, i64)>)> {
    if min_ms > max_ms {
        return Vec::new();
    }
    series
        .iter()
        .filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels)))
        .map(|(labels, chunks)| {
            let ranges = chunks
                .iter()
                .filter(|c| c.min_time_ms <= max_ms && min_ms <= c.max_time_ms)
                .map(|c| (c.min_time_ms, c.max_time_ms))
                .collect::<Vec<_>>();
            (labels.clone(), ranges)
        })
        .filter(|(_, ranges)| !ranges.is_empty())
        .collect()
}

fn selected_ranges(selected: &[BlockSeries]) -> Vec<(Labels, Vec<(i64, i64)>)> {
    selected
        .iter()
        .map(|s| {
            let ranges = s
                .chunks
                .iter()
                .map(|c| (c.min_time_ms, c.max_time_ms))
                .collect();
            (s.labels.clone(), ranges)
        })
        .collect()
}

#[test]
fn round_trip_select_and_read_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = block_dir(tmp.path());
    let series = generate_series(7, 300);
    let written_meta = write_block(&dir, &series);

    let reader = BlockReader::open(&dir).unwrap();
    assert_eq!(reader.meta(), &written_meta);
    assert_eq!(reader.num_series(), series.len());
    assert_eq!(reader.meta().stats.num_series, series.len() as u64);
    let total_chunks: usize = series.values().map(Vec::len).sum();
    assert_eq!(reader.meta().stats.num_chunks, total_chunks as u64);
    let total_samples: u64 = series
        .values()
        .flatten()
        .map(|c| u64::from(c.num_samples))
        .sum();
    assert_eq!(reader.meta().stats.num_samples, total_samples);
    assert_eq!(
        reader.meta().compaction.sources,
        [reader.meta().ulid.clone()]
    );
    assert_eq!(
        reader.meta().ulid,
        dir.file_name().unwrap().to_str().unwrap()
    );
    let file_sizes: u64 = [META_FILE, INDEX_FILE, CHUNKS_FILE]
        .iter()
        .map(|name| fs::metadata(dir.join(name)).unwrap().len())
        .sum();
    assert_eq!(reader.size_bytes(), file_sizes);
    assert!(!dir.join(META_TMP_FILE).exists());

    for matchers in matcher_sets() {
        let selected = reader.select(&matchers, i64::MIN, i64::MAX);
        assert_eq!(
            selected_ranges(&selected),
            brute_force_select(&series, &matchers, i64::MIN, i64::MAX),
            "matchers {matchers:?}"
        );
    }

    // Every chunk comes back byte for byte, with the metadata it was written with.
    let everything = reader.select(&[], i64::MIN, i64::MAX);
    assert_eq!(everything.len(), series.len());
    for (selected, (labels, chunks)) in everything.iter().zip(&series) {
        assert_eq!(&selected.labels, labels);
        assert_eq!(selected.chunks.len(), chunks.len());
        for (chunk_meta, written) in selected.chunks.iter().zip(chunks) {
            let read = reader.read_chunk(chunk_meta).unwrap();
            assert_eq!(&read, written);
        }
    }
}

#[test]
fn select_filters_chunks_by_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = block_dir(tmp.path());
    let series = generate_series(11, 200);
    write_block(&dir, &series);
    let reader = BlockReader::open(&dir).unwrap();

    let mut rng = XorShift(99);
    let mut windows = vec![
        (BLOCK_MIN_TIME, BLOCK_MIN_TIME),
        (BLOCK_MAX_TIME - 1, BLOCK_MAX_TIME + 1000),
        (i64::MIN, BLOCK_MIN_TIME - 1),
        (BLOCK_MAX_TIME, i64::MAX),
        (BLOCK_MIN_TIME + 10, BLOCK_MIN_TIME + 5),
    ];
    for _ in 0..40 {
        let start = BLOCK_MIN_TIME + rng.below(7_200_000) as i64;
        windows.push((start, start + rng.below(500_000) as i64));
    }
    // Exact chunk boundaries catch off-by-one errors in the inclusive overlap test.
    let some_chunk = &series.values().next().unwrap()[0];
    windows.push((some_chunk.max_time_ms, some_chunk.max_time_ms));
    windows.push((some_chunk.min_time_ms - 10, some_chunk.min_time_ms));
    windows.push((some_chunk.max_time_ms + 1, some_chunk.max_time_ms + 1));

    for (min_ms, max_ms) in windows {
        for matchers in [vec![], vec![matcher(MatchOp::Regex, "job", "api|db")]] {
            let selected = reader.select(&matchers, min_ms, max_ms);
            assert_eq!(
                selected_ranges(&selected),
                brute_force_select(&series, &matchers, min_ms, max_ms),
                "window [{min_ms}, {max_ms}] matchers {matchers:?}"
            );
        }
    }
    assert!(reader.select(&[], BLOCK_MAX_TIME, i64::MAX).is_empty());
}

#[test]
fn label_names_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = block_dir(tmp.path());
    let series = generate_series(3, 250);
    write_block(&dir, &series);
    let reader = BlockReader::open(&dir).unwrap();

    for matchers in matcher_sets() {
        let matching: Vec<&Labels> = series
            .keys()
            .filter(|labels| matchers.iter().all(|m| m.matches_labels(labels)))
            .collect();
        let names: BTreeSet<String> = matching
            .iter()
            .flat_map(|labels| labels.iter().map(|l| l.name.clone()))
            .collect();
        assert_eq!(
            reader.label_names(&matchers),
            names.into_iter().collect::<Vec<_>>(),
            "matchers {matchers:?}"
        );
        for name in ["__name__", "job", "env", "code", "instance", "missing"] {
            let values: BTreeSet<String> = matching
                .iter()
                .filter_map(|labels| labels.get(name).map(str::to_owned))
                .collect();
            assert_eq!(
                reader.label_values(name, &matchers),
                values.into_iter().collect::<Vec<_>>(),
                "name {name} matchers {matchers:?}"
            );
        }
    }
}

#[test]
fn empty_block_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = block_dir(tmp.path());
    write_block(&dir, &BTreeMap::new());
    let reader = BlockReader::open(&dir).unwrap();
    assert_eq!(reader.num_series(), 0);
    assert!(reader.select(&[], i64::MIN, i64::MAX).is_empty());
    assert!(reader.label_names(&[]).is_empty());
}

fn chunk(min_time_ms: i64, max_time_ms: i64) -> ChunkData {
    ChunkData {
        min_time_ms,
        max_time_ms,
        num_samples: 2,
        encoding: 1,
        data: Bytes::from_static(b"xor"),
    }
}

#[test]
fn writer_rejects_invalid_input() {
    let tmp = tempfile::tempdir().unwrap();
    let t = BLOCK_MIN_TIME;
    let b = Labels::from_static(&[("__name__", "b")]);
    let a = Labels::from_static(&[("__name__", "a")]);

    let not_ulid = BlockWriter::create(&tmp.path().join("block-1")).unwrap_err();
    assert!(
        matches!(not_ulid, BlockError::InvalidInput { .. }),
        "{not_ulid}"
    );

    let dir = block_dir(tmp.path());
    let mut writer = BlockWriter::create(&dir).unwrap();
    assert!(matches!(
        BlockWriter::create(&dir),
        Err(BlockError::Io { .. })
    ));
    writer.add_series(&b, &[chunk(t, t + 10)]).unwrap();

    let out_of_order = writer.add_series(&a, &[chunk(t, t + 10)]).unwrap_err();
    assert!(matches!(out_of_order, BlockError::OutOfOrderSeries { .. }));
    assert!(
        out_of_order.to_string().contains(r#"{__name__="a"}"#),
        "{out_of_order}"
    );
    assert!(matches!(
        writer.add_series(&b, &[chunk(t, t + 10)]),
        Err(BlockError::OutOfOrderSeries { .. })
    ));

    let c = Labels::from_static(&[("__name__", "c")]);
    let cases: Vec<(&Labels, Vec<ChunkData>, &str)> = vec![
        (&c, vec![], "no chunks"),
        (&c, vec![chunk(t + 10, t)], "after max time"),
        (
            &c,
            vec![chunk(t + 10, t + 20), chunk(t, t + 5)],
            "before the previous",
        ),
    ];
    for (labels, chunks, expected) in cases {
        let err = writer.add_series(labels, &chunks).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let empty = writer
        .add_series(&Labels::empty(), &[chunk(t, t)])
        .unwrap_err();
    assert!(empty.to_string().contains("no labels"), "{empty}");

    // Rejected input leaves the writer usable.
    writer
        .add_series(&c, &[chunk(t, t + 10), chunk(t, t + 20)])
        .unwrap();
    let outside = writer
        .finish(NewBlockMeta {
            max_time: t + 20,
            ..new_meta()
        })
        .unwrap_err();
    assert!(
        outside.to_string().contains("outside the block"),
        "{outside}"
    );
    // Nothing was committed.
    assert!(matches!(
        BlockReader::open(&dir),
        Err(BlockError::NotCommitted { .. })
    ));

    let dir = block_dir(tmp.path());
    let writer = BlockWriter::create(&dir).unwrap();
    let level_zero = NewBlockMeta {
        compaction: BlockCompaction::default(),
        ..new_meta()
    };
    assert!(
        writer
            .finish(level_zero)
            .unwrap_err()
            .to_string()
            .contains("level")
    );
}

#[test]
fn uncommitted_block_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = block_dir(tmp.path());
    let mut writer = BlockWriter::create(&dir).unwrap();
    writer
        .add_series(
            &Labels::from_static(&[("a", "1")]),
            &[chunk(BLOCK_MIN_TIME, BLOCK_MIN_TIME)],
        )
        .unwrap();
    drop(writer);
    let err = BlockReader::open(&dir).unwrap_err();
    assert!(matches!(err, BlockError::NotCommitted { .. }));
    assert!(err.to_string().contains("not committed"), "{err}");

    let dir = block_dir(tmp.path());
    write_block(&dir, &generate_series(1, 5));
    fs::remove_file(dir.join(META_FILE)).unwrap();
    let err = BlockReader::open(&dir).unwrap_err();
    assert!(err.to_string().contains("not committed"), "{err}");
}

#[test]
fn missing_data_files_are_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    for file in [INDEX_FILE, CHUNKS_FILE] {
        let dir = block_dir(tmp.path());
        write_block(&dir, &generate_series(1, 5));
        fs::remove_file(dir.join(file)).unwrap();
        let err = BlockReader::open(&dir).unwrap_err();
        assert!(matches!(err, BlockError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(err.to_string().contains(file), "{err}");
    }
}

/// Writes a small block and returns its directory and its three files' bytes.
struct SmallBlock {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl SmallBlock {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = block_dir(tmp.path());
        write_block(&dir, &generate_series(5, 6));
        Self { _tmp: tmp, dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn read(&self, file: &str) -> Vec<u8> {
        fs::read(self.path(file)).unwrap()
    }

    fn write(&self, file: &str, bytes: &[u8]) {
        fs::write(self.path(file), bytes).unwrap();
    }

    /// Opens the block and reads every chunk; the first error, if any.
    fn open_and_read_all(&self) -> Result<(), BlockError> {
        let reader = BlockReader::open(&self.dir)?;
        for series in reader.select(&[], i64::MIN, i64::MAX) {
            for chunk in &series.chunks {
                reader.read_chunk(chunk)?;
            }
        }
        Ok(())
    }
}

#[test]
fn every_index_byte_flip_fails_open() {
    let block = SmallBlock::new();
    let original = block.read(INDEX_FILE);
    for position in 0..original.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut corrupted = original.clone();
            corrupted[position] ^= mask;
            block.write(INDEX_FILE, &corrupted);
            match BlockReader::open(&block.dir) {
                Err(BlockError::Corrupt { path, .. }) => assert!(path.ends_with(INDEX_FILE)),
                other => panic!("flip {mask:#x} at index byte {position}: {other:?}"),
            }
        }
    }
    block.write(INDEX_FILE, &original);
    block.open_and_read_all().unwrap();
}

#[test]
fn every_chunks_byte_flip_is_detected() {
    let block = SmallBlock::new();
    let original = block.read(CHUNKS_FILE);
    for position in 0..original.len() {
        let mut corrupted = original.clone();
        corrupted[position] ^= 0x04;
        block.write(CHUNKS_FILE, &corrupted);
        match block.open_and_read_all() {
            Err(BlockError::Corrupt { path, .. }) => assert!(path.ends_with(CHUNKS_FILE)),
            other => panic!("flip at chunks byte {position}: {other:?}"),
        }
    }
    block.write(CHUNKS_FILE, &original);
    block.open_and_read_all().unwrap();
}

#[test]
fn truncated_files_fail() {
    let block = SmallBlock::new();
    for file in [INDEX_FILE, CHUNKS_FILE, META_FILE] {
        let original = block.read(file);
        // Trailing whitespace of meta.json is not significant, everything else is.
        let significant_len = original.trim_ascii_end().len();
        for len in 0..significant_len {
            block.write(file, &original[..len]);
            let result = block.open_and_read_all();
            assert!(
                matches!(result, Err(BlockError::Corrupt { .. })),
                "{file} truncated to {len} bytes: {result:?}"
            );
        }
        block.write(file, &original);
        block.open_and_read_all().unwrap();
    }
}

#[test]
fn inconsistent_meta_is_refused() {
    let block = SmallBlock::new();
    let original = block.read(META_FILE);
    let meta: BlockMeta = serde_json::from_slice(&original).unwrap();
    type Edit = Box<dyn Fn(&mut BlockMeta)>;
    let edits: Vec<(Edit, &str)> = vec![
        (Box::new(|m| m.version = 2), "unsupported block version 2"),
        (
            Box::new(|m| m.ulid = "not-a-ulid".to_owned()),
            "not a valid ULID",
        ),
        (Box::new(|m| m.max_time = m.min_time), "empty time range"),
        (Box::new(|m| m.stats.num_samples += 1), "stats claim"),
        (Box::new(|m| m.stats.num_series = 0), "stats claim"),
        // Chunks outside the stated range expose a meta.json from another block.
        (Box::new(|m| m.min_time += 3_600_000), "outside the block"),
    ];
    for (edit, expected) in edits {
        let mut edited = meta.clone();
        edit(&mut edited);
        block.write(META_FILE, &serde_json::to_vec(&edited).unwrap());
        let err = BlockReader::open(&block.dir).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "expected {expected:?}: {err}"
        );
    }
    block.write(META_FILE, b"{\"ulid\": 1}");
    assert!(
        BlockReader::open(&block.dir)
            .unwrap_err()
            .to_string()
            .contains("invalid json")
    );
}

#[test]
fn read_chunk_rejects_bad_references() {
    let block = SmallBlock::new();
    let reader = BlockReader::open(&block.dir).unwrap();
    let good = reader.select(&[], i64::MIN, i64::MAX)[0].chunks[0];
    let chunks_len = block.read(CHUNKS_FILE).len() as u64;
    let bad = [
        ChunkMeta { offset: 0, ..good },
        ChunkMeta {
            offset: u64::MAX - 3,
            ..good
        },
        ChunkMeta {
            offset: chunks_len,
            ..good
        },
        ChunkMeta {
            data_len: u32::MAX,
            ..good
        },
        ChunkMeta {
            data_len: good.data_len + 1,
            ..good
        },
        ChunkMeta {
            offset: good.offset + 1,
            ..good
        },
    ];
    for chunk in bad {
        let err = reader.read_chunk(&chunk).unwrap_err();
        assert!(
            matches!(err, BlockError::Corrupt { .. }),
            "{chunk:?}: {err}"
        );
    }
}

/// The three section payloads of an index file, located through its table of contents.
fn index_payloads(index: &[u8]) -> [Vec<u8>; 3] {
    let toc = &index[index.len() - 52..];
    let field = |i: usize| u64::from_le_bytes(toc[i * 8..i * 8 + 8].try_into().unwrap()) as usize;
    [0, 1, 2].map(|section| {
        let (offset, len) = (field(section * 2), field(section * 2 + 1));
        index[offset..offset + len].to_vec()
    })
}

/// An index file around arbitrary payloads, with correct CRCs and table of contents, so the
/// decoders behind the checksums see the bytes.
fn build_index(payloads: &[Vec<u8>; 3]) -> Vec<u8> {
    let mut file = b"VGIX\x01".to_vec();
    let mut toc = Vec::new();
    for payload in payloads {
        toc.extend_from_slice(&(file.len() as u64).to_le_bytes());
        toc.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(payload);
        file.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    }
    let toc_crc = crc32c::crc32c(&toc);
    file.extend_from_slice(&toc);
    file.extend_from_slice(&toc_crc.to_le_bytes());
    file
}

#[test]
fn rebuilt_index_matches_writer_output() {
    let block = SmallBlock::new();
    let original = block.read(INDEX_FILE);
    assert_eq!(build_index(&index_payloads(&original)), original);
}

#[test]
fn semantic_inconsistencies_behind_valid_crcs_are_refused() {
    let block = SmallBlock::new();
    let payloads = index_payloads(&block.read(INDEX_FILE));
    let cases: Vec<([Vec<u8>; 3], &str)> = vec![
        (
            [payloads[0].clone(), payloads[1].clone(), vec![0]],
            "lack series 0",
        ),
        (
            [payloads[0].clone(), vec![0], payloads[2].clone()],
            "not below the series count",
        ),
        (
            [vec![0], payloads[1].clone(), payloads[2].clone()],
            "symbol ref",
        ),
        (
            [
                payloads[0].clone(),
                payloads[1].clone(),
                [payloads[2].clone(), vec![0]].concat(),
            ],
            "trailing bytes",
        ),
    ];
    for (payloads, expected) in cases {
        block.write(INDEX_FILE, &build_index(&payloads));
        let err = BlockReader::open(&block.dir).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "expected {expected:?}: {err}"
        );
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { position: usize, mask: u8 },
    Set { position: usize, value: u8 },
    Truncate { len: usize },
    Insert { position: usize, value: u8 },
    Remove { position: usize },
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(position, mask)| Mutation::Flip { position, mask }),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()]
        )
            .prop_map(|(position, value)| Mutation::Set { position, value }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), any::<u8>())
            .prop_map(|(position, value)| Mutation::Insert { position, value }),
        any::<usize>().prop_map(|position| Mutation::Remove { position }),
    ]
}

fn apply(payload: &mut Vec<u8>, mutation: &Mutation) {
    let len = payload.len();
    match *mutation {
        Mutation::Flip { position, mask } if len > 0 => payload[position % len] ^= mask,
        Mutation::Set { position, value } if len > 0 => payload[position % len] = value,
        Mutation::Truncate { len: new_len } => payload.truncate(new_len % (len + 1)),
        Mutation::Insert { position, value } => payload.insert(position % (len + 1), value),
        Mutation::Remove { position } if len > 0 => {
            payload.remove(position % len);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Garbage that passes the checksums reaches the decoders: they must return errors (or,
    /// rarely, a still-consistent index), never panic or allocate without bound.
    #[test]
    fn decoders_survive_garbage_behind_valid_crcs(
        mutations in proptest::collection::vec((0..3usize, mutation_strategy()), 1..4),
        chunk_offset in any::<u64>(),
        chunk_len in any::<u32>(),
    ) {
        thread_local! {
            static BLOCK: (SmallBlock, Vec<u8>) = {
                let block = SmallBlock::new();
                let original_index = block.read(INDEX_FILE);
                (block, original_index)
            };
        }
        BLOCK.with(|(block, original)| {
            let mut payloads = index_payloads(original);
            for (section, mutation) in &mutations {
                apply(&mut payloads[*section], mutation);
            }
            block.write(INDEX_FILE, &build_index(&payloads));
            if let Ok(reader) = BlockReader::open(&block.dir) {
                for series in reader.select(&[], i64::MIN, i64::MAX) {
                    for chunk in &series.chunks {
                        let _ = reader.read_chunk(chunk);
                    }
                }
                let bogus = ChunkMeta {
                    min_time_ms: 0,
                    max_time_ms: 0,
                    num_samples: 0,
                    offset: chunk_offset,
                    data_len: chunk_len,
                };
                let _ = reader.read_chunk(&bogus);
            }
        });
    }
}
