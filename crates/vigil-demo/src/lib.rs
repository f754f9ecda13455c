//! `vigil demo`: drives the reference SRE platform's traffic into a running Vigil.
//!
//! Owns the simulation of `../shared/reference/sre-platform-architecture.md`'s services
//! (order ≈2 % errors, payment ≈5 % with per-payment-type latency, user ≈0.1 %, a load
//! generator with a diurnal cosine load between 20 % and 100 % and 5× bursts), their metrics
//! as a Prometheus scrape every interval would see them, sent with remote write 1.0, and their
//! structured JSON logs sent with the Loki push API; history can be backfilled quickly and
//! outages injected. It talks to Vigil only over HTTP, like any other client: it must not
//! depend on the server, the storage engines or the query engines (only on `vigil-ingest`'s
//! wire messages and `vigil-model`'s duration syntax).

#![warn(missing_docs)]

mod platform;
mod registry;
mod rng;
mod send;

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vigil_ingest::loki::proto as loki;
use vigil_ingest::proto::v1 as pb;

pub use platform::{LOADGEN, ORDER, PAYMENT, SERVICES, USER, diurnal};
use platform::{Platform, rfc3339};
pub use send::{SendError, Sender};

/// Longest accepted `--backfill`: Vigil (like Loki) rejects log entries older than a week.
const MAX_BACKFILL_MS: i64 = 7 * 86_400_000 - 3_600_000;

/// Options of `vigil demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Base URL of the running Vigil (remote write goes to <URL>/api/v1/write, logs to
    /// <URL>/loki/api/v1/push).
    #[arg(long, default_value = "http://127.0.0.1:9009", value_parser = parse_url)]
    pub url: String,
    /// Tenant to write as (the X-Scope-OrgID header); default: the server's default tenant.
    #[arg(long, value_parser = parse_tenant)]
    pub tenant: Option<String>,
    /// Write this much history first (e.g. 6h; at most 167h), as fast as Vigil takes it, in
    /// time order; the demo's clock starts this long ago.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = parse_backfill)]
    pub backfill: DurationArg,
    /// After the backfill, run live (one scrape per interval, in real time) for this long, then
    /// exit. Default: until interrupted.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive, conflicts_with = "no_live")]
    pub duration: Option<DurationArg>,
    /// Exit after the backfill instead of continuing live.
    #[arg(long)]
    pub no_live: bool,
    /// Scrape interval: every series of a service gets one sample per interval, all at the
    /// same timestamp (1s to 5m).
    #[arg(long, default_value = "15s", value_name = "DURATION", value_parser = parse_interval)]
    pub interval: DurationArg,
    /// Seed of the random source; the same seed, start time and options give the same data.
    /// Default: derived from the clock (and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Inject an outage, e.g. `service=payment,error_rate=0.2,after=10m,for=15m`; `after` and
    /// `for` are demo time from the start of the backfill (so history can contain it);
    /// optional `latency=3` multiplies latencies. Repeatable.
    #[arg(long = "incident", value_name = "SPEC", value_parser = Incident::parse)]
    pub incidents: Vec<Incident>,
    /// Traffic scale: 1 means 10/6/12 requests per second to order/payment/user at the daily
    /// peak (0.01 to 100).
    #[arg(long, default_value = "1", value_parser = parse_load)]
    pub load: f64,
    /// Share of successful requests that are logged (errors are always logged, 4xx answers
    /// at four times this share), 0 to 1.
    #[arg(long, default_value = "0.05", value_parser = parse_fraction)]
    pub log_sample: f64,
}

/// A duration given on the command line, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationArg(pub i64);

fn parse_duration(text: &str) -> Result<DurationArg, String> {
    vigil_model::parse_duration_ms(text)
        .map(DurationArg)
        .map_err(|err| err.to_string())
}

fn parse_positive(text: &str) -> Result<DurationArg, String> {
    let d = parse_duration(text)?;
    if d.0 <= 0 {
        return Err("must be longer than 0".into());
    }
    Ok(d)
}

fn parse_backfill(text: &str) -> Result<DurationArg, String> {
    let d = parse_duration(text)?;
    if d.0 > MAX_BACKFILL_MS {
        return Err("at most 167h (log entries older than a week are rejected)".into());
    }
    Ok(d)
}

