//! `vigil-bench`: a remote write load generator that measures a real `vigil` binary and,
//! optionally, Prometheus as a reference in the same invocation.
//!
//! It starts the server on `127.0.0.1` with a temporary data dir, pre-encodes node-exporter-like
//! remote write 1.0 requests (so the generator's encoding does not compete with the server for
//! the CPU while measuring), sends them from `--clients` threads the way Prometheus' remote
//! write shards do (each client owns a fixed share of the series and sends its requests in
//! order), then waits until the head has been cut into blocks and reports throughput, server
//! CPU time, bytes per sample of the blocks on disk and the server's peak RSS as a markdown
//! table. Every phase is bounded in time.
//!
//! Example: `cargo run --release -p vigil-benches --bin vigil-bench -- --series 10000
//! --rounds 800 --clients 4 --targets vigil,prometheus --runs 3`

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use vigil_benches::disk::{
    BlockLayout, BlockTotals, head_cut_end, list_blocks, live_blocks, totals,
};
use vigil_benches::duration::parse_duration_ms;
use vigil_benches::node_exporter::{ScrapeClock, metric_names, node_exporter_series};
use vigil_benches::process::{default_vigil_bin, spawn_vigil};
use vigil_benches::remote_write::{HEADERS, encode_body, timeseries};
use vigil_benches::rng::{Rng, mix64};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(about = "Remote write load generator for Vigil (and Prometheus as a reference)")]
struct Args {
    /// The `vigil` binary; default `$VIGIL_BIN`, else `vigil` next to this executable.
    #[arg(long)]
    vigil_bin: Option<PathBuf>,
    /// The Prometheus binary, used when `--targets` includes `prometheus`.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Servers to measure, in the order they run within each round of runs.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "vigil")]
    targets: Vec<Target>,
    /// How many times to measure each target (medians are reported).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Number of series (about 150 per host).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Scrapes per series, `--interval` apart, ending shortly before now.
    #[arg(long, default_value_t = 800)]
    rounds: usize,
    /// Concurrent senders, each owning 1/clients of the series (Prometheus' shards).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Most samples in one request (Prometheus' `max_samples_per_send`).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Time between two scrapes of a series.
    #[arg(long, default_value = "15s")]
    interval: String,
    /// Largest lateness of a scrape's timestamp (ms); real scrapes wander by a few ms, which
    /// costs 2 bytes per sample in the Gorilla/Prometheus chunk format.
    #[arg(long, default_value_t = 3)]
    jitter_ms: i64,
    /// Vigil's `storage.tsdb.block_range` (and Prometheus' min block duration if not 2h).
    #[arg(long, default_value = "2h")]
    block_range: String,
    /// Vigil's `storage.tsdb.out_of_order_window`.
    #[arg(long, default_value = "10s")]
    out_of_order_window: String,
    /// Vigil's `storage.tsdb.maintenance_interval`.
    #[arg(long, default_value = "1s")]
    maintenance_interval: String,
    /// Vigil's `storage.wal.fsync` (batch, always or none).
    #[arg(long, default_value = "batch")]
    wal_fsync: String,
    /// How many rounds a client may be ahead of the slowest one.
    #[arg(long, default_value_t = 8)]
    max_skew_rounds: usize,
    /// Give up sending after this many seconds.
    #[arg(long, default_value_t = 600)]
    send_timeout_s: u64,
    /// Give up waiting for the head to be cut into blocks after this many seconds.
    #[arg(long, default_value_t = 180)]
    settle_timeout_s: u64,
    /// Seed of the synthetic values.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A server to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// The `vigil` binary.
    Vigil,
    /// Prometheus with `--web.enable-remote-write-receiver`.
    Prometheus,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Vigil => "vigil",
            Target::Prometheus => "prometheus",
        }
    }
}

/// One pre-encoded request.
struct Request {
    body: Vec<u8>,
    samples: u64,
}

