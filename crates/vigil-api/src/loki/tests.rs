//! The Loki read API through the router, over the in-memory log storage, with the requests
//! Grafana's Loki datasource sends.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use serde_json::{Value as Json, json};
use tower::ServiceExt;
use vigil_model::{Labels, LogEntry, TenantId};
use vigil_storage::log_memory::MemLogStorage;
use vigil_storage::memory::MemStorage;
use vigil_storage::{LogAppendOptions, LogAppendable};

use crate::{ApiOptions, ApiState, BuildInfo};

/// 2023-11-14T22:13:20Z, in seconds.
const BASE_S: i64 = 1_700_000_000;
const NS: i64 = 1_000_000_000;

fn state_with(logs: Option<MemLogStorage>) -> Arc<ApiState> {
    let storage = MemStorage::new();
    Arc::new(ApiState {
        appendable: Arc::new(storage.clone()),
        queryable: Arc::new(storage),
        options: ApiOptions {
            default_tenant: TenantId::new("fake").unwrap(),
            max_request_body_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 20,
        },
        build_info: BuildInfo {
            version: "0.1.0".into(),
            revision: "abc".into(),
            branch: "loki".into(),
            build_date: "today".into(),
            rustc_version: "rustc".into(),
        },
        ready: Arc::new(AtomicBool::new(true)),
        write_permits: tokio::sync::Semaphore::new(4),
        engine: vigil_promql::Engine::default(),
        logs: logs.map(|l| Arc::new(l) as Arc<dyn vigil_storage::LogQueryable>),
    })
}

async fn push(storage: &MemLogStorage, tenant: &str, stream: &Labels, entries: Vec<LogEntry>) {
    let mut appender =
        storage.log_appender(&TenantId::new(tenant).unwrap(), LogAppendOptions::default());
    for entry in entries {
        appender.append_entry(stream, entry).unwrap();
    }
    appender.commit().await.unwrap();
}