fn parse_interval(text: &str) -> Result<DurationArg, String> {
    let d = parse_duration(text)?;
    if !(1_000..=300_000).contains(&d.0) {
        return Err("must be between 1s and 5m".into());
    }
    Ok(d)
}

fn parse_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .ok_or("must start with http:// (https is not supported)")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".into());
    }
    Ok(text.trim_end_matches('/').to_string())
}

fn parse_tenant(text: &str) -> Result<String, String> {
    vigil_model::TenantId::new(text)
        .map(|t| t.as_str().to_string())
        .map_err(|err| err.to_string())
}

fn parse_load(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.01..=100.0).contains(&value) {
        return Err("must be between 0.01 and 100".into());
    }
    Ok(value)
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err("must be between 0 and 1".into());
    }
    Ok(value)
}

/// An injected outage of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The service (`order-service`, `payment-service` or `user-service`).
    pub service: &'static str,
    /// Share of requests answered with a 5xx while it lasts (`None`: unchanged).
    pub error_rate: Option<f64>,
    /// Latencies are multiplied by this while it lasts.
    pub latency_factor: f64,
    /// Start, relative to the demo start (ms).
    pub after_ms: i64,
    /// Length (ms); `None` lasts until the demo ends.
    pub for_ms: Option<i64>,
    /// Absolute start and end (ms), set when the demo's start time is known.
    start_ms: i64,
    end_ms: i64,
}

impl Incident {
    /// Parses `service=payment,error_rate=0.2,after=10m,for=15m[,latency=3]`.
    pub fn parse(spec: &str) -> Result<Incident, String> {
        let mut service = None;
        let mut error_rate = None;
        let mut latency = None;
        let mut after = None;
        let mut length = None;
        for part in spec.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let duplicate = || format!("{key} given twice");
            match key {
                "service" => {
                    let name = SERVICES
                        .into_iter()
                        .find(|s| *s == value || s.strip_suffix("-service") == Some(value))
                        .ok_or_else(|| {
                            format!("unknown service {value:?}; use order, payment or user")
                        })?;
                    service.replace(name).map_or(Ok(()), |_| Err(duplicate()))?;
                }
                "error_rate" => {
                    let rate: f64 = value
                        .parse()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or_else(|| format!("error_rate {value:?} is not between 0 and 1"))?;
                    error_rate
                        .replace(rate)
                        .map_or(Ok(()), |_| Err(duplicate()))?;
                }
                "latency" => {
                    let factor: f64 = value
                        .parse()
                        .ok()
                        .filter(|f: &f64| f.is_finite() && (0.1..=100.0).contains(f))
                        .ok_or_else(|| {
                            format!("latency {value:?} is not a factor between 0.1 and 100")
                        })?;
                    latency
                        .replace(factor)
                        .map_or(Ok(()), |_| Err(duplicate()))?;
                }
                "after" => {
                    let d = parse_duration(value).map_err(|err| format!("after: {err}"))?;
                    after.replace(d.0).map_or(Ok(()), |_| Err(duplicate()))?;
                }
                "for" => {
                    let d = parse_positive(value).map_err(|err| format!("for: {err}"))?;
                    length.replace(d.0).map_or(Ok(()), |_| Err(duplicate()))?;
                }
                other => {
                    return Err(format!(
                        "unknown key {other:?}; use service, error_rate, latency, after, for"
                    ));
                }
            }
        }
        let service = service.ok_or("service=... is required")?;
        if error_rate.is_none() && latency.is_none() {
            return Err("give error_rate=... and/or latency=...".into());
        }
        Ok(Incident {
            service,
            error_rate,
            latency_factor: latency.unwrap_or(1.0),
            after_ms: after.unwrap_or(0),
            for_ms: length,
            start_ms: 0,
            end_ms: 0,
        })
    }

    fn anchor(&mut self, demo_start_ms: i64) {
        self.start_ms = demo_start_ms.saturating_add(self.after_ms);
        self.end_ms = self
            .for_ms
            .map_or(i64::MAX, |length| self.start_ms.saturating_add(length));
    }

    pub(crate) fn active_at(&self, t_ms: i64) -> bool {
        self.start_ms <= t_ms && t_ms < self.end_ms
    }
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.service)?;
        if let Some(rate) = self.error_rate {
            write!(f, " error_rate={rate}")?;
        }
        if self.latency_factor != 1.0 {
            write!(f, " latency×{}", self.latency_factor)?;
        }
        write!(f, " from {}", rfc3339(self.start_ms))?;
        if self.end_ms != i64::MAX {
            write!(f, " to {}", rfc3339(self.end_ms))?;
        }
        Ok(())
    }
}

