//! SLO rule cost per evaluation cycle: 100 SLOs over 30 days of data, Vigil's generated
//! rules against the rules Sloth generates for the same SLOs, evaluated by the same rules
//! engine over the same real TSDB.
//!
//! **Data.** 100 services, each with three counters `http_requests_total{service, status}`
//! (`200`, `404`, `500`) scraped every minute for 30 days (43,201 samples per series),
//! written in time order through the durable write path into a TSDB with 2 h blocks that
//! is maintained (blocks cut and compacted) as it fills, so the old data sits in compacted
//! blocks and the newest hours in the head. Traffic follows a daily cosine (20 %–100 % of
//! 5–14 req/s per service); errors arrive at a constant 0.5 per scrape, so the error ratio
//! is highest in the quiet hours. The history the long windows read is written as it would
//! have been recorded (equivalently, as Vigil's backfill writes it):
//! - Vigil: the per-SLO one-minute slices `slo:sli_events_total:slice_increase` and
//!   `slo:sli_events_error:slice_increase` (exact increments of the counters, 2 series per
//!   SLO, one sample a minute);
//! - Sloth: `slo:sli_error:ratio_rate5m` (the 5-minute error ratio, one sample a minute:
//!   Prometheus' default evaluation interval, Sloth's groups set none).
//!
//! **Rules.** Each SLO is a Sloth `prometheus/v1` spec (availability 99.9 %, `sum(rate(…
//! [{{.window}}]))` error and total queries, page and ticket alerts):
//! - *vigil*: `vigil_slo::generate_files` → `to_rule_groups`: the slice group (1 m:
//!   slices, 5m…3d windows as sums of slices, then the 30d period ratio; measured when the
//!   period ratio was a group of its own every 5 m), meta and alerts;
//! - *sloth*: Sloth's output for the same spec, written after Sloth's documented and tested
//!   output (`test/integration/prometheus/testdata/out-base.yaml.tpl` in slok/sloth): windows
//!   5m…3d as `rate` ratios over the raw counters, the 30d window as the mean of the
//!   recorded 5m ratios (`sum_over_time(r5m[30d]) / ignoring (sloth_window)
//!   count_over_time(r5m[30d])`), Sloth's meta recordings and its two multi-window alerts;
//! - *raw30d*: the same with the 30d window as `rate(…[30d])` ratios (a raw 30-day scan).
//!   Sloth's SLO is named `availability-sloth` and the raw one `availability-raw`, so the
//!   three sets write distinct series.
//!
//! One iteration evaluates every group of every SLO once (each rule's query, then its
//! results committed through the durable write path), at "now" (1 ms after the previous
//! iteration). `vigil_no_period` leaves out Vigil's 30d period ratio, to show what recording
//! it less often than every slice would save.
//!
//! Before timing, the 30d error ratio of the first SLO is computed by each rule set and
//! compared to the exact ratio of the written counts; Vigil's must match to 1e-9.
//!
//! Run: `cargo bench -p vigil-benches --bench slo_eval`
//! (`VIGIL_BENCH_SLOS`, `VIGIL_BENCH_DAYS` and `VIGIL_BENCH_SCRAPE_S` override the sizes).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use object_store::local::LocalFileSystem;
use vigil_model::{Labels, Sample, TenantId};
use vigil_promql::{Engine, QueryOptions, Value};
use vigil_rules::{
    Group, GroupEnv, GroupSpec, ParseOptions, PromqlEvaluator, QueryEvaluator, parse_rule_file,
};
use vigil_slo::{EVENTS_ERROR_SLICE, EVENTS_TOTAL_SLICE};
use vigil_storage::{AppendOptions, Appendable, Queryable};
use vigil_tsdb::{FsyncMode, Tsdb, TsdbOptions};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
const STATUSES: [&str; 3] = ["200", "404", "500"];
/// Sloth's windows below the period, and the workbook's burn factors for Sloth's tiers.
const SLOTH_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];
const OBJECTIVE: f64 = 0.999;

