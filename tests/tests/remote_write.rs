//! End-to-end: the real binary receives remote_write 1.0 and 2.0 and serves what it stored
//! through the Prometheus read endpoints; every class of bad input gets its 4xx.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use serde_json::{Value, json};
use vigil_ingest::proto::{v1 as pb1, v2 as pb2};
use vigil_tests::{Vigil, encode, now_ms, series_data, series_v1, snappy};

fn start() -> (tempfile::TempDir, Vigil) {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("data"), "");
    (dir, vigil)
}

#[test]
fn health_and_build_info() {
    let (_dir, vigil) = start();
    let healthy = vigil.get("/-/healthy", None);
    assert_eq!(healthy.status, 200);
    let head = vigil_tests::agent()
        .head(vigil.url("/-/healthy"))
        .call()
        .unwrap();
    assert_eq!(
        head.status().as_u16(),
        200,
        "HEAD works for load balancer probes"
    );
    assert_eq!(vigil.get("/-/ready", None).status, 200);
    let info = vigil.get("/api/v1/status/buildinfo", None).json();
    assert_eq!(info["status"], "success");
    assert!(info["data"]["version"].is_string());
    assert!(
        info["data"].get("features").is_none(),
        "no features map, or Grafana assumes Mimir"
    );
    let missing = vigil.get("/api/v1/nope", None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["errorType"], "not_found");
}

