//! The Loki read API of the real binary, called with the exact requests Grafana's Loki
//! datasource sends: Save & test, the label browser, an Explore logs query with the
//! `categorize-labels` flag, the logs volume histogram, a metric panel, index stats,
//! the editor's probes, and the live tail WebSocket.
//!
//! The binary has no Loki push route on this branch yet, so its log store is empty here:
//! these tests prove routing, parameters, envelopes and status codes end to end; the same
//! requests over stored data are replayed at router level in `vigil-api` (`loki/tests.rs`).
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
