//! `vigil-query-bench`: PromQL query latency of a real `vigil` binary against Prometheus holding
//! the same samples.
//!
//! It starts both servers on `127.0.0.1` with temporary data dirs and remote-writes the same
//! synthetic data to both, in time order (Prometheus' receiver rejects samples far behind its
//! head): `--m-series` counters `m{job,instance}` over `--jobs` jobs, and a classic histogram
//! `h_bucket{instance,le}` with `--h-instances` × 10 buckets, every `--interval` over `--span`,
//! ending shortly before now. Then it runs each query `--runs` times on each server, alternating,
//! checks that both answer the same, and prints a markdown table of median latencies and the
//! Vigil/Prometheus ratio.
//!
//! Example: `cargo run --release -p vigil-benches --bin vigil-query-bench -- --runs 7`

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::Value;
use vigil_benches::duration::parse_duration_ms;
use vigil_benches::process::{default_vigil_bin, spawn_vigil};
use vigil_benches::remote_write::{HEADERS, encode_body, timeseries};
use vigil_benches::rng::{Rng, mix64};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(about = "PromQL query latency of Vigil against Prometheus on the same data")]
struct Args {
    /// The `vigil` binary; default `$VIGIL_BIN`, else `vigil` next to this executable.
    #[arg(long)]
    vigil_bin: Option<PathBuf>,
    /// The Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Series of the counter `m`.
    #[arg(long, default_value_t = 9_000)]
    m_series: usize,
    /// Distinct `job` values of `m`.
    #[arg(long, default_value_t = 10)]
    jobs: usize,
    /// Instances of the histogram `h` (10 bucket series each).
    #[arg(long, default_value_t = 100)]
    h_instances: usize,
    /// Time covered by the data, ending shortly before now.
    #[arg(long, default_value = "6h")]
    span: String,
    /// Time between two samples of a series (also the range queries' step).
    #[arg(long, default_value = "15s")]
    interval: String,
    /// Measured runs of each query on each server (after one warm-up run).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Concurrent senders while loading.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Most samples in one remote write request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Pause between loading and measuring, for background work (block cuts) to settle.
    #[arg(long, default_value_t = 20)]
    settle_s: u64,
    /// Seed of the synthetic values.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A server under measurement, killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    base_url: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let agent = agent(Duration::from_secs(2));
        let deadline = Instant::now() + limit;
        let url = format!("{}/-/ready", self.base_url);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before becoming ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(response) = agent.get(&url).call()
                && response.status().as_u16() == 200
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "{} not ready within {limit:?}:\n{}",
            self.name,
            self.log_tail()
        )
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn start_vigil(bin: &Path) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("vigil.yaml");
    let log_path = dir.path().join("vigil.log");
    std::fs::write(
        &config_path,
        "storage:\n  wal:\n    fsync: none\nlog:\n  level: warn\n",
    )?;
    let (child, rx) = spawn_vigil(
        bin,
        &config_path,
        &data_dir,
        &log_path,
        &[("RUST_LOG", "warn")],
    )?;
    let mut server = Server {
        name: "vigil",
        child,
        base_url: String::new(),
        log_path,
        _dir: dir,
    };
    let addr: SocketAddr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr.parse().context("vigil's listen address")?,
        Err(_) => bail!(
            "vigil did not report its listen address within 60 s:\n{}",
            server.log_tail()
        ),
    };
    server.base_url = format!("http://{addr}");
    server.wait_ready(Duration::from_secs(60))?;
    Ok(server)
}

fn start_prometheus(bin: &Path) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("prometheus.yml");
    let log_path = dir.path().join("prometheus.log");
    std::fs::write(&config_path, "global:\n  scrape_interval: 15s\n")?;
    // Prometheus cannot report a port it picked itself: take a free one and hand it over.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--storage.tsdb.retention.time=30d")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut server = Server {
        name: "prometheus",
        child,
        base_url: format!("http://127.0.0.1:{port}"),
        log_path,
        _dir: dir,
    };
    server.wait_ready(Duration::from_secs(60))?;
    Ok(server)
}

/// The data set, as remote write request bodies grouped by sample time (oldest first).
struct Data {
    rounds: Vec<Vec<Vec<u8>>>,
    first_ms: i64,
    last_ms: i64,
    interval_ms: i64,
    series: usize,
    samples: u64,
}

const BUCKETS: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

