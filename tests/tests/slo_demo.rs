//! The SLO story end to end: `vigil demo --backfill 6h --incident …` drives the reference
//! platform's traffic into the real binary, which loads an SLO spec among its rule files.
//! The page tier of the multi-window multi-burn-rate alert goes pending, then firing
//! during the injected outage, and resolves after it; `/api/v1/slos` shows the budget drop.
//!
//! Windows are short so the story takes minutes, not hours: a 1-day SLO whose page tier
//! reads 1 minute and 20 seconds at 14.4×, with 10-second slices and a `for` of 10 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::{KillOnDrop, Vigil, vigil_binary};

const SPEC: &str = r#"version: vigil/v1
service: user-service
slos:
  - name: availability
    objective: 99
    window: 1d
    slice: 10s
    sli:
      events:
        error: http_requests_total{service="user-service",status=~"5.."}
        total: http_requests_total{service="user-service"}
    alerting:
      name: UserAvailabilityBurn
      page:
        for: 10s
      tiers:
        - {severity: page, long: 1m, short: 20s, factor: 14.4}
"#;

/// The page alert's state now: `inactive`, `pending` or `firing`.
fn page_state(vigil: &Vigil) -> String {
    let body = vigil.get("/api/v1/alerts", None).json();
    let mut state = "inactive".to_string();
    for alert in body["data"]["alerts"].as_array().unwrap() {
        if alert["labels"]["alertname"] == "UserAvailabilityBurn"
            && alert["labels"]["sloth_severity"] == "page"
        {
            state = alert["state"].as_str().unwrap().to_string();
        }
    }
    state
}

fn budget_remaining(vigil: &Vigil) -> Option<f64> {
    let body = vigil
        .get("/api/v1/slos/user-service-availability", None)
        .json();
    body["data"]["budgetRemaining"]["ratio"].as_f64()
}

#[test]
fn an_injected_outage_pages_then_resolves_and_spends_budget() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("slos.yml"), SPEC).unwrap();
    let config = format!(
        // No history backfill: the story is told by the live slices alone.
        "rules:\n  files: [\"{}/*.yml\"]\n  evaluation_interval: 1s\nslo:\n  backfill: false\n",
        rules.display()
    );
    let vigil = Vigil::start(&dir.path().join("data"), &config);

    // Six hours of history, then live; the outage starts 3 minutes after the demo does
    // (demo time counts from the backfill's start, 6 h before now) and lasts 70 s. The
    // backfill takes 30–100 s depending on the machine's load, so the live part has time to
    // show the healthy state before the outage.
    let demo_started = Instant::now();
    let outage_at = demo_started + Duration::from_secs(180);
    let demo = Command::new(vigil_binary())
        .args([
            "demo",
            "--url",
            &format!("http://{}", vigil.addr),
            "--backfill",
            "6h",
            "--interval",
            "2s",
            "--duration",
            "6m",
            "--seed",
            "7",
            "--incident",
            "service=user,error_rate=0.5,after=6h3m,for=70s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _demo = KillOnDrop(demo);

    // The SLO is healthy before the outage: user-service fails ~0.1 % of requests. Its
    // slices have data once the backfill reaches the last minutes; watch it until just
    // before the outage starts.
    let mut before = None;
    while Instant::now() + Duration::from_secs(5) < outage_at {
        // The first live slices hold few requests: noise may start the tier's `for`
        // (pending), but a page (firing) before the outage is a failure.
        assert_ne!(page_state(&vigil), "firing", "paged before the outage");
        if let Some(remaining) = budget_remaining(&vigil) {
            before = Some(remaining);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let before = before.expect("/api/v1/slos reported no budget before the outage");
    // The first live minutes hold few requests, so the period ratio is noisy; what must
    // hold is that it stays below the page tier's 14.4× burn (remaining > 1 − 14.4).
    assert!(before > 1.0 - 14.4, "budget before the outage: {before}");

    // pending → firing during the outage, then resolved after it. The tier may already be
    // pending from the noise above, so the story is read from the states seen up to the
    // first firing and after it.
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while Instant::now() < deadline {
        let state = page_state(&vigil);
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "inactive" && seen.iter().any(|s| s == "firing") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let fired = seen.iter().position(|s| s == "firing");
    assert!(
        fired.is_some_and(|f| f > 0 && seen[f - 1] == "pending"),
        "page alert states {seen:?}: expected pending, then firing"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("inactive"),
        "page alert states {seen:?}: expected the page to resolve"
    );

    // The outage spent budget, and the API says so.
    let after = budget_remaining(&vigil).expect("budget after the outage");
    assert!(after < before - 0.05, "budget {before} → {after}");
    let slo = vigil.get("/api/v1/slos", None).json();
    let tiers = slo["data"]["slos"][0]["alerts"].as_array().unwrap().clone();
    assert_eq!(tiers.len(), 1, "{slo}");
    assert_eq!(tiers[0]["longWindow"], "1m");
}