/// Turns scrapes of the simulated platform into remote-write and Loki push requests.
#[derive(Debug)]
pub struct Generator {
    platform: Platform,
    previous_ms: Option<i64>,
    /// Pending samples per target, per series.
    pending: Vec<Vec<Vec<pb::Sample>>>,
    pending_scrapes: usize,
    /// Samples and log lines produced so far.
    pub samples: u64,
    /// Log lines produced so far.
    pub log_lines: u64,
}

impl Generator {
    /// A generator whose demo clock starts at `start_ms`, with `incidents` relative to it.
    pub fn new(
        seed: u64,
        start_ms: i64,
        load: f64,
        log_sample: f64,
        mut incidents: Vec<Incident>,
    ) -> Generator {
        for incident in &mut incidents {
            incident.anchor(start_ms);
        }
        let platform = Platform::new(seed, load, log_sample, incidents);
        let pending = platform
            .registries()
            .iter()
            .map(|r| vec![Vec::new(); r.len()])
            .collect();
        Generator {
            platform,
            previous_ms: None,
            pending,
            pending_scrapes: 0,
            samples: 0,
            log_lines: 0,
        }
    }

    /// Simulates traffic up to `t_ms` (from the previous scrape; the first scrape sees every
    /// counter at 0) and scrapes every target at `t_ms`.
    pub fn scrape(&mut self, t_ms: i64) {
        if let Some(previous) = self.previous_ms {
            self.platform.simulate(previous, t_ms);
        }
        self.previous_ms = Some(t_ms);
        for (target, registry) in self.platform.registries().iter().enumerate() {
            for (series, samples) in self.pending[target].iter_mut().enumerate() {
                samples.push(pb::Sample {
                    value: registry.get(series),
                    timestamp: t_ms,
                });
            }
        }
        self.pending_scrapes += 1;
    }

    /// Scrapes not yet taken by [`Generator::take_write`].
    pub fn pending_scrapes(&self) -> usize {
        self.pending_scrapes
    }

    /// The pending scrapes as one remote-write 1.0 request (every series with its samples in
    /// time order, plus the metric metadata).
    pub fn take_write(&mut self) -> pb::WriteRequest {
        let mut request = pb::WriteRequest::default();
        for (target, registry) in self.platform.registries().iter().enumerate() {
            for (series, samples) in self.pending[target].iter_mut().enumerate() {
                if samples.is_empty() {
                    continue;
                }
                self.samples += samples.len() as u64;
                request.timeseries.push(pb::TimeSeries {
                    labels: registry.labels(series).to_vec(),
                    samples: std::mem::take(samples),
                    ..Default::default()
                });
            }
            for family in registry.families() {
                if request
                    .metadata
                    .iter()
                    .all(|m| m.metric_family_name != family.metric_family_name)
                {
                    request.metadata.push(family.clone());
                }
            }
        }
        self.pending_scrapes = 0;
        request
    }

    /// The pending log lines as one Loki push request (entries of each stream in time order).
    pub fn take_logs(&mut self) -> loki::PushRequest {
        let logs = std::mem::take(&mut self.platform.logs);
        self.log_lines += logs.lines;
        let streams = logs
            .streams
            .into_iter()
            .map(|(labels, mut entries)| {
                entries.sort_by_key(|(t, _)| *t);
                loki::StreamAdapter {
                    labels,
                    entries: entries
                        .into_iter()
                        .map(|(t_ns, line)| loki::EntryAdapter {
                            timestamp: Some(loki::Timestamp {
                                seconds: t_ns.div_euclid(1_000_000_000),
                                nanos: t_ns.rem_euclid(1_000_000_000) as i32,
                            }),
                            line,
                            ..Default::default()
                        })
                        .collect(),
                    hash: 0,
                }
            })
            .collect();
        loki::PushRequest {
            streams,
            format: String::new(),
        }
    }

