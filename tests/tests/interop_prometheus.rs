//! Interop: a real Prometheus (Debian's package) scrapes itself and remote-writes to Vigil.
//! Vigil lists Prometheus' own series and Prometheus counts no failed samples.
//!
//! Needs `/usr/bin/prometheus` (installed by `scripts/install-test-deps.sh`). When it is missing
//! the test says so and returns, unless `VIGIL_REQUIRE_INTEROP=1` (set by CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::{KillOnDrop, Vigil, agent, free_port, interop_binary, series_data};

fn prometheus_value(port: u16, query: &str) -> Vec<f64> {
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}",
        vigil_tests::encode(query)
    );
    let mut response = agent().get(url).call().unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    body["data"]["result"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|r| r["value"][1].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn prometheus_remote_writes_to_vigil_without_failures() {
    let Some(prometheus) = interop_binary("PROMETHEUS_BIN", "/usr/bin/prometheus", "interop test")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("vigil"), "");
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        vigil.addr
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = KillOnDrop(child);

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let series = series_data(&vigil.get("/api/v1/series?match[]=prometheus_build_info", None));
        if let Some(first) = series.first() {
            assert_eq!(first["job"], "prometheus");
            assert_eq!(first["instance"], format!("127.0.0.1:{port}"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus_build_info never arrived in Vigil"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let a few more batches flow, then check Prometheus' own view of the remote write.
    std::thread::sleep(Duration::from_secs(5));
    let sent = prometheus_value(port, "prometheus_remote_storage_samples_total");
    assert!(
        sent.iter().sum::<f64>() > 0.0,
        "prometheus reports no samples sent: {sent:?}"
    );
    let failed = prometheus_value(port, "prometheus_remote_storage_samples_failed_total");
    assert!(!failed.is_empty(), "prometheus exposes no failure counter");
    assert!(
        failed.iter().all(|v| *v == 0.0),
        "prometheus counted failed samples: {failed:?}"
    );
    let metadata = vigil
        .get("/api/v1/metadata?metric=prometheus_build_info", None)
        .json();
    // Prometheus 2.42 sends metadata on its own schedule (every minute); only check the shape.
    assert_eq!(metadata["status"], "success");
    let names = vigil.get("/api/v1/label/__name__/values", None).json();
    assert!(
        names["data"].as_array().unwrap().len() > 100,
        "prometheus exposes hundreds of metric names"
    );
}
