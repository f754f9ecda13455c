//! The query endpoints through the router, over the in-memory storage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value as Json, json};
use tower::ServiceExt;
use vigil_model::{Labels, Sample, TenantId};
use vigil_storage::memory::MemStorage;
use vigil_storage::{AppendOptions, Appendable};

use crate::{ApiOptions, ApiState, BuildInfo};

fn state_with(storage: MemStorage) -> Arc<ApiState> {
    Arc::new(ApiState {
        appendable: Arc::new(storage.clone()),
        queryable: Arc::new(storage),
        options: ApiOptions {
            default_tenant: TenantId::new("fake").unwrap(),
            max_request_body_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 20,
        },
        build_info: BuildInfo::default(),
        ready: Arc::new(AtomicBool::new(true)),
        write_permits: tokio::sync::Semaphore::new(4),
        engine: vigil_promql::Engine::default(),
        logs: None,
    })
}

fn state() -> Arc<ApiState> {
    state_with(MemStorage::new())
}

/// `up{job="a|b",instance="i"}` = 1 and 0 every 15 s from 0 to 300 s, tenant `fake`.
async fn storage_with_up() -> MemStorage {
    let storage = MemStorage::new();
    let tenant = TenantId::new("fake").unwrap();
    let mut appender = storage.appender(&tenant, AppendOptions::default());
    for (job, value) in [("a", 1.0), ("b", 0.0)] {
        let labels = Labels::from_static(&[("__name__", "up"), ("instance", "i"), ("job", job)]);
        for step in 0..=20 {
            appender
                .append_sample(
                    &labels,
                    Sample {
                        timestamp_ms: step * 15_000,
                        value,
                    },
                )
                .unwrap();
        }
    }
    appender.commit().await.unwrap();
    storage
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Json {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// Asserts a Prometheus error envelope and returns its message.
    fn error(&self, status: u16, error_type: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let json = self.json();
        assert_eq!(json["status"], "error", "{}", self.body);
        assert_eq!(json["errorType"], error_type, "{}", self.body);
        json["error"].as_str().unwrap().to_string()
    }
}

async fn send(state: &Arc<ApiState>, request: Request<Body>) -> Reply {
    let response = crate::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(state: &Arc<ApiState>, uri: &str) -> Reply {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post_form(state: &Arc<ApiState>, path: &str, form: &str) -> Reply {
    let request = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    send(state, request).await
}

#[tokio::test]
async fn range_parameters_are_checked_in_prometheus_order_with_its_messages() {
    let s = state();
    let cases: &[(&str, &str)] = &[
        (
            "query=up&end=10&step=1",
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
        ),
        (
            "query=up&start=yesterday&end=10&step=1",
            "invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp",
        ),
        (
            "query=up&start=10&end=5&step=1",
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        (
            "query=up&start=0&end=10",
            "invalid parameter \"step\": cannot parse \"\" to a valid duration",
        ),
        (
            "query=up&start=0&end=10&step=fast",
            "invalid parameter \"step\": cannot parse \"fast\" to a valid duration",
        ),
        (
            "query=up&start=0&end=10&step=0",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "query=up&start=0&end=10&step=-15",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "query=up&start=0&end=11001&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "query=up&start=0&end=10&step=1&timeout=soon",
            "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration",
        ),
        (
            "query=up&start=0&end=10&step=1&lookback_delta=far",
            "error parsing lookback delta duration: cannot parse \"far\" to a valid duration",
        ),
        (
            "query=up&start=0&end=10&step=1&limit=-1",
            "invalid parameter \"limit\": limit must be non-negative",
        ),
    ];
    for (query, message) in cases {
        let reply = get(&s, &format!("/api/v1/query_range?{query}")).await;
        assert_eq!(reply.error(400, "bad_data"), *message, "for {query}");
    }
    // Exactly 11,000 steps is still allowed; the parse error shows it got past the check.
    let at_limit = get(
        &s,
        "/api/v1/query_range?query=sum(&start=0&end=11000&step=1",
    )
    .await;
    let message = at_limit.error(400, "bad_data");
    assert!(
        message.starts_with("invalid parameter \"query\": "),
        "{message}"
    );
}

#[tokio::test]
async fn instant_parameters_and_parse_errors_are_bad_data() {
    let s = state();
    let bad_time = get(&s, "/api/v1/query?query=up&time=noon").await;
    assert_eq!(
        bad_time.error(400, "bad_data"),
        "invalid parameter \"time\": invalid time value for 'time': cannot parse \"noon\" to a valid timestamp"
    );
    let parse_error = get(&s, "/api/v1/query?query=sum(rate(up[5m])&time=4").await;
    let message = parse_error.error(400, "bad_data");
    assert!(
        message.starts_with("invalid parameter \"query\": "),
        "{message}"
    );
    let empty = get(&s, "/api/v1/query?time=4").await;
    empty.error(400, "bad_data");
    // The same through a POST form body, as Grafana sends it.
    let form = post_form(&s, "/api/v1/query", "query=sum%28&time=4").await;
    let message = form.error(400, "bad_data");
    assert!(
        message.starts_with("invalid parameter \"query\": "),
        "{message}"
    );
}

#[tokio::test]
async fn queries_wait_for_the_wal_replay() {
    let s = state();
    s.ready.store(false, Ordering::Release);
    get(&s, "/api/v1/query?query=1%2B1&time=4")
        .await
        .error(503, "unavailable");
    get(&s, "/api/v1/query_range?query=up&start=0&end=60&step=15")
        .await
        .error(503, "unavailable");
}

#[tokio::test]
async fn format_query_pretty_prints_get_and_post() {
    let s = state();
    let reply = get(
        &s,
        "/api/v1/format_query?query=sum%28rate%28http_requests_total%7Bjob%3D%22api%22%7D%5B5m%5D%29%29by%28le%29",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(
        reply.json(),
        json!({"status": "success", "data": "sum by (le) (rate(http_requests_total{job=\"api\"}[5m]))"})
    );
    let form = post_form(&s, "/api/v1/format_query", "query=foo+%2B+bar").await;
    assert_eq!(
        form.json(),
        json!({"status": "success", "data": "foo + bar"})
    );
    let bad = get(&s, "/api/v1/format_query?query=foo%7B").await;
    assert!(
        bad.error(400, "bad_data")
            .starts_with("invalid parameter \"query\": ")
    );
}

#[tokio::test]
async fn parse_query_returns_the_tree_with_name_matchers() {
    let s = state();
    let reply = get(
        &s,
        "/api/v1/parse_query?query=rate%28up%7Bjob%3D%22a%22%7D%5B5m%5D%20offset%201m%29",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["status"], "success");
    let call = &json["data"];
    assert_eq!(call["type"], "call");
    assert_eq!(call["func"]["name"], "rate");
    let selector = &call["args"][0];
    assert_eq!(selector["type"], "matrixSelector");
    assert_eq!(selector["name"], "up");
    assert_eq!(selector["range"], 300_000);
    assert_eq!(selector["offset"], 60_000);
    assert_eq!(selector["anchored"], false);
    assert_eq!(
        selector["matchers"],
        json!([
            {"name": "job", "type": "=", "value": "a"},
            {"name": "__name__", "type": "=", "value": "up"}
        ])
    );
    let binary = get(
        &s,
        "/api/v1/parse_query?query=a%20%2F%20on%28x%29%20group_left%20b",
    )
    .await
    .json();
    assert_eq!(binary["data"]["type"], "binaryExpr");
    assert_eq!(binary["data"]["op"], "/");
}

#[tokio::test]
async fn exemplars_are_an_empty_list_even_for_grafanas_millisecond_probe() {
    let s = state();
    // Grafana's availability probe sends milliseconds where seconds belong.
    let probe = get(
        &s,
        "/api/v1/query_exemplars?query=test&start=1735689600000&end=1735693200000",
    )
    .await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert_eq!(probe.body, r#"{"status":"success","data":[]}"#);
    let form = post_form(
        &s,
        "/api/v1/query_exemplars",
        "query=rate%28x%5B5m%5D%29&start=1&end=2",
    )
    .await;
    assert_eq!(form.json(), json!({"status": "success", "data": []}));
    let no_selector = get(&s, "/api/v1/query_exemplars?query=1%2B1").await;
    assert_eq!(
        no_selector.json(),
        json!({"status": "success", "data": null})
    );
    let bad = get(&s, "/api/v1/query_exemplars?query=rate%28").await;
    bad.error(400, "bad_data");
    let backwards = get(&s, "/api/v1/query_exemplars?query=x&start=10&end=5").await;
    assert_eq!(
        backwards.error(400, "bad_data"),
        "end timestamp must not be before start timestamp"
    );
}

#[test]
fn engine_errors_map_to_prometheus_types_and_statuses() {
    use vigil_promql::{ErrorKind, QueryError};
    let cases = [
        (ErrorKind::BadData, 400, "bad_data"),
        (ErrorKind::Execution, 422, "execution"),
        (ErrorKind::Timeout, 503, "timeout"),
        (ErrorKind::Canceled, 499, "canceled"),
        (ErrorKind::Internal, 500, "internal"),
        (ErrorKind::Unavailable, 503, "unavailable"),
    ];
    for (kind, status, error_type) in cases {
        let err = super::engine_error(QueryError::new(kind, "boom"));
        assert_eq!(err.status().as_u16(), status);
        assert_eq!(err.message(), "boom");
        let body = axum::response::IntoResponse::into_response(err);
        assert_eq!(body.status().as_u16(), status);
        let _ = error_type;
    }
}

// ---- Evaluations through the engine. ----

#[tokio::test]
async fn grafana_health_check_gets_a_scalar() {
    let s = state();
    let reply = get(&s, "/api/v1/query?query=1%2B1&time=4").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
    );
    let form = post_form(&s, "/api/v1/query", "query=1%2B1&time=4").await;
    assert_eq!(form.body, reply.body);
}

#[tokio::test]
async fn special_values_and_times_are_formatted_like_prometheus() {
    let s = state();
    let cases = [
        ("1/0", "+Inf"),
        ("-1/0", "-Inf"),
        ("0/0", "NaN"),
        ("1e21", "1e+21"),
        ("0.0000001", "1e-07"),
        ("0.1%2B0.2", "0.30000000000000004"),
    ];
    for (query, value) in cases {
        let reply = get(&s, &format!("/api/v1/query?query={query}&time=1.5")).await;
        assert_eq!(
            reply.body,
            format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[1.500,"{value}"]}}}}"#
            ),
            "for {query}"
        );
    }
    let string = get(&s, "/api/v1/query?query=%22a%5C%22b%22&time=1435781451.781").await;
    assert_eq!(
        string.body,
        r#"{"status":"success","data":{"resultType":"string","result":[1435781451.781,"a\"b"]}}"#
    );
}