    /// Requests answered so far by `service`: (all, 5xx).
    pub fn answered(&self, service: &str) -> (u64, u64) {
        let mut all = 0;
        let mut errors = 0;
        for ((s, error), count) in &self.platform.answered {
            if *s == service {
                all += count;
                if *error {
                    errors += count;
                }
            }
        }
        (all, errors)
    }
}

/// Scrapes per request while backfilling (40 × 15 s = 10 minutes of history).
const BACKFILL_BATCH: usize = 40;

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Vigil refused or could not take the data.
    #[error(transparent)]
    Send(#[from] SendError),
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn flush(generator: &mut Generator, sender: &Sender, warned: &mut bool) -> Result<(), DemoError> {
    let write = generator.take_write();
    if !write.timeseries.is_empty() {
        match sender.remote_write(&write) {
            Ok(()) => {}
            // Vigil keeps the other samples of a request that has some too old. Backfilled
            // history behind blocks Vigil has already cut (rules write at the current time
            // while the backfill runs) is accepted within `storage.tsdb.out_of_order_time_window`
            // (24h by default), so this only happens for a backfill longer than the server's
            // window: the samples inside it are still written.
            Err(SendError::Rejected {
                status: 400, body, ..
            }) if body.contains("too old") => {
                if !*warned {
                    *warned = true;
                    eprintln!(
                        "vigil demo: some backfilled samples were older than Vigil accepts (further back than its storage.tsdb.out_of_order_time_window) and were dropped; continuing: {body}"
                    );
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    let logs = generator.take_logs();
    if !logs.streams.is_empty() {
        sender.push_logs(&logs)?;
    }
    Ok(())
}

/// Runs the demo: backfill, then live scrapes until `--duration` ends (or forever).
pub fn run(args: &DemoArgs) -> Result<(), DemoError> {
    let seed = args.seed.unwrap_or_else(|| wall_clock_ms() as u64);
    let interval = args.interval.0;
    let now = wall_clock_ms();
    let start = (now - args.backfill.0).div_euclid(interval) * interval;
    let mut generator = Generator::new(
        seed,
        start,
        args.load,
        args.log_sample,
        args.incidents.clone(),
    );
    let sender = Sender::new(&args.url, args.tenant.clone());
    eprintln!(
        "vigil demo: seed {seed}, demo start {}, interval {}s, sending to {}{}",
        rfc3339(start),
        interval / 1000,
        args.url,
        args.tenant
            .as_deref()
            .map(|t| format!(" as tenant {t}"))
            .unwrap_or_default()
    );
    for incident in &generator.platform_incidents() {
        eprintln!("vigil demo: incident {incident}");
    }
    let began = Instant::now();
    let mut warned = false;
    let mut t = start;
    while t <= now {
        generator.scrape(t);
        if generator.pending_scrapes() >= BACKFILL_BATCH {
            flush(&mut generator, &sender, &mut warned)?;
        }
        t += interval;
    }
    flush(&mut generator, &sender, &mut warned)?;
    if args.backfill.0 > 0 {
        eprintln!(
            "vigil demo: backfilled {} ({} samples, {} log lines) in {:.1}s",
            vigil_model::format_duration_ms(args.backfill.0),
            generator.samples,
            generator.log_lines,
            began.elapsed().as_secs_f64()
        );
    }
    if args.no_live {
        return Ok(());
    }
    let end = args.duration.map(|d| now.saturating_add(d.0));
    let mut last_report = Instant::now();
    loop {
        if end.is_some_and(|end| t > end) {
            break;
        }
        let wait = t - wall_clock_ms();
        if wait > 0 {
            std::thread::sleep(Duration::from_millis(wait as u64));
        }
        generator.scrape(t);
        flush(&mut generator, &sender, &mut warned)?;
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            eprintln!(
                "vigil demo: live at {}: {} samples, {} log lines sent",
                rfc3339(t),
                generator.samples,
                generator.log_lines
            );
        }
        t += interval;
    }
    eprintln!(
        "vigil demo: done ({} samples, {} log lines sent)",
        generator.samples, generator.log_lines
    );
    Ok(())
}

impl Generator {
    fn platform_incidents(&self) -> Vec<Incident> {
        self.platform.incidents().to_vec()
    }
}

/// `vigil demo`'s entry point: 0 when done, 1 when Vigil refused the data or went away.
/// (Bad flags and incident specs are rejected by the argument parser with exit code 2.)
pub fn main(args: &DemoArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vigil demo: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
