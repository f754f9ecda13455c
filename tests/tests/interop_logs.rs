//! Real log clients from PyPI push to the real binary, and what they sent is read back
//! through the Loki query API with the labels and structured metadata Loki would give it:
//! python-logging-loki's `LokiHandler` (`POST /loki/api/v1/push`, JSON) and the
//! OpenTelemetry Python SDK's OTLP/HTTP log exporter (`POST /v1/logs`, protobuf).
//!
//! The Python packages live in the venv `scripts/install-test-deps.sh` creates; without
//! them the tests print a skip message, unless `VIGIL_REQUIRE_INTEROP=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_tests::Vigil;
use vigil_tests::logs::{ReadEntry, interop_python, now_ns, query_streams};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(name)
}

/// Runs a Python script and returns its stdout; panics with its output when it fails.
fn run_python(python: &Path, name: &str, args: &[&str]) -> String {
    let output = Command::new(python)
        .arg(script(name))
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "{name} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    assert!(!stderr.contains("Traceback"), "{name} printed: {stderr}");
    stdout
}

fn run_id() -> String {
    format!("run{}", now_ns() % 1_000_000_007)
}

#[test]
fn python_logging_loki_handler_pushes_land_as_loki_would_store_them() {
    let Some(python) = interop_python(
        "logging_loki",
        "python_logging_loki_handler_pushes_land_as_loki_would_store_them",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("data"), "");
    let run = run_id();
    let before = now_ns();
    let out = run_python(&python, "loki_handler.py", &[&vigil.url(""), &run]);
    let after = now_ns();
    assert_eq!(out.trim(), "sent 4");

    let selector = format!(r#"{{application="interop-loki", run="{run}"}}"#);
    let streams = query_streams(
        &vigil,
        &selector,
        before - 60_000_000_000,
        after + 60_000_000_000,
        "forward",
        100,
        None,
    );
    let mut got: Vec<(BTreeMap<String, String>, ReadEntry)> = streams
        .into_iter()
        .flat_map(|s| {
            let labels = s.labels;
            s.entries.into_iter().map(move |e| (labels.clone(), e))
        })
        .collect();
    got.sort_by_key(|(_, e)| e.ts_ns);
    let expected = [
        ("info", "checkout started for order o-1", None),
        ("warning", "payment slow: 2500 ms", None),
        ("error", "payment failed", Some("payments")),
        ("debug", "cache hit ratio 0.93", None),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((labels, entry), (severity, line, service)) in got.iter().zip(expected) {
        let mut want: BTreeMap<String, String> = [
            ("application", "interop-loki"),
            ("run", run.as_str()),
            ("severity", severity),
            ("logger", "vigil.interop"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        if let Some(service) = service {
            want.insert("service".into(), service.into());
        }
        assert_eq!(labels, &want, "{line}");
        assert_eq!(entry.line, line);
        assert!(
            (before..=after).contains(&entry.ts_ns),
            "{line}: time {} outside the script's run [{before}, {after}]",
            entry.ts_ns
        );
        // Loki takes the `severity` label as the level Grafana groups by.
        let metadata: BTreeMap<String, String> =
            [("detected_level".to_string(), severity.to_string())].into();
        assert_eq!(entry.metadata, metadata, "{line}");
    }

    // LogQL over what the client sent: a line filter and a label matcher on its tags.
    let filtered = query_streams(
        &vigil,
        &format!(r#"{{run="{run}", severity=~"warning|error"}} |= "payment""#),
        before - 60_000_000_000,
        after + 60_000_000_000,
        "backward",
        100,
        None,
    );
    let lines: Vec<&str> = filtered
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.line.as_str()))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
}

#[test]
fn opentelemetry_python_sdk_otlp_http_exports_land_as_loki_would_store_them() {
    let Some(python) = interop_python(
        "opentelemetry.exporter.otlp.proto.http",
        "opentelemetry_python_sdk_otlp_http_exports_land_as_loki_would_store_them",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("data"), "");
    let run = run_id();
    let before = now_ns();
    let out = run_python(&python, "otel_logs.py", &[&vigil.url("/v1/logs"), &run]);
    let after = now_ns();
    let ids: BTreeMap<&str, &str> = out
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let (trace_id, span_id) = (ids["trace_id"], ids["span_id"]);
    assert_eq!(trace_id.len(), 32, "{out}");
    assert_eq!(span_id.len(), 16, "{out}");

    let streams = query_streams(
        &vigil,
        r#"{service_name="interop-otel"}"#,
        before - 60_000_000_000,
        after + 60_000_000_000,
        "forward",
        100,
        None,
    );
    assert_eq!(streams.len(), 1, "one stream per resource: {streams:#?}");
    let labels: BTreeMap<String, String> = [
        ("service_name", "interop-otel"),
        ("service_namespace", "vigil-tests"),
        ("deployment_environment", "ci"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    // The SDK adds a random `service.instance.id`, an indexed attribute too.
    let mut got_labels = streams[0].labels.clone();
    let instance = got_labels.remove("service_instance_id");
    assert!(
        instance.is_some_and(|id| !id.is_empty()),
        "{:?}",
        streams[0].labels
    );
    assert_eq!(
        got_labels, labels,
        "indexed resource attributes become labels, the rest does not"
    );
    let entries = &streams[0].entries;
    let lines: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "inventory low",
            "charge declined for order o-2",
            "outside any span"
        ]
    );
    let expectations = [
        (
            "WARN",
            "13",
            "warn",
            true,
            &[("sku", "A-17"), ("remaining", "3")][..],
        ),
        ("ERROR", "17", "error", true, &[][..]),
        ("INFO", "9", "info", false, &[][..]),
    ];
    for (entry, (severity_text, severity_number, level, in_span, attributes)) in
        entries.iter().zip(expectations)
    {
        let line = &entry.line;
        assert!(
            (before..=after).contains(&entry.ts_ns),
            "{line}: time {} outside the exporter's run",
            entry.ts_ns
        );
        let m = &entry.metadata;
        let get = |name: &str| m.get(name).map(String::as_str);
        // Other resource attributes and the scope are structured metadata.
        assert_eq!(get("host_name"), Some("test-host"), "{line}: {m:?}");
        assert_eq!(get("run_id"), Some(run.as_str()), "{line}: {m:?}");
        assert_eq!(
            get("telemetry_sdk_language"),
            Some("python"),
            "{line}: {m:?}"
        );
        assert_eq!(
            get("scope_name"),
            Some("vigil.interop.otel"),
            "{line}: {m:?}"
        );
        // Severity, the derived level and the trace context.
        assert!(
            get("severity_text").is_some_and(|t| t.starts_with(severity_text)),
            "{line}: {m:?}"
        );
        assert_eq!(
            get("severity_number"),
            Some(severity_number),
            "{line}: {m:?}"
        );
        assert_eq!(get("detected_level"), Some(level), "{line}: {m:?}");
        if in_span {
            assert_eq!(get("trace_id"), Some(trace_id), "{line}: {m:?}");
            assert_eq!(get("span_id"), Some(span_id), "{line}: {m:?}");
        } else {
            assert_eq!(get("trace_id"), None, "{line}: {m:?}");
        }
        for (name, value) in attributes {
            assert_eq!(get(name), Some(*value), "{line}: {m:?}");
        }
        assert!(
            !m.contains_key("service_name"),
            "labels are not repeated as metadata"
        );
    }

    // The trace id is queryable the way Grafana's "logs for this span" link asks.
    let by_trace = query_streams(
        &vigil,
        &format!(r#"{{service_name="interop-otel"}} | trace_id="{trace_id}""#),
        before - 60_000_000_000,
        after + 60_000_000_000,
        "forward",
        100,
        None,
    );
    let lines: Vec<&str> = by_trace
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.line.as_str()))
        .collect();
    assert_eq!(lines, ["inventory low", "charge declined for order o-2"]);
}