fn build_data(args: &Args) -> Result<Data> {
    let interval_ms = parse_duration_ms(&args.interval)?;
    let span_ms = parse_duration_ms(&args.span)?;
    if interval_ms <= 0 || span_ms < interval_ms {
        bail!("--interval must be positive and at most --span");
    }
    let rounds = (span_ms / interval_ms) as usize + 1;
    // End a minute before now, on the interval grid, so both servers accept every sample.
    let last_ms = (now_ms() - 60_000).div_euclid(interval_ms) * interval_ms;
    let first_ms = last_ms - (rounds as i64 - 1) * interval_ms;

    let mut labels: Vec<Vec<(String, String)>> = Vec::new();
    for i in 0..args.m_series {
        labels.push(vec![
            ("__name__".into(), "m".into()),
            (
                "instance".into(),
                format!("host-{:05}", i / args.jobs.max(1)),
            ),
            ("job".into(), format!("job-{}", i % args.jobs.max(1))),
        ]);
    }
    let m_count = labels.len();
    for instance in 0..args.h_instances {
        for le in BUCKETS {
            labels.push(vec![
                ("__name__".into(), "h_bucket".into()),
                ("instance".into(), format!("host-{instance:05}")),
                ("le".into(), le.into()),
            ]);
        }
    }
    let mut rng = Rng::new(mix64(args.seed));
    // Counter state: m grows by 0..=20 per interval; h's buckets by their cumulative share.
    let mut values: Vec<f64> = (0..labels.len())
        .map(|_| (rng.next_u64() % 1000) as f64)
        .collect();
    let mut out = Vec::with_capacity(rounds);
    let mut samples = 0u64;
    for round in 0..rounds {
        let t = first_ms + round as i64 * interval_ms;
        for value in values.iter_mut().take(m_count) {
            *value += (rng.next_u64() % 21) as f64;
        }
        for instance in 0..args.h_instances {
            let base = m_count + instance * BUCKETS.len();
            let mut cumulative_increase = 0.0;
            for bucket in 0..BUCKETS.len() {
                cumulative_increase += (rng.next_u64() % 6) as f64;
                values[base + bucket] += cumulative_increase;
            }
        }
        let mut bodies = Vec::new();
        for chunk in (0..labels.len())
            .collect::<Vec<_>>()
            .chunks(args.batch.max(1))
        {
            let series = chunk
                .iter()
                .map(|&i| timeseries(&labels[i], &[(t, values[i])]))
                .collect();
            bodies.push(encode_body(series)?);
            samples += chunk.len() as u64;
        }
        out.push(bodies);
    }
    Ok(Data {
        rounds: out,
        first_ms,
        last_ms,
        interval_ms,
        series: labels.len(),
        samples,
    })
}

