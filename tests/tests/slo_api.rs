//! SLOs in the running server: a spec dropped beside the rule files is loaded on reload,
//! its slice history is backfilled from data stored before it existed, and
//! `/api/v1/slos` reports a period SLI equal to the brute-force `increase` ratio over the
//! raw counters (within 1e-6), the budget left after an incident, and the budget history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vigil_ingest::proto::v1 as pb1;
use vigil_tests::{Vigil, encode, now_ms, series_v1};

const SPEC: &str = r#"version: vigil/v1
service: checkout
slos:
  - name: availability
    objective: 99
    window: 6h
    slice: 1m
    sli:
      events:
        error: http_requests_total{service="checkout",status=~"5.."}
        total: http_requests_total{service="checkout"}
    alerting:
      name: CheckoutAvailabilityBurn
"#;

/// Three hours of 15 s scrapes ending a minute ago: 1 % errors, 20 % during a 15-minute
/// incident an hour ago. Counters start at 0 and share timestamps. Returns the final
/// (errors, total) counts.
fn write_history(vigil: &Vigil) -> (f64, f64) {
    let now = now_ms();
    let start = now - 3 * 3_600_000;
    let (mut ok, mut bad) = (0.0, 0.0);
    let (mut ok_samples, mut bad_samples) = (Vec::new(), Vec::new());
    let mut t = start;
    let mut i = 0u64;
    while t <= now - 60_000 {
        ok_samples.push((t, ok));
        bad_samples.push((t, bad));
        let requests = 100.0 + (i % 7) as f64 * 10.0;
        let incident = t >= now - 3_600_000 && t < now - 2_700_000;
        let errors = if incident {
            (requests * 0.2).round()
        } else {
            (requests * 0.01).round()
        };
        ok += requests - errors;
        bad += errors;
        t += 15_000;
        i += 1;
    }
    let (ok_final, bad_final) = (ok_samples.last().unwrap().1, bad_samples.last().unwrap().1);
    for chunk in 0..ok_samples.len().div_ceil(200) {
        let range = chunk * 200..((chunk + 1) * 200).min(ok_samples.len());
        let request = pb1::WriteRequest {
            timeseries: vec![
                series_v1(
                    &[
                        ("__name__", "http_requests_total"),
                        ("service", "checkout"),
                        ("status", "200"),
                    ],
                    &ok_samples[range.clone()],
                ),
                series_v1(
                    &[
                        ("__name__", "http_requests_total"),
                        ("service", "checkout"),
                        ("status", "500"),
                    ],
                    &bad_samples[range],
                ),
            ],
            ..Default::default()
        };
        let reply = vigil.write_v1(&request, None);
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    (bad_final, bad_final + ok_final)
}

fn instant(vigil: &Vigil, query: &str) -> f64 {
    let reply = vigil.get(&format!("/api/v1/query?query={}", encode(query)), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    body["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or_else(|| panic!("{query}: no result: {body}"))
        .parse()
        .unwrap()
}

#[test]
fn a_new_slo_is_backfilled_and_reported_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let config = format!(
        "rules:\n  files: [\"{}/*.yml\"]\n  evaluation_interval: 1s\nstorage:\n  tsdb:\n    block_range: 12h\n",
        rules.display()
    );
    let vigil = Vigil::start(&dir.path().join("data"), &config);
    let (errors, total) = write_history(&vigil);
    let expected = errors / total;

    // No SLOs yet; then the spec appears and a reload loads it.
    let body = vigil.get("/api/v1/slos", None).json();
    assert_eq!(body["data"]["slos"], serde_json::json!([]), "{body}");
    std::fs::write(rules.join("slos.yml"), SPEC).unwrap();
    let reply = vigil.post_raw("/-/reload", &[], Vec::new());
    assert_eq!(reply.status, 200, "{}", reply.body);

    // The backfill fills the day before the first live slice; then the period SLI is the
    // whole history's error ratio.
    let mut last = serde_json::Value::Null;
    let mut got = None;
    for _ in 0..600 {
        let reply = vigil.get("/api/v1/slos", None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        last = reply.json();
        if let Some(ratio) = last["data"]["slos"][0]["periodSli"]["errorRatio"].as_f64()
            && (ratio - expected).abs() < 1e-9
        {
            got = Some(ratio);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ratio = got.unwrap_or_else(|| panic!("period SLI never reached {expected}: {last}"));

    // The same ratio by brute force over the raw counters.
    let brute = instant(
        &vigil,
        "sum(increase(http_requests_total{service=\"checkout\",status=~\"5..\"}[1d])) / sum(increase(http_requests_total{service=\"checkout\"}[1d]))",
    );
    assert!(
        (ratio - brute).abs() < 1e-6,
        "exact {ratio} vs brute force {brute}"
    );

    let slo = &last["data"]["slos"][0];
    assert_eq!(slo["id"], "checkout-availability");
    assert_eq!(slo["objective"], 0.99);
    assert!((slo["errorBudget"].as_f64().unwrap() - 0.01).abs() < 1e-12);
    assert_eq!(slo["period"]["window"], "6h");
    let remaining = slo["budgetRemaining"]["ratio"].as_f64().unwrap();
    assert!((remaining - (1.0 - expected / 0.01)).abs() < 1e-6, "{slo}");
    // The incident spent budget: 20 % errors for 15 minutes of 3 hours.
    assert!(
        remaining < 0.0,
        "the incident exhausted the 1 % budget: {slo}"
    );
    let tiers = slo["alerts"].as_array().unwrap();
    assert!(!tiers.is_empty(), "{slo}");
    for tier in tiers {
        let state = tier["state"].as_str().unwrap();
        assert!(["inactive", "pending", "firing"].contains(&state), "{tier}");
    }
    let windows: Vec<&str> = slo["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window"].as_str().unwrap())
        .collect();
    assert!(windows.contains(&"1h"), "{windows:?}");

    // One SLO in detail: the budget over the period dropped during the incident.
    let reply = vigil.get("/api/v1/slos/checkout-availability", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let detail = reply.json();
    let values = detail["data"]["budgetHistory"]["values"]
        .as_array()
        .unwrap()
        .clone();
    assert!(values.len() > 10, "{detail}");
    let first = values.first().unwrap()[1].as_f64().unwrap();
    let last_value = values.last().unwrap()[1].as_f64().unwrap();
    assert!(
        first > last_value,
        "budget did not drop: {first} → {last_value}"
    );
    assert_eq!(vigil.get("/api/v1/slos/nope", None).status, 404);
    assert_eq!(
        vigil.get("/api/v1/slos/availability", None).json()["data"]["id"],
        "checkout-availability"
    );
}
