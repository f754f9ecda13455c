//! `vigil-log-bench`: log ingest throughput, compression and LogQL query speed of a real
//! `vigil` binary on a Loghub-like corpus, with `rg` over the same raw data as the reference.
//!
//! 1. Generates the corpus (`vigil_benches::log_corpus`) into one raw file per app under
//!    `--work-dir`, and the same lines as Loki push requests (protobuf + snappy, batches of
//!    `--batch-kib` of line bytes across streams, as Promtail sends them).
//! 2. Starts `vigil` on `127.0.0.1:0` with its own data dir and pushes the batches from
//!    `--clients` threads, measuring MiB/s of line bytes and the server's CPU time.
//! 3. `POST /flush`es the heads into segments and sums the bytes of the segments on the
//!    object store (data, label index, content index, meta; not the WAL).
//! 4. Runs each query `--runs` times after one warm-up, each time beside `rg` over the raw
//!    file of the app the query selects, and checks that the counts agree.
//!
//! Example: `cargo run --release -p vigil-benches --bin vigil-log-bench -- --runs 5`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use prost::Message;
use serde_json::Value;
use vigil_benches::duration::parse_duration_ms;
use vigil_benches::log_corpus::{
    self, ABSENT_NEEDLE, App, COMMON_NEEDLE, CorpusSpec, CorpusTotals, RARE_ID, RARE_NEEDLE,
    RARE_NEEDLE_COUNT, RARE_TEXT_NEEDLE,
};
use vigil_benches::process::{VigilProcess, agent, cpu_seconds, default_vigil_bin, dir_bytes};
use vigil_ingest::loki::proto as pb;

const MIB: f64 = 1024.0 * 1024.0;
/// 2026-11-01T00:00:00Z: a fixed start keeps the corpus identical from run to run.
const CORPUS_START_NS: i64 = 1_793_491_200_000_000_000;

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(about = "Log ingest, compression and LogQL query speed of Vigil, beside rg")]
struct Args {
    /// The `vigil` binary; default `$VIGIL_BIN`, else `vigil` next to this executable.
    #[arg(long)]
    vigil_bin: Option<PathBuf>,
    /// The ripgrep binary (Debian package `ripgrep`).
    #[arg(long, default_value = "rg")]
    rg_bin: PathBuf,
    /// Where the corpus and the server's data dir go (both deleted at the end).
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
    /// MiB of line text of the logfmt app `api`, which the queries select.
    #[arg(long, default_value_t = 1040)]
    api_mib: u64,
    /// MiB of nginx access log lines.
    #[arg(long, default_value_t = 200)]
    nginx_mib: u64,
    /// MiB of HDFS lines.
    #[arg(long, default_value_t = 120)]
    hdfs_mib: u64,
    /// MiB of Apache error log lines.
    #[arg(long, default_value_t = 60)]
    apache_mib: u64,
    /// Time the corpus spans, from 2026-11-01T00:00:00Z.
    #[arg(long, default_value = "24h")]
    span: String,
    /// Seed of the corpus.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Line bytes per push request (Promtail's default batch size is 1 MiB).
    #[arg(long, default_value_t = 1024)]
    batch_kib: usize,
    /// Concurrent push clients.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Measured runs of each query (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// WAL fsync mode of the server: batch (the default, group commit), always or none.
    #[arg(long, default_value = "batch")]
    wal_fsync: String,
    /// Keep the raw corpus files (they are deleted by default).
    #[arg(long)]
    keep_corpus: bool,
}

/// The corpus on disk and as push requests.
struct Corpus {
    dir: PathBuf,
    totals: CorpusTotals,
    /// Snappy-compressed `PushRequest`s with their line bytes.
    bodies: Vec<(Vec<u8>, u64)>,
    /// Bytes of all bodies.
    wire_bytes: u64,
}

impl Corpus {
    fn file(&self, app: App) -> PathBuf {
        self.dir.join(format!("{}.log", app.name()))
    }
}