/// Tenant `fake`: `{app="api",env="prod"}` gets one logfmt line per second for 120 s
/// (every 10th an error with a `trace_id` in structured metadata), `{app="web"}` one JSON
/// line every 30 s. Tenant `other`: `{app="secret"}`.
async fn storage() -> MemLogStorage {
    let storage = MemLogStorage::new();
    let api = Labels::from_static(&[("app", "api"), ("env", "prod")]);
    let mut entries = Vec::new();
    for i in 0..120 {
        let ts = (BASE_S + i) * NS;
        if i % 10 == 0 {
            entries.push(LogEntry {
                timestamp_ns: ts,
                line: format!("level=error msg=\"db timeout\" duration=2s status=500 seq={i}"),
                structured_metadata: Labels::from_static(&[("trace_id", "t1")]),
            });
        } else {
            entries.push(LogEntry::new(
                ts,
                format!("level=info msg=\"request served\" duration=15ms status=200 seq={i}"),
            ));
        }
    }
    push(&storage, "fake", &api, entries).await;
    let web = Labels::from_static(&[("app", "web")]);
    let entries = (0..4)
        .map(|i| {
            LogEntry::new(
                (BASE_S + i * 30) * NS + 5,
                format!(r#"{{"level":"warn","path":"/p{i}","size":"1KB"}}"#),
            )
        })
        .collect();
    push(&storage, "fake", &web, entries).await;
    let secret = Labels::from_static(&[("app", "secret")]);
    push(
        &storage,
        "other",
        &secret,
        vec![LogEntry::new(BASE_S * NS, "hidden")],
    )
    .await;
    storage
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Json {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// Asserts a Loki plain-text error and returns its message.
    fn error(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert!(
            self.content_type.starts_with("text/plain"),
            "{}",
            self.content_type
        );
        self.body.trim_end().to_string()
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

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn get(state: &Arc<ApiState>, path: &str, pairs: &[(&str, &str)]) -> Reply {
    let uri = format!("{path}?{}", encode(pairs));
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_with(
    state: &Arc<ApiState>,
    path: &str,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Reply {
    let uri = format!("{path}?{}", encode(pairs));
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(state, request.body(Body::empty()).unwrap()).await
}

fn ns(seconds: i64) -> String {
    (seconds * NS).to_string()
}

#[tokio::test]
async fn grafana_save_and_test_gets_one_sample_of_value_two() {
    let s = state_with(Some(MemLogStorage::new()));
    // The exact request Grafana's health check sends.
    let reply = get(
        &s,
        "/loki/api/v1/query",
        &[
            ("direction", "backward"),
            ("query", "vector(1)+vector(1)"),
            ("time", "4000000000"),
        ],
    )
    .await;
    let json = reply.json();
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"]["resultType"], "vector");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["metric"], json!({}));
    assert_eq!(result[0]["value"][1], "2");
    // Ten digits are seconds to Loki.
    assert_eq!(result[0]["value"][0], json!(4_000_000_000_u64));
    assert!(json["data"]["stats"]["summary"].is_object());
}

#[tokio::test]
async fn explore_logs_query_returns_newest_lines_first_with_string_nanoseconds() {
    let s = state_with(Some(storage().await));
    let reply = get(
        &s,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward"),
            ("end", &ns(BASE_S + 120)),
            ("limit", "5"),
            ("query", r#"{app="api"} |= "level=error""#),
            ("start", &ns(BASE_S)),
            ("step", "60000ms"),
        ],
    )
    .await;
    let json = reply.json();
    assert_eq!(json["data"]["resultType"], "streams");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(
        result[0]["stream"],
        json!({"app": "api", "env": "prod", "trace_id": "t1"})
    );
    let values = result[0]["values"].as_array().unwrap();
    let times: Vec<&str> = values.iter().map(|v| v[0].as_str().unwrap()).collect();
    let expected: Vec<String> = [110, 100, 90, 80, 70]
        .iter()
        .map(|s| ns(BASE_S + s))
        .collect();
    assert_eq!(times, expected);
    assert!(values[0][1].as_str().unwrap().contains("seq=110"));
    assert_eq!(values[0].as_array().unwrap().len(), 2);
    // The store read only the error lines (the `|=` literal reached it as a hint; there are
    // 12 in the range), newest first, and stopped soon after the limit.
    let processed = json["data"]["stats"]["summary"]["totalLinesProcessed"]
        .as_u64()
        .unwrap();
    assert!((5..12).contains(&processed), "{processed} lines processed");
    assert_eq!(json["data"]["stats"]["summary"]["totalEntriesReturned"], 5);
    assert!(json["data"].get("encodingFlags").is_none());
}

#[tokio::test]
async fn forward_direction_and_every_time_format_agree() {
    let s = state_with(Some(storage().await));
    let starts = [
        ns(BASE_S + 30),
        (BASE_S + 30).to_string(),
        format!("{}.000", BASE_S + 30),
        "2023-11-14T22:13:50Z".to_string(),
    ];
    for start in &starts {
        let reply = get(
            &s,
            "/loki/api/v1/query_range",
            &[
                ("direction", "forward"),
                ("start", start),
                ("end", &ns(BASE_S + 40)),
                ("limit", "3"),
                ("query", r#"{app="api"} | logfmt | level="info""#),
            ],
        )
        .await;
        let json = reply.json();
        let result = json["data"]["result"].as_array().unwrap();
        let times: Vec<&str> = result
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap())
            .map(|v| v[0].as_str().unwrap())
            .collect();
        assert_eq!(
            times,
            vec![ns(BASE_S + 31), ns(BASE_S + 32), ns(BASE_S + 33)],
            "start={start}"
        );
        // Parsed labels join the stream identity without the categorize flag.
        assert_eq!(result[0]["stream"]["level"], "info");
        assert_eq!(result[0]["stream"]["duration"], "15ms");
    }
}

#[tokio::test]
async fn categorize_labels_flag_keeps_indexed_labels_and_adds_a_third_element() {
    let s = state_with(Some(storage().await));
    let reply = get_with(
        &s,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward"),
            ("start", &ns(BASE_S + 99)),
            ("end", &ns(BASE_S + 102)),
            ("query", r#"{app="api"} | logfmt"#),
        ],
        &[
            ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
            ("X-Query-Tags", "Source=logsample"),
        ],
    )
    .await;
    let json = reply.json();
    assert_eq!(json["data"]["encodingFlags"], json!(["categorize-labels"]));
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(
        result.len(),
        1,
        "one stream per indexed label set: {result:?}"
    );
    assert_eq!(result[0]["stream"], json!({"app": "api", "env": "prod"}));
    let values = result[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0][0], ns(BASE_S + 101));
    assert_eq!(values[0][2]["parsed"]["level"], "info");
    assert!(values[0][2].get("structuredMetadata").is_none());
    assert_eq!(values[1][0], ns(BASE_S + 100));
    assert_eq!(
        values[1][2]["structuredMetadata"],
        json!({"trace_id": "t1"})
    );
    assert_eq!(values[1][2]["parsed"]["level"], "error");
}

#[tokio::test]
async fn logs_volume_histogram_is_a_matrix_by_level() {
    let s = state_with(Some(storage().await));
    // As Grafana derives it from the Explore query, with step in milliseconds.
    let reply = get_with(
        &s,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward"),
            ("start", &ns(BASE_S)),
            ("end", &ns(BASE_S + 120)),
            (
                "query",
                r#"sum by (level, detected_level) (count_over_time({app="api"} | logfmt | drop __error__[1m]))"#,
            ),
            ("step", "60000ms"),
        ],
        &[
            ("X-Query-Tags", "Source=logvolhist"),
            ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
        ],
    )
    .await;
    let json = reply.json();
    assert_eq!(json["data"]["resultType"], "matrix");
    let mut series: Vec<(String, Vec<(i64, String)>)> = json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_i64().unwrap(), p[1].as_str().unwrap().to_string()))
                .collect();
            (s["metric"]["level"].as_str().unwrap().to_string(), points)
        })
        .collect();
    series.sort();
    // Points at BASE, +60, +120 count the preceding minute (left-open, right-closed).
    assert_eq!(
        series,
        vec![
            (
                "error".to_string(),
                vec![
                    (BASE_S, "1".to_string()),
                    (BASE_S + 60, "6".to_string()),
                    (BASE_S + 120, "5".to_string())
                ]
            ),
            (
                "info".to_string(),
                vec![
                    (BASE_S + 60, "54".to_string()),
                    (BASE_S + 120, "54".to_string())
                ]
            ),
        ]
    );
}

