//! The shipped Grafana dashboards against the real binary: Vigil runs the shipped rule files
//! (every `rules/*-rules.yml`), `vigil demo` (a subprocess) backfills two hours and keeps
//! sending, and then every variable query and every panel target of every dashboard in
//! `dashboards/` is interpolated as Grafana does (`$__rate_interval`, `$__interval`,
//! `$__range`, multi-value variables as regex alternations), must parse, and must return data
//! through the endpoints Grafana's datasources call (`/api/v1/query(_range)`,
//! `/loki/api/v1/query(_range)`).
//!
//! Panels over the SLO rules' `slo:*` series are skipped, with a message, only while
//! `rules/slo-rules.yml` does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_tests::{KillOnDrop, Vigil, encode, vigil_binary};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The dashboard time range the panels are queried over (Grafana's "Last 1 hour").
const RANGE_S: f64 = 3600.0;
/// The Prometheus datasource's scrape interval (`timeInterval` in the provisioning file).
const SCRAPE_S: f64 = 15.0;
/// Grafana's default max data points for a full-width panel.
const MAX_POINTS: f64 = 1000.0;

/// Grafana's `$__interval` for the range: range / max points, at least the scrape interval.
fn interval_s() -> f64 {
    (RANGE_S / MAX_POINTS).ceil().max(SCRAPE_S)
}

/// Grafana's regex escaping of a multi-value variable's values.
fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$*+?.()|{}[]".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Replaces `${name}` and `$name` (longest names first, so `$__range_s` is not read as
/// `$__range` followed by `_s`).
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = text.to_string();
    for name in names {
        out = out.replace(&format!("${{{name}}}"), &vars[name]);
        out = out.replace(&format!("${name}"), &vars[name]);
    }
    out
}

fn builtin_vars() -> BTreeMap<String, String> {
    let interval = interval_s();
    let rate_interval = (interval + SCRAPE_S).max(4.0 * SCRAPE_S);
    let mut vars = BTreeMap::new();
    vars.insert("__interval".into(), format!("{interval}s"));
    vars.insert("__interval_ms".into(), format!("{}", interval * 1000.0));
    vars.insert("__rate_interval".into(), format!("{rate_interval}s"));
    vars.insert("__range".into(), format!("{RANGE_S}s"));
    vars.insert("__range_s".into(), format!("{RANGE_S}"));
    vars.insert("__range_ms".into(), format!("{}", RANGE_S * 1000.0));
    vars.insert("__auto".into(), format!("{interval}s"));
    vars
}

fn is_slo_query(query: &str) -> bool {
    query.contains("slo:")
}