/// Sends every round in time order, the requests of one round spread over `clients` threads.
fn load(server: &Server, data: &Data, clients: usize) -> Result<Duration> {
    let url = format!("{}/api/v1/write", server.base_url);
    let started = Instant::now();
    let agent = agent(Duration::from_secs(60));
    for (round, bodies) in data.rounds.iter().enumerate() {
        let per_client = bodies.len().div_ceil(clients.max(1)).max(1);
        std::thread::scope(|scope| -> Result<()> {
            let handles: Vec<_> = bodies
                .chunks(per_client)
                .map(|share| {
                    let agent = agent.clone();
                    let url = url.clone();
                    scope.spawn(move || -> Result<()> {
                        for body in share {
                            send(&agent, &url, body)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("sender thread panicked"))??;
            }
            Ok(())
        })
        .with_context(|| format!("{}: round {round}", server.name))?;
    }
    Ok(started.elapsed())
}

fn send(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<()> {
    for attempt in 0..20 {
        let mut request = agent.post(url);
        for (name, value) in HEADERS {
            request = request.header(name, value);
        }
        let mut response = request.send(body)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status < 500 && status != 429 {
            bail!("remote write answered {status}: {text}");
        }
        std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
    }
    bail!("remote write kept failing")
}

/// One benchmark query.
struct Query {
    name: &'static str,
    expr: &'static str,
    range: bool,
}

const QUERIES: [Query; 3] = [
    Query {
        name: "range: sum by (job) (rate(m[5m]))",
        expr: "sum by (job) (rate(m[5m]))",
        range: true,
    },
    Query {
        name: "range: histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
        expr: "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
        range: true,
    },
    Query {
        name: "instant: count({__name__=~\".+\"})",
        expr: "count({__name__=~\".+\"})",
        range: false,
    },
];

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Runs `query` once; returns its wall time and the `data` of the answer.
fn run_query(server: &Server, query: &Query, data: &Data, step: &str) -> Result<(Duration, Value)> {
    let agent = agent(Duration::from_secs(300));
    let mut params = vec![("query", query.expr.to_string())];
    // Evaluate half an interval off the sample grid: Prometheus 2.42 counts a sample exactly
    // on a window's left edge and current Prometheus (and Vigil) does not, so on-grid steps
    // would compare different windows.
    let half = data.interval_ms / 2;
    let path = if query.range {
        params.push(("start", seconds(data.first_ms + half)));
        params.push(("end", seconds(data.last_ms - half)));
        params.push(("step", step.to_string()));
        "query_range"
    } else {
        params.push(("time", seconds(data.last_ms - half)));
        "query"
    };
    let body: String = params
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let url = format!("{}/api/v1/{path}", server.base_url);
    let started = Instant::now();
    let mut response = agent
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.as_bytes())?;
    let text = response.body_mut().read_to_string()?;
    let elapsed = started.elapsed();
    let json: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: answer is not JSON: {text}", server.name))?;
    if json["status"] != "success" {
        bail!("{} failed {}: {text}", server.name, query.expr);
    }
    Ok((elapsed, json["data"].clone()))
}

fn form_encode(raw: &str) -> String {
    let mut out = String::new();
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The first difference between two answers' series and values (1e-9 relative), if any.
fn answer_difference(a: &Value, b: &Value) -> Option<String> {
    let index = |v: &Value| -> std::collections::BTreeMap<String, Vec<(f64, f64)>> {
        let mut out = std::collections::BTreeMap::new();
        for item in v["result"].as_array().into_iter().flatten() {
            let points: Vec<&Value> = match item.get("values") {
                Some(values) => values.as_array().into_iter().flatten().collect(),
                None => vec![&item["value"]],
            };
            let parsed = points
                .iter()
                .map(|p| {
                    let v = match p[1].as_str().unwrap_or("NaN") {
                        "+Inf" => f64::INFINITY,
                        "-Inf" => f64::NEG_INFINITY,
                        s => s.parse().unwrap_or(f64::NAN),
                    };
                    (p[0].as_f64().unwrap_or_default(), v)
                })
                .collect();
            out.insert(item["metric"].to_string(), parsed);
        }
        out
    };
    let (x, y) = (index(a), index(b));
    if x.len() != y.len() {
        return Some(format!("{} series against {}", x.len(), y.len()));
    }
    for (key, xs) in &x {
        let Some(ys) = y.get(key) else {
            return Some(format!("series {key} only on one side"));
        };
        if xs.len() != ys.len() {
            return Some(format!("{key}: {} points against {}", xs.len(), ys.len()));
        }
        for ((t1, v1), (t2, v2)) in xs.iter().zip(ys) {
            let same_value = (v1.is_nan() && v2.is_nan())
                || v1 == v2
                || (v1 - v2).abs() <= 1e-9 * v1.abs().max(v2.abs());
            if t1 != t2 || !same_value {
                return Some(format!("{key}: ({t1}, {v1}) against ({t2}, {v2})"));
            }
        }
    }
    None
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let vigil_bin = match &args.vigil_bin {
        Some(path) => path.clone(),
        None => default_vigil_bin()?,
    };
    let step = format!("{}", parse_duration_ms(&args.interval)? as f64 / 1000.0);
    eprintln!("building the data set...");
    let data = build_data(&args)?;
    eprintln!(
        "{} series, {} samples, {} rounds",
        data.series,
        data.samples,
        data.rounds.len()
    );
    let vigil = start_vigil(&vigil_bin)?;
    let prometheus = start_prometheus(&args.prometheus_bin)?;
    for server in [&vigil, &prometheus] {
        let took = load(server, &data, args.clients)?;
        eprintln!("{}: loaded in {:.1} s", server.name, took.as_secs_f64());
    }
    eprintln!("settling for {} s...", args.settle_s);
    std::thread::sleep(Duration::from_secs(args.settle_s));

    println!(
        "| query | vigil median ms | prometheus median ms | vigil / prometheus | same answer | vigil runs ms | prometheus runs ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for query in &QUERIES {
        // One warm-up each (and the answers to compare).
        let (_, vigil_answer) = run_query(&vigil, query, &data, &step)?;
        let (_, prometheus_answer) = run_query(&prometheus, query, &data, &step)?;
        let difference = answer_difference(&vigil_answer, &prometheus_answer);
        if let Some(difference) = &difference {
            eprintln!("{}: answers differ: vigil {difference}", query.name);
        }
        let same = difference.is_none();
        let mut vigil_ms = Vec::new();
        let mut prometheus_ms = Vec::new();
        for _ in 0..args.runs {
            vigil_ms.push(run_query(&vigil, query, &data, &step)?.0.as_secs_f64() * 1000.0);
            prometheus_ms
                .push(run_query(&prometheus, query, &data, &step)?.0.as_secs_f64() * 1000.0);
        }
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (vm, pm) = (median(vigil_ms.clone()), median(prometheus_ms.clone()));
        println!(
            "| `{}` | {vm:.1} | {pm:.1} | **{:.2}** | {} | {} | {} |",
            query.name,
            vm / pm,
            if same { "yes" } else { "NO" },
            list(&vigil_ms),
            list(&prometheus_ms)
        );
    }
    Ok(())
}
