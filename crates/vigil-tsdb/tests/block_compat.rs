//! Format-compatibility test: opens the committed version-1 block fixture and checks its exact
//! contents, so a change to the block format (docs/format/block.md) cannot slip in silently.
//!
//! The fixture under `tests/fixtures/block-v1/` was produced once by the ignored
//! `generate_fixture` test below and must never be regenerated: a format change needs a new
//! version, a new fixture directory and a reader that still opens this one.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use vigil_model::{Labels, MatchOp, Matcher};
use vigil_tsdb::block::{
    BlockCompaction, BlockError, BlockMeta, BlockReader, BlockStats, BlockWriter, CHUNKS_FILE,
    ChunkData, ChunkMeta, INDEX_FILE, META_FILE, NewBlockMeta,
};

const ULID: &str = "01JDV1G1000000000000000000";
const MIN_TIME: i64 = 1_700_000_000_000;
const MAX_TIME: i64 = 1_700_000_120_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/block-v1")
        .join(ULID)
}

fn chunk(min_offset_s: i64, max_offset_s: i64, num_samples: u32, data: &'static [u8]) -> ChunkData {
    ChunkData {
        min_time_ms: MIN_TIME + min_offset_s * 1000,
        max_time_ms: MIN_TIME + max_offset_s * 1000,
        num_samples,
        // The data is opaque filler: the block layer never decodes it.
        encoding: 1,
        data: Bytes::from_static(data),
    }
}

/// The fixture's input, in the order it was written.
fn fixture_series() -> Vec<(Labels, Vec<ChunkData>)> {
    vec![
        (
            Labels::from_static(&[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("job", "api"),
            ]),
            vec![chunk(0, 60, 5, b"\x00\x05http-chunk-0")],
        ),
        (
            Labels::from_static(&[("__name__", "up"), ("instance", "a:9090"), ("job", "api")]),
            vec![chunk(0, 30, 3, b"up-a-0"), chunk(45, 90, 4, b"up-a-1")],
        ),
        (
            Labels::from_static(&[("__name__", "up"), ("job", "web")]),
            // An empty chunk payload is legal for the block layer and pins that edge case.
            vec![chunk(15, 15, 1, b"")],
        ),
    ]
}

fn fixture_new_meta() -> NewBlockMeta {
    NewBlockMeta {
        min_time: MIN_TIME,
        max_time: MAX_TIME,
        compaction: BlockCompaction {
            level: 2,
            sources: vec![
                "01JDV0A0000000000000000000".to_owned(),
                "01JDV0B0000000000000000000".to_owned(),
            ],
        },
        tenant: "team-a".to_owned(),
    }
}

fn write_fixture(dir: &Path) -> Result<BlockMeta, BlockError> {
    let mut writer = BlockWriter::create(dir)?;
    for (labels, chunks) in fixture_series() {
        writer.add_series(&labels, &chunks)?;
    }
    writer.finish(fixture_new_meta())
}

fn expected_meta() -> BlockMeta {
    BlockMeta {
        ulid: ULID.to_owned(),
        min_time: MIN_TIME,
        max_time: MAX_TIME,
        stats: BlockStats {
            num_series: 3,
            num_chunks: 4,
            num_samples: 13,
        },
        compaction: BlockCompaction {
            level: 2,
            sources: vec![
                "01JDV0A0000000000000000000".to_owned(),
                "01JDV0B0000000000000000000".to_owned(),
            ],
        },
        version: 1,
        tenant: "team-a".to_owned(),
    }
}

fn chunk_meta(
    min_offset_s: i64,
    max_offset_s: i64,
    num_samples: u32,
    offset: u64,
    data_len: u32,
) -> ChunkMeta {
    ChunkMeta {
        min_time_ms: MIN_TIME + min_offset_s * 1000,
        max_time_ms: MIN_TIME + max_offset_s * 1000,
        num_samples,
        offset,
        data_len,
    }
}