fn env_i64(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn service(s: usize) -> String {
    format!("svc-{s:03}")
}

/// Counter increments of service `s` for the scrape at `t_ms` (index `k`), per status.
fn increments(s: usize, k: i64, t_ms: i64, scrape_s: i64) -> [u64; 3] {
    let phase = (t_ms.rem_euclid(DAY_MS)) as f64 / DAY_MS as f64;
    let load = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * phase).cos();
    let base = 5.0 + (s % 10) as f64;
    let ok = (base * load * scrape_s as f64).round() as u64;
    let not_found = ok / 100;
    let errors = if (k + s as i64) % 2 == 0 { 1 } else { 0 };
    [ok, not_found, errors]
}

/// The Sloth `prometheus/v1` specs of the SLOs (one document per service).
fn sloth_specs(slos: usize) -> String {
    let mut text = String::new();
    for s in 0..slos {
        let svc = service(s);
        text.push_str(&format!(
            "---\nversion: prometheus/v1\nservice: {svc}\nslos:\n  - name: availability\n    objective: 99.9\n    sli:\n      events:\n        error_query: sum(rate(http_requests_total{{service=\"{svc}\",status=~\"5..\"}}[{{{{.window}}}}]))\n        total_query: sum(rate(http_requests_total{{service=\"{svc}\"}}[{{{{.window}}}}]))\n    alerting:\n      name: HighErrorRate\n"
        ));
    }
    text
}

/// The rules Sloth generates for SLO `s` (named `slo_name`), as a rule file. With
/// `raw_period`, the 30d window is a `rate(…[30d])` ratio instead of Sloth's mean of 5m ratios.
fn sloth_rules(s: usize, slo_name: &str, raw_period: bool) -> String {
    let svc = service(s);
    let id = format!("{svc}-{slo_name}");
    let sel = format!("{{sloth_id=\"{id}\", sloth_service=\"{svc}\", sloth_slo=\"{slo_name}\"}}");
    let ids =
        format!("      sloth_id: {id}\n      sloth_service: {svc}\n      sloth_slo: {slo_name}\n");
    let ratio = |w: &str| {
        format!(
            "(sum(rate(http_requests_total{{service=\"{svc}\",status=~\"5..\"}}[{w}])))\n      /\n      (sum(rate(http_requests_total{{service=\"{svc}\"}}[{w}])))"
        )
    };
    let mut y = format!("- name: sloth-slo-sli-recordings-{id}\n  rules:\n");
    for w in SLOTH_WINDOWS
        .iter()
        .chain(if raw_period { &["30d"][..] } else { &[][..] })
    {
        y.push_str(&format!(
            "  - record: slo:sli_error:ratio_rate{w}\n    expr: |\n      {}\n    labels:\n{ids}      sloth_window: {w}\n",
            ratio(w)
        ));
    }
    if !raw_period {
        y.push_str(&format!(
            "  - record: slo:sli_error:ratio_rate30d\n    expr: |\n      sum_over_time(slo:sli_error:ratio_rate5m{sel}[30d])\n      / ignoring (sloth_window)\n      count_over_time(slo:sli_error:ratio_rate5m{sel}[30d])\n    labels:\n      sloth_window: 30d\n"
        ));
    }
    let budget = 1.0 - OBJECTIVE;
    let meta: [(&str, String, &str); 7] = [
        ("slo:objective:ratio", format!("vector({OBJECTIVE})"), ""),
        (
            "slo:error_budget:ratio",
            format!("vector(1-{OBJECTIVE})"),
            "",
        ),
        ("slo:time_period:days", "vector(30)".into(), ""),
        (
            "slo:current_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate5m{sel} / on(sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{sel}"
            ),
            "",
        ),
        (
            "slo:period_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate30d{sel} / on(sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{sel}"
            ),
            "",
        ),
        (
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{sel}"),
            "",
        ),
        (
            "sloth_slo_info",
            "vector(1)".into(),
            "      sloth_mode: cli-gen-prom\n      sloth_objective: \"99.9\"\n      sloth_spec: prometheus/v1\n      sloth_version: v0.11.0\n",
        ),
    ];
    y.push_str(&format!(
        "- name: sloth-slo-meta-recordings-{id}\n  rules:\n"
    ));
    for (record, expr, extra) in meta {
        y.push_str(&format!(
            "  - record: {record}\n    expr: |\n      {expr}\n    labels:\n{ids}{extra}"
        ));
    }
    y.push_str(&format!("- name: sloth-slo-alerts-{id}\n  rules:\n"));
    let tier = |severity: &str, [(f1, s1, l1), (f2, s2, l2)]: [(f64, &str, &str); 2]| {
        format!(
            "  - alert: HighErrorRate\n    expr: |\n      (\n          (slo:sli_error:ratio_rate{s1}{sel} > ({f1} * {budget}))\n          and ignoring (sloth_window)\n          (slo:sli_error:ratio_rate{l1}{sel} > ({f1} * {budget}))\n      )\n      or ignoring (sloth_window)\n      (\n          (slo:sli_error:ratio_rate{s2}{sel} > ({f2} * {budget}))\n          and ignoring (sloth_window)\n          (slo:sli_error:ratio_rate{l2}{sel} > ({f2} * {budget}))\n      )\n    labels:\n      sloth_severity: {severity}\n    annotations:\n      summary: '{{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is over expected.'\n"
        )
    };
    y.push_str(&tier("page", [(14.4, "5m", "1h"), (6.0, "30m", "6h")]));
    y.push_str(&tier("ticket", [(3.0, "2h", "1d"), (1.0, "6h", "3d")]));
    y
}

