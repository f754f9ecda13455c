//! Differential test: a real Prometheus (Debian's 2.42 package) scrapes four in-test exporters
//! every second and remote-writes everything to Vigil. Both then hold the same samples, so
//! every PromQL query must give the same answer on both, at the same instants and ranges.
//!
//! Steps:
//! 1. Start Vigil, four exporters (two jobs × two instances) with counters, gauges, a counter
//!    that resets and a classic histogram, and Prometheus scraping them at 1 s.
//! 2. Collect about 50 s of data, pick an evaluation time `T` a few seconds in the past, and wait
//!    until Vigil's raw samples up to `T` equal Prometheus' own (remote write lags a little).
//! 3. Evaluate each query as an instant query at two times and as a range query over 20 s,
//!    on both servers, and require the same result type, series, timestamps and values
//!    (within 1e-9 relative; see `same_value`).
//!
//! Prometheus 2.42 includes samples exactly at a range's left edge while current Prometheus
//! (whose semantics Vigil's engine follows) excludes them. `T`'s millisecond part is chosen
//! away from every sample's, so no window edge ever falls on a sample and both agree.
//!
//! Needs `/usr/bin/prometheus` (installed by `scripts/install-test-deps.sh`). When it is missing
//! the test says so and returns, unless `VIGIL_REQUIRE_INTEROP=1` (set by CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_tests::{KillOnDrop, Vigil, agent, encode, free_port, interop_binary};

/// How long Prometheus scrapes before queries run.
const COLLECT: Duration = Duration::from_secs(50);

/// The queries, evaluated at `T` and `T - 7s` and over `[T - 20s, T]` at a 2 s step (except
/// where `instant_only`). `{at}` is replaced by `T - 12s` in seconds.
const QUERIES: &[&str] = &[
    "up",
    "app_requests_total",
    "rate(app_requests_total[10s])",
    "irate(app_requests_total[10s])",
    "increase(app_requests_total[15s])",
    "sum by (job) (rate(app_requests_total[10s]))",
    "sum without (instance) (rate(app_requests_total[10s]))",
    "avg by (room) (app_temperature_celsius)",
    "max by (job) (app_temperature_celsius)",
    "min(app_queue_length)",
    "count by (status) (app_requests_total)",
    "group by (job) (up)",
    "topk(3, app_temperature_celsius)",
    // Over room b's gauges: 0.75·k − 0.3125·i never ties between the four exporters, while the
    // floored GET 500 counters can give two series the same rate (and then either may be kept).
    "bottomk(2, app_temperature_celsius{room=\"b\"})",
    "quantile by (job) (0.75, app_temperature_celsius)",
    "stddev(app_temperature_celsius)",
    "stdvar by (job) (app_queue_length)",
    "count_values(\"v\", app_queue_length)",
    "histogram_quantile(0.9, sum by (le) (rate(app_request_duration_seconds_bucket[10s])))",
    "histogram_quantile(0.5, sum by (job, le) (rate(app_request_duration_seconds_bucket{handler=\"/api\"}[15s])))",
    "histogram_quantile(0.99, rate(app_request_duration_seconds_bucket[10s]))",
    "rate(app_request_duration_seconds_sum[10s]) / rate(app_request_duration_seconds_count[10s])",
    "sum by (job) (increase(app_request_duration_seconds_count[20s]))",
    "rate(app_requests_total[10s] offset 5s)",
    "app_temperature_celsius offset 7s",
    "app_temperature_celsius @ {at}",
    "rate(app_requests_total[10s] @ {at})",
    "rate(app_requests_total[5s] @ end())",
    "max_over_time(rate(app_requests_total[5s])[15s:3s])",
    "avg_over_time(app_temperature_celsius[12s:2s] offset 3s)",
    "app_requests_total / on (instance, job) group_left (version) app_build_info",
    "sum by (job, status) (rate(app_requests_total[10s])) / ignoring (status) group_left sum by (job) (rate(app_requests_total[10s]))",
    "app_temperature_celsius > 20",
    "app_temperature_celsius > bool 20",
    "app_queue_length == bool 5",
    "app_temperature_celsius and on (instance) app_queue_length > 8",
    "app_temperature_celsius{room=\"a\"} or app_queue_length{queue=\"q1\"}",
    "app_requests_total unless on (instance) app_build_info{version=\"1.2.0\"}",
    "min_over_time(app_temperature_celsius[15s])",
    "max_over_time(app_queue_length[15s])",
    "sum_over_time(app_queue_length[10s])",
    "count_over_time(app_temperature_celsius[10s])",
    "avg_over_time(app_temperature_celsius[10s])",
    "stddev_over_time(app_temperature_celsius[15s])",
    "quantile_over_time(0.9, app_queue_length[15s])",
    "last_over_time(app_queue_length[10s])",
    "present_over_time(app_queue_length[10s])",
    "absent(nonexistent_metric{job=\"x\"})",
    "absent(up)",
    "absent_over_time(nonexistent_metric[10s])",
    "label_replace(app_temperature_celsius, \"floor\", \"f-$1\", \"room\", \"(.*)\")",
    "label_join(up, \"both\", \"/\", \"job\", \"instance\")",
    "predict_linear(app_temperature_celsius[20s], 30)",
    "deriv(app_temperature_celsius[20s])",
    "delta(app_temperature_celsius[15s])",
    "idelta(app_queue_length[15s])",
    "resets(app_errors_total[30s])",
    "changes(app_queue_length[30s])",
    "clamp(app_temperature_celsius, 19, 22)",
    "round(app_temperature_celsius, 0.5) - on (instance, job) group_left abs(-app_queue_length{queue=\"q1\"}) % 4",
    "timestamp(up)",
    "scalar(count(up)) * vector(2)",
    "count({__name__=~\".+\"})",
    "sum(rate(app_requests_total[10s])) * 60",
    "2 ^ (app_queue_length / 4)",
];