#[tokio::test]
async fn metric_panel_queries_answer_vectors_and_matrices() {
    let s = state_with(Some(storage().await));
    let reply = get(
        &s,
        "/loki/api/v1/query",
        &[
            ("query", r#"sum(count_over_time({app=~"api|web"}[2m]))"#),
            ("time", &ns(BASE_S + 120)),
        ],
    )
    .await;
    let json = reply.json();
    assert_eq!(
        json["data"]["result"][0]["value"],
        json!([BASE_S + 120, "123"])
    );
    let reply = get(
        &s,
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                r#"sum by (app) (rate({app=~".+"} | json | __error__="" [30s]))"#,
            ),
            ("start", &ns(BASE_S + 30)),
            ("end", &ns(BASE_S + 90)),
            ("step", "30"),
        ],
    )
    .await;
    let json = reply.json();
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "only web lines are JSON: {result:?}");
    assert_eq!(result[0]["metric"], json!({"app": "web"}));
    assert_eq!(
        result[0]["values"],
        json!([
            [BASE_S + 30, "0.03333333333333333"],
            [BASE_S + 60, "0.03333333333333333"],
            [BASE_S + 90, "0.03333333333333333"]
        ])
    );
}

#[tokio::test]
async fn interval_thins_log_results_per_stream() {
    let s = state_with(Some(storage().await));
    let reply = get(
        &s,
        "/loki/api/v1/query_range",
        &[
            ("direction", "forward"),
            ("start", &ns(BASE_S)),
            ("end", &ns(BASE_S + 10)),
            ("query", r#"{app="api"} != "error""#),
            ("interval", "3s"),
        ],
    )
    .await;
    let json = reply.json();
    let times: Vec<&str> = json["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[0].as_str().unwrap())
        .collect();
    assert_eq!(times, vec![ns(BASE_S + 1), ns(BASE_S + 4), ns(BASE_S + 7)]);
}

/// Path, query parameters, and a piece of the expected message.
type BadCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[tokio::test]
async fn bad_input_is_a_plain_text_400_naming_the_problem() {
    let s = state_with(Some(storage().await));
    let cases: &[BadCase] = &[
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=")],
            "parse error at line 1",
        ),
        (
            "/loki/api/v1/query_range",
            &[],
            "missing query parameter \"query\"",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("start", "yesterday")],
            "could not parse 'start' parameter",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("limit", "-1")],
            "limit must be a positive value",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("limit", "5001")],
            "max entries limit per query exceeded",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("direction", "sideways")],
            "invalid direction 'sideways'",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("step", "0")],
            "zero or negative query resolution step",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("start", "20"), ("end", "10")],
            "end timestamp must not be before or equal to start time",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "{app=\"api\"}"), ("step", "soon")],
            "could not parse 'step' parameter: cannot parse \"soon\"",
        ),
        (
            "/loki/api/v1/query",
            &[("query", "{app=\"api\"}")],
            "log queries are not supported as an instant query type",
        ),
        (
            "/loki/api/v1/labels",
            &[("query", "sum(rate({a=\"b\"}[1m]))")],
            "only log selectors are allowed here",
        ),
        (
            "/loki/api/v1/index/stats",
            &[],
            "missing query parameter \"query\"",
        ),
        (
            "/loki/api/v1/index/volume",
            &[("query", "{app=\"api\"}"), ("aggregateBy", "pods")],
            "invalid aggregateBy 'pods'",
        ),
        (
            "/loki/api/v1/tail",
            &[("query", "{app=\"api\"}"), ("delay_for", "9")],
            "delay_for can't be greater than 5",
        ),
        (
            "/loki/api/v1/format_query",
            &[("query", "sum(")],
            "parse error",
        ),
    ];
    for (path, pairs, expected) in cases {
        let reply = get(&s, path, pairs).await;
        let message = reply.error(400);
        assert!(
            message.contains(expected),
            "{path} {pairs:?}: {message:?} should contain {expected:?}"
        );
    }
}

