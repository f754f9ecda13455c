//! LogQL rule groups end to end: logs pushed through `/loki/api/v1/push` are counted by a
//! `language: logql` recording rule, whose result lands in the TSDB and is read back with
//! PromQL; a LogQL group whose expression is a log query is refused at load time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vigil_tests::Vigil;

#[test]
fn logql_recording_rules_write_into_the_tsdb() {
    let dir = tempfile::tempdir().unwrap();
    let rule_path = dir.path().join("logs.yml");
    std::fs::write(
        &rule_path,
        "groups:\n- name: log-counts\n  language: logql\n  interval: 1s\n  rules:\n  - record: app:log_lines:count5m\n    expr: sum by (app) (count_over_time({app=\"checkout\"}[5m]))\n",
    )
    .unwrap();
    let config = format!(
        "rules:\n  files: [\"{}\"]\n  evaluation_interval: 1s\n",
        rule_path.display()
    );
    let vigil = Vigil::start(&dir.path().join("data"), &config);
    vigil.push_error_lines(None, "checkout", 7);

    let mut last = String::new();
    for _ in 0..200 {
        let reply = vigil.get("/api/v1/query?query=app:log_lines:count5m", None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        let result = &body["data"]["result"];
        if let Some(first) = result.as_array().and_then(|r| r.first()) {
            assert_eq!(first["metric"]["app"], "checkout");
            assert_eq!(first["metric"]["__name__"], "app:log_lines:count5m");
            if first["value"][1] == "7" {
                return;
            }
        }
        last = reply.body;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the LogQL recording rule never wrote 7 lines into the TSDB; last answer: {last}");
}

#[test]
fn logql_groups_must_use_metric_queries() {
    let dir = tempfile::tempdir().unwrap();
    let rule_path = dir.path().join("bad.yml");
    std::fs::write(
        &rule_path,
        "groups:\n- name: bad\n  language: logql\n  rules:\n  - record: x\n    expr: '{app=\"checkout\"} |= \"error\"'\n",
    )
    .unwrap();
    let output = std::process::Command::new(vigil_tests::vigil_binary())
        .args(["rules", "check"])
        .arg(&rule_path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("must be metric queries"), "{text}");
}
