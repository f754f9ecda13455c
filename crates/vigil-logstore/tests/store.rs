//! The log store against the storage conformance suite (with every persist step flushing
//! heads into Parquet segments), across reopen, and against the checked-in format fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use parking_lot::Mutex;
use vigil_logstore::{LogStore, LogStoreOptions, read_segment_dir};
use vigil_model::{Labels, LogEntry, LogTimeRange, Matcher, TenantId};
use vigil_storage::log_conformance::{self, LogStorageUnderTest};
use vigil_storage::{LogAppendOptions, LogAppendable, LogQueryable, LogSelect};

fn local_store(dir: &Path) -> Arc<dyn ObjectStore> {
    std::fs::create_dir_all(dir).unwrap();
    Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap())
}

fn options(dir: &Path) -> LogStoreOptions {
    LogStoreOptions {
        data_dir: dir.join("data"),
        row_group_rows: 64,
        ..LogStoreOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_passes_the_log_conformance_suite() {
    let dirs: Arc<Mutex<Vec<tempfile::TempDir>>> = Arc::default();
    let keep = dirs.clone();
    log_conformance::run_all(move |limits| {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogStoreOptions {
            unordered_window_ns: limits.unordered_window_ns,
            max_streams_per_tenant: limits.max_streams_per_tenant,
            ..options(dir.path())
        };
        let objects = local_store(&dir.path().join("objects"));
        let store = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(LogStore::open(opts, objects))
        })
        .unwrap()
        .0;
        keep.lock().push(dir);
        let flusher = store.clone();
        LogStorageUnderTest {
            appendable: Arc::new(store.clone()),
            queryable: Arc::new(store),
            persist: Some(Arc::new(move || {
                let flusher = flusher.clone();
                Box::pin(async move {
                    flusher.flush(true).await.unwrap();
                })
            })),
        }
    })
    .await;
    drop(dirs);
}