fn parse_groups(text: &str) -> Vec<GroupSpec> {
    parse_rule_file(text, &ParseOptions::default())
        .unwrap_or_else(|e| panic!("rule file does not parse: {e:?}\n{text}"))
        .groups
}

/// `{__name__: record}` ∪ the rule's labels: the series a recording rule with a label-free
/// result (`sum(...)`) writes.
fn recorded_series(groups: &[GroupSpec], record: &str, sloth_id: &str) -> Labels {
    let rule = groups
        .iter()
        .flat_map(|g| &g.rules)
        .find(|r| {
            r.record.as_deref() == Some(record)
                && r.labels.get("sloth_id").map(String::as_str) == Some(sloth_id)
        })
        .unwrap_or_else(|| panic!("no {record} rule for {sloth_id}"));
    let mut pairs: BTreeMap<String, String> = rule.labels.clone();
    pairs.insert("__name__".into(), record.into());
    Labels::try_from_pairs(pairs).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::try_from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    tsdb: Tsdb,
    tenant: TenantId,
    end_ms: i64,
    /// Exact error ratio of SLO 0 over the 30 days (counts written).
    exact_ratio_0: f64,
    samples: u64,
}

/// Writes the raw counters and both rule sets' recorded history, in time order.
fn fixture(
    rt: &tokio::runtime::Runtime,
    slos: usize,
    days: i64,
    scrape_ms: i64,
    vigil_groups: &[GroupSpec],
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("objects")).unwrap();
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("objects")).unwrap());
    let options = TsdbOptions {
        data_dir: dir.path().join("data"),
        wal_fsync: FsyncMode::None,
        retention_ms: (days + 10) * DAY_MS,
        ..TsdbOptions::default()
    };
    let (tsdb, _) = rt.block_on(Tsdb::open(options, store)).unwrap();
    let tenant = TenantId::new("bench").unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end_ms = now - now % MINUTE_MS;
    let start_ms = end_ms - days * DAY_MS;

    let raw: Vec<[Labels; 3]> = (0..slos)
        .map(|s| {
            let svc = service(s);
            STATUSES.map(|st| {
                labels(&[
                    ("__name__", "http_requests_total"),
                    ("service", &svc),
                    ("status", st),
                ])
            })
        })
        .collect();
    let vigil_total: Vec<Labels> = (0..slos)
        .map(|s| {
            let id = format!("{}-availability", service(s));
            recorded_series(vigil_groups, EVENTS_TOTAL_SLICE, &id)
        })
        .collect();
    let vigil_error: Vec<Labels> = (0..slos)
        .map(|s| {
            let id = format!("{}-availability", service(s));
            recorded_series(vigil_groups, EVENTS_ERROR_SLICE, &id)
        })
        .collect();
    let sloth_5m: Vec<Labels> = (0..slos)
        .map(|s| {
            let svc = service(s);
            let id = format!("{svc}-availability-sloth");
            labels(&[
                ("__name__", "slo:sli_error:ratio_rate5m"),
                ("sloth_id", &id),
                ("sloth_service", &svc),
                ("sloth_slo", "availability-sloth"),
                ("sloth_window", "5m"),
            ])
        })
        .collect();

    let scrape_s = scrape_ms / 1000;
    let mut values: Vec<[u64; 3]> = (0..slos).map(|s| [s as u64 * 1000, 7, 0]).collect();
    // Per SLO: (errors, total) of the running minute, and of the last five minutes.
    let mut minute: Vec<(u64, u64)> = vec![(0, 0); slos];
    let mut last5: Vec<VecDeque<(u64, u64)>> = vec![VecDeque::new(); slos];
    let (mut errors_0, mut total_0) = (0u64, 0u64);
    let mut samples = 0u64;
    let mut k = 0i64;
    let mut t = start_ms;
    let maintenance_every = 6 * 3_600_000 / scrape_ms;
    while t <= end_ms {
        let mut app = tsdb.appender(&tenant, AppendOptions::default());
        for s in 0..slos {
            if k > 0 {
                let inc = increments(s, k, t, scrape_s);
                for (v, i) in values[s].iter_mut().zip(inc) {
                    *v += i;
                }
                minute[s].0 += inc[2];
                minute[s].1 += inc.iter().sum::<u64>();
            }
            for (l, v) in raw[s].iter().zip(values[s]) {
                app.append_sample(l, Sample::new(t, v as f64)).unwrap();
            }
            samples += 3;
            if k > 0 && t % MINUTE_MS == 0 {
                let (e, n) = std::mem::take(&mut minute[s]);
                if s == 0 {
                    errors_0 += e;
                    total_0 += n;
                }
                app.append_sample(&vigil_total[s], Sample::new(t, n as f64))
                    .unwrap();
                app.append_sample(&vigil_error[s], Sample::new(t, e as f64))
                    .unwrap();
                let ring = &mut last5[s];
                ring.push_back((e, n));
                if ring.len() > 5 {
                    ring.pop_front();
                }
                let (e5, n5) = ring.iter().fold((0, 0), |(a, b), (e, n)| (a + e, b + n));
                if n5 > 0 {
                    app.append_sample(&sloth_5m[s], Sample::new(t, e5 as f64 / n5 as f64))
                        .unwrap();
                    samples += 1;
                }
                samples += 2;
            }
        }
        rt.block_on(app.commit()).unwrap();
        k += 1;
        t += scrape_ms;
        if k % maintenance_every == 0 {
            rt.block_on(tsdb.run_maintenance()).unwrap();
        }
    }
    rt.block_on(tsdb.run_maintenance()).unwrap();
    Fixture {
        _dir: dir,
        tsdb,
        tenant,
        end_ms,
        exact_ratio_0: errors_0 as f64 / total_0 as f64,
        samples,
    }
}

