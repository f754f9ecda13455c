//! The Loki read API of the real binary, called with the exact requests Grafana's Loki
//! datasource sends: Save & test, the label browser, an Explore logs query with the
//! `categorize-labels` flag, the logs volume histogram, a metric panel, index stats,
//! the editor's probes, and the live tail WebSocket.
//!
//! The first test runs on an empty store (routing, parameters, envelopes, status codes); the
//! second pushes logs through `/loki/api/v1/push` first and checks what Grafana's Explore,
//! logs volume, label browser and metric panel requests get back from the real log store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use vigil_tests::{Vigil, encode, now_ms};

fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn start_vigil() -> (tempfile::TempDir, Vigil) {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("data"), "");
    (dir, vigil)
}

/// The last hour in nanoseconds, as Grafana sends `start`/`end`.
fn last_hour_ns() -> (String, String) {
    let end = now_ms() * 1_000_000;
    let start = end - 3_600 * 1_000_000_000;
    (start.to_string(), end.to_string())
}

const GRAFANA_HEADERS: &[(&str, &str)] = &[
    ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
    ("X-Scope-OrgID", "grafana"),
];

#[test]
fn grafana_loki_datasource_requests_get_the_shapes_it_parses() {
    let (_dir, vigil) = start_vigil();
    let (start, end) = last_hour_ns();

    // Save & test.
    let reply = vigil.get(
        "/loki/api/v1/query?direction=backward&query=vector%281%29%2Bvector%281%29&time=4000000000",
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["data"]["resultType"], "vector");
    assert_eq!(json["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(json["data"]["result"][0]["value"][1], "2");

    // Label browser and autocomplete.
    let path = format!(
        "/loki/api/v1/labels?{}",
        query_string(&[("start", &start), ("end", &end)])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json, json!({"status": "success", "data": []}));
    let path = format!(
        "/loki/api/v1/label/app/values?{}",
        query_string(&[("start", &start), ("end", &end), ("query", r#"{job="x"}"#)])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json, json!({"status": "success", "data": []}));
    let path = format!(
        "/loki/api/v1/series?{}",
        query_string(&[
            ("match[]", r#"{app="x"}"#),
            ("start", &start),
            ("end", &end)
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json, json!({"status": "success", "data": []}));

    // Explore logs query.
    let path = format!(
        "/loki/api/v1/query_range?{}",
        query_string(&[
            ("direction", "backward"),
            ("end", &end),
            ("limit", "1000"),
            ("query", r#"{app="x"} |= "needle""#),
            ("start", &start),
            ("step", "2000ms"),
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"]["resultType"], "streams");
    assert_eq!(json["data"]["result"], json!([]));
    assert_eq!(json["data"]["encodingFlags"], json!(["categorize-labels"]));
    assert!(json["data"]["stats"]["summary"]["execTime"].is_number());

    // Logs volume histogram.
    let path = format!(
        "/loki/api/v1/query_range?{}",
        query_string(&[
            ("direction", "backward"),
            ("end", &end),
            (
                "query",
                r#"sum by (level, detected_level) (count_over_time({app="x"} | drop __error__[1m]))"#,
            ),
            ("start", &start),
            ("step", "60000ms"),
        ])
    );
    let mut headers = GRAFANA_HEADERS.to_vec();
    headers.push(("X-Query-Tags", "Source=logvolhist"));
    let json = vigil.get_with_headers(&path, &headers).json();
    assert_eq!(json["data"]["resultType"], "matrix");
    assert_eq!(json["data"]["result"], json!([]));

    // A metric panel.
    let path = format!(
        "/loki/api/v1/query_range?{}",
        query_string(&[
            ("direction", "backward"),
            ("end", &end),
            ("query", r#"sum by (level) (rate({app="x"} | logfmt [5m]))"#),
            ("start", &start),
            ("step", "15000ms"),
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json["data"]["resultType"], "matrix");

    // The editor's size hint and probes.
    let path = format!(
        "/loki/api/v1/index/stats?{}",
        query_string(&[("query", r#"{app="x"}"#), ("start", &start), ("end", &end)])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(
        json,
        json!({"streams": 0, "chunks": 0, "entries": 0, "bytes": 0})
    );
    let path = format!(
        "/loki/api/v1/detected_labels?{}",
        query_string(&[("start", &start), ("end", &end)])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json, json!({"detectedLabels": []}));
    let json = vigil.get("/loki/api/v1/status/buildinfo", None).json();
    assert!(json["version"].as_str().unwrap().starts_with('3'));

    // Bad input: Loki's plain-text 400.
    let reply = vigil.get("/loki/api/v1/query_range?query=%7Bapp%3D", None);
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(reply.body.starts_with("parse error"), "{}", reply.body);
}

#[test]
fn live_tail_upgrades_to_a_websocket() {
    let (_dir, vigil) = start_vigil();
    let stream = TcpStream::connect(vigil.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let url = format!(
        "ws://{}/loki/api/v1/tail?{}",
        vigil.addr,
        query_string(&[("query", r#"{app="x"}"#), ("limit", "100")])
    );
    let (mut socket, response) = tungstenite::client(url.as_str(), stream).unwrap();
    assert_eq!(response.status().as_u16(), 101);
    socket.close(None).unwrap();

    // A bad tail query is refused before the upgrade.
    let reply = vigil.get("/loki/api/v1/tail?query=sum%28", None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.starts_with("parse error"), "{}", reply.body);
}

/// Pushes `lines` lines for `{app="checkout", level=...}` (levels alternate error/info),
/// one millisecond apart and ending now, as the tenant Grafana uses.
fn push_checkout_logs(vigil: &Vigil, lines: usize) {
    let now_ns = now_ms() as i128 * 1_000_000;
    let mut streams = Vec::new();
    for level in ["error", "info"] {
        let values: Vec<serde_json::Value> = (0..lines)
            .filter(|i| (i % 2 == 0) == (level == "error"))
            .map(|i| {
                let ts = now_ns - ((lines - i) as i128) * 1_000_000;
                json!([ts.to_string(), format!("level={level} msg=\"request {i}\"")])
            })
            .collect();
        streams.push(json!({"stream": {"app": "checkout", "level": level}, "values": values}));
    }
    let body = serde_json::to_vec(&json!({ "streams": streams })).unwrap();
    let reply = vigil.post_raw(
        "/loki/api/v1/push",
        &[
            ("content-type", "application/json"),
            ("X-Scope-OrgID", "grafana"),
        ],
        body,
    );
    assert_eq!(reply.status, 204, "push failed: {}", reply.body);
}

#[test]
fn grafana_requests_over_pushed_logs_see_them() {
    let (_dir, vigil) = start_vigil();
    push_checkout_logs(&vigil, 10);
    let (start, end) = last_hour_ns();

    // Explore logs query: newest first, every pushed line, in two streams.
    let path = format!(
        "/loki/api/v1/query_range?{}",
        query_string(&[
            ("direction", "backward"),
            ("end", &end),
            ("limit", "100"),
            ("query", r#"{app="checkout"}"#),
            ("start", &start),
            ("step", "2000ms"),
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json["data"]["resultType"], "streams");
    let streams = json["data"]["result"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "{json}");
    let total: usize = streams
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 10);
    for s in streams {
        let ts: Vec<i128> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[0].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(
            ts.windows(2).all(|w| w[0] > w[1]),
            "not newest first: {ts:?}"
        );
    }

    // A line filter keeps only the matching lines.
    let path = format!(
        "/loki/api/v1/query_range?{}",
        query_string(&[
            ("direction", "backward"),
            ("end", &end),
            ("limit", "100"),
            ("query", r#"{app="checkout"} |= "request 3""#),
            ("start", &start),
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{json}");
    assert_eq!(result[0]["values"].as_array().unwrap().len(), 1);

    // Logs volume histogram: one series per level, counts adding up to the pushed lines.
    let path = format!(
        "/loki/api/v1/query_range?{}",
        query_string(&[
            ("end", &end),
            (
                "query",
                r#"sum by (level) (count_over_time({app="checkout"} | drop __error__[1h]))"#,
            ),
            ("start", &end),
            ("step", "60000ms"),
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json["data"]["resultType"], "matrix");
    let mut levels: Vec<(String, String)> = json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["level"].as_str().unwrap().to_string(),
                s["values"][0][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    levels.sort();
    assert_eq!(
        levels,
        vec![
            ("error".to_string(), "5".to_string()),
            ("info".to_string(), "5".to_string())
        ]
    );

    // Metric panel (instant): the same count as one number.
    let path = format!(
        "/loki/api/v1/query?{}",
        query_string(&[
            ("query", r#"sum(count_over_time({app="checkout"}[1h]))"#),
            ("time", &end),
        ])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json["data"]["resultType"], "vector");
    assert_eq!(json["data"]["result"][0]["value"][1], "10");

    // Label browser.
    let path = format!(
        "/loki/api/v1/labels?{}",
        query_string(&[("start", &start), ("end", &end)])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    let labels = json["data"].as_array().unwrap();
    assert!(
        labels.contains(&json!("app")) && labels.contains(&json!("level")),
        "{json}"
    );
    let path = format!(
        "/loki/api/v1/label/app/values?{}",
        query_string(&[("start", &start), ("end", &end)])
    );
    let json = vigil.get_with_headers(&path, GRAFANA_HEADERS).json();
    assert_eq!(json["data"], json!(["checkout"]));
}