fn lines(store: &LogStore, tenant: &TenantId, literals: &[&str]) -> Vec<String> {
    let querier = store.log_querier(tenant, LogTimeRange::ALL).unwrap();
    let select = LogSelect {
        matchers: vec![Matcher::equal("app", "api")],
        line_contains: literals.iter().map(|s| s.to_string()).collect(),
        ..LogSelect::default()
    };
    querier
        .select_entries(&select)
        .unwrap()
        .map(|e| e.unwrap().entry.line)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_entries_survive_reopen_from_wal_checkpoint_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("t").unwrap();
    let stream = Labels::from_static(&[("app", "api")]);
    let objects = dir.path().join("objects");
    let mut expected = Vec::new();
    {
        let (store, _) = LogStore::open(options(dir.path()), local_store(&objects))
            .await
            .unwrap();
        for round in 0..3 {
            let mut appender = store.log_appender(&tenant, LogAppendOptions::default());
            for i in 0..100 {
                let line = format!(
                    "round {round} entry {i:03} {}",
                    if i == 42 { "needle" } else { "hay" }
                );
                appender
                    .append_entry(&stream, LogEntry::new(1_000_000 * round + i, line.clone()))
                    .unwrap();
                expected.push(line);
            }
            appender.commit().await.unwrap();
            if round < 2 {
                // Rounds 0 and 1 land in segments (and the WAL is checkpointed); round 2
                // lives only in the WAL.
                store.flush(true).await.unwrap();
            }
        }
        assert_eq!(store.segment_count(&tenant), 2);
        store.close();
    }
    let (reopened, report) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    assert_eq!(report.segments_loaded, 2);
    assert_eq!(lines(&reopened, &tenant, &[]), expected);
    assert_eq!(lines(&reopened, &tenant, &["needle"]).len(), 3);

    // A fresh cache (another machine) downloads the segments from the object store.
    reopened.close();
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("data")).unwrap();
    std::fs::rename(dir.path().join("data/wal"), other.path().join("data/wal")).unwrap();
    let (moved, report) = LogStore::open(options(other.path()), local_store(&objects))
        .await
        .unwrap();
    assert_eq!(report.segments_loaded, 2);
    assert_eq!(lines(&moved, &tenant, &[]), expected);
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The content index prunes row groups by trigrams and token filters; whatever it skips,
/// a search over flushed segments must find exactly the lines a scan of every line finds,
/// for ids written whole, bare, cut short or inside longer tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_searches_over_segments_find_exactly_the_lines_holding_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("t").unwrap();
    let stream = Labels::from_static(&[("app", "api")]);
    let (store, _) = LogStore::open(
        options(dir.path()),
        local_store(&dir.path().join("objects")),
    )
    .await
    .unwrap();
    let mut state = 7u64;
    let mut ids: Vec<String> = Vec::new();
    let mut written = Vec::new();
    let mut appender = store.log_appender(&tenant, LogAppendOptions::default());
    for i in 0..3000i64 {
        // One id in four comes back later, as a request's lines share a trace id.
        let id = if i % 4 == 3 {
            ids[(splitmix(&mut state) % ids.len() as u64) as usize].clone()
        } else {
            format!("{:016x}{:016x}", splitmix(&mut state), splitmix(&mut state))
        };
        let line = match i % 3 {
            0 => format!("level=info msg=\"request done\" trace_id={id} status=200"),
            1 => format!("span {id} finished in {}ms", i % 97),
            _ => format!("wrapped=x{id}y n={i}"),
        };
        appender
            .append_entry(&stream, LogEntry::new(1_000 + i, line.clone()))
            .unwrap();
        written.push(line);
        ids.push(id);
    }
    appender.commit().await.unwrap();
    store.flush(true).await.unwrap();
    assert!(store.segment_count(&tenant) >= 1);
    let mut needles = Vec::new();
    for k in 0..40 {
        let id = &ids[(splitmix(&mut state) % ids.len() as u64) as usize];
        needles.push(format!("trace_id={id}"));
        needles.push(id.clone());
        needles.push(id[3..29].to_string());
        needles.push(format!("={}", &id[..12]));
        needles.push(format!(" {id} "));
        if k % 4 == 0 {
            // Absent ids, with and without a bounding byte.
            let absent = format!("{:016x}{:016x}", splitmix(&mut state), splitmix(&mut state));
            needles.push(format!("trace_id={absent}"));
            needles.push(absent);
        }
    }
    for needle in &needles {
        let expected: Vec<&String> = written
            .iter()
            .filter(|l| l.contains(needle.as_str()))
            .collect();
        let found = lines(&store, &tenant, &[needle]);
        assert_eq!(
            found.iter().collect::<Vec<_>>(),
            expected,
            "searching {needle:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_without_meta_json_are_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("t").unwrap();
    let objects = dir.path().join("objects");
    {
        let (store, _) = LogStore::open(options(dir.path()), local_store(&objects))
            .await
            .unwrap();
        let mut appender = store.log_appender(&tenant, LogAppendOptions::default());
        appender
            .append_entry(
                &Labels::from_static(&[("app", "api")]),
                LogEntry::new(1, "kept"),
            )
            .unwrap();
        appender.commit().await.unwrap();
        store.flush(true).await.unwrap();
        store.close();
    }
    // Simulate an upload that died before its commit marker.
    let half = objects.join("logs/t/segments/01HALFWRITTEN0000000000000");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("data.parquet"), b"partial").unwrap();
    std::fs::remove_dir_all(dir.path().join("data/cache")).unwrap();
    let (store, report) = LogStore::open(options(dir.path()), local_store(&objects))
        .await
        .unwrap();
    assert_eq!(report.uncommitted_skipped, 1);
    assert_eq!(report.segments_loaded, 1);
    assert_eq!(lines(&store, &tenant, &[]), ["kept"]);
}

