#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const HOUR: i64 = 3_600_000;
/// 2026-01-05T00:00:00Z.
const MIDNIGHT: i64 = 1_767_571_200_000;

fn label<'a>(series: &'a pb::TimeSeries, name: &str) -> Option<&'a str> {
    series
        .labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

/// Runs `hours` of demo from `start` at 15 s and returns the one write request.
fn simulate(
    seed: u64,
    start: i64,
    hours: i64,
    load: f64,
    incidents: Vec<Incident>,
) -> (Generator, pb::WriteRequest) {
    let mut generator = Generator::new(seed, start, load, 0.05, incidents);
    let mut t = start;
    while t <= start + hours * HOUR {
        generator.scrape(t);
        t += 15_000;
    }
    let write = generator.take_write();
    (generator, write)
}

/// 5xx share of `http_requests_total` for `service` between two sample indexes.
fn error_ratio(write: &pb::WriteRequest, service: &str, from: usize, to: usize) -> f64 {
    let mut all = 0.0;
    let mut errors = 0.0;
    for series in &write.timeseries {
        if label(series, "__name__") == Some("http_requests_total")
            && label(series, "service") == Some(service)
        {
            let delta = series.samples[to].value - series.samples[from].value;
            all += delta;
            if label(series, "status").unwrap().starts_with('5') {
                errors += delta;
            }
        }
    }
    errors / all
}

#[test]
fn error_rates_follow_the_reference_and_counters_start_at_zero() {
    let (generator, write) = simulate(42, MIDNIGHT + 6 * HOUR, 6, 1.0, Vec::new());
    let last = 6 * 240;
    for (service, expected, tolerance) in [
        (ORDER, 0.02, 0.003),
        (PAYMENT, 0.05, 0.005),
        (USER, 0.001, 0.0007),
    ] {
        let ratio = error_ratio(&write, service, 0, last);
        assert!((ratio - expected).abs() < tolerance, "{service}: {ratio}");
        let (all, errors) = generator.answered(service);
        assert!(all > 50_000, "{service}: only {all} requests");
        assert!((errors as f64 / all as f64 - ratio).abs() < 1e-9);
    }
    let mut timestamps = std::collections::BTreeMap::new();
    for series in &write.timeseries {
        let name = label(series, "__name__").unwrap();
        if name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count") {
            assert_eq!(series.samples[0].value, 0.0, "{:?}", series.labels);
            assert!(series.samples.windows(2).all(|w| w[0].value <= w[1].value));
        }
        let instance = label(series, "instance").unwrap().to_string();
        let times: Vec<i64> = series.samples.iter().map(|s| s.timestamp).collect();
        let first = timestamps
            .entry(instance.clone())
            .or_insert_with(|| times.clone());
        assert_eq!(
            *first, times,
            "{instance}: every series shares the scrape timestamps"
        );
    }
    assert_eq!(timestamps.len(), 4);
    for name in [
        "http_request_duration_seconds_bucket",
        "payment_transactions_total",
        "orders_created_total",
        "active_sessions",
        "cache_hits_total",
        "loadgen_current_rps",
        "circuit_breaker_state",
        "up",
    ] {
        assert!(
            write
                .timeseries
                .iter()
                .any(|s| label(s, "__name__") == Some(name)),
            "{name} missing"
        );
    }
    assert!(
        write
            .metadata
            .iter()
            .any(|m| m.metric_family_name == "http_requests_total")
    );
}

#[test]
fn payment_types_have_their_latency_profiles() {
    let (_, write) = simulate(7, MIDNIGHT + 10 * HOUR, 3, 1.0, Vec::new());
    let value = |name: &str, kind: &str| {
        write
            .timeseries
            .iter()
            .find(|s| label(s, "__name__") == Some(name) && label(s, "type") == Some(kind))
            .map(|s| s.samples.last().unwrap().value)
            .unwrap()
    };
    for (kind, mean_ms) in [
        ("credit_card", 150.0),
        ("debit_card", 180.0),
        ("bank_transfer", 500.0),
        ("digital_wallet", 100.0),
    ] {
        let mean = value("payment_processing_duration_seconds_sum", kind)
            / value("payment_processing_duration_seconds_count", kind)
            * 1000.0;
        assert!((mean - mean_ms).abs() / mean_ms < 0.05, "{kind}: {mean} ms");
    }
}

#[test]
fn load_is_diurnal_between_20_and_100_percent_with_bursts() {
    assert!((diurnal(MIDNIGHT + 12 * HOUR) - 1.0).abs() < 1e-12);
    assert!((diurnal(MIDNIGHT) - 0.2).abs() < 1e-12);
    assert!((diurnal(MIDNIGHT + 6 * HOUR) - 0.6).abs() < 1e-12);
    // Requests in the hour around noon vs. around midnight: about 4.9× as the cosine says
    // (0.997 vs 0.203 on average), give or take the random bursts of either hour.
    let (_, write) = simulate(3, MIDNIGHT - 30 * 60_000, 12, 0.3, Vec::new());
    let sent = |from: usize, to: usize| -> f64 {
        write
            .timeseries
            .iter()
            .filter(|s| label(s, "__name__") == Some("loadgen_requests_sent_total"))
            .map(|s| s.samples[to].value - s.samples[from].value)
            .sum()
    };
    let night = sent(0, 240);
    let noon = sent(11 * 240, 12 * 240);
    assert!(
        (3.8..6.5).contains(&(noon / night)),
        "noon {noon} night {night}"
    );
}

