//! The PromQL endpoints of the real binary, called the way Grafana's Prometheus datasource
//! calls them: GET query strings and POST forms, float-second times and steps, the health
//! check at `time=4`, the exemplar probe in milliseconds, and the error envelopes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vigil_tests::{Vigil, encode, now_ms, series_v1};

/// Seconds as Grafana writes them (shortest float form).
fn secs(ms: i64) -> String {
    let whole = ms / 1000;
    match ms % 1000 {
        0 => whole.to_string(),
        frac => format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_string(),
    }
}

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

/// Writes `requests_total{job,instance}` counters growing by `rate` per second and a gauge,
/// every 15 s over the last 10 minutes, aligned to 15 s; returns the newest sample time.
fn write_fixture(vigil: &Vigil, tenant: Option<&str>) -> i64 {
    let newest = (now_ms() - 60_000) / 15_000 * 15_000;
    let times: Vec<i64> = (0..=40).map(|i| newest - (40 - i) * 15_000).collect();
    let mut series = Vec::new();
    for (job, rate) in [("api", 2.0), ("db", 0.5)] {
        for instance in ["a", "b"] {
            let counter: Vec<(i64, f64)> = times
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, i as f64 * 15.0 * rate))
                .collect();
            series.push(series_v1(
                &[
                    ("__name__", "requests_total"),
                    ("instance", instance),
                    ("job", job),
                ],
                &counter,
            ));
            let gauge: Vec<(i64, f64)> = times.iter().map(|t| (*t, 42.5)).collect();
            series.push(series_v1(
                &[
                    ("__name__", "temperature"),
                    ("instance", instance),
                    ("job", job),
                ],
                &gauge,
            ));
        }
    }
    let request = vigil_ingest::proto::v1::WriteRequest {
        timeseries: series,
        metadata: vec![],
    };
    let reply = vigil.write_v1(&request, tenant);
    assert_eq!(reply.status, 204, "{}", reply.body);
    newest
}

#[test]
fn parameter_errors_are_bad_data_envelopes() {
    let (_dir, vigil) = start_vigil();
    let reply = vigil.get(
        "/api/v1/query_range?query=up&start=100&end=50&step=15",
        None,
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({
            "status": "error",
            "errorType": "bad_data",
            "error": "invalid parameter \"end\": end timestamp must not be before start time"
        })
    );
    let too_many = vigil.post_form(
        "/api/v1/query_range",
        &[
            ("query", "up"),
            ("start", "0"),
            ("end", "110000"),
            ("step", "1"),
        ],
        None,
    );
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.json()["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    let parse = vigil.post_form("/api/v1/query", &[("query", "sum(rate(x[5m])")], None);
    assert_eq!(parse.status, 400, "{}", parse.body);
    assert_eq!(parse.json()["errorType"], "bad_data");
    assert!(
        parse.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid parameter \"query\": ")
    );
}

#[test]
fn exemplar_probe_format_and_parse_query() {
    let (_dir, vigil) = start_vigil();
    // Grafana's probe: milliseconds where seconds belong; must still succeed.
    let now = now_ms();
    let probe = vigil.get(
        &format!(
            "/api/v1/query_exemplars?query=test&start={}&end={}",
            now - 3_600_000,
            now
        ),
        None,
    );
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert_eq!(probe.body, r#"{"status":"success","data":[]}"#);
    let formatted = vigil.post_form(
        "/api/v1/format_query",
        &[("query", "sum(rate(x[5m]))by(job)")],
        None,
    );
    assert_eq!(
        formatted.json(),
        json!({"status": "success", "data": "sum by (job) (rate(x[5m]))"})
    );
    let tree = vigil.get(
        &format!(
            "/api/v1/parse_query?{}",
            query_string(&[("query", "up == 1")])
        ),
        None,
    );
    assert_eq!(tree.json()["data"]["type"], "binaryExpr");
    assert_eq!(tree.json()["data"]["lhs"]["matchers"][0]["value"], "up");
}

#[test]
fn grafana_health_check_succeeds_at_time_4() {
    let (_dir, vigil) = start_vigil();
    let reply = vigil.get(
        &format!(
            "/api/v1/query?{}",
            query_string(&[("query", "1+1"), ("time", "4")])
        ),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
    );
    let post = vigil.post_form("/api/v1/query", &[("query", "1+1"), ("time", "4")], None);
    assert_eq!(post.body, reply.body);
}

#[test]
fn range_and_instant_queries_over_remote_written_data() {
    let (_dir, vigil) = start_vigil();
    let newest = write_fixture(&vigil, None);
    let start = newest - 5 * 60_000;
    // Grafana: POST form, float-second start/end aligned to the step, step without unit.
    let reply = vigil.post_form(
        "/api/v1/query_range",
        &[
            ("query", "sum by (job) (rate(requests_total[1m]))"),
            ("start", &secs(start)),
            ("end", &secs(newest)),
            ("step", "15"),
        ],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["data"]["resultType"], "matrix");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{}", reply.body);
    for (series, expected) in result.iter().zip([4.0, 1.0]) {
        let values = series["values"].as_array().unwrap();
        assert_eq!(values.len(), 21, "5 min at 15 s, both ends included");
        assert_eq!(values[0][0].as_f64().unwrap(), start as f64 / 1000.0);
        for point in values {
            let v: f64 = point[1].as_str().unwrap().parse().unwrap();
            assert!((v - expected).abs() < 1e-9, "{point} vs {expected}");
        }
    }
    assert_eq!(result[0]["metric"], json!({"job": "api"}));
    // Instant query at a raw (unaligned) time, as Grafana sends for instant panels.
    let at = newest + 7_123;
    let instant = vigil.get(
        &format!(
            "/api/v1/query?{}",
            query_string(&[("query", "temperature{job=\"db\"}"), ("time", &secs(at))])
        ),
        None,
    );
    let json: Value = instant.json();
    assert_eq!(json["data"]["resultType"], "vector");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(
        result[0]["value"],
        json!([at as f64 / 1000.0, "42.5"]),
        "{}",
        instant.body
    );
    // Evaluation errors are 422 "execution".
    let many = vigil.get(
        &format!(
            "/api/v1/query?{}",
            query_string(&[("query", "temperature + on(job) temperature")])
        ),
        None,
    );
    assert_eq!(many.status, 422, "{}", many.body);
    assert_eq!(many.json()["errorType"], "execution");
}

#[test]
fn tenants_see_only_their_own_series() {
    let (_dir, vigil) = start_vigil();
    let newest = write_fixture(&vigil, Some("team-a"));
    let path = format!(
        "/api/v1/query?{}",
        query_string(&[("query", "count(temperature)"), ("time", &secs(newest))])
    );
    let mine = vigil.get(&path, Some("team-a")).json();
    assert_eq!(mine["data"]["result"][0]["value"][1], "4");
    let theirs = vigil.get(&path, Some("team-b")).json();
    assert_eq!(theirs["data"]["result"], json!([]));
}