#[tokio::test]
async fn instant_vector_and_range_matrix_bodies() {
    let s = state_with(storage_with_up().await);
    let vector = get(&s, "/api/v1/query?query=up&time=300").await;
    assert_eq!(
        vector.body,
        concat!(
            r#"{"status":"success","data":{"resultType":"vector","result":["#,
            r#"{"metric":{"__name__":"up","instance":"i","job":"a"},"value":[300,"1"]},"#,
            r#"{"metric":{"__name__":"up","instance":"i","job":"b"},"value":[300,"0"]}]}}"#
        )
    );
    let matrix = post_form(
        &s,
        "/api/v1/query_range",
        "query=sum+by+%28job%29+%28up%29&start=0&end=30&step=15",
    )
    .await;
    assert_eq!(
        matrix.body,
        concat!(
            r#"{"status":"success","data":{"resultType":"matrix","result":["#,
            r#"{"metric":{"job":"a"},"values":[[0,"1"],[15,"1"],[30,"1"]]},"#,
            r#"{"metric":{"job":"b"},"values":[[0,"0"],[15,"0"],[30,"0"]]}]}}"#
        )
    );
    // Float-second steps as Grafana computes them, and RFC 3339 times.
    let fractional = get(
        &s,
        "/api/v1/query_range?query=up%7Bjob%3D%22a%22%7D&start=1970-01-01T00:00:00Z&end=1970-01-01T00:00:01Z&step=0.5",
    )
    .await;
    assert_eq!(
        fractional.json()["data"]["result"][0]["values"],
        json!([[0, "1"], [0.5, "1"], [1, "1"]])
    );
    // Another tenant sees nothing.
    let other = send(
        &s,
        Request::get("/api/v1/query?query=up&time=300")
            .header("X-Scope-OrgID", "other")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        other.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );
}

