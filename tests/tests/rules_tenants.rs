//! Rules per tenant and namespace, as Loki's ruler organises them: groups under
//! `<tenant_directory>/<tenant>/<namespace>.yaml` run as that tenant (LogQL by default, so
//! Loki rule files work unchanged), their results land in that tenant's TSDB only, the rules
//! APIs show each tenant its own groups, and the Cortex/Loki ruler API writes namespaces that
//! start running at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vigil_ingest::proto::v1 as pb1;
use vigil_tests::{Vigil, now_ms, series_v1};

/// Polls an instant query as `tenant` until its first value equals `want`.
fn wait_for_value(vigil: &Vigil, tenant: &str, query: &str, want: &str) {
    let path = format!("/api/v1/query?query={}", vigil_tests::encode(query));
    let mut last = String::new();
    for _ in 0..200 {
        let reply = vigil.get(&path, Some(tenant));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        if body["data"]["result"][0]["value"][1] == want {
            return;
        }
        last = reply.body;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{query} as {tenant} never became {want}; last answer: {last}");
}

fn group_names(vigil: &Vigil, path: &str, tenant: Option<&str>) -> Vec<String> {
    let reply = vigil.get(path, tenant);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    body["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tenant_directories_run_each_tenants_rules_in_its_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("ruler");
    std::fs::create_dir_all(tenants.join("team-a")).unwrap();
    std::fs::create_dir_all(tenants.join("team-b")).unwrap();
    // A Loki rule file, unchanged: no `language:` key, LogQL expressions.
    std::fs::write(
        tenants.join("team-a/logs.yaml"),
        "groups:\n- name: log-errors\n  interval: 1s\n  rules:\n  - record: app:error_lines:count5m\n    expr: sum by (app) (count_over_time({app=\"checkout\"} |= \"error\" [5m]))\n",
    )
    .unwrap();
    // A PromQL group in a tenant directory says so.
    std::fs::write(
        tenants.join("team-b/metrics.yml"),
        "groups:\n- name: doubled\n  language: promql\n  interval: 1s\n  rules:\n  - record: job:up:doubled\n    expr: up * 2\n",
    )
    .unwrap();
    let config = format!(
        "rules:\n  files: []\n  evaluation_interval: 1s\n  tenant_directory: \"{}\"\n",
        tenants.display()
    );
    let vigil = Vigil::start(&dir.path().join("data"), &config);

    vigil.push_error_lines(Some("team-a"), "checkout", 5);
    vigil.push_error_lines(Some("team-b"), "checkout", 9);
    let now = now_ms();
    let write = pb1::WriteRequest {
        timeseries: vec![series_v1(
            &[("__name__", "up"), ("job", "api")],
            &[(now, 1.0)],
        )],
        ..Default::default()
    };
    assert_eq!(vigil.write_v1(&write, Some("team-b")).status, 204);

    // team-a's LogQL rule counted team-a's lines only, into team-a's TSDB.
    wait_for_value(&vigil, "team-a", "app:error_lines:count5m", "5");
    wait_for_value(&vigil, "team-b", "job:up:doubled", "2");
    for (tenant, metric) in [
        ("team-b", "app:error_lines:count5m"),
        ("team-a", "job:up:doubled"),
    ] {
        let path = format!("/api/v1/query?query={metric}");
        let body = vigil.get(&path, Some(tenant)).json();
        assert_eq!(
            body["data"]["result"],
            serde_json::json!([]),
            "{metric} leaked into {tenant}"
        );
    }
    // The default tenant has no rules at all.
    assert!(group_names(&vigil, "/api/v1/rules", None).is_empty());

    // Each tenant sees its own groups, under Prometheus' and Loki's paths alike.
    for path in ["/api/v1/rules", "/prometheus/api/v1/rules"] {
        assert_eq!(
            group_names(&vigil, path, Some("team-a")),
            vec!["log-errors"]
        );
        assert_eq!(group_names(&vigil, path, Some("team-b")), vec!["doubled"]);
    }
    let body = vigil.get("/api/v1/rules", Some("team-a")).json();
    let file = body["data"]["groups"][0]["file"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(file.ends_with("team-a/logs.yaml"), "{file}");
    assert_eq!(
        vigil.get("/api/v1/rules", Some("bad tenant!")).status,
        400,
        "an invalid X-Scope-OrgID is refused"
    );
}

#[test]
fn ruler_api_writes_namespaces_that_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("ruler");
    let config = format!(
        "rules:\n  files: []\n  evaluation_interval: 1s\n  tenant_directory: \"{}\"\n",
        tenants.display()
    );
    let vigil = Vigil::start(&dir.path().join("data"), &config);
    let team = [("X-Scope-OrgID", "team-a")];

    // Nothing yet: Cortex answers 404 "no rule groups found".
    let reply = vigil.get_with_headers("/loki/api/v1/rules", &team);
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(
        reply.body.contains("no rule groups found"),
        "{}",
        reply.body
    );

    // lokitool/cortextool post one group per request, in YAML.
    let group = "name: checkout-errors\ninterval: 1s\nrules:\n  - record: app:error_lines:count1m\n    expr: sum by (app) (count_over_time({app=\"checkout\"} |= \"error\" [1m]))\n  - alert: CheckoutErrors\n    expr: sum by (app) (count_over_time({app=\"checkout\"} |= \"error\" [1m])) > 3\n    labels:\n      severity: page\n";
    let reply = vigil.post_raw(
        "/loki/api/v1/rules/shop",
        &[
            ("X-Scope-OrgID", "team-a"),
            ("Content-Type", "application/yaml"),
        ],
        group.as_bytes().to_vec(),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.json()["status"], "success");
    assert!(tenants.join("team-a/shop.yaml").is_file());

    // Read back in Cortex' shapes.
    let listed = vigil.get_with_headers("/loki/api/v1/rules", &team);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.header("content-type"), Some("application/yaml"));
    assert!(listed.body.starts_with("shop:"), "{}", listed.body);
    assert!(listed.body.contains("checkout-errors"), "{}", listed.body);
    let one = vigil.get_with_headers("/loki/api/v1/rules/shop/checkout-errors", &team);
    assert_eq!(one.status, 200, "{}", one.body);
    assert!(
        one.body.starts_with("name: checkout-errors"),
        "{}",
        one.body
    );
    assert!(one.body.contains("severity: page"), "{}", one.body);
    // Other tenants see nothing of it.
    assert_eq!(
        vigil
            .get_with_headers("/loki/api/v1/rules/shop", &[("X-Scope-OrgID", "team-b")])
            .status,
        404
    );

    // The group runs at once, as team-a.
    vigil.push_error_lines(Some("team-a"), "checkout", 4);
    wait_for_value(&vigil, "team-a", "app:error_lines:count1m", "4");
    let mut state = String::new();
    for _ in 0..100 {
        let body = vigil
            .get("/prometheus/api/v1/alerts", Some("team-a"))
            .json();
        state = body["data"]["alerts"][0]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if state == "firing" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state, "firing", "CheckoutErrors never fired");

    // Bad requests are 400s naming the problem, and change nothing.
    for (path, body, needle) in [
        (
            "/loki/api/v1/rules/shop",
            "name: x\nrules:\n  - record: r\n    expr: '{app=\"x\"}'\n",
            "metric queries",
        ),
        ("/loki/api/v1/rules/shop", "rules: []\n", "no name"),
        (
            "/loki/api/v1/rules/shop",
            "name: [unterminated\n",
            "not valid YAML",
        ),
        ("/loki/api/v1/rules/.hidden", group, "invalid namespace"),
    ] {
        let reply = vigil.post_raw(path, &team, body.as_bytes().to_vec());
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.body.contains(needle), "{body}: {}", reply.body);
    }
    assert_eq!(
        group_names(&vigil, "/api/v1/rules", Some("team-a")),
        vec!["checkout-errors"]
    );

    // Deleting the group stops it and removes the namespace file with its last group.
    let reply = vigil.delete("/loki/api/v1/rules/shop/checkout-errors", &team);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(group_names(&vigil, "/api/v1/rules", Some("team-a")).is_empty());
    assert!(!tenants.join("team-a/shop.yaml").exists());
    assert_eq!(vigil.delete("/loki/api/v1/rules/shop", &team).status, 404);
}

#[test]
fn ruler_api_without_a_tenant_directory_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(&dir.path().join("data"), "rules:\n  files: []\n");
    let reply = vigil.get("/loki/api/v1/rules", None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("rules.tenant_directory"),
        "{}",
        reply.body
    );
}