struct Checker<'a> {
    vigil: &'a Vigil,
    slo_rules: bool,
    checked: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Checker<'_> {
    fn json(&self, path: &str) -> Result<Value, String> {
        let reply = self.vigil.get(path, None);
        if reply.status != 200 {
            return Err(format!("{path}: HTTP {}: {}", reply.status, reply.body));
        }
        serde_json::from_str(&reply.body).map_err(|err| format!("{path}: {err}: {}", reply.body))
    }

    /// A `label_values(...)` variable query, as Grafana's Prometheus or Loki datasource
    /// resolves it; the values it returns.
    fn variable_values(&self, kind: &str, query: &str) -> Result<Vec<String>, String> {
        let inner = query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .ok_or_else(|| format!("unsupported variable query {query:?}"))?;
        let (selector, label) = match inner.rsplit_once(',') {
            Some((selector, label)) => (Some(selector.trim()), label.trim()),
            None => (None, inner.trim()),
        };
        let end = now_s();
        let start = end - RANGE_S;
        let path = if kind == "prometheus" {
            let mut path = format!(
                "/api/v1/label/{label}/values?start={}&end={}",
                start.floor(),
                end.ceil()
            );
            if let Some(selector) = selector {
                path.push_str(&format!("&match[]={}", encode(selector)));
            }
            path
        } else {
            let mut path = format!(
                "/loki/api/v1/label/{label}/values?start={}&end={}",
                (start * 1e9) as i64,
                (end * 1e9) as i64
            );
            if let Some(selector) = selector {
                path.push_str(&format!("&query={}", encode(selector)));
            }
            path
        };
        let body = self.json(&path)?;
        let values: Vec<String> = body["data"]
            .as_array()
            .ok_or_else(|| format!("{path}: no data array: {body}"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if values.is_empty() {
            return Err(format!("{path}: no values"));
        }
        Ok(values)
    }

    /// Resolves a dashboard's variables in order (later ones may use earlier ones).
    fn variables(&mut self, dashboard: &str, list: &[Value]) -> BTreeMap<String, String> {
        let mut vars = builtin_vars();
        for var in list {
            let name = var["name"].as_str().unwrap().to_string();
            match var["type"].as_str().unwrap() {
                "datasource" => {
                    let uid = var["current"]["value"].as_str().unwrap().to_string();
                    vars.insert(name, uid);
                }
                "textbox" => {
                    let value = var["current"]["value"].as_str().unwrap_or("").to_string();
                    vars.insert(name, value);
                }
                "query" => {
                    let query = var["query"]
                        .as_str()
                        .or_else(|| var["query"]["query"].as_str())
                        .unwrap();
                    let query = interpolate(query, &vars);
                    let kind = var["datasource"]["type"].as_str().unwrap();
                    if is_slo_query(&query) && !self.slo_rules {
                        self.skipped
                            .push(format!("{dashboard}: variable ${name} ({query})"));
                        vars.insert(name, ".*".into());
                        continue;
                    }
                    self.checked += 1;
                    match self.variable_values(kind, &query) {
                        Ok(values) => {
                            let all: Vec<String> = values.iter().map(|v| regex_escape(v)).collect();
                            vars.insert(name, format!("({})", all.join("|")));
                        }
                        Err(err) => {
                            self.failures
                                .push(format!("{dashboard}: variable ${name}: {err}"));
                            vars.insert(name, ".*".into());
                        }
                    }
                }
                other => panic!("{dashboard}: variable type {other} not handled by this test"),
            }
        }
        vars
    }

    fn check_prometheus(&self, expr: &str, instant: bool) -> Result<(), String> {
        let parsed = self
            .vigil
            .get(&format!("/api/v1/parse_query?query={}", encode(expr)), None);
        if parsed.status != 200 {
            return Err(format!("does not parse: {}", parsed.body));
        }
        let end = now_s();
        let body = if instant {
            self.json(&format!(
                "/api/v1/query?query={}&time={end:.3}",
                encode(expr)
            ))?
        } else {
            // As Grafana sends it: POST form, start/end aligned to the step.
            let step = interval_s();
            let end = (end / step).floor() * step;
            let start = end - RANGE_S;
            let reply = self.vigil.post_form(
                "/api/v1/query_range",
                &[
                    ("query", expr),
                    ("start", &start.to_string()),
                    ("end", &end.to_string()),
                    ("step", &step.to_string()),
                ],
                None,
            );
            if reply.status != 200 {
                return Err(format!(
                    "query_range: HTTP {}: {}",
                    reply.status, reply.body
                ));
            }
            reply.json()
        };
        let result = body["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("no result: {body}"))?;
        let finite = result.iter().any(|series| {
            let values: Vec<&Value> = match series.get("values") {
                Some(values) => values.as_array().unwrap().iter().collect(),
                None => vec![&series["value"]],
            };
            values.iter().any(|v| {
                v[1].as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .is_some_and(f64::is_finite)
            })
        });
        if !finite {
            return Err(format!("no data: {body}"));
        }
        Ok(())
    }

    fn check_loki(&self, expr: &str, instant: bool) -> Result<(), String> {
        let parsed = self.vigil.get(
            &format!("/loki/api/v1/format_query?query={}", encode(expr)),
            None,
        );
        if parsed.status != 200 {
            return Err(format!("does not parse: {}", parsed.body));
        }
        let end = (now_s() * 1e9) as i64;
        let start = end - (RANGE_S * 1e9) as i64;
        let body = if instant {
            self.json(&format!(
                "/loki/api/v1/query?query={}&time={end}&direction=backward",
                encode(expr)
            ))?
        } else {
            let step_ms = (interval_s() * 1000.0) as i64;
            self.json(&format!(
                "/loki/api/v1/query_range?query={}&start={start}&end={end}&step={step_ms}ms&limit=1000&direction=backward",
                encode(expr)
            ))?
        };
        let data = &body["data"];
        let result = data["result"]
            .as_array()
            .ok_or_else(|| format!("no result: {body}"))?;
        let has_data = match data["resultType"].as_str() {
            Some("streams") => result
                .iter()
                .any(|s| s["values"].as_array().is_some_and(|v| !v.is_empty())),
            Some("matrix") => result
                .iter()
                .any(|s| s["values"].as_array().is_some_and(|v| !v.is_empty())),
            Some("vector") => !result.is_empty(),
            other => return Err(format!("unexpected result type {other:?}")),
        };
        if !has_data {
            return Err(format!("no data: {body}"));
        }
        Ok(())
    }

    fn check_panel(&mut self, dashboard: &str, panel: &Value, vars: &BTreeMap<String, String>) {
        if let Some(children) = panel["panels"].as_array() {
            for child in children {
                self.check_panel(dashboard, child, vars);
            }
        }
        let Some(targets) = panel["targets"].as_array() else {
            return;
        };
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(
            !targets.is_empty(),
            "{dashboard}: panel {title} has no targets"
        );
        for target in targets {
            let datasource = if target["datasource"].is_object() {
                &target["datasource"]
            } else {
                &panel["datasource"]
            };
            let kind = datasource["type"].as_str().unwrap();
            let uid = datasource["uid"].as_str().unwrap();
            assert!(
                uid == "${DS_PROMETHEUS}" || uid == "${DS_LOKI}",
                "{dashboard}: panel {title} uses datasource {uid}, not a DS_* variable"
            );
            let raw = target["expr"].as_str().unwrap();
            let label = format!("{dashboard}: panel {title:?} target {}", target["refId"]);
            if is_slo_query(raw) && !self.slo_rules {
                self.skipped.push(format!("{label} ({raw})"));
                continue;
            }
            let expr = interpolate(raw, vars);
            if expr.contains('$') {
                self.failures
                    .push(format!("{label}: uninterpolated variable in {expr}"));
                continue;
            }
            let instant = target["instant"].as_bool().unwrap_or(false)
                || target["queryType"].as_str() == Some("instant");
            self.checked += 1;
            let run = |checker: &Self| match kind {
                "prometheus" => checker.check_prometheus(&expr, instant),
                "loki" => checker.check_loki(&expr, instant),
                other => Err(format!("datasource type {other}")),
            };
            // Rule outputs appear as their groups evaluate (each at its own offset): give a
            // query that answers but has no data yet a few more cycles.
            let mut result = run(self);
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(&result, Err(err) if err.starts_with("no data"))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_secs(1));
                result = run(self);
            }
            if let Err(err) = result {
                self.failures.push(format!("{label}: {expr}: {err}"));
            }
        }
    }
}

fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{name} is not JSON: {err}"));
            (name, json)
        })
        .collect()
}

/// Shape checks that need no server: unique uids and panel ids, a current schema version,
/// datasource variables whose defaults are the provisioned datasources' uids.
#[test]
fn dashboards_are_well_formed_and_match_the_provisioned_datasources() {
    let provisioning =
        std::fs::read_to_string(repo().join("dashboards/provisioning/datasources/vigil.yml"))
            .unwrap();
    let dashboards = dashboards();
    assert!(dashboards.len() >= 3, "{} dashboards", dashboards.len());
    let mut uids = Vec::new();
    for (name, dashboard) in &dashboards {
        let uid = dashboard["uid"].as_str().unwrap().to_string();
        assert!(!uids.contains(&uid), "{name}: duplicate uid {uid}");
        uids.push(uid);
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39, "{name}");
        let mut ids = Vec::new();
        let mut stack: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
        while let Some(panel) = stack.pop() {
            let id = panel["id"].as_u64().unwrap();
            assert!(!ids.contains(&id), "{name}: duplicate panel id {id}");
            ids.push(id);
            assert!(panel["gridPos"]["w"].as_u64().unwrap() <= 24, "{name}");
            if let Some(children) = panel["panels"].as_array() {
                stack.extend(children);
            }
        }
        for var in dashboard["templating"]["list"].as_array().unwrap() {
            if var["type"] == "datasource" {
                let default = var["current"]["value"].as_str().unwrap();
                assert!(
                    provisioning.contains(&format!("uid: {default}")),
                    "{name}: datasource variable default {default} is not provisioned"
                );
            }
        }
    }
}

