//! Blocks: head data is cut into blocks on the object store, survives the loss of the WAL,
//! lives under per-tenant prefixes, and retention deletes old blocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigil_ingest::proto::v1 as pb1;
use vigil_tests::{Vigil, now_ms, series_data, series_v1};

const FAST_BLOCKS: &str = "storage:\n  tsdb:\n    block_range: 1m\n    out_of_order_window: 10s\n    retention: 15d\n    maintenance_interval: 200ms\n";

fn committed_blocks(objects: &Path, tenant: &str) -> Vec<PathBuf> {
    let dir = objects.join("metrics").join(tenant).join("blocks");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").exists())
        .collect()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// 20 minutes of 15 s samples for `names`, ending a minute ago.
fn history(names: &[&str], start_ms: i64, minutes: i64) -> pb1::WriteRequest {
    let samples: Vec<(i64, f64)> = (0..minutes * 4)
        .map(|i| (start_ms + i * 15_000, i as f64))
        .collect();
    pb1::WriteRequest {
        timeseries: names
            .iter()
            .map(|name| series_v1(&[("__name__", name), ("job", "blocks")], &samples))
            .collect(),
        metadata: vec![],
    }
}

#[test]
fn head_is_cut_into_blocks_that_survive_losing_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut vigil = Vigil::start(&data, FAST_BLOCKS);
    let start = now_ms() - 21 * 60_000;
    assert_eq!(
        vigil
            .write_v1(
                &history(&["block_metric_a", "block_metric_b"], start, 20),
                None
            )
            .status,
        204
    );
    assert_eq!(
        vigil
            .write_v1(&history(&["tenant_metric"], start, 20), Some("team-a"))
            .status,
        204
    );
    let objects = data.join("objects");
    wait_for("blocks of both tenants", || {
        committed_blocks(&objects, "fake").len() >= 5
            && !committed_blocks(&objects, "team-a").is_empty()
    });
    assert_eq!(vigil.stop(), Some(0), "clean shutdown on SIGTERM");

    // Lose the WAL and the local block cache: blocks come back from the object store.
    std::fs::remove_dir_all(data.join("wal")).unwrap();
    std::fs::remove_dir_all(data.join("block-cache")).unwrap();
    let vigil = Vigil::start_with_config(&data, &vigil.config_path.clone());
    let early = format!(
        "/api/v1/series?match[]={}&start={}&end={}",
        vigil_tests::encode("{job=\"blocks\"}"),
        start / 1000,
        (start + 5 * 60_000) / 1000
    );
    let names: Vec<String> = series_data(&vigil.get(&early, None))
        .iter()
        .map(|s| s["__name__"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["block_metric_a", "block_metric_b"]);
    let other = series_data(&vigil.get(&early, Some("team-a")));
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["__name__"], "tenant_metric");
    let status = vigil.get("/api/v1/status/tsdb", None).json();
    assert!(status["data"]["headStats"]["numSeries"].as_u64().unwrap() <= 2);
}

#[test]
fn retention_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = FAST_BLOCKS.replace("retention: 15d", "retention: 3m");
    let vigil = Vigil::start(&data, &config);
    let old_start = now_ms() - 60 * 60_000;
    assert_eq!(
        vigil
            .write_v1(&history(&["old_metric"], old_start, 5), None)
            .status,
        204
    );
    assert_eq!(
        vigil
            .write_v1(&history(&["new_metric"], now_ms() - 10 * 60_000, 9), None)
            .status,
        204
    );
    let objects = data.join("objects");
    wait_for("blocks of the new data", || {
        !committed_blocks(&objects, "fake").is_empty()
    });
    wait_for("old_metric to be gone", || {
        series_data(&vigil.get("/api/v1/series?match[]=old_metric", None)).is_empty()
    });
    // The object store follows the in-memory block list: deletion of the old blocks' objects
    // completes shortly after readers stop seeing them.
    let max_time = |block: &PathBuf| -> i64 {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(block.join("meta.json")).unwrap_or_default())
                .unwrap_or_default();
        meta["max_time"].as_i64().unwrap_or(i64::MAX)
    };
    wait_for("old blocks to leave the object store", || {
        committed_blocks(&objects, "fake")
            .iter()
            .all(|block| max_time(block) > old_start + 10 * 60_000)
    });
    assert!(!series_data(&vigil.get("/api/v1/series?match[]=new_metric", None)).is_empty());
}