impl Drop for Corpus {
    fn drop(&mut self) {
        // Removed unless --keep-corpus cleared `dir`.
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Groups entries by stream until `limit` line bytes, then encodes one push request.
struct Batcher {
    labels: Vec<String>,
    entries: Vec<Vec<pb::EntryAdapter>>,
    bytes: u64,
    limit: u64,
    bodies: Vec<(Vec<u8>, u64)>,
    wire_bytes: u64,
}

impl Batcher {
    fn add(&mut self, stream: usize, ts_ns: i64, line: &str) -> Result<()> {
        self.entries[stream].push(pb::EntryAdapter {
            timestamp: Some(pb::Timestamp {
                seconds: ts_ns.div_euclid(1_000_000_000),
                nanos: ts_ns.rem_euclid(1_000_000_000) as i32,
            }),
            line: line.to_string(),
            ..Default::default()
        });
        self.bytes += line.len() as u64;
        if self.bytes >= self.limit {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.bytes == 0 {
            return Ok(());
        }
        let request = pb::PushRequest {
            streams: self
                .entries
                .iter_mut()
                .zip(&self.labels)
                .filter(|(entries, _)| !entries.is_empty())
                .map(|(entries, labels)| pb::StreamAdapter {
                    labels: labels.clone(),
                    entries: std::mem::take(entries),
                    hash: 0,
                })
                .collect(),
            format: String::new(),
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .context("snappy")?;
        self.wire_bytes += body.len() as u64;
        self.bodies.push((body, self.bytes));
        self.bytes = 0;
        Ok(())
    }
}

fn build_corpus(args: &Args) -> Result<Corpus> {
    let span_ns = parse_duration_ms(&args.span)? * 1_000_000;
    let spec = CorpusSpec {
        seed: args.seed,
        start_ns: CORPUS_START_NS,
        span_ns,
        app_bytes: vec![
            (App::Api, args.api_mib << 20),
            (App::Nginx, args.nginx_mib << 20),
            (App::Hdfs, args.hdfs_mib << 20),
            (App::Apache, args.apache_mib << 20),
        ],
    };
    let dir = args
        .work_dir
        .join(format!("vigil-log-corpus-{}", args.seed));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut corpus = Corpus {
        dir,
        totals: CorpusTotals::default(),
        bodies: Vec::new(),
        wire_bytes: 0,
    };
    let mut files = Vec::new();
    for app in App::ALL {
        let path = corpus.file(app);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        files.push((app, BufWriter::with_capacity(1 << 20, file)));
    }
    let streams = log_corpus::streams();
    let mut batcher = Batcher {
        labels: streams.iter().map(|s| s.text.clone()).collect(),
        entries: vec![Vec::new(); streams.len()],
        bytes: 0,
        limit: (args.batch_kib as u64) << 10,
        bodies: Vec::new(),
        wire_bytes: 0,
    };
    let mut failure: Option<anyhow::Error> = None;
    corpus.totals = log_corpus::generate(&spec, |event| {
        if failure.is_some() {
            return;
        }
        let result = files
            .iter_mut()
            .find(|(app, _)| *app == event.app)
            .context("no file for the app")
            .and_then(|(_, file)| {
                file.write_all(event.line.as_bytes())?;
                file.write_all(b"\n")?;
                Ok(())
            })
            .and_then(|()| batcher.add(event.stream, event.ts_ns, event.line));
        if let Err(err) = result {
            failure = Some(err);
        }
    });
    if let Some(err) = failure {
        return Err(err);
    }
    batcher.flush()?;
    for (_, mut file) in files {
        file.flush()?;
    }
    corpus.bodies = batcher.bodies;
    corpus.wire_bytes = batcher.wire_bytes;
    Ok(corpus)
}

fn config_yaml(args: &Args) -> String {
    format!(
        "storage:\n  wal:\n    fsync: {}\n  tsdb:\n    maintenance_interval: 5s\n\
         query:\n  timeout: 10m\n\
         logs:\n  ingestion_rate_bytes: 0\n  reject_older_than: 87600h\n  retention: 0s\n\
         log:\n  level: warn\n",
        args.wal_fsync
    )
}

struct IngestResult {
    wall: Duration,
    server_cpu_s: f64,
    client_cpu_s: f64,
    failed: usize,
    retries: u64,
}

fn ingest(server: &VigilProcess, corpus: &Corpus, clients: usize) -> Result<IngestResult> {
    let url = format!("{}/loki/api/v1/push", server.base_url);
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let retries = AtomicU64::new(0);
    let first_error = std::sync::Mutex::new(None::<String>);
    let cpu_before = server.cpu_seconds()?;
    let client_before = cpu_seconds("self")?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..clients.max(1) {
            scope.spawn(|| {
                let agent = agent(Duration::from_secs(120));
                loop {
                    // Bodies go out nearly in order, so each stream stays in time order
                    // within the unordered-write window.
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, _)) = corpus.bodies.get(i) else {
                        return;
                    };
                    let mut attempt = 0;
                    loop {
                        let result = agent
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .header("Content-Encoding", "snappy")
                            .send(&body[..]);
                        let status = match &result {
                            Ok(response) => response.status().as_u16(),
                            Err(_) => 0,
                        };
                        if status == 204 {
                            break;
                        }
                        attempt += 1;
                        if (status == 429 || status == 503) && attempt < 100 {
                            retries.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                        failed.fetch_add(1, Ordering::Relaxed);
                        let message = match result {
                            Ok(mut response) => format!(
                                "status {status}: {}",
                                response.body_mut().read_to_string().unwrap_or_default()
                            ),
                            Err(err) => err.to_string(),
                        };
                        if let Ok(mut slot) = first_error.lock()
                            && slot.is_none()
                        {
                            *slot = Some(message);
                        }
                        break;
                    }
                }
            });
        }
    });
    let wall = started.elapsed();
    let result = IngestResult {
        wall,
        server_cpu_s: server.cpu_seconds()? - cpu_before,
        client_cpu_s: cpu_seconds("self")? - client_before,
        failed: failed.load(Ordering::Relaxed),
        retries: retries.load(Ordering::Relaxed),
    };
    if let Ok(Some(message)) = first_error.into_inner() {
        eprintln!("first failed push: {message}");
    }
    Ok(result)
}

/// `(file name, bytes, count)` per kind of file.
type FileKinds = Vec<(String, u64, u64)>;

/// Bytes per file kind of the committed segments under `root` (the object store's `logs/`),
/// and the directories of those segments.
fn segment_bytes(root: &Path) -> Result<(FileKinds, Vec<PathBuf>)> {
    type Kinds = std::collections::BTreeMap<String, (u64, u64)>;
    let mut kinds: Kinds = Default::default();
    // Segments a compaction replaced wait out the delete delay beside the segment that
    // replaced them, each named by a `deletion-marks/<id>.json`: they are not counted, nor
    // are the marks.
    fn marked(dir: &Path, out: &mut std::collections::BTreeSet<String>) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if name == "deletion-marks" {
                for mark in std::fs::read_dir(entry.path())? {
                    let mark = mark?.file_name().to_string_lossy().to_string();
                    if let Some(id) = mark.strip_suffix(".json") {
                        out.insert(id.to_string());
                    }
                }
            } else {
                marked(&entry.path(), out)?;
            }
        }
        Ok(())
    }
    fn walk(
        dir: &Path,
        skip: &std::collections::BTreeSet<String>,
        kinds: &mut Kinds,
        segments: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if entry.file_type()?.is_dir() {
                if name != "deletion-marks" && !skip.contains(&name) {
                    walk(&entry.path(), skip, kinds, segments)?;
                }
            } else {
                if name == "meta.json" {
                    segments.push(dir.to_path_buf());
                }
                let slot = kinds.entry(name).or_default();
                slot.0 += entry.metadata()?.len();
                slot.1 += 1;
            }
        }
        Ok(())
    }
    let mut skip = std::collections::BTreeSet::new();
    marked(root, &mut skip)?;
    let mut segments = Vec::new();
    walk(root, &skip, &mut kinds, &mut segments)?;
    Ok((
        kinds.into_iter().map(|(k, (b, n))| (k, b, n)).collect(),
        segments,
    ))
}

