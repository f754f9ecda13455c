//! A deterministic log corpus shaped like the Loghub data sets, for the log benchmarks.
//!
//! Four apps write in one global time order, each with its own line shapes and token
//! distributions:
//! - `api`: a Go service logging in logfmt (`ts=… level=… caller=… msg="…" method=… path=…
//!   status=… duration_ms=… trace_id=…`), so `| logfmt` extracts `level` and friends;
//! - `nginx`: access logs in nginx's `combined` format plus the request time;
//! - `hdfs`: Hadoop DataNode/NameNode lines as in Loghub's HDFS set (`081109 203615 148 INFO
//!   dfs.DataNode$PacketResponder: …`), block ids reused over a block's life;
//! - `apache`: Apache 2.0 error logs as in Loghub's Apache set (`[Sun Dec 04 04:47:44 2005]
//!   [notice] …`).
//!
//! Client addresses, paths, users and hosts follow skewed (Zipf-like) popularity; ids, trace
//! ids, sizes and durations are random, which is what keeps real logs from compressing
//! without bound. Stream labels are `app`, `env`, `host` and, for `hdfs` and `apache`,
//! `level` (as a Promtail pipeline would extract it).
//!
//! [`RARE_NEEDLE`] (a trace id) and [`RARE_TEXT_NEEDLE`] (an error message) are each planted
//! in exactly [`RARE_NEEDLE_COUNT`] `api` lines; [`COMMON_NEEDLE`] occurs in roughly a sixth
//! of them. The same spec and seed always give
//! the same lines, byte for byte.

use std::fmt::Write as _;

use crate::rng::{Rng, mix64};

/// A trace id that occurs in exactly [`RARE_NEEDLE_COUNT`] `api` lines (one request's trace).
pub const RARE_NEEDLE: &str = "trace_id=5e1d0c4b9a8f7e6d5c4b3a2918f7e6d5";
/// The id of [`RARE_NEEDLE`] alone, as Grafana's trace-to-logs link searches for it.
pub const RARE_ID: &str = "5e1d0c4b9a8f7e6d5c4b3a2918f7e6d5";
/// How often [`RARE_NEEDLE`] occurs.
pub const RARE_NEEDLE_COUNT: usize = 5;
/// A rare error message, planted in [`RARE_NEEDLE_COUNT`] other `api` lines: words, where
/// [`RARE_NEEDLE`] is a random-looking id.
pub const RARE_TEXT_NEEDLE: &str = "x509: certificate has expired";
/// A token in about one `api` line in six (the POST requests).
pub const COMMON_NEEDLE: &str = "method=POST";
/// A string that occurs in no line.
pub const ABSENT_NEEDLE: &str = "no-such-token-in-any-line-9f3k";

/// The apps of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    /// A logfmt service.
    Api,
    /// nginx access logs.
    Nginx,
    /// HDFS DataNode/NameNode logs.
    Hdfs,
    /// Apache error logs.
    Apache,
}

impl App {
    /// All apps.
    pub const ALL: [App; 4] = [App::Api, App::Nginx, App::Hdfs, App::Apache];

    /// The `app` label value (and raw file stem).
    pub fn name(self) -> &'static str {
        match self {
            App::Api => "api",
            App::Nginx => "nginx",
            App::Hdfs => "hdfs",
            App::Apache => "apache",
        }
    }

    fn hosts(self) -> usize {
        match self {
            App::Api => 8,
            App::Nginx => 4,
            App::Hdfs => 6,
            App::Apache => 2,
        }
    }

    fn host_prefix(self) -> &'static str {
        match self {
            App::Api => "api",
            App::Nginx => "web",
            App::Hdfs => "dn",
            App::Apache => "www",
        }
    }

    /// Level values used as a stream label, when the app has one.
    fn stream_levels(self) -> &'static [&'static str] {
        match self {
            App::Api | App::Nginx => &[],
            App::Hdfs => &["INFO", "WARN"],
            App::Apache => &["notice", "error"],
        }
    }
}

/// One stream of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDef {
    /// The app writing it.
    pub app: App,
    /// Label pairs, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The label set as Promtail sends it, e.g. `{app="api", env="prod", host="api-0"}`.
    pub text: String,
}