#[tokio::test]
async fn limit_truncates_with_a_warning() {
    let s = state_with(storage_with_up().await);
    let reply = get(&s, "/api/v1/query?query=up&time=300&limit=1").await;
    let json = reply.json();
    assert_eq!(json["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(json["warnings"], json!(["results truncated due to limit"]));
    let range = get(
        &s,
        "/api/v1/query_range?query=up&start=0&end=30&step=15&limit=1",
    )
    .await
    .json();
    assert_eq!(range["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(range["warnings"], json!(["results truncated due to limit"]));
    let unlimited = get(&s, "/api/v1/query?query=up&time=300&limit=0")
        .await
        .json();
    assert_eq!(unlimited["data"]["result"].as_array().unwrap().len(), 2);
    assert!(unlimited.get("warnings").is_none());
}

#[tokio::test]
async fn stats_have_prometheus_shape() {
    let s = state_with(storage_with_up().await);
    let basic = get(&s, "/api/v1/query?query=up&time=300&stats=true")
        .await
        .json();
    let stats = &basic["data"]["stats"];
    for key in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(stats["timings"][key].is_number(), "{key} in {stats}");
    }
    assert!(stats["samples"]["totalQueryableSamples"].as_u64().unwrap() >= 2);
    assert!(stats["samples"]["peakSamples"].is_u64());
    assert!(
        stats["samples"]
            .get("totalQueryableSamplesPerStep")
            .is_none()
    );
    let all = get(
        &s,
        "/api/v1/query_range?query=up&start=0&end=30&step=15&stats=all",
    )
    .await
    .json();
    let samples = &all["data"]["stats"]["samples"];
    assert!(
        samples["totalQueryableSamples"].as_u64().unwrap() >= 6,
        "{samples}"
    );
    let times: Vec<f64> = samples["totalQueryableSamplesPerStep"]
        .as_array()
        .unwrap_or_else(|| panic!("no per-step samples in {samples}"))
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect();
    assert_eq!(times, vec![0.0, 15.0, 30.0]);
    let plain = get(&s, "/api/v1/query?query=up&time=300").await.json();
    assert!(plain["data"].get("stats").is_none());
}

#[tokio::test]
async fn evaluation_errors_are_execution_422() {
    let s = state_with(storage_with_up().await);
    // Both sides match several series on `instance` without group_left: many-to-many.
    let reply = get(
        &s,
        "/api/v1/query?query=up%20%2B%20on%28instance%29%20up&time=300",
    )
    .await;
    reply.error(422, "execution");
}

#[tokio::test]
async fn an_expired_timeout_parameter_fails_with_errortype_timeout() {
    let s = state_with(storage_with_up().await);
    // 11,000 steps of an aggregation pass the engine's deadline checks many times.
    let reply = get(
        &s,
        "/api/v1/query_range?query=sum(up)&start=0&end=10999&step=1&timeout=0s",
    )
    .await;
    reply.error(503, "timeout");
    let fine = get(
        &s,
        "/api/v1/query_range?query=sum(up)&start=0&end=10999&step=1&timeout=1m",
    )
    .await;
    assert_eq!(fine.status, 200, "{}", fine.body);
}

#[tokio::test]
async fn dropping_the_request_future_cancels_the_evaluation() {
    use std::time::{Duration, Instant};
    let s = state();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let request = super::run_engine(
        &s,
        vigil_promql::QueryOptions::default(),
        Instant::now(),
        move |_, _, opts| {
            let flag = opts
                .cancel
                .clone()
                .expect("the handler passes a cancel flag");
            started_tx.send(()).unwrap();
            // Stand-in for a long evaluation that polls the flag, bounded so a bug cannot hang.
            let give_up = Instant::now() + Duration::from_secs(30);
            while !flag.load(Ordering::Acquire) && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(1));
            }
            seen_tx.send(flag.load(Ordering::Acquire)).unwrap();
            Err(vigil_promql::QueryError::new(
                vigil_promql::ErrorKind::Canceled,
                "stopped",
            ))
        },
    );
    let started = tokio::task::spawn_blocking(move || started_rx.recv());
    // Once the evaluation runs, the request future is dropped, as when the client disconnects.
    tokio::select! {
        _ = request => panic!("the evaluation finished before it was cancelled"),
        running = started => running.unwrap().unwrap(),
    }
    let seen = tokio::task::spawn_blocking(move || seen_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(seen, "the evaluation never saw the cancel flag");
}

#[tokio::test]
async fn form_values_win_over_the_query_string_as_in_prometheus() {
    let s = state();
    let request = Request::post("/api/v1/query?time=1&query=3")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("time=4&query=1%2B1"))
        .unwrap();
    let reply = send(&s, request).await;
    assert_eq!(
        reply.body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
    );
}