fn scalar_of(engine: &Engine, f: &Fixture, query: &str, t_ms: i64) -> f64 {
    let result = engine
        .instant_query(&f.tsdb, &f.tenant, query, t_ms, &QueryOptions::default())
        .unwrap_or_else(|e| panic!("{query}: {e:?}"));
    match result.value {
        Value::Vector(v) if v.len() == 1 => v[0].v,
        other => panic!("{query}: expected one sample, got {other:?}"),
    }
}

fn period_expr<'a>(groups: &'a [GroupSpec], sloth_id: &str) -> &'a str {
    &groups
        .iter()
        .flat_map(|g| &g.rules)
        .find(|r| {
            r.record.as_deref() == Some("slo:sli_error:ratio_rate30d")
                && (r.labels.get("sloth_id").map(String::as_str) == Some(sloth_id)
                    || r.expr.contains(&format!("sloth_id=\"{sloth_id}\"")))
        })
        .unwrap_or_else(|| panic!("no 30d rule for {sloth_id}"))
        .expr
}

fn bench(c: &mut Criterion) {
    let slos = env_i64("VIGIL_BENCH_SLOS", 100) as usize;
    let days = env_i64("VIGIL_BENCH_DAYS", 30);
    let scrape_ms = env_i64("VIGIL_BENCH_SCRAPE_S", 60) * 1000;
    assert!(
        scrape_ms > 0 && MINUTE_MS % scrape_ms == 0,
        "the scrape interval must divide a minute"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // Vigil's rules, from the Sloth specs.
    let loaded = vigil_slo::parse_specs(&[("slos.yml".to_string(), sloth_specs(slos))])
        .unwrap_or_else(|e| panic!("specs do not parse: {e:?}"));
    assert_eq!(loaded.slos.len(), slos);
    let vigil_specs: Vec<GroupSpec> = vigil_slo::generate_files(&loaded.slos)
        .iter()
        .flat_map(|f| f.to_rule_groups().unwrap_or_else(|e| panic!("{e:?}")))
        .collect();
    let sloth_specs_mean: Vec<GroupSpec> = (0..slos)
        .flat_map(|s| {
            parse_groups(&format!(
                "groups:\n{}",
                sloth_rules(s, "availability-sloth", false)
            ))
        })
        .collect();
    let sloth_specs_raw: Vec<GroupSpec> = (0..slos)
        .flat_map(|s| {
            parse_groups(&format!(
                "groups:\n{}",
                sloth_rules(s, "availability-raw", true)
            ))
        })
        .collect();

    let started = Instant::now();
    let f = fixture(&rt, slos, days, scrape_ms, &vigil_specs);
    eprintln!(
        "fixture: {slos} SLOs, {days} d, {} s scrapes: {} samples written in {:.1} s, {} blocks",
        scrape_ms / 1000,
        f.samples,
        started.elapsed().as_secs_f64(),
        f.tsdb.block_count(&f.tenant)
    );

    // The 30d error ratio of SLO 0 by each rule set, against the exact one.
    let engine = Engine::default();
    let at = f.end_ms + 1;
    let vigil_30d = scalar_of(
        &engine,
        &f,
        period_expr(&vigil_specs, "svc-000-availability"),
        at,
    );
    let sloth_30d = scalar_of(
        &engine,
        &f,
        period_expr(&sloth_specs_mean, "svc-000-availability-sloth"),
        at,
    );
    let raw_30d = scalar_of(
        &engine,
        &f,
        period_expr(&sloth_specs_raw, "svc-000-availability-raw"),
        at,
    );
    let exact = f.exact_ratio_0;
    eprintln!(
        "30d error ratio of svc-000: exact {exact:.9}, vigil {vigil_30d:.9} ({:+.3e} rel), sloth mean of 5m ratios {sloth_30d:.9} ({:+.3e} rel), rate[30d] {raw_30d:.9} ({:+.3e} rel)",
        vigil_30d / exact - 1.0,
        sloth_30d / exact - 1.0,
        raw_30d / exact - 1.0
    );
    assert!(
        (vigil_30d / exact - 1.0).abs() < 1e-9,
        "Vigil's 30d ratio {vigil_30d} is not the exact {exact}"
    );

    let storage = Arc::new(f.tsdb.clone());
    let queryable: Arc<dyn Queryable> = storage.clone();
    let appendable: Arc<dyn Appendable> = storage;
    let promql: Arc<dyn QueryEvaluator> =
        Arc::new(PromqlEvaluator::new(Engine::default(), queryable.clone()));
    let env = GroupEnv {
        tenant: f.tenant.clone(),
        appendable,
        queryable,
        promql,
        logql: None,
        external_labels: Default::default(),
        external_url: String::new(),
        for_grace_period_ms: 600_000,
        outage_tolerance_ms: 3_600_000,
        resend_delay_ms: 60_000,
        runtime: rt.handle().clone(),
    };
    let build = |specs: &[GroupSpec]| -> Vec<Group> {
        specs
            .iter()
            .map(|g| Group::new("slos.yml", g, MINUTE_MS, 0))
            .collect()
    };
    let mut vigil = build(&vigil_specs);
    // The period ratio is the slice group's last rule; leaving it out shows what recording
    // it less often than every slice would save.
    let mut vigil_no_period: Vec<Group> = build(&vigil_specs)
        .into_iter()
        .map(|mut g| {
            g.rules
                .retain(|r| r.spec.record.as_deref() != Some("slo:sli_error:ratio_rate30d"));
            g
        })
        .filter(|g| !g.rules.is_empty())
        .collect();
    let mut sloth = build(&sloth_specs_mean);
    let mut raw = build(&sloth_specs_raw);
    let rules = |gs: &[Group]| gs.iter().map(|g| g.rules.len()).sum::<usize>();
    eprintln!(
        "groups/rules per cycle: vigil {}/{}, vigil without period {}/{}, sloth {}/{}, raw30d {}/{}",
        vigil.len(),
        rules(&vigil),
        vigil_no_period.len(),
        rules(&vigil_no_period),
        sloth.len(),
        rules(&sloth),
        raw.len(),
        rules(&raw)
    );

    let mut ts = f.end_ms;
    // One checked cycle per set first: every rule succeeds; time per kind of group.
    for (name, groups) in [
        ("vigil", &mut vigil),
        ("sloth", &mut sloth),
        ("raw30d", &mut raw),
    ] {
        ts += 1;
        let mut by_kind: BTreeMap<String, (f64, u64)> = BTreeMap::new();
        for g in groups.iter_mut() {
            g.eval(ts, &env);
            assert_eq!(
                g.metrics.evaluation_failures_total,
                0,
                "{name}: group {} failed: {:?}",
                g.name,
                g.rules.iter().find_map(|r| r.last_error.clone())
            );
            let kind = ["sli", "period", "meta", "alerts"]
                .into_iter()
                .find(|k| g.name.starts_with(&format!("sloth-slo-{k}-")))
                .unwrap_or(&g.name)
                .to_string();
            let e = by_kind.entry(kind).or_default();
            e.0 += g.metrics.last_duration_seconds;
            e.1 += g.metrics.last_evaluation_samples;
        }
        let parts: Vec<String> = by_kind
            .iter()
            .map(|(k, (s, n))| format!("{k} {:.1} ms ({n} samples)", s * 1000.0))
            .collect();
        eprintln!("{name} first cycle by group kind: {}", parts.join(", "));
    }

    let mut bench_group = c.benchmark_group("slo_eval");
    bench_group.sample_size(10);
    // Flat sampling: one cycle takes up to a second, so criterion's linear ramp would take minutes.
    bench_group.sampling_mode(SamplingMode::Flat);
    bench_group.measurement_time(Duration::from_secs(10));
    bench_group.warm_up_time(Duration::from_secs(2));
    for (name, groups) in [
        ("vigil", &mut vigil),
        ("vigil_no_period", &mut vigil_no_period),
        ("sloth", &mut sloth),
        ("raw30d", &mut raw),
    ] {
        bench_group.bench_function(format!("{name}_{slos}_slos_{days}d"), |b| {
            b.iter(|| {
                ts += 1;
                for g in groups.iter_mut() {
                    g.eval(ts, &env);
                }
            })
        });
        for g in groups.iter() {
            assert_eq!(
                g.metrics.evaluation_failures_total, 0,
                "{name}: group {} failed",
                g.name
            );
        }
    }
    bench_group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