/// Every stream of the corpus, in a fixed order; [`Event::stream`] indexes it.
pub fn streams() -> Vec<StreamDef> {
    let mut out = Vec::new();
    for app in App::ALL {
        for host in 0..app.hosts() {
            let levels: Vec<Option<&str>> = if app.stream_levels().is_empty() {
                vec![None]
            } else {
                app.stream_levels().iter().map(|l| Some(*l)).collect()
            };
            for level in levels {
                let mut labels = vec![
                    ("app".to_string(), app.name().to_string()),
                    ("env".to_string(), "prod".to_string()),
                    ("host".to_string(), format!("{}-{host}", app.host_prefix())),
                ];
                if let Some(level) = level {
                    labels.push(("level".to_string(), level.to_string()));
                }
                let text = format!(
                    "{{{}}}",
                    labels
                        .iter()
                        .map(|(n, v)| format!("{n}=\"{v}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                out.push(StreamDef { app, labels, text });
            }
        }
    }
    out
}

fn stream_index(app: App, host: usize, level: usize) -> usize {
    let mut index = 0;
    for other in App::ALL {
        let per_host = other.stream_levels().len().max(1);
        if other == app {
            return index + host * per_host + level;
        }
        index += other.hosts() * per_host;
    }
    index
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// Seed of every random choice.
    pub seed: u64,
    /// Timestamp of the first lines (ns since the epoch).
    pub start_ns: i64,
    /// Time the corpus spans (ns).
    pub span_ns: i64,
    /// Bytes of line text to write per app (newlines not counted).
    pub app_bytes: Vec<(App, u64)>,
}

/// One generated line.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The app that wrote it.
    pub app: App,
    /// Index into [`streams`].
    pub stream: usize,
    /// When (ns since the epoch).
    pub ts_ns: i64,
    /// The line, without a newline.
    pub line: &'a str,
}

/// Totals of a generated corpus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusTotals {
    /// Lines per app, in [`App::ALL`] order.
    pub lines: [u64; 4],
    /// Line bytes per app (newlines not counted), in [`App::ALL`] order.
    pub bytes: [u64; 4],
    /// Oldest timestamp (ns).
    pub min_ts_ns: i64,
    /// Newest timestamp (ns).
    pub max_ts_ns: i64,
}

impl CorpusTotals {
    /// Lines over all apps.
    pub fn total_lines(&self) -> u64 {
        self.lines.iter().sum()
    }

    /// Line bytes over all apps.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    fn slot(app: App) -> usize {
        match app {
            App::Api => 0,
            App::Nginx => 1,
            App::Hdfs => 2,
            App::Apache => 3,
        }
    }

    /// Lines of one app.
    pub fn app_lines(&self, app: App) -> u64 {
        self.lines[Self::slot(app)]
    }

    /// Line bytes of one app.
    pub fn app_bytes(&self, app: App) -> u64 {
        self.bytes[Self::slot(app)]
    }
}