/// Stored bytes of one app: its Parquet columns, and its share of the index files.
#[derive(Debug, Default, Clone)]
struct AppStorage {
    row_groups: u64,
    lines: u64,
    timestamps: u64,
    other_columns: u64,
    indexes: u64,
}

impl AppStorage {
    fn total(&self) -> u64 {
        self.lines + self.timestamps + self.other_columns + self.indexes
    }
}

/// Each app's stored bytes in the live `segments`: column bytes from the Parquet footers
/// (`vigil_logstore::segment_footprint`), and the rest of every segment's files (label and
/// content index, footer, meta) shared out by row groups, which the content index is kept
/// per.
fn app_storage(segments: &[PathBuf]) -> Result<std::collections::BTreeMap<String, AppStorage>> {
    let mut out: std::collections::BTreeMap<String, AppStorage> = Default::default();
    for dir in segments {
        let streams = vigil_logstore::segment_footprint(dir)
            .with_context(|| format!("reading segment {}", dir.display()))?;
        let mut file_bytes = 0;
        for entry in std::fs::read_dir(dir)? {
            file_bytes += entry?.metadata()?.len();
        }
        let column_bytes: u64 = streams
            .iter()
            .flat_map(|s| s.column_bytes.iter().map(|c| c.1))
            .sum();
        let row_groups: u64 = streams.iter().map(|s| u64::from(s.row_groups)).sum();
        let rest = file_bytes.saturating_sub(column_bytes);
        for stream in &streams {
            let app = stream.labels.get("app").unwrap_or("(none)").to_string();
            let slot = out.entry(app).or_default();
            slot.row_groups += u64::from(stream.row_groups);
            slot.indexes += rest * u64::from(stream.row_groups) / row_groups.max(1);
            for (column, bytes) in &stream.column_bytes {
                match column.as_str() {
                    "line" => slot.lines += bytes,
                    "timestamp_ns" => slot.timestamps += bytes,
                    _ => slot.other_columns += bytes,
                }
            }
        }
    }
    Ok(out)
}