#[tokio::test]
async fn label_browser_calls_answer_names_values_and_series() {
    let s = state_with(Some(storage().await));
    let range = [("start", ns(BASE_S)), ("end", ns(BASE_S + 120))];
    let range: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = get(&s, "/loki/api/v1/labels", &range).await.json();
    assert_eq!(json, json!({"status": "success", "data": ["app", "env"]}));
    let mut with_query = range.clone();
    with_query.push(("query", r#"{app="web"}"#));
    let json = get(&s, "/loki/api/v1/labels", &with_query).await.json();
    assert_eq!(json["data"], json!(["app"]));
    let json = get(&s, "/loki/api/v1/label/app/values", &range)
        .await
        .json();
    assert_eq!(json["data"], json!(["api", "web"]));
    let json = get(&s, "/loki/api/v1/label/env/values", &with_query)
        .await
        .json();
    assert_eq!(json["data"], json!([]));
    let mut series = range.clone();
    series.push(("match[]", r#"{app="web"}"#));
    series.push(("match[]", r#"{env="prod"}"#));
    let json = get(&s, "/loki/api/v1/series", &series).await.json();
    assert_eq!(
        json["data"],
        json!([{"app": "api", "env": "prod"}, {"app": "web"}])
    );
    // Outside the range nothing is listed.
    let json = get(
        &s,
        "/loki/api/v1/labels",
        &[("start", &ns(BASE_S - 100)), ("end", &ns(BASE_S - 1))],
    )
    .await
    .json();
    assert_eq!(json["data"], json!([]));
}

#[tokio::test]
async fn index_stats_is_bare_and_counts_the_selected_streams() {
    let s = state_with(Some(storage().await));
    let reply = get(
        &s,
        "/loki/api/v1/index/stats",
        &[
            ("query", r#"{app="web"}"#),
            ("start", &ns(BASE_S)),
            ("end", &ns(BASE_S + 120)),
        ],
    )
    .await;
    let json = reply.json();
    let line_bytes: u64 = (0..4)
        .map(|i| format!(r#"{{"level":"warn","path":"/p{i}","size":"1KB"}}"#).len() as u64)
        .sum();
    assert_eq!(
        json,
        json!({"streams": 1, "chunks": 1, "entries": 4, "bytes": line_bytes})
    );
}

#[tokio::test]
async fn volume_ranks_groups_and_volume_range_buckets_by_step() {
    let s = state_with(Some(storage().await));
    let range = [
        ("query", r#"{app=~".+"}"#.to_string()),
        ("start", ns(BASE_S)),
        ("end", ns(BASE_S + 119)),
    ];
    let mut pairs: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = get(&s, "/loki/api/v1/index/volume", &pairs).await.json();
    assert_eq!(json["data"]["resultType"], "vector");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(result[0]["metric"], json!({"app": "api"}));
    assert_eq!(result[1]["metric"], json!({"app": "web"}));
    assert_eq!(result[0]["value"][0], json!(BASE_S + 119));
    pairs.push(("targetLabels", "env"));
    let json = get(&s, "/loki/api/v1/index/volume", &pairs).await.json();
    let metrics: Vec<&Json> = json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["metric"])
        .collect();
    assert_eq!(metrics, vec![&json!({"env": "prod"}), &json!({})]);
    pairs.pop();
    pairs.push(("step", "60"));
    pairs.push(("limit", "1"));
    let json = get(&s, "/loki/api/v1/index/volume_range", &pairs)
        .await
        .json();
    assert_eq!(json["data"]["resultType"], "matrix");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "limit keeps the largest group");
    assert_eq!(result[0]["metric"], json!({"app": "api"}));
    let times: Vec<i64> = result[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(times, vec![BASE_S, BASE_S + 60]);
}

#[tokio::test]
async fn detected_labels_and_fields_describe_the_selected_logs() {
    let s = state_with(Some(storage().await));
    let range = [("start", ns(BASE_S)), ("end", ns(BASE_S + 120))];
    let mut pairs: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = get(&s, "/loki/api/v1/detected_labels", &pairs).await.json();
    assert_eq!(
        json,
        json!({"detectedLabels": [{"label": "app", "cardinality": 2}, {"label": "env", "cardinality": 1}]})
    );
    pairs.push(("query", r#"{app="api"}"#));
    let json = get(&s, "/loki/api/v1/detected_fields", &pairs).await.json();
    assert_eq!(json["limit"], 1000);
    let fields: Vec<(String, String, Json)> = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["label"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
                f["parsers"].clone(),
            )
        })
        .collect();
    let by_name = |name: &str| fields.iter().find(|f| f.0 == name).cloned();
    assert_eq!(
        by_name("duration"),
        Some(("duration".into(), "duration".into(), json!(["logfmt"])))
    );
    assert_eq!(
        by_name("status"),
        Some(("status".into(), "int".into(), json!(["logfmt"])))
    );
    assert_eq!(
        by_name("trace_id"),
        Some(("trace_id".into(), "string".into(), Json::Null))
    );
    assert!(by_name("app").is_none(), "stream labels are not fields");
    let level = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "level")
        .unwrap();
    assert_eq!(level["cardinality"], 2);
    let json = get(&s, "/loki/api/v1/detected_field/level/values", &pairs)
        .await
        .json();
    assert_eq!(json, json!({"values": ["error", "info"], "limit": 1000}));
    pairs.pop();
    pairs.push(("query", r#"{app="web"}"#));
    let json = get(&s, "/loki/api/v1/detected_fields", &pairs).await.json();
    let size = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "size")
        .unwrap();
    assert_eq!(size["type"], "bytes");
    assert_eq!(size["parsers"], json!(["json"]));
}

#[tokio::test]
async fn patterns_buildinfo_and_format_query_answer_in_loki_shapes() {
    let s = state_with(Some(storage().await));
    let json = get(
        &s,
        "/loki/api/v1/patterns",
        &[("query", r#"{app="api"}"#), ("step", "60s")],
    )
    .await
    .json();
    assert_eq!(json, json!({"status": "success", "data": []}));
    let json = get(&s, "/loki/api/v1/status/buildinfo", &[]).await.json();
    assert_eq!(json["version"], "3.4.0");
    assert_eq!(json["revision"], "abc");
    assert!(json.get("status").is_none());
    let json = get(
        &s,
        "/loki/api/v1/format_query",
        &[("query", r#"sum by(app)(rate({app="api"}|="x"[5m]))"#)],
    )
    .await
    .json();
    assert_eq!(json["status"], "success");
    let formatted = json["data"].as_str().unwrap();
    assert!(vigil_logql::parse(formatted).is_ok(), "{formatted}");
    assert!(formatted.contains(r#"|= "x""#), "{formatted}");
}

#[tokio::test]
async fn tenants_only_see_their_own_logs() {
    let s = state_with(Some(storage().await));
    let range = [("start", ns(BASE_S)), ("end", ns(BASE_S + 120))];
    let pairs: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = get_with(
        &s,
        "/loki/api/v1/label/app/values",
        &pairs,
        &[("X-Scope-OrgID", "other")],
    )
    .await
    .json();
    assert_eq!(json["data"], json!(["secret"]));
    let mut query = pairs.clone();
    query.push(("query", r#"{app="secret"}"#));
    let json = get(&s, "/loki/api/v1/query_range", &query).await.json();
    assert_eq!(json["data"]["result"], json!([]));
}

#[tokio::test]
async fn without_a_log_store_every_route_answers_503() {
    let s = state_with(None);
    for path in [
        "/loki/api/v1/query_range",
        "/loki/api/v1/query",
        "/loki/api/v1/labels",
        "/loki/api/v1/label/app/values",
        "/loki/api/v1/series",
        "/loki/api/v1/index/stats",
        "/loki/api/v1/index/volume",
        "/loki/api/v1/detected_labels",
        "/loki/api/v1/detected_fields",
    ] {
        let reply = get(&s, path, &[("query", r#"{app="api"}"#)]).await;
        assert_eq!(
            reply.error(503),
            "no log store is configured on this server",
            "{path}"
        );
    }
}

/// Reads the next text frame, failing the test after 20 s instead of hanging.
async fn next_frame<S>(socket: &mut S) -> Json
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("no tail frame within 20 s")
            .expect("socket closed")
            .expect("socket error");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn live_tail_sends_recent_lines_then_new_ones() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let logs = MemLogStorage::new();
    let stream = Labels::from_static(&[("app", "live")]);
    let now = super::params::now_ns();
    push(
        &logs,
        "fake",
        &stream,
        vec![
            LogEntry::new(now - 3 * NS, "old one"),
            LogEntry::new(now - 2 * NS, "old two"),
            LogEntry::new(now - NS, "noise"),
        ],
    )
    .await;
    let s = state_with(Some(logs.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, crate::router(s)).into_future());
    let query = encode(&[
        ("query", r#"{app="live"} |= "o""#),
        ("start", &(now - 10 * NS).to_string()),
        ("limit", "10"),
    ]);
    let mut request = format!("ws://{addr}/loki/api/v1/tail?{query}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "X-Loki-Response-Encoding-Flags",
        "categorize-labels".parse().unwrap(),
    );
    let (mut socket, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("connect within 20 s")
    .unwrap();
    let first = next_frame(&mut socket).await;
    assert_eq!(first["streams"][0]["stream"], json!({"app": "live"}));
    let lines: Vec<&str> = first["streams"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_str().unwrap())
        .collect();
    assert_eq!(lines, vec!["old one", "old two", "noise"]);
    assert_eq!(first["streams"][0]["values"][0][2], json!({}));
    assert_eq!(first["dropped_entries"], Json::Null);
    // A line written after the tail started arrives in a later frame.
    push(
        &logs,
        "fake",
        &stream,
        vec![LogEntry::new(super::params::now_ns(), "fresh one")],
    )
    .await;
    let next = next_frame(&mut socket).await;
    assert_eq!(next["streams"][0]["values"][0][1], "fresh one");
    socket.close(None).await.unwrap();
    server.abort();
}