#[test]
fn bursts_start_in_about_two_percent_of_cycles_and_are_logged() {
    let mut generator = Generator::new(11, MIDNIGHT, 0.01, 0.0, Vec::new());
    let mut t = MIDNIGHT;
    while t <= MIDNIGHT + 24 * HOUR {
        generator.scrape(t);
        t += 15_000;
    }
    let logs = generator.take_logs();
    let bursts = logs
        .streams
        .iter()
        .filter(|s| s.labels.contains("load-generator") && s.labels.contains("warn"))
        .map(|s| s.entries.len())
        .sum::<usize>();
    // 5760 cycles × 2 % ≈ 115 chances, minus the cycles already inside a burst.
    assert!((70..=150).contains(&bursts), "{bursts} bursts");
}

#[test]
fn an_incident_raises_the_error_ratio_only_in_its_window_and_logs_carry_fields() {
    let incident = Incident::parse("service=payment,error_rate=0.4,after=1h,for=30m").unwrap();
    let mut generator = Generator::new(5, MIDNIGHT + 9 * HOUR, 1.0, 0.05, vec![incident]);
    let mut t = MIDNIGHT + 9 * HOUR;
    while t <= MIDNIGHT + 12 * HOUR {
        generator.scrape(t);
        t += 15_000;
    }
    let write = generator.take_write();
    // Scrape k is at start + k × 15 s: the incident covers scrapes 240..360.
    let during = error_ratio(&write, PAYMENT, 240, 360);
    let before = error_ratio(&write, PAYMENT, 0, 240);
    let after = error_ratio(&write, PAYMENT, 360, 720);
    assert!((during - 0.4).abs() < 0.03, "{during}");
    assert!(before < 0.07 && after < 0.07, "{before} {after}");
    let user = error_ratio(&write, USER, 240, 360);
    assert!(user < 0.005, "the user service is unaffected: {user}");
    // The order service's own errors stay at ~2 % (500/503 answers of its own); on top,
    // its circuit breaker on payment calls opens when half of them fail in an interval and
    // answers 503 fast while open, as the reference's order service does.
    let breaker = write
        .timeseries
        .iter()
        .find(|s| {
            label(s, "__name__") == Some("circuit_breaker_state")
                && label(s, "service") == Some(ORDER)
        })
        .unwrap();
    let opened = |from: usize, to: usize| {
        breaker.samples[from..to]
            .iter()
            .filter(|s| s.value == 2.0)
            .count()
    };
    assert!(
        opened(240, 360) > 0,
        "the breaker opened during the incident"
    );
    assert_eq!(
        opened(0, 240),
        0,
        "the breaker stayed closed before the incident"
    );

    let logs = generator.take_logs();
    let mut error_lines = 0;
    for stream in &logs.streams {
        let labels = vigil_ingest::loki::parse_label_string(&stream.labels).unwrap();
        let get = |n: &str| labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let level = get("level").unwrap();
        let service = get("service").unwrap();
        let ns = |e: &loki::EntryAdapter| {
            let t = e.timestamp.unwrap();
            t.seconds * 1_000_000_000 + i64::from(t.nanos)
        };
        assert!(stream.entries.windows(2).all(|w| ns(&w[0]) <= ns(&w[1])));
        for entry in &stream.entries {
            let line: serde_json::Value = serde_json::from_str(&entry.line).unwrap();
            assert_eq!(line["level"], level.as_str());
            assert_eq!(line["service"], service.as_str());
            assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
            assert!(line["msg"].is_string());
            if service != LOADGEN {
                assert!(
                    line["status"].is_u64() && line["duration"].is_f64(),
                    "{line}"
                );
                assert!(line["method"].is_string());
            }
            if service == PAYMENT && level == "error" {
                error_lines += 1;
            }
        }
    }
    let (_, errors) = generator.answered(PAYMENT);
    assert_eq!(error_lines, errors, "every 5xx is logged");
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let run = |seed| {
        let mut generator = Generator::new(seed, MIDNIGHT, 1.0, 0.05, Vec::new());
        for k in 0..20 {
            generator.scrape(MIDNIGHT + k * 15_000);
        }
        (generator.take_write(), generator.take_logs())
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0);
}

#[test]
fn incident_specs_are_validated() {
    let ok = Incident::parse("service=payment-service,latency=3,after=90s").unwrap();
    assert_eq!(ok.service, PAYMENT);
    assert_eq!(ok.error_rate, None);
    assert_eq!(ok.after_ms, 90_000);
    assert_eq!(ok.for_ms, None);
    for (spec, message) in [
        ("service=billing,error_rate=0.2", "unknown service"),
        ("service=payment,error_rate=2", "not between 0 and 1"),
        ("service=payment", "error_rate=... and/or latency"),
        ("error_rate=0.2", "service=... is required"),
        ("service=payment,error_rate=0.2,after=10x", "after:"),
        ("service=payment,error_rate=0.2,for=0s", "for:"),
        ("service=payment,error_rate=0.2,colour=red", "unknown key"),
        (
            "service=payment,error_rate=0.1,error_rate=0.2",
            "given twice",
        ),
        ("service=payment,error_rate", "is not key=value"),
    ] {
        let err = Incident::parse(spec).unwrap_err();
        assert!(err.contains(message), "{spec}: {err}");
    }
}
