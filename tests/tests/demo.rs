//! `vigil demo` end to end, as a subprocess against the real binary: a backfill with an
//! injected incident shows up as the payment service's raised 5xx ratio in exactly that
//! window (PromQL), its logs arrive through the Loki API with their JSON fields, the tenant
//! option isolates the data, and bad flags exit with code 2 and a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;
use vigil_tests::{Vigil, encode, vigil_binary};

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

const TENANT: &str = "demo-e2e";

fn query(vigil: &Vigil, expr: &str, time: f64, tenant: Option<&str>) -> Vec<Value> {
    let reply = vigil.get(
        &format!("/api/v1/query?query={}&time={time:.3}", encode(expr)),
        tenant,
    );
    assert_eq!(reply.status, 200, "{expr}: {}", reply.body);
    reply.json()["data"]["result"].as_array().unwrap().clone()
}

fn scalar(vigil: &Vigil, expr: &str, time: f64) -> f64 {
    let result = query(vigil, expr, time, Some(TENANT));
    assert_eq!(result.len(), 1, "{expr} at {time}: {result:?}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

fn error_ratio(service: &str) -> String {
    format!(
        "sum(rate(http_requests_total{{service=\"{service}\",status=~\"5..\"}}[5m])) / sum(rate(http_requests_total{{service=\"{service}\"}}[5m]))"
    )
}

/// Sum of a Loki metric query's single vector sample.
fn loki_count(vigil: &Vigil, expr: &str, time_s: f64) -> f64 {
    let reply = vigil.get(
        &format!(
            "/loki/api/v1/query?query={}&time={}",
            encode(expr),
            (time_s * 1e9) as i64
        ),
        Some(TENANT),
    );
    assert_eq!(reply.status, 200, "{expr}: {}", reply.body);
    let result = reply.json()["data"]["result"].as_array().unwrap().clone();
    result
        .iter()
        .map(|s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn backfilled_incident_raises_the_error_ratio_in_its_window_and_logs_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("data"), "rules:\n  files: []\n");
    let before = now_s();
    let output = Command::new(vigil_binary())
        .args([
            "demo",
            "--url",
            &format!("http://{}", vigil.addr),
            "--tenant",
            TENANT,
            "--backfill",
            "1h",
            "--no-live",
            "--seed",
            "3",
            "--incident",
            "service=payment,error_rate=0.3,after=20m,for=15m",
        ])
        .output()
        .unwrap();
    let after = now_s();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("seed 3"), "{stderr}");
    assert!(
        stderr.contains("incident payment-service error_rate=0.3"),
        "{stderr}"
    );
    assert!(stderr.contains("backfilled 1h"), "{stderr}");

    // The demo's clock started 1 h (aligned down to 15 s) before it ran: the incident covers
    // [start + 20m, start + 35m), whatever the exact start.
    let start_earliest = before - 3600.0 - 15.0;
    let start_latest = after - 3600.0;
    let inside = start_latest + 30.0 * 60.0; // 5m window ⊂ [start+25m, start+30m]
    assert!(inside - 300.0 >= start_earliest + 20.0 * 60.0);
    let during = scalar(&vigil, &error_ratio("payment-service"), inside);
    assert!(
        (0.22..0.38).contains(&during),
        "payment 5xx ratio during the incident: {during}"
    );
    let calm = start_latest + 15.0 * 60.0; // [start+10m, start+15m]
    let normal = scalar(&vigil, &error_ratio("payment-service"), calm);
    assert!(
        (0.01..0.1).contains(&normal),
        "payment 5xx ratio before: {normal}"
    );
    let recovered = scalar(
        &vigil,
        &error_ratio("payment-service"),
        start_earliest + 45.0 * 60.0,
    );
    assert!(recovered < 0.1, "payment 5xx ratio after: {recovered}");
    // (The order service may see some 503s from its payment circuit breaker.)
    let user = scalar(&vigil, &error_ratio("user-service"), inside);
    assert!(user < 0.01, "user-service is not affected: {user}");

    // Every series of a service shares the scrape timestamps: one distinct timestamp per
    // service at any instant.
    let stamps = query(
        &vigil,
        "count by (service) (count_values by (service) (\"t\", timestamp({service=\"payment-service\"})))",
        inside,
        Some(TENANT),
    );
    assert_eq!(stamps.len(), 1, "{stamps:?}");
    assert_eq!(stamps[0]["value"][1], "1", "{stamps:?}");

    // The tenant option: nothing in the default tenant.
    assert!(query(&vigil, "http_requests_total", inside, None).is_empty());

    // Logs: error lines of payment-service per 5 minutes, inside vs. before the incident.
    let errors = "sum(count_over_time({service=\"payment-service\", level=\"error\"}[5m]))";
    let logged_during = loki_count(&vigil, errors, inside);
    let logged_before = loki_count(&vigil, errors, calm);
    assert!(
        logged_during > 3.0 * logged_before && logged_before > 0.0,
        "error lines: {logged_during} during vs {logged_before} before"
    );
    let reply = vigil.get(
        &format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}&limit=20&direction=backward",
            encode("{service=\"payment-service\", level=\"error\"} | json | status >= 500"),
            ((inside - 300.0) * 1e9) as i64,
            (inside * 1e9) as i64
        ),
        Some(TENANT),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let streams = body["data"]["result"].as_array().unwrap();
    let lines: Vec<Value> = streams
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|v| serde_json::from_str(v[1].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(lines.len(), 20, "{body}");
    for line in &lines {
        assert_eq!(line["service"], "payment-service");
        assert_eq!(line["level"], "error");
        assert!(line["status"].as_u64().unwrap() >= 500, "{line}");
        assert!(line["duration"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "{line}");
        assert!(
            line["msg"].as_str().unwrap().starts_with("payment failed")
                || line["msg"]
                    .as_str()
                    .unwrap()
                    .starts_with("list payments failed"),
            "{line}"
        );
        assert!(line["method"].is_string(), "{line}");
    }
}

#[test]
fn bad_flags_and_incident_specs_exit_2_with_a_message() {
    for (args, message) in [
        (
            &["--incident", "service=billing,error_rate=0.2"][..],
            "unknown service",
        ),
        (
            &["--incident", "service=payment,error_rate=1.5"][..],
            "not between 0 and 1",
        ),
        (
            &["--incident", "service=payment,after=10m"][..],
            "error_rate=... and/or latency",
        ),
        (&["--backfill", "6x"][..], "unknown unit"),
        (&["--backfill", "30d"][..], "at most 167h"),
        (&["--interval", "0s"][..], "between 1s and 5m"),
        (&["--url", "https://example.com"][..], "http://"),
        (
            &["--no-live", "--duration", "1m"][..],
            "cannot be used with",
        ),
        (&["--log-sample", "2"][..], "between 0 and 1"),
    ] {
        let output = Command::new(vigil_binary())
            .arg("demo")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