/// Queries compared as instant queries only: their order matters and range queries ignore it.
const INSTANT_ONLY: &[&str] = &[
    // GET 200 counters grow by 7 + i per scrape, so their rates never tie and the order is fixed.
    "sort(rate(app_requests_total{method=\"GET\", status=\"200\"}[10s]))",
    "sort_desc(app_temperature_celsius)",
];

/// The exposition of exporter `instance` at its `n`-th scrape. Every value is a deterministic
/// function of (instance, n). Counters start high so that rate extrapolation never clamps at
/// zero: Prometheus 2.42 applies that clamp before its extrapolation threshold and current
/// Prometheus (like Vigil) after it, so near-zero counters would rightly differ. No two series
/// tie where topk/bottomk/sort would have to break the tie.
fn exposition(instance: u64, n: u64) -> String {
    let i = instance as f64;
    let nf = n as f64;
    let mut out = String::new();
    out.push_str("# TYPE app_requests_total counter\n");
    let requests = [
        ("GET", "200", 100_000.0 + nf * (7.0 + i)),
        ("GET", "500", 2_000.0 + (nf * (0.3 + 0.1 * i)).floor()),
        (
            "POST",
            "200",
            50_000.0 + nf * 3.0 + (n % 3) as f64 + 0.5 * i,
        ),
    ];
    for (method, status, value) in requests {
        out.push_str(&format!(
            "app_requests_total{{method=\"{method}\",status=\"{status}\"}} {value}\n"
        ));
    }
    out.push_str("# TYPE app_errors_total counter\n");
    out.push_str(&format!(
        "app_errors_total {}\n",
        (n % 10) * 2 + instance + 1
    ));
    out.push_str("# TYPE app_temperature_celsius gauge\n");
    out.push_str(&format!(
        "app_temperature_celsius{{room=\"a\"}} {}\n",
        20.0 + 5.0 * (nf / 5.0).sin() + i * 1.125
    ));
    out.push_str(&format!(
        "app_temperature_celsius{{room=\"b\"}} {}\n",
        18.5 + (n % 7) as f64 * 0.75 - i * 0.3125
    ));
    out.push_str("# TYPE app_queue_length gauge\n");
    out.push_str(&format!(
        "app_queue_length{{queue=\"q1\"}} {}\n",
        (n * 13 + instance * 5) % 17
    ));
    out.push_str(&format!(
        "app_queue_length{{queue=\"q2\"}} {}\n",
        (n * 7 + instance * 3) % 11
    ));
    out.push_str("# TYPE app_build_info gauge\n");
    out.push_str(&format!(
        "app_build_info{{version=\"1.2.{}\"}} 1\n",
        instance % 2
    ));
    out.push_str("# TYPE app_request_duration_seconds histogram\n");
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
    let uppers = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0];
    for (h, handler) in ["/api", "/health"].iter().enumerate() {
        let h = h as u64;
        let mut cumulative = 0u64;
        let mut sum = 0.0;
        for (j, le) in bounds.iter().enumerate() {
            let j = j as u64;
            // Observations in this bucket so far: a large base plus a varying number per scrape.
            let base = 1_000 * (6 - j) + 100 * h + 10 * instance;
            let per_scrape_total: u64 = (1..=n).map(|k| (k * (j + 2) + instance + h) % 5).sum();
            let in_bucket = base + per_scrape_total;
            cumulative += in_bucket;
            sum += in_bucket as f64 * uppers[j as usize] * 0.75;
            out.push_str(&format!(
                "app_request_duration_seconds_bucket{{handler=\"{handler}\",le=\"{le}\"}} {cumulative}\n"
            ));
        }
        out.push_str(&format!(
            "app_request_duration_seconds_sum{{handler=\"{handler}\"}} {sum}\n"
        ));
        out.push_str(&format!(
            "app_request_duration_seconds_count{{handler=\"{handler}\"}} {cumulative}\n"
        ));
    }
    out
}