/// Waits until `path` answers a non-empty result (at most `limit`).
fn wait_for(vigil: &Vigil, path: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let reply = vigil.get(path, None);
        if reply.status == 200
            && reply.json()["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still empty after {limit:?}: {}",
            reply.body
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn every_panel_and_variable_query_returns_data_against_the_demo() {
    let rules_dir = repo().join("rules");
    let slo_rules = rules_dir.join("slo-rules.yml").exists();
    let rule_files: Vec<String> = std::fs::read_dir(&rules_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-rules.yml"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        rule_files
            .iter()
            .any(|f| f.ends_with("application-rules.yml")),
        "{rule_files:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = rule_files.iter().map(|f| format!("\"{f}\"")).collect();
    let config = format!(
        "rules:\n  files: [{}]\n  evaluation_interval: 2s\n",
        files.join(", ")
    );
    let vigil = Vigil::start(&dir.path().join("data"), &config);

    let demo = Command::new(vigil_binary())
        .args([
            "demo",
            "--url",
            &format!("http://{}", vigil.addr),
            "--backfill",
            "2h",
            "--interval",
            "5s",
            "--duration",
            "10m",
            "--seed",
            "20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _demo = KillOnDrop(demo);

    // Backfill done and rules evaluated over it (the recording rules' 1m windows need the
    // live samples, the demo's latest).
    let limit = Duration::from_secs(120);
    wait_for(
        &vigil,
        "/api/v1/query?query=app:http_requests:rate1m",
        limit,
    );
    wait_for(
        &vigil,
        "/api/v1/query?query=app:http_errors_by_method:ratio15m",
        limit,
    );
    if slo_rules {
        // Every SLO, not just the first whose slice group ran (each group has its own
        // slot offset within the minute).
        for metric in [
            "slo:sli_error:ratio_rate5m",
            "slo:period_error_budget_remaining:ratio",
        ] {
            let query = format!("count({metric}) >= count(slo:objective:ratio)");
            wait_for(
                &vigil,
                &format!("/api/v1/query?query={}", encode(&query)),
                limit,
            );
        }
    }
    wait_for(
        &vigil,
        &format!(
            "/loki/api/v1/query?query={}",
            encode("count_over_time({job=\"vigil-demo\"}[1m])")
        ),
        limit,
    );
    // A few more evaluation cycles, so every group has run over the newest data.
    std::thread::sleep(Duration::from_secs(3));

    let mut checker = Checker {
        vigil: &vigil,
        slo_rules,
        checked: 0,
        skipped: Vec::new(),
        failures: Vec::new(),
    };
    for (name, dashboard) in dashboards() {
        let vars = checker.variables(&name, dashboard["templating"]["list"].as_array().unwrap());
        for panel in dashboard["panels"].as_array().unwrap() {
            checker.check_panel(&name, panel, &vars);
        }
    }
    if !slo_rules {
        for skipped in &checker.skipped {
            eprintln!(
                "SKIPPED {skipped}: rules/slo-rules.yml does not exist yet (the SLO rules ship separately)"
            );
        }
    } else {
        assert!(checker.skipped.is_empty(), "{:?}", checker.skipped);
    }
    assert!(
        checker.failures.is_empty(),
        "{} of {} queries failed:\n{}",
        checker.failures.len(),
        checker.checked,
        checker.failures.join("\n")
    );
    assert!(
        checker.checked >= 25 && checker.checked + checker.skipped.len() >= 40,
        "only {} queries checked, {} skipped",
        checker.checked,
        checker.skipped.len()
    );
    eprintln!(
        "{} dashboard queries returned data ({} skipped)",
        checker.checked,
        checker.skipped.len()
    );
}
