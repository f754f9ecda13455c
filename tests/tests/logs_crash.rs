//! Log durability: every Loki push acknowledged with 2xx survives `kill -9`, repeatedly,
//! while chunks are being cut and flushed to the object store (a small chunk size, a fast
//! maintenance loop and `POST /flush` calls racing the writers), and is read back exactly
//! once. Segments on the object store are never half-written: every segment directory is
//! either committed (`meta.json` present, every file there and readable, its entry count
//! matching) or has no `meta.json` and is ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use vigil_ingest::loki::proto as pb;
use vigil_tests::Vigil;
use vigil_tests::logs::{Backend, now_ns, query_all, start_on};

const KILLS: u64 = 6;
const WRITERS: usize = 3;
const LINES_PER_PUSH: usize = 25;
const MAX_PUSHES_PER_ROUND: u64 = 60;
const TENANT: &str = "crash";
const SEGMENT_FILES: [&str; 4] = ["meta.json", "data.parquet", "index.bin", "content.bin"];

fn push_body(writer: usize, ids: &[String], first_ts: i64) -> Vec<u8> {
    let request = pb::PushRequest {
        streams: vec![pb::StreamAdapter {
            labels: format!("{{app=\"crash\", writer=\"w{writer}\"}}"),
            entries: ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let ts = first_ts + i as i64;
                    pb::EntryAdapter {
                        timestamp: Some(pb::Timestamp {
                            seconds: ts / 1_000_000_000,
                            nanos: (ts % 1_000_000_000) as i32,
                        }),
                        line: format!("id={id} level=info payload={}", "p".repeat(64)),
                        ..Default::default()
                    }
                })
                .collect(),
            hash: 0,
        }],
        format: String::new(),
    };
    vigil_tests::snappy(&request.encode_to_vec())
}

/// Checks every segment directory on the object store; returns (committed, ignored).
fn check_segments(backend: &Backend) -> (usize, usize) {
    let Backend::Filesystem(root) = backend else {
        unreachable!("the crash test runs on the filesystem backend");
    };
    let mut committed = 0;
    let mut ignored = 0;
    for (id, files) in backend.log_segments(TENANT) {
        let dir = root.join(format!("logs/{TENANT}/segments/{id}"));
        if !files.iter().any(|f| f == "meta.json") {
            ignored += 1;
            continue;
        }
        for file in SEGMENT_FILES {
            assert!(
                files.iter().any(|f| f == file),
                "committed segment {id} lacks {file}: {files:?}"
            );
        }
        let (meta, streams) = vigil_logstore::read_segment_dir(&dir)
            .unwrap_or_else(|err| panic!("committed segment {id} is unreadable: {err}"));
        let rows: usize = streams.iter().map(|(_, entries)| entries.len()).sum();
        assert_eq!(rows as u64, meta.entries, "segment {id}");
        committed += 1;
    }
    (committed, ignored)
}

#[test]
fn acknowledged_log_pushes_survive_kill_9_during_flushes() {
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let backend = Backend::filesystem(root.path());
    let data = root.path().join("data");
    // Chunks are cut at 16 KiB, the maintenance loop runs every 100 ms: flushes, uploads and
    // WAL checkpoints happen all the time while the writers push.
    let storage_extra = "  tsdb:\n    maintenance_interval: 100ms\n";
    let logs_yaml = "logs:\n  chunk_target_bytes: 16384\n";
    let acknowledged: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // Distinct nanosecond timestamps for every entry, across rounds.
    let clock = Arc::new(AtomicI64::new(now_ns() - 120 * 1_000_000_000));
    let pushes = Arc::new(AtomicU64::new(0));
    let start_ns = clock.load(Ordering::Relaxed);
    let read_all = |vigil: &Vigil| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (_, entry) in query_all(
            vigil,
            r#"{app="crash"}"#,
            start_ns,
            now_ns() + 3_600_000_000_000,
            Some(TENANT),
        ) {
            let id = entry
                .line
                .strip_prefix("id=")
                .and_then(|rest| rest.split(' ').next())
                .unwrap()
                .to_string();
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    };
    let check = |vigil: &Vigil, when: &str| {
        let present = read_all(vigil);
        let duplicated: Vec<_> = present.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            duplicated.is_empty(),
            "{when}: {} entries read more than once, e.g. {:?}",
            duplicated.len(),
            duplicated.first()
        );
        let expected = acknowledged.lock().unwrap().clone();
        let missing: Vec<_> = expected
            .iter()
            .filter(|id| !present.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "{when}: {} of {} acknowledged entries lost, e.g. {:?}",
            missing.len(),
            expected.len(),
            missing.first()
        );
        present.len()
    };

    let mut segments_seen = 0;
    for round in 0..KILLS {
        let mut vigil = start_on(&backend, &data, storage_extra, logs_yaml);
        check(&vigil, &format!("round {round} start"));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (stop, acknowledged, clock, pushes, addr) = (
                    stop.clone(),
                    acknowledged.clone(),
                    clock.clone(),
                    pushes.clone(),
                    vigil.addr,
                );
                std::thread::spawn(move || {
                    let client = vigil_tests::agent();
                    for push in 0..MAX_PUSHES_PER_ROUND {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let ids: Vec<String> = (0..LINES_PER_PUSH)
                            .map(|i| format!("r{round}-w{writer}-p{push}-e{i}"))
                            .collect();
                        let first_ts = clock.fetch_add(LINES_PER_PUSH as i64, Ordering::Relaxed);
                        let result = client
                            .post(format!("http://{addr}/loki/api/v1/push"))
                            .header("Content-Type", "application/x-protobuf")
                            .header("X-Scope-OrgID", TENANT)
                            .send(push_body(writer, &ids, first_ts));
                        match result {
                            Ok(response) if response.status().is_success() => {
                                acknowledged.lock().unwrap().extend(ids);
                                pushes.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(response) => panic!("unexpected status {}", response.status()),
                            Err(_) => return, // the server is gone
                        }
                    }
                })
            })
            .collect();
        // Explicit flushes race the writers and the maintenance loop.
        let (flush_stop, addr) = (stop.clone(), vigil.addr);
        threads.push(std::thread::spawn(move || {
            let client = vigil_tests::agent();
            while !flush_stop.load(Ordering::Relaxed) {
                match client
                    .post(format!("http://{addr}/flush"))
                    .send(Vec::<u8>::new())
                {
                    Ok(response) => assert_eq!(response.status().as_u16(), 204),
                    Err(_) => return,
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        }));
        // Kill at a different point each round, while the writers are mid-stream.
        std::thread::sleep(Duration::from_millis(250 + (round * 173) % 600));
        vigil.kill9();
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            thread.join().unwrap();
        }
        let (committed, _) = check_segments(&backend);
        segments_seen = segments_seen.max(committed);
    }
    let vigil = start_on(&backend, &data, storage_extra, logs_yaml);
    let present = check(&vigil, "final");
    let acknowledged = acknowledged.lock().unwrap().len();
    assert!(
        acknowledged >= (KILLS as usize) * LINES_PER_PUSH,
        "too few pushes were acknowledged ({acknowledged} entries) to prove anything"
    );
    assert!(
        segments_seen > 0,
        "no segment was ever flushed, so the flush/crash interplay went untested"
    );
    let (committed, ignored) = check_segments(&backend);
    eprintln!(
        "{KILLS} kills, {} pushes acknowledged ({acknowledged} entries, {present} readable), {committed} committed segments, {ignored} uncommitted ignored, {:?}",
        pushes.load(Ordering::Relaxed),
        started.elapsed()
    );
}