/// A tiny HTTP exporter on 127.0.0.1 answering every request with the next exposition.
struct Exporter {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    fn start(instance: u64) -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = AtomicU64::new(0);
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let n = scrapes.fetch_add(1, Ordering::AcqRel);
                serve(&mut stream, &exposition(instance, n));
            }
        });
        Exporter {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: &mut TcpStream, body: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// GET `base/api/v1/<path>?<params>` and return the JSON body (any status).
fn api(base: &str, path: &str, params: &[(&str, String)]) -> Value {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let url = format!("{base}/api/v1/{path}?{}", query.join("&"));
    let mut response = agent()
        .get(&url)
        .call()
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let text = response.body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {url}: not JSON ({err}): {text}"))
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn parse_value(raw: &Value) -> f64 {
    match raw.as_str().unwrap_or_default() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("not a sample value: {raw}")),
    }
}

/// Equal within 1e-9 relative. Below 1e-12 in magnitude both count as zero: the two engines
/// sum in different orders (Prometheus 2.42 naively, Vigil with compensation), which can leave
/// a few ulps of a cancelled sum on one side.
fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-3)
}

/// Series of an answer: labels (as JSON text) → `(t, v)` points.
type SeriesMap = BTreeMap<String, Vec<(f64, f64)>>;

/// The result type, `labels → [(t, v)]` of a vector or matrix (`"" → [(t, v)]` of a scalar),
/// and the series in answer order.
fn series_of(data: &Value) -> (String, SeriesMap, Vec<String>) {
    let result_type = data["resultType"].as_str().unwrap_or("?").to_string();
    let mut out = BTreeMap::new();
    let mut order = Vec::new();
    let point = |p: &Value| (p[0].as_f64().unwrap(), parse_value(&p[1]));
    match result_type.as_str() {
        "scalar" => {
            out.insert(String::new(), vec![point(&data["result"])]);
        }
        "vector" | "matrix" => {
            for item in data["result"].as_array().unwrap() {
                let key = item["metric"].to_string();
                let points = if result_type == "vector" {
                    vec![point(&item["value"])]
                } else {
                    item["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(point)
                        .collect()
                };
                order.push(key.clone());
                assert!(
                    out.insert(key.clone(), points).is_none(),
                    "duplicate series {key}"
                );
            }
        }
        _ => {}
    }
    (result_type, out, order)
}

/// Compares one query's answers; returns a description of each difference.
fn compare(what: &str, prom: &Value, vigil: &Value, ordered: bool) -> Vec<String> {
    if prom["status"] != "success" {
        return vec![format!(
            "{what}: Prometheus failed, fix the query: {}",
            prom["error"]
        )];
    }
    if vigil["status"] != "success" {
        return vec![format!(
            "{what}: Vigil failed ({}): {}",
            vigil["errorType"], vigil["error"]
        )];
    }
    let (prom_type, prom_series, prom_order) = series_of(&prom["data"]);
    let (vigil_type, vigil_series, vigil_order) = series_of(&vigil["data"]);
    if prom_type != vigil_type {
        return vec![format!(
            "{what}: result type {vigil_type} instead of {prom_type}"
        )];
    }
    let mut problems = Vec::new();
    for key in prom_series.keys() {
        if !vigil_series.contains_key(key) {
            problems.push(format!("{what}: series {key} missing in Vigil"));
        }
    }
    for key in vigil_series.keys() {
        if !prom_series.contains_key(key) {
            problems.push(format!("{what}: extra series {key} in Vigil"));
        }
    }
    for (key, prom_points) in &prom_series {
        let Some(vigil_points) = vigil_series.get(key) else {
            continue;
        };
        let prom_times: Vec<f64> = prom_points.iter().map(|p| p.0).collect();
        let vigil_times: Vec<f64> = vigil_points.iter().map(|p| p.0).collect();
        if prom_times != vigil_times {
            problems.push(format!(
                "{what}: {key} timestamps differ: Prometheus {prom_times:?}, Vigil {vigil_times:?}"
            ));
            continue;
        }
        for ((t, p), (_, v)) in prom_points.iter().zip(vigil_points) {
            if !same_value(*p, *v) {
                problems.push(format!("{what}: {key} at {t}: Prometheus {p}, Vigil {v}"));
            }
        }
    }
    if ordered && problems.is_empty() && prom_order != vigil_order {
        problems.push(format!(
            "{what}: order differs: Prometheus {prom_order:?}, Vigil {vigil_order:?}"
        ));
    }
    problems
}

/// Every sample timestamp (ms) of every series, as both servers return them for a range
/// selector over all series at `t_ms`.
fn raw_samples(base: &str, t_ms: i64) -> BTreeMap<String, Vec<(f64, String)>> {
    let reply = api(
        base,
        "query",
        &[
            ("query", "{__name__=~\".+\"}[5m]".to_string()),
            ("time", seconds(t_ms)),
        ],
    );
    assert_eq!(reply["status"], "success", "{reply}");
    let mut out = BTreeMap::new();
    for item in reply["data"]["result"].as_array().unwrap() {
        let points = item["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string()))
            .collect();
        out.insert(item["metric"].to_string(), points);
    }
    out
}

/// A millisecond offset within the second that is as far as possible from every sample's
/// (and from 0, where subquery steps fall), so that no window edge lands on a sample.
fn safe_fraction(samples: &BTreeMap<String, Vec<(f64, String)>>) -> i64 {
    let mut taken: Vec<i64> = vec![0];
    for points in samples.values() {
        for (t, _) in points {
            taken.push(((t * 1000.0).round() as i64).rem_euclid(1000));
        }
    }
    let distance = |f: i64| {
        taken
            .iter()
            .map(|x| {
                let d = (f - x).rem_euclid(1000);
                d.min(1000 - d)
            })
            .min()
            .unwrap_or(500)
    };
    (0..1000).max_by_key(|f| distance(*f)).unwrap_or(500)
}

#[test]
fn vigil_answers_promql_like_prometheus_on_the_same_samples() {
    let Some(prometheus) =
        interop_binary("PROMETHEUS_BIN", "/usr/bin/prometheus", "differential test")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("vigil"), "");
    let exporters: Vec<Exporter> = (0..4).map(Exporter::start).collect();
    let target = |e: &Exporter| format!("'127.0.0.1:{}'", e.port);
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1m\n\
         scrape_configs:\n\
         \x20 - job_name: frontend\n    static_configs:\n      - targets: [{}, {}]\n\
         \x20 - job_name: backend\n    static_configs:\n      - targets: [{}, {}]\n\
         remote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        target(&exporters[0]),
        target(&exporters[1]),
        target(&exporters[2]),
        target(&exporters[3]),
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
    let prom_base = format!("http://127.0.0.1:{port}");
    let vigil_base = format!("http://{}", vigil.addr);

    std::thread::sleep(COLLECT);

    // Evaluate a few seconds back, where every scrape has landed in Prometheus' TSDB.
    let now_ms = vigil_tests::now_ms();
    let probe = raw_samples(&prom_base, now_ms - 3_000);
    assert!(
        probe.len() >= 40,
        "Prometheus scraped too little: {} series",
        probe.len()
    );
    let t_ms = (now_ms - 3_000) / 1000 * 1000 + safe_fraction(&probe);
    let t_ms = if t_ms > now_ms - 3_000 {
        t_ms - 1000
    } else {
        t_ms
    };

    // Remote write lags: wait until Vigil holds exactly Prometheus' samples up to T.
    let expected = raw_samples(&prom_base, t_ms);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = raw_samples(&vigil_base, t_ms);
        if got == expected {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
            let differing: Vec<&String> = expected
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "Vigil never caught up with Prometheus' samples up to {t_ms}: {} series missing \
                 ({missing:?}), {} differ ({differing:?})",
                missing.len(),
                differing.len()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let at = seconds(t_ms - 12_000);
    let mut problems = Vec::new();
    let mut evaluations = 0;
    let mut empty = Vec::new();
    let instants = [t_ms, t_ms - 7_000];
    let queries = QUERIES
        .iter()
        .map(|q| (*q, false))
        .chain(INSTANT_ONLY.iter().map(|q| (*q, true)));
    for (template, instant_only) in queries {
        let query = template.replace("{at}", &at);
        for t in instants {
            let params = [("query", query.clone()), ("time", seconds(t))];
            let prom = api(&prom_base, "query", &params);
            let mine = api(&vigil_base, "query", &params);
            if series_of(&prom["data"]).1.is_empty() {
                empty.push(format!("{query} @ {}", seconds(t)));
            }
            problems.extend(compare(
                &format!("instant {query} @ {}", seconds(t)),
                &prom,
                &mine,
                instant_only,
            ));
            evaluations += 1;
        }
        if instant_only {
            continue;
        }
        let params = [
            ("query", query.clone()),
            ("start", seconds(t_ms - 20_000)),
            ("end", seconds(t_ms)),
            ("step", "2".to_string()),
        ];
        let prom = api(&prom_base, "query_range", &params);
        let mine = api(&vigil_base, "query_range", &params);
        problems.extend(compare(
            &format!("range {query} over [T-20s, T] step 2s"),
            &prom,
            &mine,
            false,
        ));
        evaluations += 1;
    }
    eprintln!(
        "differential: {} queries, {evaluations} evaluations, {} differences, empty instant results: {empty:?}",
        QUERIES.len() + INSTANT_ONLY.len(),
        problems.len()
    );
    for problem in &problems {
        eprintln!("  {problem}");
    }
    // Only the queries written to find nothing may come back empty.
    assert!(
        empty
            .iter()
            .all(|q| q.starts_with("absent(up)") || q.starts_with("absent_over_time(")),
        "queries that should find data found none: {empty:?}"
    );
    // The comparison itself must notice a changed value, a missing series and a changed time.
    let params = |q: &str| [("query", q.to_string()), ("time", seconds(t_ms))];
    let up = api(&prom_base, "query", &params("up"));
    let earlier = api(
        &prom_base,
        "query",
        &[("query", "up".to_string()), ("time", seconds(t_ms - 1000))],
    );
    let scaled = api(&prom_base, "query", &params("up * 1.000001"));
    let fewer = api(&prom_base, "query", &params("up{job=\"frontend\"}"));
    for (name, other) in [("scaled", scaled), ("fewer", fewer), ("earlier", earlier)] {
        assert!(
            !compare("self-check", &up, &other, false).is_empty(),
            "the comparison does not tell up from the {name} answer"
        );
    }
    assert!(
        problems.is_empty(),
        "Vigil and Prometheus disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn exposition_is_deterministic_and_histograms_are_cumulative() {
    let a = exposition(1, 17);
    assert_eq!(a, exposition(1, 17));
    assert_ne!(a, exposition(1, 18));
    let buckets: Vec<u64> = a
        .lines()
        .filter(|l| l.starts_with("app_request_duration_seconds_bucket{handler=\"/api\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 6);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
}