/// What a query's answer is checked against.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A log query: this many entries (after the limit).
    Entries(u64),
    /// A metric query: the sum of all values.
    Sum(u64),
}

struct QuerySpec {
    name: &'static str,
    logql: String,
    /// `query_range` with this step (seconds), else an instant `query`.
    step_s: Option<u64>,
    /// `rg` arguments before the file.
    rg_args: Vec<String>,
    expect: Expect,
}

struct QueryResult {
    vigil_ms: Vec<f64>,
    rg_ms: Vec<f64>,
    answer: u64,
    rg_answer: u64,
    /// Why Vigil's answer could not be measured (the query failed or answered wrongly).
    failure: Option<String>,
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

/// Runs one query; returns the wall time and the count it answered.
fn run_vigil(
    server: &VigilProcess,
    query: &QuerySpec,
    totals: &CorpusTotals,
) -> Result<(Duration, u64)> {
    let agent = agent(Duration::from_secs(900));
    let start_ns = totals.min_ts_ns;
    let end_ns = totals.max_ts_ns + 1;
    let logql = form_encode(&query.logql);
    let (path, body) = match (query.expect, query.step_s) {
        (Expect::Entries(_), _) => (
            "query_range",
            format!("query={logql}&start={start_ns}&end={end_ns}&limit=1000&direction=backward"),
        ),
        // Windows (t - step, t] from the first entry on.
        (_, Some(step)) => {
            let step_ns = step as i64 * 1_000_000_000;
            (
                "query_range",
                format!(
                    "query={logql}&start={}&end={}&step={step}",
                    start_ns - 1 + step_ns,
                    end_ns + step_ns
                ),
            )
        }
        (_, None) => ("query", format!("query={logql}&time={end_ns}")),
    };
    let url = format!("{}/loki/api/v1/{path}", server.base_url);
    let started = Instant::now();
    let mut response = agent
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.as_bytes())
        .with_context(|| format!("query {}", query.logql))?;
    let text = response.body_mut().read_to_string()?;
    let elapsed = started.elapsed();
    if response.status().as_u16() != 200 {
        bail!(
            "query {} failed ({}): {text}",
            query.logql,
            response.status()
        );
    }
    let json: Value = serde_json::from_str(&text)?;
    let result = &json["data"]["result"];
    let results = result.as_array().context("no result array")?;
    let answer = match json["data"]["resultType"].as_str() {
        Some("streams") => results
            .iter()
            .map(|s| s["values"].as_array().map_or(0, |v| v.len() as u64))
            .sum(),
        Some("vector") => results
            .iter()
            .map(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            })
            .sum::<f64>() as u64,
        Some("matrix") => results
            .iter()
            .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
            .map(|p| {
                p[1].as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            })
            .sum::<f64>() as u64,
        other => bail!("unexpected result type {other:?}"),
    };
    Ok((elapsed, answer))
}

