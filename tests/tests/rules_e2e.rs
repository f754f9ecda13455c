//! The rules engine end to end with the real binary: a rule file, remote-written data that
//! makes an alert fire, a loopback HTTP server standing in for Alertmanager that receives the
//! firing and then the resolved notification; the Prometheus-shaped `/api/v1/rules` and
//! `/api/v1/alerts`, reloads keeping the state of unchanged rules, and `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use vigil_ingest::proto::v1 as pb1;
use vigil_tests::{Vigil, now_ms, series_v1};

/// Longest wait for any single notification; the alert needs about 3 s to fire.
const NOTIFICATION_WAIT: Duration = Duration::from_secs(30);

/// A loopback stand-in for Alertmanager: every `POST` body is passed to the channel.
fn fake_alertmanager() -> (String, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if tx.send((path, body)).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

fn ms(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().unwrap();
    chrono_like_parse(text)
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SS(.fff)Z` to ms, without pulling a date crate into the tests.
fn chrono_like_parse(text: &str) -> i64 {
    let text = text.strip_suffix('Z').expect("UTC time");
    let (date, time) = text.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let millis: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + millis
}

fn write_up(vigil: &Vigil, value: f64, t_ms: i64) {
    let request = pb1::WriteRequest {
        timeseries: vec![series_v1(
            &[("__name__", "up"), ("job", "api"), ("instance", "a")],
            &[(t_ms, value)],
        )],
        ..Default::default()
    };
    let reply = vigil.write_v1(&request, None);
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// The next notification for `InstanceDown` (other alert names are not expected).
fn next_alert(rx: &mpsc::Receiver<(String, Value)>) -> Value {
    let (path, body) = rx
        .recv_timeout(NOTIFICATION_WAIT)
        .expect("no notification reached the fake Alertmanager");
    assert_eq!(path, "/api/v2/alerts");
    let alerts = body.as_array().expect("an array of alerts");
    assert_eq!(alerts.len(), 1, "{body}");
    alerts[0].clone()
}

const RULES: &str = r#"groups:
- name: e2e
  interval: 1s
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: InstanceDown
    expr: up == 0
    for: 2s
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})"
"#;

fn get_json(vigil: &Vigil, path: &str) -> Value {
    let reply = vigil.get(path, None);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

#[test]
fn alert_fires_and_resolves_at_a_fake_alertmanager_with_reload_and_rules_api() {
    let dir = tempfile::tempdir().unwrap();
    let rule_path = dir.path().join("rules").join("e2e.yml");
    std::fs::create_dir_all(rule_path.parent().unwrap()).unwrap();
    std::fs::write(&rule_path, RULES).unwrap();
    let rule_file = rule_path.display().to_string();
    let (am_url, notifications) = fake_alertmanager();
    let config = format!(
        "rules:\n  files: [\"{}/rules/*.yml\"]\n  evaluation_interval: 1s\n  alertmanagers: [\"{am_url}\"]\n  resend_delay: 1m\n  external_labels:\n    cluster: e2e\n  external_url: http://vigil.example:9009\n",
        dir.path().display()
    );
    let mut vigil = Vigil::start(&dir.path().join("data"), &config);

    // Before any data: the group is loaded, nothing is active.
    let rules = get_json(&vigil, "/api/v1/rules");
    assert_eq!(rules["groups"][0]["name"], "e2e");
    assert_eq!(rules["groups"][0]["file"], rule_file.as_str());
    assert_eq!(rules["groups"][0]["interval"], 1.0);

    let down_at = now_ms();
    write_up(&vigil, 0.0, down_at);

    // Firing: sent once (resend_delay 1m), endsAt = ts + 4 × max(1s, 1m), startsAt = ts.
    let firing = next_alert(&notifications);
    let labels = &firing["labels"];
    assert_eq!(labels["alertname"], "InstanceDown");
    assert_eq!(labels["job"], "api");
    assert_eq!(labels["instance"], "a");
    assert_eq!(labels["severity"], "page");
    assert_eq!(labels["cluster"], "e2e", "external labels are added");
    assert!(labels.get("__name__").is_none(), "{labels}");
    assert_eq!(firing["annotations"]["summary"], "a of api is down (0)");
    let starts_at = ms(&firing["startsAt"]);
    let ends_at = ms(&firing["endsAt"]);
    assert!(
        starts_at >= down_at + 2000,
        "fired {starts_at} before for: 2s had passed since {down_at}"
    );
    assert_eq!(ends_at - starts_at, 4 * 60_000, "{firing}");
    assert_eq!(
        firing["generatorURL"],
        "http://vigil.example:9009/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );

    // /api/v1/alerts and /api/v1/rules while firing, shaped as Prometheus serves them.
    let alerts = get_json(&vigil, "/api/v1/alerts");
    let alert = &alerts["alerts"][0];
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["value"], "0e+00");
    assert_eq!(alert["labels"]["alertname"], "InstanceDown");
    assert!(alert["labels"].get("cluster").is_none(), "{alert}");
    let active_at = alert["activeAt"].clone();
    assert!(ms(&active_at) >= down_at && ms(&active_at) <= starts_at - 2000);

    let rules = get_json(&vigil, "/api/v1/rules");
    let group = &rules["groups"][0];
    for key in ["interval", "limit", "evaluationTime", "lastEvaluation"] {
        assert!(group.get(key).is_some(), "group lacks {key}: {group}");
    }
    let recording = &group["rules"][0];
    assert_eq!(recording["type"], "recording");
    assert_eq!(recording["name"], "job:up:sum");
    assert_eq!(recording["query"], "sum by (job) (up)");
    assert_eq!(recording["health"], "ok");
    let alerting = &group["rules"][1];
    assert_eq!(alerting["type"], "alerting");
    assert_eq!(alerting["state"], "firing");
    assert_eq!(alerting["name"], "InstanceDown");
    assert_eq!(alerting["query"], "up == 0");
    assert_eq!(alerting["duration"], 2.0);
    assert_eq!(alerting["keepFiringFor"], 0.0);
    assert_eq!(alerting["labels"]["severity"], "page");
    assert_eq!(alerting["health"], "ok");
    assert_eq!(alerting["alerts"][0]["state"], "firing");
    for key in ["annotations", "evaluationTime", "lastEvaluation"] {
        assert!(alerting.get(key).is_some(), "rule lacks {key}: {alerting}");
    }

    // Filters.
    let only_records = get_json(&vigil, "/api/v1/rules?type=record");
    let kept = only_records["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["type"], "recording");
    let by_name = get_json(
        &vigil,
        "/api/v1/rules?rule_name[]=InstanceDown&exclude_alerts=true",
    );
    let kept = by_name["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0]["alerts"].as_array().unwrap().is_empty());
    let by_match = get_json(&vigil, "/api/v1/rules?match[]=%7Bseverity%3D%22page%22%7D");
    assert_eq!(by_match["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let none = get_json(&vigil, "/api/v1/rules?rule_group[]=other");
    assert!(none["groups"].as_array().unwrap().is_empty());
    let bad = vigil.get("/api/v1/rules?type=alerts", None);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["errorType"], "bad_data");

    // The recording rule wrote through the TSDB, and ALERTS is there.
    let recorded = get_json(&vigil, "/api/v1/query?query=job:up:sum");
    assert_eq!(recorded["result"][0]["metric"]["job"], "api");
    let series = get_json(
        &vigil,
        "/api/v1/query?query=ALERTS%7Balertstate%3D%22firing%22%7D",
    );
    assert_eq!(series["result"][0]["metric"]["alertname"], "InstanceDown");

    // Reload with one more rule: the unchanged alert keeps its state and is not re-sent.
    let extended = format!("{RULES}  - record: up:count\n    expr: count(up)\n");
    std::fs::write(&rule_path, extended).unwrap();
    let reply = vigil.post_form("/-/reload", &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let rules = get_json(&vigil, "/api/v1/rules");
    assert_eq!(rules["groups"][0]["rules"].as_array().unwrap().len(), 3);
    let alerts = get_json(&vigil, "/api/v1/alerts");
    assert_eq!(alerts["alerts"][0]["state"], "firing");
    assert_eq!(alerts["alerts"][0]["activeAt"], active_at);

    // A broken file is refused and the running rules stay.
    std::fs::write(
        &rule_path,
        "groups:\n- name: e2e\n  rules:\n  - record: 'bad name'\n    expr: up\n",
    )
    .unwrap();
    let reply = vigil.post_form("/-/reload", &[], None);
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body.contains("e2e.yml"), "{}", reply.body);
    let rules = get_json(&vigil, "/api/v1/rules");
    assert_eq!(rules["groups"][0]["rules"].as_array().unwrap().len(), 3);

    // Resolve: the next notification is the resolution, same startsAt, endsAt = resolution.
    let up_at = now_ms();
    write_up(&vigil, 1.0, up_at);
    let resolved = next_alert(&notifications);
    assert_eq!(resolved["labels"], firing["labels"]);
    assert_eq!(ms(&resolved["startsAt"]), starts_at);
    let resolved_at = ms(&resolved["endsAt"]);
    assert!(
        resolved_at >= up_at && resolved_at < ends_at,
        "resolved at {resolved_at}, data up at {up_at}, firing validity {ends_at}"
    );
    let alerts = get_json(&vigil, "/api/v1/alerts");
    assert!(alerts["alerts"].as_array().unwrap().is_empty(), "{alerts}");

    // Metrics under Prometheus' names.
    let metrics = vigil.get("/metrics", None);
    assert_eq!(metrics.status, 200);
    let group_label = format!("rule_group=\"{rule_file};e2e\"");
    for name in [
        "prometheus_rule_evaluations_total",
        "prometheus_rule_evaluation_failures_total",
        "prometheus_rule_group_iterations_missed_total",
        "prometheus_rule_group_last_duration_seconds",
    ] {
        assert!(
            metrics.body.contains(&format!("{name}{{{group_label}}} ")),
            "{name} missing:\n{}",
            metrics.body
        );
    }
    let sent_line = metrics
        .body
        .lines()
        .find(|l| l.starts_with("prometheus_notifications_sent_total "))
        .expect("prometheus_notifications_sent_total");
    let sent: f64 = sent_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent >= 2.0, "{sent_line}");
    assert!(
        metrics
            .body
            .contains("prometheus_config_last_reload_successful 0")
    );

    assert_eq!(vigil.stop(), Some(0));
}

#[test]
fn sighup_reloads_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    let rule_path = dir.path().join("r.yml");
    let one = "groups:\n- name: g\n  rules:\n  - record: a:up\n    expr: up\n";
    std::fs::write(&rule_path, one).unwrap();
    let config = format!(
        "rules:\n  files: [\"{}\"]\n  evaluation_interval: 1s\n",
        rule_path.display()
    );
    let mut vigil = Vigil::start(&dir.path().join("data"), &config);
    let rules = get_json(&vigil, "/api/v1/rules");
    assert_eq!(rules["groups"][0]["rules"].as_array().unwrap().len(), 1);

    std::fs::write(&rule_path, format!("{one}  - record: b:up\n    expr: up\n")).unwrap();
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(vigil.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let mut count = 0;
    for _ in 0..300 {
        let rules = get_json(&vigil, "/api/v1/rules");
        count = rules["groups"][0]["rules"].as_array().map_or(0, Vec::len);
        if count == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count, 2, "SIGHUP did not reload the rule file");
    assert_eq!(vigil.stop(), Some(0));
}