/// The checked-in version-1 segment must stay readable by every later version.
/// Every committed fixture holds the same entries; `segment-v1` has a version 1 content
/// index (trigrams only), `segment-v2` one with token filters.
#[test]
fn format_fixtures_are_readable() {
    for (name, content_version) in [("segment-v1", 1), ("segment-v2", 2)] {
        check_fixture(name);
        let content = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name)
                .join("content.bin"),
        )
        .unwrap();
        assert_eq!(&content[..5], &[b'V', b'L', b'C', b'I', content_version]);
    }
    // The current writer's column encodings, as docs/format/log-segment.md gives them.
    let file = std::fs::File::open(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/segment-v2/data.parquet"),
    )
    .unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let group = parquet::file::reader::FileReader::metadata(&reader).row_group(0);
    let encodings = |column: usize| group.column(column).encodings().collect::<Vec<_>>();
    assert!(encodings(1).contains(&parquet::basic::Encoding::DELTA_BINARY_PACKED));
    assert!(encodings(2).contains(&parquet::basic::Encoding::DELTA_LENGTH_BYTE_ARRAY));
}

fn check_fixture(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let (meta, streams) = read_segment_dir(&dir).unwrap();
    assert_eq!(meta.version, 1);
    assert_eq!(meta.entries, 4);
    assert_eq!(streams.len(), 2);
    assert_eq!(
        streams[0].0,
        Labels::from_static(&[("app", "api"), ("env", "prod")])
    );
    let lines: Vec<&str> = streams[0].1.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["GET /health 200", "ERROR upstream timeout"]);
    assert_eq!(
        streams[0].1[1].structured_metadata.get("trace_id"),
        Some("4bf92f3577b34da6")
    );
    assert_eq!(streams[1].1[0].timestamp_ns, 1_735_689_600_000_000_002);
}

#[test]
fn segment_footprint_counts_each_streams_rows_and_column_bytes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/segment-v2");
    let streams = vigil_logstore::segment_footprint(&dir).unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(
        streams[1].labels,
        Labels::from_static(&[("app", "web"), ("env", "prod")])
    );
    for stream in &streams {
        assert_eq!(
            (stream.entries, stream.row_groups),
            (2, 2),
            "one row per row group"
        );
        let names: Vec<&str> = stream.column_bytes.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            names,
            ["stream_id", "timestamp_ns", "line", "structured_metadata"]
        );
        assert!(stream.column_bytes.iter().all(|c| c.1 > 0));
    }
    let total: u64 = streams
        .iter()
        .flat_map(|s| s.column_bytes.iter().map(|c| c.1))
        .sum();
    let file = std::fs::metadata(dir.join("data.parquet")).unwrap().len();
    assert!(total < file, "{total} column bytes in a {file}-byte file");
}

/// Writes the fixture of the current format; run by hand only when adding a new format
/// version (and point it at a new directory first):
/// `cargo test -p vigil-logstore --test store -- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate_format_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/segment-v2");
    let _ = std::fs::remove_dir_all(&dir);
    let mut traced = LogEntry::new(1_735_689_600_000_000_003, "ERROR upstream timeout");
    traced.structured_metadata = Labels::from_static(&[("trace_id", "4bf92f3577b34da6")]);
    let streams = vec![
        (
            Labels::from_static(&[("app", "api"), ("env", "prod")]),
            vec![
                LogEntry::new(1_735_689_600_000_000_001, "GET /health 200"),
                traced,
            ],
        ),
        (
            Labels::from_static(&[("app", "web"), ("env", "prod")]),
            vec![
                LogEntry::new(1_735_689_600_000_000_002, "served /index.html"),
                LogEntry::new(1_735_689_600_000_000_004, "served /app.js"),
            ],
        ),
    ];
    vigil_logstore::write_segment_dir(&dir, "01JGFJJZ000000000000000000", &streams, 1).unwrap();
}