#[test]
fn opens_v1_fixture_with_exact_contents() {
    let reader = BlockReader::open(&fixture_dir()).unwrap();
    assert_eq!(reader.meta(), &expected_meta());
    assert_eq!(reader.num_series(), 3);

    let file_len = |name: &str| fs::metadata(fixture_dir().join(name)).unwrap().len();
    assert_eq!(file_len(CHUNKS_FILE), 67);
    assert_eq!(file_len(INDEX_FILE), 336);
    assert_eq!(
        reader.size_bytes(),
        file_len(CHUNKS_FILE) + file_len(INDEX_FILE) + file_len(META_FILE)
    );

    let all = reader.select(&[], i64::MIN, i64::MAX);
    let found: Vec<(String, Vec<ChunkMeta>)> = all
        .iter()
        .map(|series| (series.labels.to_string(), series.chunks.clone()))
        .collect();
    let expected = vec![
        (
            r#"{__name__="http_requests_total", code="200", job="api"}"#.to_owned(),
            vec![chunk_meta(0, 60, 5, 5, 14)],
        ),
        (
            r#"{__name__="up", instance="a:9090", job="api"}"#.to_owned(),
            vec![chunk_meta(0, 30, 3, 28, 6), chunk_meta(45, 90, 4, 43, 6)],
        ),
        (
            r#"{__name__="up", job="web"}"#.to_owned(),
            vec![chunk_meta(15, 15, 1, 58, 0)],
        ),
    ];
    assert_eq!(found, expected);

    let data: Vec<Vec<u8>> = all
        .iter()
        .flat_map(|series| series.chunks.iter())
        .map(|meta| {
            let chunk = reader.read_chunk(meta).unwrap();
            assert_eq!(chunk.encoding, 1);
            chunk.data.to_vec()
        })
        .collect();
    assert_eq!(
        data,
        [
            b"\x00\x05http-chunk-0".to_vec(),
            b"up-a-0".to_vec(),
            b"up-a-1".to_vec(),
            Vec::new(),
        ]
    );

    assert_eq!(
        reader.label_names(&[]),
        ["__name__", "code", "instance", "job"]
    );
    assert_eq!(
        reader.label_values("__name__", &[]),
        ["http_requests_total", "up"]
    );
    let web = [Matcher::new(MatchOp::NotRegex, "job", "api").unwrap()];
    assert_eq!(reader.label_names(&web), ["__name__", "job"]);
    let up = [Matcher::equal("__name__", "up")];
    assert_eq!(reader.label_values("job", &up), ["api", "web"]);
    let in_window = reader.select(&up, MIN_TIME + 31_000, MIN_TIME + 44_000);
    assert!(in_window.is_empty(), "{in_window:?}");
}

#[test]
fn fixture_files_start_with_their_magic() {
    let index = fs::read(fixture_dir().join(INDEX_FILE)).unwrap();
    let chunks = fs::read(fixture_dir().join(CHUNKS_FILE)).unwrap();
    assert_eq!(&index[..5], b"VGIX\x01");
    assert_eq!(&chunks[..5], b"VGCK\x01");
    // The first chunk record: encoding 1, length 14 (little endian), then the data.
    assert_eq!(&chunks[5..10], b"\x01\x0e\x00\x00\x00");
    assert_eq!(&chunks[10..24], b"\x00\x05http-chunk-0");
}

/// Today's writer must still produce the fixture byte for byte; if this fails while
/// `opens_v1_fixture_with_exact_contents` passes, the writer changed its output without
/// changing the format (e.g. bitmap or symbol encoding choices): decide consciously.
#[test]
fn writer_reproduces_fixture_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(ULID);
    let meta = write_fixture(&dir).unwrap();
    assert_eq!(meta, expected_meta());
    for file in [INDEX_FILE, CHUNKS_FILE, META_FILE] {
        let written = fs::read(dir.join(file)).unwrap();
        let committed = fs::read(fixture_dir().join(file)).unwrap();
        assert!(
            written == committed,
            "{file} differs from the committed fixture"
        );
    }
}

/// Wrote the fixture once: `cargo test -p vigil-tsdb --test block_compat -- --ignored`.
/// Refuses to overwrite an existing fixture.
#[test]
#[ignore = "generates the committed fixture; run once per format version"]
fn generate_fixture() {
    let dir = fixture_dir();
    assert!(
        !dir.exists(),
        "{} exists: fixtures are never regenerated",
        dir.display()
    );
    fs::create_dir_all(dir.parent().unwrap()).unwrap();
    write_fixture(&dir).unwrap();
}