/// Everything to send, encoded before any server is measured.
struct Workload {
    /// `per_client[client][round]`: the requests of that client for that scrape round.
    per_client: Vec<Vec<Vec<Request>>>,
    total_samples: u64,
    total_requests: usize,
    body_bytes: u64,
    instances: usize,
    first_ms: i64,
    last_ms: i64,
    /// Samples the blocks should hold once the head has been cut (1.5-range rule).
    expected_block_samples: u64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn build_workload(args: &Args, interval_ms: i64, range_ms: i64) -> Result<Workload> {
    let clients = args.clients.max(1);
    let batch = args.batch.max(1);
    let series = node_exporter_series(args.series, args.seed);
    let instances = series.last().map_or(0, |s| s.instance() + 1);
    // Start on a block boundary so the first block is a whole range, and end before now.
    let span_ms = interval_ms.saturating_mul(args.rounds as i64 + 1);
    let clock = ScrapeClock {
        start_ms: (now_ms() - span_ms).div_euclid(range_ms) * range_ms,
        interval_ms,
        jitter_ms: args.jitter_ms,
    };

    // Each client owns every `clients`-th series, as Prometheus hashes series onto shards.
    let mut shares: Vec<Vec<_>> = (0..clients).map(|_| Vec::new()).collect();
    let mut series_per_instance = vec![0u64; instances];
    for (i, s) in series.into_iter().enumerate() {
        series_per_instance[s.instance()] += 1;
        shares[i % clients].push(s);
    }
    let rounds = args.rounds;
    let per_client = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(client, mut share)| {
                scope.spawn(move || -> Result<Vec<Vec<Request>>> {
                    let mut rng = Rng::new(mix64(args.seed ^ (client as u64 + 1)));
                    let mut per_round = Vec::with_capacity(rounds);
                    for round in 0..rounds {
                        let mut requests = Vec::new();
                        for group in share.chunks_mut(batch) {
                            let series: Vec<_> = group
                                .iter_mut()
                                .map(|s| {
                                    let t = clock.timestamp(s.instance(), round);
                                    let v = s.next_value(&mut rng, t, interval_ms);
                                    timeseries(s.labels(), &[(t, v)])
                                })
                                .collect();
                            let samples = series.len() as u64;
                            requests.push(Request {
                                body: encode_body(series)?,
                                samples,
                            });
                        }
                        per_round.push(requests);
                    }
                    Ok(per_round)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("workload thread panicked"))?
            })
            .collect::<Result<Vec<_>>>()
    })?;

    let mut times: Vec<(i64, u64)> = Vec::with_capacity(instances * rounds);
    for (instance, &count) in series_per_instance.iter().enumerate() {
        for round in 0..rounds {
            times.push((clock.timestamp(instance, round), count));
        }
    }
    times.sort_unstable();
    let sorted: Vec<i64> = times.iter().map(|(t, _)| *t).collect();
    let expected_block_samples = head_cut_end(&sorted, range_ms).map_or(0, |end| {
        times.iter().filter(|(t, _)| *t < end).map(|(_, n)| n).sum()
    });
    let all = per_client.iter().flatten().flatten();
    Ok(Workload {
        total_samples: all.clone().map(|r| r.samples).sum(),
        total_requests: all.clone().count(),
        body_bytes: all.map(|r| r.body.len() as u64).sum(),
        per_client,
        instances,
        first_ms: sorted.first().copied().unwrap_or_default(),
        last_ms: sorted.last().copied().unwrap_or_default(),
        expected_block_samples,
    })
}

/// A server process under measurement, killed when dropped.
struct Server {
    target: Target,
    child: Child,
    base_url: String,
    /// Root of the blocks, in `layout`.
    blocks_root: PathBuf,
    layout: BlockLayout,
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
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until `GET /-/ready` answers 200.
    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let agent = agent(Duration::from_secs(2));
        let deadline = Instant::now() + limit;
        let url = format!("{}/-/ready", self.base_url);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before becoming ready:\n{}",
                    self.target.name(),
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
            self.target.name(),
            self.log_tail()
        )
    }
}