/// `/api/v1/query_range` of `query` from `start_ms` to `end_ms` at 15 s steps: values by series.
fn range_values(vigil: &Vigil, query: &str, start_ms: i64, end_ms: i64) -> Vec<Vec<(i64, f64)>> {
    let path = format!(
        "/api/v1/query_range?query={query}&start={}&end={}&step=15",
        start_ms as f64 / 1000.0,
        end_ms as f64 / 1000.0
    );
    let reply = vigil.get(&path, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut result: Vec<serde_json::Value> =
        reply.json()["data"]["result"].as_array().unwrap().clone();
    result.sort_by_key(|s| {
        s["metric"]["instance"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    result
        .iter()
        .map(|series| {
            series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|point| {
                    let t = (point[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, point[1].as_str().unwrap().parse::<f64>().unwrap())
                })
                .collect()
        })
        .collect()
}

/// The demo's situation: rules write at "now" while 6 h of history arrive in time order, and
/// the head is cut into blocks meanwhile. Every backfilled sample is kept (the out-of-order
/// time window, 24 h by default), in blocks overlapping the ones cut before, and survives
/// kill -9.
#[test]
fn backfill_behind_cut_blocks_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = FAST_BLOCKS.replace("block_range: 1m", "block_range: 10m");
    let mut vigil = Vigil::start(&data, &config);
    let now_sample = |vigil: &Vigil| {
        let request = pb1::WriteRequest {
            timeseries: vec![series_v1(
                &[("__name__", "rule_now"), ("job", "rules")],
                &[(now_ms(), 1.0)],
            )],
            metadata: vec![],
        };
        assert_eq!(vigil.write_v1(&request, None).status, 204);
    };
    now_sample(&vigil);
    let start = (now_ms() - 6 * 3_600_000) / 15_000 * 15_000;
    let points = 6 * 240;
    let instances = ["a", "b", "c"];
    for batch in 0..points / 40 {
        let samples: Vec<(i64, f64)> = (batch * 40..(batch + 1) * 40)
            .map(|i| (start + i * 15_000, i as f64))
            .collect();
        let request = pb1::WriteRequest {
            timeseries: instances
                .iter()
                .map(|instance| {
                    series_v1(
                        &[
                            ("__name__", "backfilled"),
                            ("job", "demo"),
                            ("instance", instance),
                        ],
                        &samples,
                    )
                })
                .collect(),
            metadata: vec![],
        };
        let reply = vigil.write_v1(&request, None);
        assert_eq!(reply.status, 204, "batch {batch}: {}", reply.body);
        // The rules keep writing at the current time; maintenance runs every 200 ms.
        now_sample(&vigil);
        std::thread::sleep(Duration::from_millis(20));
    }
    let objects = data.join("objects");
    let min_time = |block: &PathBuf| -> i64 {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(block.join("meta.json")).unwrap_or_default())
                .unwrap_or_default();
        meta["min_time"].as_i64().unwrap_or(i64::MAX)
    };
    wait_for("the backfill's start to be in a block", || {
        committed_blocks(&objects, "fake")
            .iter()
            .any(|block| min_time(block) <= start)
    });
    let end = start + (points - 1) * 15_000;
    let expected: Vec<(i64, f64)> = (0..points)
        .map(|i| (start + i * 15_000, i as f64))
        .collect();
    let check = |vigil: &Vigil, when: &str| {
        let got = range_values(vigil, "backfilled", start, end);
        assert_eq!(got.len(), instances.len(), "{when}");
        for series in &got {
            let missing: Vec<i64> = expected
                .iter()
                .filter(|e| !series.contains(e))
                .map(|(t, _)| (t - start) / 15_000)
                .collect();
            assert_eq!(
                series.len(),
                expected.len(),
                "{when}: samples per series; missing points {missing:?}"
            );
            assert!(series == &expected, "{when}: values differ");
        }
    };
    check(&vigil, "before the restart");
    vigil.kill9();
    let vigil = Vigil::start(&data, &config);
    check(&vigil, "after kill -9");
    // Outside the window (24 h behind the newest sample) is still rejected, naming the series.
    let ancient = pb1::WriteRequest {
        timeseries: vec![series_v1(
            &[("__name__", "ancient"), ("job", "demo")],
            &[(now_ms() - 25 * 3_600_000, 1.0)],
        )],
        metadata: vec![],
    };
    let reply = vigil.write_v1(&ancient, None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("too old") && reply.body.contains("ancient"),
        "{}",
        reply.body
    );
}