/// Generates the corpus in time order, handing each line to `sink`.
pub fn generate(spec: &CorpusSpec, mut sink: impl FnMut(&Event<'_>)) -> CorpusTotals {
    let mut writers: Vec<AppWriter> = spec
        .app_bytes
        .iter()
        .filter(|(_, bytes)| *bytes > 0)
        .map(|&(app, bytes)| AppWriter::new(app, bytes, spec))
        .collect();
    let mut totals = CorpusTotals {
        min_ts_ns: i64::MAX,
        max_ts_ns: i64::MIN,
        ..CorpusTotals::default()
    };
    let mut line = String::with_capacity(512);
    // The app whose next line is oldest writes next (ties: the earlier app).
    while let Some(writer) = writers
        .iter_mut()
        .filter(|w| !w.done())
        .min_by_key(|w| w.next_ts_ns)
    {
        let ts_ns = writer.next_ts_ns;
        line.clear();
        let stream = writer.write_line(ts_ns, &mut line);
        writer.written += line.len() as u64;
        writer.advance();
        let slot = CorpusTotals::slot(writer.app);
        totals.lines[slot] += 1;
        totals.bytes[slot] += line.len() as u64;
        totals.min_ts_ns = totals.min_ts_ns.min(ts_ns);
        totals.max_ts_ns = totals.max_ts_ns.max(ts_ns);
        sink(&Event {
            app: writer.app,
            stream,
            ts_ns,
            line: &line,
        });
    }
    totals
}

/// Per-app state: the clock, the random source and the pools of recurring values.
struct AppWriter {
    app: App,
    target: u64,
    written: u64,
    next_ts_ns: i64,
    mean_gap_ns: f64,
    rng: Rng,
    /// Byte offsets at which the rare needle is planted (api only).
    plant_at: Vec<u64>,
    /// Byte offsets at which the rare text needle is planted (api only).
    plant_text_at: Vec<u64>,
    /// HDFS blocks in flight: (id, lines left).
    blocks: Vec<(i64, u8)>,
}

/// Average line lengths, measured once on this generator; they set each app's line rate
/// so that all apps span about the same time.
fn typical_line_bytes(app: App) -> f64 {
    match app {
        App::Api => 236.0,
        App::Nginx => 214.0,
        App::Hdfs => 128.0,
        App::Apache => 88.0,
    }
}

impl AppWriter {
    fn new(app: App, target: u64, spec: &CorpusSpec) -> Self {
        let lines = (target as f64 / typical_line_bytes(app)).max(1.0);
        let plant_at = if app == App::Api {
            (1..=RARE_NEEDLE_COUNT as u64)
                .map(|i| target / (RARE_NEEDLE_COUNT as u64 + 1) * i)
                .collect()
        } else {
            Vec::new()
        };
        let plant_text_at = plant_at
            .iter()
            .map(|at| at + target / (RARE_NEEDLE_COUNT as u64 + 1) / 2)
            .collect();
        let mut rng = Rng::new(mix64(spec.seed ^ mix64(app as u64 + 1)));
        let first = spec.start_ns + rng.below(1_000_000) as i64;
        Self {
            app,
            target,
            written: 0,
            next_ts_ns: first,
            mean_gap_ns: spec.span_ns as f64 / lines,
            rng,
            plant_at,
            plant_text_at,
            blocks: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        self.written >= self.target
    }

    /// Moves the clock on by an exponential gap (Poisson arrivals), at least 1 µs.
    fn advance(&mut self) {
        let u = self.rng.next_f64().max(1e-12);
        let gap = (-u.ln() * self.mean_gap_ns).max(1_000.0);
        self.next_ts_ns += gap as i64;
    }

    /// Writes the next line into `out`; returns its stream index.
    fn write_line(&mut self, ts_ns: i64, out: &mut String) -> usize {
        match self.app {
            App::Api => self.api_line(ts_ns, out),
            App::Nginx => self.nginx_line(ts_ns, out),
            App::Hdfs => self.hdfs_line(ts_ns, out),
            App::Apache => self.apache_line(ts_ns, out),
        }
    }

    /// An index in `[0, n)` with popularity falling off like 1/rank (roughly Zipf).
    fn zipf(&mut self, n: usize) -> usize {
        let n = n.max(1) as f64;
        let x = (n + 1.0).powf(self.rng.next_f64()) - 1.0;
        (x as usize).min(n as usize - 1)
    }

    fn pick<'a>(&mut self, weighted: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = weighted.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.below(u64::from(total)) as u32;
        for (value, weight) in weighted {
            if x < *weight {
                return value;
            }
            x -= weight;
        }
        weighted.last().map_or("", |(v, _)| v)
    }

    fn hex(&mut self, out: &mut String, digits: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for _ in 0..digits {
            out.push(HEX[self.rng.below(16) as usize] as char);
        }
    }

    fn api_line(&mut self, ts_ns: i64, out: &mut String) -> usize {
        let host = self.zipf(App::Api.hosts());
        let plant = self.plant_at.first().is_some_and(|&at| self.written >= at);
        if plant {
            self.plant_at.remove(0);
        }
        let plant_text = !plant
            && self
                .plant_text_at
                .first()
                .is_some_and(|&at| self.written >= at);
        if plant_text {
            self.plant_text_at.remove(0);
        }
        let level = if plant || plant_text {
            "error"
        } else {
            self.pick(&[("info", 760), ("debug", 120), ("warn", 80), ("error", 40)])
        };
        let _ = write!(out, "ts=");
        rfc3339_millis(out, ts_ns);
        let _ = write!(out, " level={level}");
        let kind = if plant || plant_text {
            3
        } else {
            match level {
                "debug" => 1,
                "warn" => {
                    if self.rng.chance(0.5) {
                        2
                    } else {
                        0
                    }
                }
                "error" => 3,
                _ => {
                    if self.rng.chance(0.85) {
                        0
                    } else {
                        1
                    }
                }
            }
        };
        const RESOURCES: [&str; 12] = [
            "orders",
            "users",
            "carts",
            "products",
            "payments",
            "sessions",
            "invoices",
            "shipments",
            "reviews",
            "coupons",
            "addresses",
            "search",
        ];
        let resource = RESOURCES[self.zipf(RESOURCES.len())];
        match kind {
            0 => {
                let method = self.pick(&[
                    ("GET", 620),
                    ("POST", 200),
                    ("PUT", 90),
                    ("DELETE", 50),
                    ("PATCH", 40),
                ]);
                let status = if level == "warn" {
                    self.pick(&[("429", 3), ("404", 5), ("401", 2)])
                } else {
                    self.pick(&[("200", 880), ("201", 60), ("204", 40), ("304", 20)])
                };
                let line_no = 100 + self.zipf(200);
                let _ = write!(
                    out,
                    " caller=http/server.go:{line_no} msg=\"request completed\" method={method} path=/api/v1/{resource}"
                );
                if self.rng.chance(0.7) {
                    let _ = write!(out, "/{}", self.rng.below(100_000));
                }
                let duration = self.rng.next_f64().powi(3) * 900.0 + 0.3;
                let bytes = self.rng.below(20_000) + 90;
                let _ = write!(
                    out,
                    " status={status} duration_ms={duration:.3} bytes={bytes} remote_addr=10.{}.{}.{}:{} user_id=u-{}",
                    self.zipf(8),
                    self.zipf(250),
                    self.rng.below(250) + 1,
                    30_000 + self.rng.below(30_000),
                    self.zipf(50_000)
                );
            }
            1 => {
                let table = resource;
                let op = self.pick(&[
                    ("select", 70),
                    ("insert", 15),
                    ("update", 12),
                    ("delete", 3),
                ]);
                let duration = self.rng.next_f64().powi(4) * 300.0 + 0.05;
                let _ = write!(
                    out,
                    " caller=store/postgres.go:{} msg=\"db query\" db=shop table={table} op={op} rows={} duration_ms={duration:.3}",
                    40 + self.zipf(120),
                    self.zipf(500)
                );
            }
            2 => {
                let what = self.pick(&[
                    ("cache miss", 50),
                    ("slow request", 30),
                    ("retrying upstream call", 20),
                ]);
                let _ = write!(
                    out,
                    " caller=cache/redis.go:{} msg=\"{what}\" key={resource}:{} upstream=redis-{}.cache:6379 attempt={}",
                    20 + self.zipf(80),
                    self.rng.below(1_000_000),
                    self.zipf(3),
                    1 + self.zipf(3)
                );
            }
            _ => {
                let err = if plant_text {
                    RARE_TEXT_NEEDLE
                } else {
                    self.pick(&[
                        ("context deadline exceeded", 40),
                        ("connection reset by peer", 25),
                        ("pq: duplicate key value violates unique constraint", 20),
                        ("upstream returned 503 Service Unavailable", 15),
                    ])
                };
                let _ = write!(
                    out,
                    " caller=http/errors.go:{} msg=\"request failed\" method=GET path=/api/v1/{resource} status=500 err=\"{err}\"",
                    30 + self.zipf(40)
                );
            }
        }
        if plant {
            let _ = write!(out, " {RARE_NEEDLE}");
        } else {
            out.push_str(" trace_id=");
            self.hex(out, 32);
        }
        let _ = write!(out, " host={}-{host}", App::Api.host_prefix());
        stream_index(App::Api, host, 0)
    }

    fn nginx_line(&mut self, ts_ns: i64, out: &mut String) -> usize {
        let host = self.zipf(App::Nginx.hosts());
        let client = self.zipf(20_000) as u64;
        let h = mix64(client);
        let _ = write!(
            out,
            "{}.{}.{}.{} - ",
            1 + (h >> 8) % 223,
            (h >> 16) % 256,
            (h >> 24) % 256,
            1 + (h >> 32) % 254
        );
        if self.rng.chance(0.1) {
            let _ = write!(out, "user{}", self.zipf(500));
        } else {
            out.push('-');
        }
        out.push_str(" [");
        clf_time(out, ts_ns);
        out.push_str("] \"");
        let method = self.pick(&[("GET", 860), ("POST", 110), ("HEAD", 20), ("PUT", 10)]);
        let _ = write!(out, "{method} ");
        match self.rng.below(10) {
            0..=3 => {
                const ASSETS: [&str; 8] = [
                    "js/app",
                    "js/vendor",
                    "css/main",
                    "css/theme",
                    "img/logo",
                    "img/hero",
                    "fonts/inter",
                    "js/runtime",
                ];
                let asset = ASSETS[self.zipf(ASSETS.len())];
                let ext = if asset.starts_with("js") {
                    "js"
                } else if asset.starts_with("css") {
                    "css"
                } else if asset.starts_with("img") {
                    "png"
                } else {
                    "woff2"
                };
                let _ = write!(out, "/static/{asset}.");
                self.hex(out, 8);
                let _ = write!(out, ".{ext}");
            }
            4..=6 => {
                const PAGES: [&str; 10] = [
                    "/",
                    "/cart",
                    "/checkout",
                    "/login",
                    "/account",
                    "/search",
                    "/products",
                    "/category/shoes",
                    "/category/books",
                    "/help",
                ];
                let page = PAGES[self.zipf(PAGES.len())];
                out.push_str(page);
                if page == "/search" {
                    let _ = write!(out, "?q=item{}&page={}", self.zipf(5_000), 1 + self.zipf(5));
                }
            }
            _ => {
                let _ = write!(out, "/api/v1/products/{}?ref=home", self.zipf(30_000));
            }
        }
        let status = self.pick(&[
            ("200", 850),
            ("304", 60),
            ("404", 40),
            ("301", 25),
            ("302", 15),
            ("499", 5),
            ("500", 4),
            ("502", 1),
        ]);
        let size = match status {
            "304" | "301" | "302" => 0,
            _ => self.rng.below(120_000) + 150,
        };
        let _ = write!(out, " HTTP/1.1\" {status} {size} \"");
        if self.rng.chance(0.3) {
            out.push('-');
        } else {
            let referer = self.pick(&[
                ("https://shop.example.com/", 50),
                ("https://shop.example.com/cart", 20),
                ("https://www.google.com/", 20),
                ("https://shop.example.com/search", 10),
            ]);
            out.push_str(referer);
        }
        out.push_str("\" \"");
        let agent = self.pick(&[
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", 40),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", 20),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", 15),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", 10),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36", 10),
            ("curl/8.4.0", 3),
            ("Googlebot/2.1 (+http://www.google.com/bot.html)", 2),
        ]);
        out.push_str(agent);
        let request_time = self.rng.next_f64().powi(3) * 2.0;
        let _ = write!(out, "\" {request_time:.3}");
        stream_index(App::Nginx, host, 0)
    }

    fn hdfs_block(&mut self) -> i64 {
        if self.blocks.len() < 64 || self.rng.chance(0.15) {
            let id = self.rng.next_u64() as i64;
            self.blocks.push((id, 3 + self.rng.below(8) as u8));
        }
        let i = self.rng.below(self.blocks.len() as u64) as usize;
        let id = self.blocks[i].0;
        self.blocks[i].1 = self.blocks[i].1.saturating_sub(1);
        if self.blocks[i].1 == 0 {
            self.blocks.swap_remove(i);
        }
        id
    }

    fn hdfs_ip(&mut self, out: &mut String) {
        let _ = write!(out, "10.251.{}.{}", self.zipf(128), 2 + self.rng.below(250));
    }

    fn hdfs_line(&mut self, ts_ns: i64, out: &mut String) -> usize {
        let host = self.zipf(App::Hdfs.hosts());
        let warn = self.rng.chance(0.04);
        let (y, mo, d, h, mi, s) = civil(ts_ns);
        let _ = write!(
            out,
            "{:02}{mo:02}{d:02} {h:02}{mi:02}{s:02} {} {} ",
            y % 100,
            self.zipf(3_000) + 13,
            if warn { "WARN" } else { "INFO" }
        );
        let block = self.hdfs_block();
        if warn {
            match self.rng.below(3) {
                0 => {
                    self.hdfs_ip(out);
                    let _ = write!(out, ":50010:Got exception while serving blk_{block} to /");
                    self.hdfs_ip(out);
                    out.push(':');
                }
                1 => {
                    let _ = write!(
                        out,
                        "dfs.DataNode$DataXceiver: writeBlock blk_{block} received exception java.io.IOException: Connection reset by peer"
                    );
                }
                _ => {
                    let _ = write!(
                        out,
                        "dfs.DataNode$PacketResponder: IOException in BlockReceiver.run(): java.io.InterruptedIOException: Interruped while waiting for IO on channel java.nio.channels.SocketChannel[connected local=/"
                    );
                    self.hdfs_ip(out);
                    let _ = write!(out, ":50010 remote=/");
                    self.hdfs_ip(out);
                    let _ = write!(
                        out,
                        ":{}]. 0 millis timeout left.",
                        30_000 + self.rng.below(30_000)
                    );
                }
            }
            return stream_index(App::Hdfs, host, 1);
        }
        match self.rng.below(100) {
            0..=29 => {
                let _ = write!(
                    out,
                    "dfs.DataNode$PacketResponder: PacketResponder {} for block blk_{block} terminating",
                    self.rng.below(3)
                );
            }
            30..=49 => {
                let size = if self.rng.chance(0.8) {
                    67_108_864
                } else {
                    self.rng.below(67_108_864)
                };
                let _ = write!(
                    out,
                    "dfs.DataNode$PacketResponder: Received block blk_{block} of size {size} from /"
                );
                self.hdfs_ip(out);
            }
            50..=69 => {
                let _ = write!(
                    out,
                    "dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: "
                );
                self.hdfs_ip(out);
                let _ = write!(out, ":50010 is added to blk_{block} size 67108864");
            }
            70..=84 => {
                let _ = write!(
                    out,
                    "dfs.DataNode$DataXceiver: Receiving block blk_{block} src: /"
                );
                self.hdfs_ip(out);
                let _ = write!(out, ":{} dest: /", 30_000 + self.rng.below(30_000));
                self.hdfs_ip(out);
                out.push_str(":50010");
            }
            85..=94 => {
                let _ = write!(
                    out,
                    "dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_0001_m_{:06}_0/part-{:05}. blk_{block}",
                    self.rng.below(1_000),
                    self.rng.below(1_000)
                );
            }
            _ => {
                let _ = write!(
                    out,
                    "dfs.DataBlockScanner: Verification succeeded for blk_{block}"
                );
            }
        }
        stream_index(App::Hdfs, host, 0)
    }

    fn apache_line(&mut self, ts_ns: i64, out: &mut String) -> usize {
        let host = self.zipf(App::Apache.hosts());
        let error = self.rng.chance(0.35);
        out.push('[');
        ctime(out, ts_ns);
        out.push_str(if error { "] [error] " } else { "] [notice] " });
        if error {
            match self.rng.below(10) {
                0..=4 => {
                    let _ = write!(
                        out,
                        "mod_jk child workerEnv in error state {}",
                        6 + self.zipf(4)
                    );
                }
                5..=7 => {
                    let _ = write!(
                        out,
                        "[client {}.{}.{}.{}] Directory index forbidden by rule: /var/www/html/",
                        60 + self.zipf(160),
                        self.rng.below(256),
                        self.rng.below(256),
                        1 + self.rng.below(254)
                    );
                }
                _ => {
                    let _ = write!(
                        out,
                        "[client {}.{}.{}.{}] File does not exist: /var/www/html/{}",
                        60 + self.zipf(160),
                        self.rng.below(256),
                        self.rng.below(256),
                        1 + self.rng.below(254),
                        [
                            "robots.txt",
                            "favicon.ico",
                            "scripts/..%255c../winnt/system32/cmd.exe",
                            "sumthin"
                        ][self.zipf(4)]
                    );
                }
            }
            return stream_index(App::Apache, host, 1);
        }
        match self.rng.below(10) {
            0..=4 => {
                let _ = write!(
                    out,
                    "jk2_init() Found child {} in scoreboard slot {}",
                    1_000 + self.rng.below(30_000),
                    self.zipf(12) + 6
                );
            }
            5..=7 => out.push_str("workerEnv.init() ok /etc/httpd/conf/workers2.properties"),
            _ => {
                let _ = write!(
                    out,
                    "Apache/2.0.49 (Fedora) configured -- resuming normal operations"
                );
            }
        }
        stream_index(App::Apache, host, 0)
    }
}