#[test]
fn remote_write_v1_round_trips_through_read_endpoints() {
    let (_dir, vigil) = start();
    let t0 = now_ms() - 60_000;
    let request = pb1::WriteRequest {
        timeseries: vec![
            // Unsorted labels are sorted, not rejected.
            series_v1(
                &[
                    ("job", "api"),
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                ],
                &[(t0, 1.0), (t0 + 15_000, 2.0)],
            ),
            series_v1(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("code", "500"),
                ],
                &[(t0, 7.0)],
            ),
            series_v1(
                &[("__name__", "up"), ("job", "web"), ("instance", "a:9100")],
                &[(t0, 1.0)],
            ),
        ],
        metadata: vec![pb1::MetricMetadata {
            r#type: 1,
            metric_family_name: "http_requests_total".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
    };
    let reply = vigil.write_v1(&request, None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    // Mimir's path takes the same protocol (another tenant, to leave the checks below alone).
    let mimir = pb1::WriteRequest {
        timeseries: vec![series_v1(&[("__name__", "via_push_path")], &[(t0, 1.0)])],
        metadata: vec![],
    };
    let body = snappy(&mimir.encode_to_vec());
    let pushed = vigil.post_raw(
        "/api/v1/push",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Scope-OrgID", "mimir"),
        ],
        body,
    );
    assert_eq!(pushed.status, 204, "{}", pushed.body);
    assert_eq!(
        series_data(&vigil.get("/api/v1/series?match[]=via_push_path", Some("mimir"))).len(),
        1
    );

    let series = series_data(&vigil.get("/api/v1/series?match[]=http_requests_total", None));
    let expected = vec![
        json!({"__name__": "http_requests_total", "code": "200", "job": "api"}),
        json!({"__name__": "http_requests_total", "code": "500", "job": "api"}),
    ];
    assert_eq!(
        series.into_iter().map(Value::Object).collect::<Vec<_>>(),
        expected
    );

    // POST form, as Grafana sends by default, with a regex matcher and a time range.
    let start = ((t0 - 1000) / 1000).to_string();
    let end = ((t0 + 60_000) / 1000).to_string();
    let posted = series_data(&vigil.post_form(
        "/api/v1/series",
        &[
            ("match[]", r#"{__name__=~"up|nothing", job!="api"}"#),
            ("start", &start),
            ("end", &end),
        ],
        None,
    ));
    assert_eq!(
        posted,
        vec![
            json!({"__name__": "up", "instance": "a:9100", "job": "web"})
                .as_object()
                .unwrap()
                .clone()
        ]
    );

    let labels = vigil.get("/api/v1/labels", None).json();
    assert_eq!(
        labels["data"],
        json!(["__name__", "code", "instance", "job"])
    );
    let values = vigil.get("/api/v1/label/__name__/values", None).json();
    assert_eq!(values["data"], json!(["http_requests_total", "up"]));
    let jobs = vigil
        .get("/api/v1/label/job/values?match[]=up", None)
        .json();
    assert_eq!(jobs["data"], json!(["web"]));
    let limited = vigil
        .get("/api/v1/label/__name__/values?limit=1", None)
        .json();
    assert_eq!(limited["data"], json!(["http_requests_total"]));
    assert_eq!(
        limited["warnings"],
        json!(["results truncated due to limit"])
    );

    let metadata = vigil.get("/api/v1/metadata", None).json();
    assert_eq!(
        metadata["data"],
        json!({"http_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}]})
    );

    let status = vigil.get("/api/v1/status/tsdb", None).json();
    assert_eq!(status["data"]["headStats"]["numSeries"], 3);
    assert_eq!(
        status["data"]["seriesCountByMetricName"][0],
        json!({"name": "http_requests_total", "value": 2})
    );
}

#[test]
fn remote_write_v2_with_symbols_metadata_and_written_headers() {
    let (_dir, vigil) = start();
    let t0 = now_ms() - 30_000;
    let symbols: Vec<String> = [
        "",
        "__name__",
        "node_cpu_seconds_total",
        "cpu",
        "0",
        "mode",
        "idle",
        "Seconds the CPUs spent.",
        "seconds",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let request = pb2::Request {
        symbols,
        timeseries: vec![pb2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4, 5, 6],
            samples: vec![
                pb2::Sample {
                    value: 10.5,
                    timestamp: t0,
                    start_timestamp: 0,
                },
                pb2::Sample {
                    value: 11.5,
                    timestamp: t0 + 15_000,
                    start_timestamp: 0,
                },
            ],
            metadata: Some(pb2::Metadata {
                r#type: 1,
                help_ref: 7,
                unit_ref: 8,
            }),
            ..Default::default()
        }],
    };
    let reply = vigil.write_v2(&request, None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(
        reply.header("x-prometheus-remote-write-samples-written"),
        Some("2")
    );
    assert_eq!(
        reply.header("x-prometheus-remote-write-histograms-written"),
        Some("0")
    );
    assert_eq!(
        reply.header("x-prometheus-remote-write-exemplars-written"),
        Some("0")
    );
    let series = series_data(&vigil.get("/api/v1/series?match[]=node_cpu_seconds_total", None));
    assert_eq!(
        Value::Object(series[0].clone()),
        json!({"__name__": "node_cpu_seconds_total", "cpu": "0", "mode": "idle"})
    );
    let metadata = vigil
        .get("/api/v1/metadata?metric=node_cpu_seconds_total", None)
        .json();
    assert_eq!(
        metadata["data"]["node_cpu_seconds_total"][0],
        json!({"type": "counter", "help": "Seconds the CPUs spent.", "unit": "seconds"})
    );
}

#[test]
fn bad_input_gets_the_right_status() {
    // Prometheus' strict mode (no out-of-order time window), so the per-series 10 minute
    // window below is what decides.
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(
        &dir.path().join("data"),
        "storage:\n  tsdb:\n    out_of_order_time_window: 0s\n",
    );
    let t0 = now_ms() - 60_000;
    let proto_v1 = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
    ];

    let not_snappy = vigil.post_raw(
        "/api/v1/write",
        &proto_v1,
        b"\xff\xff\xff\xff\xffgarbage".to_vec(),
    );
    assert_eq!(
        not_snappy.status, 400,
        "malformed snappy: {}",
        not_snappy.body
    );
    assert!(not_snappy.body.contains("snappy"), "{}", not_snappy.body);

    let not_protobuf = vigil.post_raw(
        "/api/v1/write",
        &proto_v1,
        snappy(b"\x0a\xff\xff\xff\xff\x0f"),
    );
    assert_eq!(
        not_protobuf.status, 400,
        "malformed protobuf: {}",
        not_protobuf.body
    );

    let write_one = |labels: &[(&str, &str)]| {
        vigil.write_v1(
            &pb1::WriteRequest {
                timeseries: vec![series_v1(labels, &[(t0, 1.0)])],
                metadata: vec![],
            },
            None,
        )
    };
    let invalid_name = write_one(&[("__name__", "ok"), ("1bad", "x")]);
    assert_eq!(invalid_name.status, 400, "{}", invalid_name.body);
    assert!(
        invalid_name.body.contains("1bad"),
        "message names the label: {}",
        invalid_name.body
    );
    let duplicate = write_one(&[("__name__", "ok"), ("a", "1"), ("a", "2")]);
    assert_eq!(duplicate.status, 400, "{}", duplicate.body);
    let no_name = write_one(&[("job", "x")]);
    assert_eq!(no_name.status, 400, "{}", no_name.body);

    // Out of order beyond the 10 minute window.
    let ok = write_one(&[("__name__", "ooo_metric")]);
    assert_eq!(ok.status, 204, "{}", ok.body);
    let too_old = vigil.write_v1(
        &pb1::WriteRequest {
            timeseries: vec![series_v1(
                &[("__name__", "ooo_metric")],
                &[(t0 - 3_600_000, 1.0)],
            )],
            metadata: vec![],
        },
        None,
    );
    assert_eq!(too_old.status, 400, "{}", too_old.body);
    assert!(too_old.body.contains("out of order"), "{}", too_old.body);

    let future = vigil.write_v1(
        &pb1::WriteRequest {
            timeseries: vec![series_v1(
                &[("__name__", "future_metric")],
                &[(now_ms() + 86_400_000, 1.0)],
            )],
            metadata: vec![],
        },
        None,
    );
    assert_eq!(future.status, 400, "{}", future.body);
    assert!(future.body.contains("future"), "{}", future.body);

    let wrong_type = vigil.post_raw(
        "/api/v1/write",
        &[("Content-Type", "application/json")],
        b"{}".to_vec(),
    );
    assert_eq!(wrong_type.status, 415, "{}", wrong_type.body);
    let wrong_proto = vigil.post_raw(
        "/api/v1/write",
        &[
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v3.Request",
            ),
            ("Content-Encoding", "snappy"),
        ],
        snappy(b""),
    );
    assert_eq!(wrong_proto.status, 415, "{}", wrong_proto.body);

    // Bigger than the 32 MiB decompressed limit: snappy of zeros is tiny on the wire.
    let huge = vec![0u8; 33 << 20];
    let too_large = vigil.post_raw("/api/v1/write", &proto_v1, snappy(&huge));
    assert_eq!(too_large.status, 413, "{}", too_large.body);

    // v2 label reference outside the symbol table.
    let bad_ref = pb2::Request {
        symbols: vec!["".into(), "__name__".into()],
        timeseries: vec![pb2::TimeSeries {
            labels_refs: vec![1, 9],
            samples: vec![pb2::Sample {
                value: 1.0,
                timestamp: t0,
                start_timestamp: 0,
            }],
            ..Default::default()
        }],
    };
    let reply = vigil.write_v2(&bad_ref, None);
    assert_eq!(reply.status, 400, "{}", reply.body);

    // Native histograms are not stored yet: counted, rejected with a 400 that says so, and the
    // float samples of the same request are still written.
    let histogram = pb2::Request {
        symbols: vec![
            "".into(),
            "__name__".into(),
            "latency_seconds".into(),
            "floats_beside".into(),
        ],
        timeseries: vec![
            pb2::TimeSeries {
                labels_refs: vec![1, 2],
                histograms: vec![pb2::Histogram {
                    timestamp: t0,
                    ..Default::default()
                }],
                ..Default::default()
            },
            pb2::TimeSeries {
                labels_refs: vec![1, 3],
                samples: vec![pb2::Sample {
                    value: 1.0,
                    timestamp: t0,
                    start_timestamp: 0,
                }],
                ..Default::default()
            },
        ],
    };
    let reply = vigil.write_v2(&histogram, None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("native histogram"), "{}", reply.body);
    assert_eq!(
        reply.header("x-prometheus-remote-write-samples-written"),
        Some("1")
    );
    assert_eq!(
        reply.header("x-prometheus-remote-write-histograms-written"),
        Some("0")
    );

    // Read-side bad input.
    let no_match = vigil.get("/api/v1/series", None);
    assert_eq!(no_match.status, 400);
    assert_eq!(no_match.json()["errorType"], "bad_data");
    assert_eq!(
        vigil
            .get(&format!("/api/v1/series?match[]={}", encode("up{")), None)
            .status,
        400
    );
    assert_eq!(
        vigil
            .get(
                &format!("/api/v1/series?match[]={}", encode("{job=\"\"}")),
                None
            )
            .status,
        400
    );
    assert_eq!(
        vigil.get("/api/v1/labels?start=yesterday", None).status,
        400
    );
    assert_eq!(
        vigil.get("/api/v1/labels?start=20&end=10", None).status,
        400
    );
    assert_eq!(
        vigil
            .get("/api/v1/series?match[]=up", Some("bad/tenant"))
            .status,
        400
    );

    // Nothing good was lost: the valid series is there and the bad ones are not.
    let stored = series_data(&vigil.get(
        &format!("/api/v1/series?match[]={}", encode("{__name__=~\".+\"}")),
        None,
    ));
    let names: Vec<&str> = stored
        .iter()
        .map(|s| s["__name__"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["floats_beside", "ooo_metric"], "{stored:?}");
    let raw = pb1::WriteRequest::default().encode_to_vec();
    assert!(raw.is_empty());
}

#[test]
fn tenants_never_see_each_other() {
    let (_dir, vigil) = start();
    let t0 = now_ms() - 60_000;
    for (tenant, job) in [("team-a", "checkout"), ("team-b", "search")] {
        let request = pb1::WriteRequest {
            timeseries: vec![series_v1(&[("__name__", "up"), ("job", job)], &[(t0, 1.0)])],
            metadata: vec![pb1::MetricMetadata {
                r#type: 2,
                metric_family_name: "up".into(),
                help: format!("{tenant} help"),
                unit: String::new(),
            }],
        };
        assert_eq!(vigil.write_v1(&request, Some(tenant)).status, 204);
    }
    for (tenant, job) in [("team-a", "checkout"), ("team-b", "search")] {
        let series = series_data(&vigil.get("/api/v1/series?match[]=up", Some(tenant)));
        assert_eq!(series.len(), 1);
        assert_eq!(series[0]["job"], job);
        let values = vigil.get("/api/v1/label/job/values", Some(tenant)).json();
        assert_eq!(values["data"], json!([job]));
        let metadata = vigil.get("/api/v1/metadata", Some(tenant)).json();
        assert_eq!(metadata["data"]["up"][0]["help"], format!("{tenant} help"));
    }
    // The default tenant saw nothing.
    assert!(series_data(&vigil.get("/api/v1/series?match[]=up", None)).is_empty());
    // Blocks of each tenant go under its own prefix (checked in the block test).
}
