//! Durability: every remote write acknowledged with 2xx survives `kill -9`, repeatedly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_ingest::proto::v1 as pb1;
use vigil_tests::{Vigil, now_ms, series_data, series_v1};

const KILLS: u64 = 6;
const SERIES_PER_BATCH: u64 = 20;

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("vigil.yaml");
    std::fs::write(&config, "").unwrap();
    let acknowledged: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let base = now_ms() - 60_000;
    for round in 0..KILLS {
        let mut vigil = Vigil::start_with_config(&data, &config);
        // Everything acknowledged in earlier rounds is present after the restart.
        let present: BTreeSet<String> =
            series_data(&vigil.get("/api/v1/series?match[]=crash_test", None))
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect();
        let expected = acknowledged.lock().unwrap().clone();
        let missing: Vec<_> = expected.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged series lost, e.g. {:?}",
            missing.len(),
            missing.first()
        );

        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                let (stop, acknowledged, url_vigil) =
                    (stop.clone(), acknowledged.clone(), vigil.addr);
                std::thread::spawn(move || {
                    let client = vigil_tests::agent();
                    let mut batch = 0u64;
                    while !stop.load(Ordering::Relaxed) && batch < 10_000 {
                        let ids: Vec<String> = (0..SERIES_PER_BATCH)
                            .map(|i| format!("r{round}-w{writer}-b{batch}-s{i}"))
                            .collect();
                        let request = pb1::WriteRequest {
                            timeseries: ids
                                .iter()
                                .map(|id| {
                                    series_v1(
                                        &[("__name__", "crash_test"), ("id", id)],
                                        &[(base + batch as i64, batch as f64)],
                                    )
                                })
                                .collect(),
                            metadata: vec![],
                        };
                        let body = vigil_tests::snappy(&prost::Message::encode_to_vec(&request));
                        let result = client
                            .post(format!("http://{url_vigil}/api/v1/write"))
                            .header("Content-Type", "application/x-protobuf")
                            .header("Content-Encoding", "snappy")
                            .send(body);
                        match result {
                            Ok(response) if response.status().is_success() => {
                                acknowledged.lock().unwrap().extend(ids);
                            }
                            Ok(response) => panic!("unexpected status {}", response.status()),
                            Err(_) => return, // the server is gone
                        }
                        batch += 1;
                    }
                })
            })
            .collect();
        // Kill at a different point each round, while both writers are mid-stream.
        std::thread::sleep(Duration::from_millis(150 + (round * 137) % 500));
        vigil.kill9();
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().unwrap();
        }
    }
    let vigil = Vigil::start_with_config(&data, &config);
    let present = series_data(&vigil.get("/api/v1/series?match[]=crash_test", None)).len();
    let expected = acknowledged.lock().unwrap().len();
    assert!(expected > 0, "the writers got no write acknowledged at all");
    assert!(
        present >= expected,
        "{present} series present, {expected} acknowledged"
    );
}