fn run_rg(rg: &Path, args: &[String], file: &Path) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let output = Command::new(rg)
        .args(args)
        .arg(file)
        .output()
        .with_context(|| format!("running {}", rg.display()))?;
    let elapsed = started.elapsed();
    // rg exits 1 when nothing matched (and prints nothing with -c).
    let count = match output.status.code() {
        Some(0) => String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse::<u64>()
            .context("rg count")?,
        Some(1) => 0,
        _ => bail!(
            "rg failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    };
    Ok((elapsed, count))
}

fn queries(totals: &CorpusTotals) -> Vec<QuerySpec> {
    let range_s = (totals.max_ts_ns - totals.min_ts_ns) / 1_000_000_000 + 2;
    let api_lines = totals.app_lines(App::Api);
    let rg = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let rare = RARE_NEEDLE_COUNT as u64;
    // `(name, needle, expect)`: a Grafana log query for lines holding the needle, or a
    // count over the whole corpus in one window (so the answer compares with `rg -c`);
    // each beside `rg -c -F needle`. The common needle's count is whatever rg finds
    // (`Sum(0)`).
    let searches = [
        ("log, rare needle", RARE_NEEDLE, Expect::Entries(rare)),
        ("log, rare bare id", RARE_ID, Expect::Entries(rare)),
        (
            "log, rare text needle",
            RARE_TEXT_NEEDLE,
            Expect::Entries(rare),
        ),
        (
            "log, common needle (limit 1000)",
            COMMON_NEEDLE,
            Expect::Entries(1000),
        ),
        ("log, absent needle", ABSENT_NEEDLE, Expect::Entries(0)),
        ("count, rare needle", RARE_NEEDLE, Expect::Sum(rare)),
        (
            "count, rare text needle",
            RARE_TEXT_NEEDLE,
            Expect::Sum(rare),
        ),
        ("count, common needle", COMMON_NEEDLE, Expect::Sum(0)),
    ];
    let mut specs: Vec<QuerySpec> = searches
        .into_iter()
        .map(|(name, needle, expect)| QuerySpec {
            name,
            logql: match expect {
                Expect::Entries(_) => format!("{{app=\"api\"}} |= \"{needle}\""),
                Expect::Sum(_) => {
                    format!("count_over_time({{app=\"api\"}} |= \"{needle}\" [{range_s}s])")
                }
            },
            step_s: None,
            rg_args: rg(&["-c", "-F", needle]),
            expect,
        })
        .collect();
    specs.extend([
        QuerySpec {
            name: "count, full scan",
            logql: format!("count_over_time({{app=\"api\"}} [{range_s}s])"),
            step_s: None,
            rg_args: rg(&["-c", "-F", ABSENT_NEEDLE]),
            expect: Expect::Sum(api_lines),
        },
        QuerySpec {
            name: "sum by (level) logfmt, 5m steps",
            logql: "sum by (level) (count_over_time({app=\"api\"} | logfmt [5m]))".to_string(),
            step_s: Some(300),
            rg_args: rg(&["-c", "level="]),
            expect: Expect::Sum(api_lines),
        },
    ]);
    specs
}

fn measure_queries(
    server: &VigilProcess,
    rg: &Path,
    corpus: &Corpus,
    runs: usize,
) -> Result<Vec<(QuerySpec, QueryResult)>> {
    let file = corpus.file(App::Api);
    let mut out = Vec::new();
    for query in queries(&corpus.totals) {
        // Warm-up: checks the answer and pulls the data into the page cache.
        let (_, rg_answer) = run_rg(rg, &query.rg_args, &file)?;
        let (answer, failure) = match run_vigil(server, &query, &corpus.totals) {
            Ok((_, answer)) => {
                let ok = match query.expect {
                    Expect::Entries(n) => answer == n,
                    // The common needle's count is whatever rg finds.
                    Expect::Sum(0) => answer == rg_answer,
                    Expect::Sum(n) => answer == n,
                };
                let failure = (!ok).then(|| {
                    format!(
                        "answered {answer}, expected {:?} (rg counted {rg_answer})",
                        query.expect
                    )
                });
                (answer, failure)
            }
            Err(err) => (0, Some(format!("{err:#}"))),
        };
        let mut result = QueryResult {
            vigil_ms: Vec::new(),
            rg_ms: Vec::new(),
            answer,
            rg_answer,
            failure,
        };
        if let Some(failure) = &result.failure {
            eprintln!("{}: FAILED: {failure}", query.name);
            out.push((query, result));
            continue;
        }
        for _ in 0..runs {
            let (vigil, _) = run_vigil(server, &query, &corpus.totals)?;
            let (rg_time, _) = run_rg(rg, &query.rg_args, &file)?;
            result.vigil_ms.push(vigil.as_secs_f64() * 1e3);
            result.rg_ms.push(rg_time.as_secs_f64() * 1e3);
        }
        eprintln!(
            "{}: vigil {:.1} ms, rg {:.1} ms",
            query.name,
            median(result.vigil_ms.clone()),
            median(result.rg_ms.clone())
        );
        out.push((query, result));
    }
    Ok(out)
}

/// Bytes `zstd -<level>` (one thread) makes of the raw files, as a reference for what a
/// general-purpose compressor gets out of the same text; `None` without a `zstd` binary.
/// Bytes `zstd -<level> -T1` makes of `files` concatenated, and how long it took; `None`
/// without a working `zstd` binary.
fn zstd_size(files: &[PathBuf], level: u32) -> Option<(u64, Duration)> {
    let started = Instant::now();
    let output = Command::new("zstd")
        .arg(format!("-{level}"))
        .args(["-T1", "-q", "-c"])
        .args(files)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some((output.stdout.len() as u64, started.elapsed()))
}

fn fmt_runs(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rg_version = Command::new(&args.rg_bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .with_context(|| {
            format!(
                "{} not found: install ripgrep (`apt-get install ripgrep`) or pass --rg-bin",
                args.rg_bin.display()
            )
        })?;
    let vigil_bin = match &args.vigil_bin {
        Some(bin) => bin.clone(),
        None => default_vigil_bin()?,
    };

    let started = Instant::now();
    let mut corpus = build_corpus(&args)?;
    let totals = corpus.totals.clone();
    eprintln!(
        "corpus: {} lines, {:.1} MiB of line text, {} push requests ({:.1} MiB snappy) in {:.1} s",
        totals.total_lines(),
        totals.total_bytes() as f64 / MIB,
        corpus.bodies.len(),
        corpus.wire_bytes as f64 / MIB,
        started.elapsed().as_secs_f64()
    );

    let server = VigilProcess::start(&vigil_bin, &config_yaml(&args), Some(&args.work_dir))?;
    let ingest = ingest(&server, &corpus, args.clients)?;
    if ingest.failed > 0 {
        bail!(
            "{} push requests failed:\n{}",
            ingest.failed,
            server.log_tail()
        );
    }
    eprintln!(
        "ingest: {:.1} s wall, {:.1} server CPU s",
        ingest.wall.as_secs_f64(),
        ingest.server_cpu_s
    );
    let flush_cpu_before = server.cpu_seconds()?;
    let flush_started = Instant::now();
    let mut response = agent(Duration::from_secs(1800))
        .post(&format!("{}/flush", server.base_url))
        .send(&[][..])?;
    if response.status().as_u16() != 204 {
        bail!(
            "POST /flush answered {}: {}",
            response.status(),
            response.body_mut().read_to_string().unwrap_or_default()
        );
    }
    let flush_wall = flush_started.elapsed();
    let flush_cpu = server.cpu_seconds()? - flush_cpu_before;
    let objects = server.data_dir.join("objects").join("logs");
    let (kinds, segments) = segment_bytes(&objects)?;
    let by_app = app_storage(&segments)?;
    let stored: u64 = kinds.iter().map(|(_, b, _)| b).sum();
    let wal_bytes = dir_bytes(&server.data_dir.join("logs").join("wal"))?;
    let queries = measure_queries(&server, &args.rg_bin, &corpus, args.runs)?;
    let zstd = zstd_size(&App::ALL.map(|app| corpus.file(app)), 3);
    let zstd_by_app: Vec<Option<u64>> = App::ALL
        .iter()
        .map(|&app| zstd_size(&[corpus.file(app)], 3).map(|(bytes, _)| bytes))
        .collect();
    let peak_rss = server.peak_rss_bytes()?;
    drop(server);
    if args.keep_corpus {
        eprintln!("corpus kept in {}", corpus.dir.display());
        corpus.dir = PathBuf::new();
    }

    let raw = totals.total_bytes();
    let raw_mib = raw as f64 / MIB;
    let wall_s = ingest.wall.as_secs_f64();
    println!(
        "\n{rg_version}; corpus seed {}, span {}",
        args.seed, args.span
    );
    println!("\n| app | lines | MiB of line text | bytes/line |");
    println!("|---|---|---|---|");
    for app in App::ALL {
        let (lines, bytes) = (totals.app_lines(app), totals.app_bytes(app));
        println!(
            "| {} | {lines} | {:.1} | {:.0} |",
            app.name(),
            bytes as f64 / MIB,
            bytes as f64 / lines.max(1) as f64
        );
    }
    println!(
        "| **all** | {} | {raw_mib:.1} | {:.0} |",
        totals.total_lines(),
        raw as f64 / totals.total_lines().max(1) as f64
    );
    println!(
        "\n**Ingest** ({} clients, {} push requests of {} KiB of lines, {:.1} MiB snappy protobuf on the wire, WAL fsync {}):\n",
        args.clients,
        corpus.bodies.len(),
        args.batch_kib,
        corpus.wire_bytes as f64 / MIB,
        args.wal_fsync
    );
    println!(
        "| wall s | MiB/s | server CPU s | MiB/s per core (MiB per CPU-s) | client CPU s | retried (429/503) | flush wall s | flush CPU s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {wall_s:.1} | **{:.1}** | {:.1} | **{:.1}** | {:.1} | {} | {:.1} | {:.1} | {:.0} |",
        raw_mib / wall_s,
        ingest.server_cpu_s,
        raw_mib / ingest.server_cpu_s,
        ingest.client_cpu_s,
        ingest.retries,
        flush_wall.as_secs_f64(),
        flush_cpu,
        peak_rss as f64 / MIB
    );
    println!(
        "\n**Storage** after `POST /flush` (object store `logs/`; the WAL, {:.1} MiB, not counted):\n",
        wal_bytes as f64 / MIB
    );
    println!("| file | count | MiB | share |");
    println!("|---|---|---|---|");
    for (kind, bytes, count) in &kinds {
        println!(
            "| {kind} | {count} | {:.2} | {:.1} % |",
            *bytes as f64 / MIB,
            100.0 * *bytes as f64 / stored.max(1) as f64
        );
    }
    println!(
        "| **all** | | {:.2} | **compression {:.1}×** |",
        stored as f64 / MIB,
        raw as f64 / stored.max(1) as f64
    );
    println!(
        "\n**By app**: Parquet column bytes from the footers; index = the label and content \
         indexes, footers and `meta.json` shared out by row groups. Compression = line bytes / \
         stored bytes; zstd -3 = the app's raw file through `zstd -3 -T1`.\n"
    );
    println!(
        "| app | row groups | line MiB | timestamp MiB | other columns MiB | index MiB | stored bytes/line | **compression** | zstd -3 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut loghub = (0u64, 0u64);
    for (app, zstd_bytes) in App::ALL.iter().zip(&zstd_by_app) {
        let Some(storage) = by_app.get(app.name()) else {
            continue;
        };
        let raw_app = totals.app_bytes(*app);
        if *app != App::Api {
            loghub.0 += raw_app;
            loghub.1 += storage.total();
        }
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | **{:.1}×** | {} |",
            app.name(),
            storage.row_groups,
            storage.lines as f64 / MIB,
            storage.timestamps as f64 / MIB,
            storage.other_columns as f64 / MIB,
            storage.indexes as f64 / MIB,
            storage.total() as f64 / totals.app_lines(*app).max(1) as f64,
            raw_app as f64 / storage.total().max(1) as f64,
            zstd_bytes.map_or("-".to_string(), |b| format!(
                "{:.1}×",
                raw_app as f64 / b.max(1) as f64
            )),
        );
    }
    println!(
        "| nginx + hdfs + apache | | | | | | | **{:.1}×** | |",
        loghub.0 as f64 / loghub.1.max(1) as f64
    );
    match zstd {
        Some((bytes, took)) => println!(
            "\nReference: `zstd -3 -T1` over the raw files (newlines included) makes {:.2} MiB, \
             {:.1}× of the line bytes, in {:.1} s.",
            bytes as f64 / MIB,
            raw as f64 / bytes.max(1) as f64,
            took.as_secs_f64()
        ),
        None => println!("\n(no `zstd` binary: no general-purpose compression reference)"),
    }
    let api_mib = totals.app_bytes(App::Api) as f64 / MIB;
    println!(
        "\n**Queries** over `{{app=\"api\"}}` ({api_mib:.1} MiB, {} lines, whole corpus range), {} runs after a warm-up; rg over `api.log` in the same run:\n",
        totals.app_lines(App::Api),
        args.runs
    );
    println!(
        "| query | rg | answer (rg) | Vigil median ms | rg median ms | **rg time / Vigil time** | Vigil MiB/s | Vigil runs ms | rg runs ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut full_scan_ms = f64::NAN;
    for (query, result) in &queries {
        if let Some(failure) = &result.failure {
            println!(
                "| `{}` | `rg {}` | **failed**: {} | | | | | | |",
                query.logql.replace('|', "\\|"),
                query.rg_args.join(" ").replace('|', "\\|"),
                failure.replace('|', "\\|").replace('\n', " ")
            );
            continue;
        }
        let vigil = median(result.vigil_ms.clone());
        let rg = median(result.rg_ms.clone());
        if query.name == "count, full scan" {
            full_scan_ms = vigil;
        }
        println!(
            "| `{}` | `rg {}` | {} ({}) | {vigil:.1} | {rg:.1} | **{:.2}** | {:.0} | {} | {} |",
            query.logql.replace('|', "\\|"),
            query.rg_args.join(" ").replace('|', "\\|"),
            result.answer,
            result.rg_answer,
            rg / vigil,
            api_mib / (vigil / 1e3),
            fmt_runs(&result.vigil_ms),
            fmt_runs(&result.rg_ms)
        );
    }
    println!("\nFull scan / query time (how much faster than the full scan):\n");
    for (query, result) in queries.iter().filter(|(_, r)| r.failure.is_none()) {
        println!(
            "- {}: {:.1}×",
            query.name,
            full_scan_ms / median(result.vigil_ms.clone())
        );
    }
    Ok(())
}