fn start_vigil(args: &Args, bin: &Path) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("vigil.yaml");
    let log_path = dir.path().join("vigil.log");
    let config = format!(
        "storage:\n  wal:\n    fsync: {}\n  tsdb:\n    block_range: {}\n    \
         out_of_order_window: {}\n    maintenance_interval: {}\nlog:\n  level: warn\n",
        args.wal_fsync, args.block_range, args.out_of_order_window, args.maintenance_interval
    );
    std::fs::write(&config_path, config)?;
    let (child, rx) = spawn_vigil(
        bin,
        &config_path,
        &data_dir,
        &log_path,
        &[("RUST_LOG", "warn")],
    )?;
    let mut server = Server {
        target: Target::Vigil,
        child,
        base_url: String::new(),
        blocks_root: data_dir.join("objects"),
        layout: BlockLayout::Vigil,
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

fn start_prometheus(args: &Args, bin: &Path, range_ms: i64) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("prometheus.yml");
    let log_path = dir.path().join("prometheus.log");
    std::fs::write(&config_path, "global:\n  scrape_interval: 15s\n")?;
    // Prometheus cannot report a port it picked itself: take a free one and hand it over.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(bin);
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--log.level=warn");
    if range_ms != 2 * 3_600_000 {
        command.arg(format!(
            "--storage.tsdb.min-block-duration={}",
            args.block_range
        ));
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut server = Server {
        target: Target::Prometheus,
        child,
        base_url: format!("http://127.0.0.1:{port}"),
        blocks_root: data_dir,
        layout: BlockLayout::Prometheus,
        log_path,
        _dir: dir,
    };
    server.wait_ready(Duration::from_secs(60))?;
    Ok(server)
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Keeps clients within `max_skew` rounds of the slowest one, so a fast client cannot push
/// the head so far ahead that a slow client's samples become too old.
struct Progress {
    rounds_done: Mutex<Vec<usize>>,
    changed: Condvar,
    max_skew: usize,
}

impl Progress {
    fn wait_for(&self, round: usize, abort: &AtomicBool) {
        let mut done = self
            .rounds_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while done.iter().min().copied().unwrap_or(usize::MAX) + self.max_skew < round
            && !abort.load(Ordering::Relaxed)
        {
            done = self
                .changed
                .wait_timeout(done, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn set(&self, client: usize, rounds: usize) {
        let mut done = self
            .rounds_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        done[client] = rounds;
        self.changed.notify_all();
    }
}

/// What sending the workload to one server did.
#[derive(Default)]
struct SendOutcome {
    samples_ok: u64,
    samples_failed: u64,
    requests_failed: u64,
    first_error: Option<String>,
    wall: Duration,
    completed: bool,
}

fn send_workload(workload: &Workload, url: &str, args: &Args) -> SendOutcome {
    let clients = workload.per_client.len();
    let progress = Progress {
        rounds_done: Mutex::new(vec![0; clients]),
        changed: Condvar::new(),
        max_skew: args.max_skew_rounds,
    };
    let abort = AtomicBool::new(false);
    let samples_ok = AtomicU64::new(0);
    let samples_failed = AtomicU64::new(0);
    let requests_failed = AtomicU64::new(0);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let deadline = Instant::now() + Duration::from_secs(args.send_timeout_s);
    let start_line = std::sync::Barrier::new(clients + 1);
    let mut started = Instant::now();
    std::thread::scope(|scope| {
        for (client, rounds) in workload.per_client.iter().enumerate() {
            let (progress, abort, start_line) = (&progress, &abort, &start_line);
            let (samples_ok, samples_failed) = (&samples_ok, &samples_failed);
            let (requests_failed, first_error) = (&requests_failed, &first_error);
            scope.spawn(move || {
                let agent = agent(Duration::from_secs(60));
                start_line.wait();
                for (round, requests) in rounds.iter().enumerate() {
                    progress.wait_for(round, abort);
                    if abort.load(Ordering::Relaxed) || Instant::now() > deadline {
                        abort.store(true, Ordering::Relaxed);
                        break;
                    }
                    for request in requests {
                        let mut post = agent.post(url);
                        for (name, value) in HEADERS {
                            post = post.header(name, value);
                        }
                        let error = match post.send(&request.body[..]) {
                            Ok(mut response) => {
                                let status = response.status().as_u16();
                                let mut text = String::new();
                                let _ = response
                                    .body_mut()
                                    .as_reader()
                                    .take(4096)
                                    .read_to_string(&mut text);
                                (!(200..300).contains(&status))
                                    .then(|| format!("HTTP {status}: {}", text.trim()))
                            }
                            Err(err) => Some(err.to_string()),
                        };
                        match error {
                            None => samples_ok.fetch_add(request.samples, Ordering::Relaxed),
                            Some(message) => {
                                requests_failed.fetch_add(1, Ordering::Relaxed);
                                first_error
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .get_or_insert(message);
                                samples_failed.fetch_add(request.samples, Ordering::Relaxed)
                            }
                        };
                    }
                    progress.set(client, round + 1);
                }
                // Never hold the others back once this client is done.
                progress.set(client, usize::MAX / 2);
            });
        }
        start_line.wait();
        started = Instant::now();
    });
    SendOutcome {
        wall: started.elapsed(),
        samples_ok: samples_ok.into_inner(),
        samples_failed: samples_failed.into_inner(),
        requests_failed: requests_failed.into_inner(),
        first_error: first_error
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
        completed: !abort.into_inner(),
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` CPU times.
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User plus system CPU seconds of a process (`pid` "self" for this one).
fn cpu_seconds(pid: &str, ticks_per_second: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .context("short /proc stat")?
            .parse::<f64>()
            .context("/proc stat field")
    };
    Ok((ticks(11)? + ticks(12)?) / ticks_per_second)
}

/// Peak resident set size of a process in bytes (`VmHWM`).
fn peak_rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc status")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("malformed VmHWM")?
        .parse()
        .context("VmHWM value")?;
    Ok(kib * 1024)
}

/// Polls the blocks until they hold `expected` samples (or the limit passes).
fn wait_for_blocks(server: &Server, expected: u64, limit: Duration) -> Result<(BlockTotals, bool)> {
    let deadline = Instant::now() + limit;
    loop {
        let blocks = live_blocks(list_blocks(&server.blocks_root, server.layout)?);
        let sums = totals(&blocks);
        if sums.samples >= expected {
            return Ok((sums, true));
        }
        if Instant::now() > deadline {
            return Ok((sums, false));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The figures of one run against one server.
struct RunResult {
    target: Target,
    run: usize,
    send: SendOutcome,
    server_cpu_s: f64,
    client_cpu_s: f64,
    blocks: BlockTotals,
    blocks_settled: bool,
    settle_wait: Duration,
    peak_rss: u64,
}

impl RunResult {
    fn samples_per_second(&self) -> f64 {
        self.send.samples_ok as f64 / self.send.wall.as_secs_f64().max(1e-9)
    }

    fn samples_per_cpu_second(&self) -> f64 {
        self.send.samples_ok as f64 / self.server_cpu_s.max(1e-9)
    }
}

fn measure(
    target: Target,
    run: usize,
    args: &Args,
    workload: &Workload,
    range_ms: i64,
) -> Result<RunResult> {
    let ticks = clock_ticks_per_second();
    let server = match target {
        Target::Vigil => {
            let bin = match &args.vigil_bin {
                Some(path) => path.clone(),
                None => default_vigil_bin()?,
            };
            start_vigil(args, &bin)?
        }
        Target::Prometheus => start_prometheus(args, &args.prometheus_bin, range_ms)?,
    };
    let pid = server.pid().to_string();
    let (server_cpu_before, client_cpu_before) =
        (cpu_seconds(&pid, ticks)?, cpu_seconds("self", ticks)?);
    let send = send_workload(workload, &server.write_url(), args);
    let server_cpu_s = cpu_seconds(&pid, ticks)? - server_cpu_before;
    let client_cpu_s = cpu_seconds("self", ticks)? - client_cpu_before;
    let settle_started = Instant::now();
    let (blocks, blocks_settled) = wait_for_blocks(
        &server,
        workload.expected_block_samples,
        Duration::from_secs(args.settle_timeout_s),
    )?;
    let settle_wait = settle_started.elapsed();
    let peak_rss = peak_rss_bytes(server.pid())?;
    if let Some(error) = &send.first_error {
        eprintln!(
            "{} run {run}: {} requests failed, first: {error}",
            target.name(),
            send.requests_failed
        );
    }
    drop(server);
    Ok(RunResult {
        target,
        run,
        send,
        server_cpu_s,
        client_cpu_s,
        blocks,
        blocks_settled,
        settle_wait,
        peak_rss,
    })
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.decimals$}"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_results(results: &[RunResult], workload: &Workload) {
    println!();
    println!(
        "| target | run | samples ok | failed | wall s | samples/s | server CPU s | samples/CPU-s | client CPU s | blocks | block samples | B/sample | index share | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let settled = if r.blocks_settled { "" } else { " (timeout)" };
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {} | {}{settled} | {} | {} | {:.0} |",
            r.target.name(),
            r.run,
            r.send.samples_ok,
            r.send.samples_failed,
            r.send.wall.as_secs_f64(),
            r.samples_per_second(),
            r.server_cpu_s,
            r.samples_per_cpu_second(),
            r.client_cpu_s,
            r.blocks.blocks,
            r.blocks.samples,
            fmt_opt(r.blocks.bytes_per_sample(), 3),
            r.blocks
                .index_share()
                .map_or_else(|| "n/a".to_string(), |s| format!("{:.1}%", s * 100.0)),
            mib(r.peak_rss),
        );
    }
    println!();
    println!(
        "Blocks expected to hold {} samples; waited {} for them.",
        workload.expected_block_samples,
        results
            .iter()
            .map(|r| format!(
                "{}#{} {:.1}s",
                r.target.name(),
                r.run,
                r.settle_wait.as_secs_f64()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!(
        "| target | runs | median samples/s | median samples/CPU-s | median B/sample | median peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    let mut targets: Vec<Target> = Vec::new();
    for r in results {
        if !targets.contains(&r.target) {
            targets.push(r.target);
        }
    }
    let of = |target: Target, f: &dyn Fn(&RunResult) -> Option<f64>| {
        median(
            results
                .iter()
                .filter(|r| r.target == target)
                .filter_map(f)
                .collect(),
        )
    };
    for &target in &targets {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            target.name(),
            results.iter().filter(|r| r.target == target).count(),
            fmt_opt(of(target, &|r| Some(r.samples_per_second())), 0),
            fmt_opt(of(target, &|r| Some(r.samples_per_cpu_second())), 0),
            fmt_opt(
                of(target, &|r| r
                    .blocks_settled
                    .then(|| r.blocks.bytes_per_sample())
                    .flatten()),
                3
            ),
            fmt_opt(of(target, &|r| Some(mib(r.peak_rss))), 0),
        );
    }
    if targets.len() == 2 {
        let vigil = of(Target::Vigil, &|r| Some(r.samples_per_second()));
        let prometheus = of(Target::Prometheus, &|r| Some(r.samples_per_second()));
        if let (Some(v), Some(p)) = (vigil, prometheus) {
            let per_run: Vec<String> = (1..=results.iter().map(|r| r.run).max().unwrap_or(0))
                .filter_map(|run| {
                    let rate = |t| {
                        results
                            .iter()
                            .find(|r| r.run == run && r.target == t)
                            .map(RunResult::samples_per_second)
                    };
                    Some(format!(
                        "{:.2}",
                        rate(Target::Vigil)? / rate(Target::Prometheus)?
                    ))
                })
                .collect();
            println!();
            println!(
                "Vigil/Prometheus samples/s: {:.2} (ratio of medians); per run: {}",
                v / p,
                per_run.join(", ")
            );
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let interval_ms = parse_duration_ms(&args.interval)?;
    let range_ms = parse_duration_ms(&args.block_range)?;
    if interval_ms <= 0 || range_ms <= 0 {
        bail!("--interval and --block-range must be positive");
    }
    if args.series == 0 || args.rounds == 0 || args.clients == 0 {
        bail!("--series, --rounds and --clients must be at least 1");
    }
    let encode_started = Instant::now();
    let workload = build_workload(&args, interval_ms, range_ms)?;
    println!(
        "workload: {} series on {} hosts ({} metric names) x {} rounds {}s apart = {} samples \
         spanning {:.1} h; {} requests of <= {} samples from {} clients; {:.1} MiB snappy \
         ({:.1} B/sample on the wire); encoded in {:.1}s",
        args.series,
        workload.instances,
        metric_names().len(),
        args.rounds,
        interval_ms / 1000,
        workload.total_samples,
        (workload.last_ms - workload.first_ms) as f64 / 3_600_000.0,
        workload.total_requests,
        args.batch,
        args.clients,
        mib(workload.body_bytes),
        workload.body_bytes as f64 / workload.total_samples.max(1) as f64,
        encode_started.elapsed().as_secs_f64(),
    );
    println!(
        "scrape jitter <= {} ms; server: block range {}, vigil wal fsync {}; machine: {} cores",
        args.jitter_ms,
        args.block_range,
        args.wal_fsync,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    if workload.expected_block_samples == 0 {
        println!(
            "note: the data spans less than 1.5 block ranges, so no block is cut and B/sample is n/a"
        );
    }
    let mut results = Vec::new();
    for run in 1..=args.runs.max(1) {
        for &target in &args.targets {
            let result = measure(target, run, &args, &workload, range_ms)
                .with_context(|| format!("{} run {run}", target.name()))?;
            eprintln!(
                "{} run {run}: {:.0} samples/s, {} B/sample",
                target.name(),
                result.samples_per_second(),
                fmt_opt(result.blocks.bytes_per_sample(), 3)
            );
            if !result.send.completed {
                eprintln!(
                    "{} run {run}: sending stopped at --send-timeout-s",
                    target.name()
                );
            }
            results.push(result);
        }
    }
    print_results(&results, &workload);
    Ok(())
}