/// Year, month, day, hour, minute, second (UTC) of a nanosecond timestamp.
pub fn civil(ts_ns: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (sod / 3_600) as u32,
        (sod % 3_600 / 60) as u32,
        (sod % 60) as u32,
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn rfc3339_millis(out: &mut String, ts_ns: i64) {
    let (y, mo, d, h, mi, s) = civil(ts_ns);
    let ms = ts_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z");
}

fn clf_time(out: &mut String, ts_ns: i64) {
    let (y, mo, d, h, mi, s) = civil(ts_ns);
    let month = MONTHS[(mo as usize - 1) % 12];
    let _ = write!(out, "{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} +0000");
}

fn ctime(out: &mut String, ts_ns: i64) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let (y, mo, d, h, mi, s) = civil(ts_ns);
    let weekday = DAYS[ts_ns.div_euclid(86_400 * 1_000_000_000).rem_euclid(7) as usize];
    let month = MONTHS[(mo as usize - 1) % 12];
    let _ = write!(out, "{weekday} {month} {d:02} {h:02}:{mi:02}:{s:02} {y}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bytes: u64) -> CorpusSpec {
        CorpusSpec {
            seed: 3,
            start_ns: 1_793_491_200_000_000_000, // 2026-11-01T00:00:00Z
            span_ns: 3_600_000_000_000,
            app_bytes: App::ALL.iter().map(|&a| (a, bytes)).collect(),
        }
    }

    fn collect(spec: &CorpusSpec) -> (Vec<(usize, i64, String)>, CorpusTotals) {
        let mut lines = Vec::new();
        let totals = generate(spec, |e| {
            lines.push((e.stream, e.ts_ns, e.line.to_string()))
        });
        (lines, totals)
    }

    #[test]
    fn same_spec_same_lines_in_time_order() {
        let (a, totals) = collect(&spec(200_000));
        let (b, _) = collect(&spec(200_000));
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].1 <= w[1].1));
        for app in App::ALL {
            assert!(totals.app_bytes(app) >= 200_000, "{app:?}");
            assert!(totals.app_bytes(app) < 201_000, "{app:?}");
        }
        let all = streams();
        for (stream, _, line) in &a {
            let def = &all[*stream];
            let host = def.labels.iter().find(|(n, _)| n == "host").unwrap();
            match def.app {
                App::Api => {
                    assert!(line.starts_with("ts=2026-11-01T00:"), "{line}");
                    assert!(line.ends_with(&format!("host={}", host.1)), "{line}");
                }
                App::Nginx => assert!(line.contains(" [01/Nov/2026:00:"), "{line}"),
                App::Hdfs => assert!(line.starts_with("261101 00"), "{line}"),
                App::Apache => assert!(line.starts_with("[Sun Nov 01 00:"), "{line}"),
            }
            if let Some((_, level)) = def.labels.iter().find(|(n, _)| n == "level") {
                assert!(line.contains(level.as_str()), "{level} in {line}");
            }
        }
    }

    #[test]
    fn needles_occur_as_promised_and_timing_spans_the_range() {
        let spec = spec(2_000_000);
        let (lines, totals) = collect(&spec);
        let rare = lines.iter().filter(|l| l.2.contains(RARE_NEEDLE)).count();
        assert_eq!(rare, RARE_NEEDLE_COUNT);
        assert!(RARE_NEEDLE.ends_with(&format!("={RARE_ID}")));
        let bare = lines.iter().filter(|l| l.2.contains(RARE_ID)).count();
        assert_eq!(bare, RARE_NEEDLE_COUNT);
        let rare_text = lines
            .iter()
            .filter(|l| l.2.contains(RARE_TEXT_NEEDLE))
            .count();
        assert_eq!(rare_text, RARE_NEEDLE_COUNT);
        let api: Vec<&String> = lines
            .iter()
            .filter(|l| l.2.starts_with("ts="))
            .map(|l| &l.2)
            .collect();
        let common = api.iter().filter(|l| l.contains(COMMON_NEEDLE)).count();
        let share = common as f64 / api.len() as f64;
        assert!(
            (0.10..=0.30).contains(&share),
            "common needle share {share}"
        );
        assert!(!lines.iter().any(|l| l.2.contains(ABSENT_NEEDLE)));
        let span = (totals.max_ts_ns - totals.min_ts_ns) as f64 / spec.span_ns as f64;
        assert!(
            (0.8..1.25).contains(&span),
            "spans {span} of the requested range"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_793_491_200_000_000_000), (2026, 11, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400_000_000_000), (2000, 2, 29, 0, 0, 0));
        let mut s = String::new();
        ctime(&mut s, 1_133_671_664_000_000_000);
        assert_eq!(s, "Sun Dec 04 04:47:44 2005");
    }
}
