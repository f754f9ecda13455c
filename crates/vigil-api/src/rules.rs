//! Rules endpoints shaped as Prometheus serves them (Grafana's alert list reads them):
//! `GET /api/v1/rules` with its filters, `GET /api/v1/alerts` (both also under Loki's
//! `/prometheus/api/v1/...` paths, each showing the request's tenant), `POST /-/reload`, the
//! rule-evaluation and notification metrics in text format on `GET /metrics`, and the
//! Cortex/Loki ruler API (`/loki/api/v1/rules[/{namespace}[/{group}]]`: list, get, create
//! or replace, delete) over the tenant directory.
//!
//! A separate router with the rule manager as its state, merged into the main one by the
//! server, so the rest of the API does not need to know rules exist.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use vigil_model::{Labels, Matcher, TenantId};
use vigil_rules::{Alert, Group, Manager, Rule, RulerStore, RulerStoreError};

use crate::ApiError;
use crate::params::{Params, parse_selector};

/// Routes of the rules API over `manager`.
pub fn router(manager: Arc<Manager>) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules).post(rules))
        .route("/api/v1/alerts", get(alerts).post(alerts))
        .route("/prometheus/api/v1/rules", get(rules).post(rules))
        .route("/prometheus/api/v1/alerts", get(alerts).post(alerts))
        .route("/loki/api/v1/rules", get(ruler_list))
        .route(
            "/loki/api/v1/rules/{namespace}",
            get(ruler_namespace)
                .post(ruler_set_group)
                .delete(ruler_delete_namespace),
        )
        .route(
            "/loki/api/v1/rules/{namespace}/{group}",
            get(ruler_group).delete(ruler_delete_group),
        )
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .with_state(manager)
}

/// Go's `time.Time` JSON form (RFC 3339, fractional seconds only when needed); the zero
/// time for "never".
fn go_time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| {
            let full = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            match full.strip_suffix('Z').and_then(|s| s.split_once('.')) {
                Some((seconds, fraction)) => {
                    let fraction = fraction.trim_end_matches('0');
                    if fraction.is_empty() {
                        format!("{seconds}Z")
                    } else {
                        format!("{seconds}.{fraction}Z")
                    }
                }
                None => full,
            }
        })
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string())
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus renders alert values.
pub(crate) fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let formatted = format!("{v:e}");
    let Some((mantissa, exponent)) = formatted.split_once('e') else {
        return formatted;
    };
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect(),
    )
}

fn map_json(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn alert_json(alert: &Alert) -> Value {
    let mut out = json!({
        "labels": labels_json(&alert.labels),
        "annotations": map_json(&alert.annotations),
        "state": alert.state.as_str(),
        "activeAt": go_time(Some(alert.active_at_ms)),
        "value": go_float_e(alert.value),
    });
    if let (Some(since), Some(obj)) = (alert.keep_firing_since_ms, out.as_object_mut()) {
        obj.insert(
            "keepFiringSince".into(),
            Value::String(go_time(Some(since))),
        );
    }
    out
}

fn rule_json(rule: &Rule, exclude_alerts: bool) -> Value {
    let spec = &rule.spec;
    let mut out = if spec.is_alert() {
        let alerts: Vec<Value> = if exclude_alerts {
            Vec::new()
        } else {
            rule.active_alerts().into_iter().map(alert_json).collect()
        };
        json!({
            "state": rule.state().as_str(),
            "name": spec.name(),
            "query": spec.expr,
            "duration": spec.for_ms as f64 / 1000.0,
            "keepFiringFor": spec.keep_firing_for_ms as f64 / 1000.0,
            "labels": map_json(&spec.labels),
            "annotations": map_json(&spec.annotations),
            "alerts": alerts,
            "health": rule.health.as_str(),
            "evaluationTime": rule.evaluation_seconds,
            "lastEvaluation": go_time(rule.last_evaluation_ms),
            "type": "alerting",
        })
    } else {
        let mut out = json!({
            "name": spec.name(),
            "query": spec.expr,
            "health": rule.health.as_str(),
            "evaluationTime": rule.evaluation_seconds,
            "lastEvaluation": go_time(rule.last_evaluation_ms),
            "type": "recording",
        });
        if !spec.labels.is_empty()
            && let Some(obj) = out.as_object_mut()
        {
            obj.insert("labels".into(), map_json(&spec.labels));
        }
        out
    };
    if let (Some(err), Some(obj)) = (&rule.last_error, out.as_object_mut()) {
        obj.insert("lastError".into(), Value::String(err.clone()));
    }
    out
}

/// Which rules a `/api/v1/rules` request wants.
struct RuleFilter {
    alerts: bool,
    records: bool,
    names: HashSet<String>,
    groups: HashSet<String>,
    files: HashSet<String>,
    matchers: Vec<Vec<Matcher>>,
    exclude_alerts: bool,
}

impl RuleFilter {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let (alerts, records) = match params.get("type").map(str::to_ascii_lowercase) {
            None => (true, true),
            Some(t) if t.is_empty() => (true, true),
            Some(t) if t == "alert" => (true, false),
            Some(t) if t == "record" => (false, true),
            Some(other) => {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"type\": unsupported value {other:?} (use alert or record)"
                )));
            }
        };
        let exclude_alerts = match params.get("exclude_alerts") {
            None | Some("") => false,
            Some(raw) => parse_go_bool(raw).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter \"exclude_alerts\": {raw:?} is not a boolean"
                ))
            })?,
        };
        let set = |name: &str| -> HashSet<String> {
            params
                .get_all(name)
                .into_iter()
                .map(str::to_string)
                .collect()
        };
        let mut matchers = Vec::new();
        for raw in params.get_all("match[]") {
            matchers.extend(parse_selector(raw)?);
        }
        Ok(Self {
            alerts,
            records,
            names: set("rule_name[]"),
            groups: set("rule_group[]"),
            files: set("file[]"),
            matchers,
            exclude_alerts,
        })
    }

    fn has_filters(&self) -> bool {
        let unfiltered = self.alerts
            && self.records
            && self.names.is_empty()
            && self.groups.is_empty()
            && self.files.is_empty()
            && self.matchers.is_empty();
        !unfiltered
    }

    fn wants_group(&self, group: &Group) -> bool {
        (self.groups.is_empty() || self.groups.contains(&group.name))
            && (self.files.is_empty() || self.files.contains(&group.file))
    }

    fn wants_rule(&self, rule: &Rule) -> bool {
        let kind = if rule.spec.is_alert() {
            self.alerts
        } else {
            self.records
        };
        if !kind || !(self.names.is_empty() || self.names.contains(rule.spec.name())) {
            return false;
        }
        if self.matchers.is_empty() {
            return true;
        }
        self.matchers.iter().any(|set| {
            set.iter().all(|m| {
                let value = rule.spec.labels.get(&m.name).map_or("", String::as_str);
                m.matches(value)
            })
        })
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(raw: &str) -> Option<bool> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// The groups of the request's tenant (`X-Scope-OrgID`, else the rules' default tenant).
fn tenant_groups(manager: &Manager, headers: &HeaderMap) -> Result<Vec<Group>, ApiError> {
    let default = &manager.options().tenant;
    let tenant = crate::params::tenant(headers, default)?;
    let mut groups = manager.groups();
    groups.retain(|g| g.tenant.as_ref().unwrap_or(default) == &tenant);
    Ok(groups)
}

async fn rules(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = RuleFilter::parse(&params)?;
    let groups = tenant_groups(&manager, &headers)?;
    let mut out = Vec::new();
    for group in &groups {
        if !filter.wants_group(group) {
            continue;
        }
        let rules: Vec<Value> = group
            .rules
            .iter()
            .filter(|r| filter.wants_rule(r))
            .map(|r| rule_json(r, filter.exclude_alerts))
            .collect();
        if rules.is_empty() && filter.has_filters() {
            continue;
        }
        let last = (group.metrics.iterations_total > 0)
            .then(|| (group.metrics.last_evaluation_timestamp_seconds * 1000.0).round() as i64);
        out.push(json!({
            "name": group.name,
            "file": group.file,
            "rules": rules,
            "interval": group.interval_ms as f64 / 1000.0,
            "limit": group.limit,
            "evaluationTime": group.metrics.last_duration_seconds,
            "lastEvaluation": go_time(last),
        }));
    }
    Ok(success(json!({ "groups": out })))
}

async fn alerts(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let groups = tenant_groups(&manager, &headers)?;
    let alerts: Vec<Value> = groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter(|r| r.spec.is_alert())
        .flat_map(|r| r.active_alerts().into_iter().map(alert_json))
        .collect();
    Ok(success(json!({ "alerts": alerts })))
}

async fn reload(axum::extract::State(manager): axum::extract::State<Arc<Manager>>) -> Response {
    match tokio::task::spawn_blocking(move || manager.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, "rules reloaded\n").into_response(),
        Ok(Err(err)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload rules: {err}\n"),
        )
            .into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload rules: {err}\n"),
        )
            .into_response(),
    }
}

/// A ruler-API answer in Cortex' shapes: errors as plain text with their status.
fn ruler_error(err: RulerStoreError) -> Response {
    let status = match err {
        RulerStoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
        RulerStoreError::NotFound(_) => StatusCode::NOT_FOUND,
        RulerStoreError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, format!("{err}\n")).into_response()
}

/// The store and the request's tenant, or the answer explaining why there is none.
fn ruler_context(
    manager: &Manager,
    headers: &HeaderMap,
) -> Result<(RulerStore, TenantId), Box<Response>> {
    let tenant = crate::params::tenant(headers, &manager.options().tenant)
        .map_err(|err| Box::new(err.into_response()))?;
    let store = manager.ruler_store().ok_or_else(|| {
        Box::new(ruler_error(RulerStoreError::BadRequest(
            "the ruler API needs rules.tenant_directory in the configuration".into(),
        )))
    })?;
    Ok((store, tenant))
}

fn yaml_response(value: &vigil_rules::ruler_store::Yaml) -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        vigil_rules::ruler_store::to_yaml_text(value),
    )
        .into_response()
}

fn namespaces_yaml(namespaces: Vec<(String, Vec<vigil_rules::ruler_store::Yaml>)>) -> Response {
    if namespaces.is_empty() {
        return ruler_error(RulerStoreError::NotFound("no rule groups found".into()));
    }
    let mut map = vigil_rules::ruler_store::YamlHash::new();
    for (name, groups) in namespaces {
        map.insert(
            vigil_rules::ruler_store::Yaml::String(name),
            vigil_rules::ruler_store::Yaml::Array(groups),
        );
    }
    yaml_response(&vigil_rules::ruler_store::Yaml::Hash(map))
}

/// After a write: reload so the change runs now, then 202 as Cortex answers.
async fn ruler_apply(manager: Arc<Manager>) -> Response {
    match tokio::task::spawn_blocking(move || manager.reload()).await {
        Ok(Ok(())) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"status": "success", "data": null, "errorType": "", "error": ""})),
        )
            .into_response(),
        Ok(Err(err)) => ruler_error(RulerStoreError::Io(format!(
            "stored, but reloading the rules failed: {err}"
        ))),
        Err(err) => ruler_error(RulerStoreError::Io(format!("reload task failed: {err}"))),
    }
}

async fn ruler_list(State(manager): State<Arc<Manager>>, headers: HeaderMap) -> Response {
    let (store, tenant) = match ruler_context(&manager, &headers) {
        Ok(context) => context,
        Err(response) => return *response,
    };
    match store.list(&tenant) {
        Ok(namespaces) => namespaces_yaml(namespaces),
        Err(err) => ruler_error(err),
    }
}

async fn ruler_namespace(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Response {
    let (store, tenant) = match ruler_context(&manager, &headers) {
        Ok(context) => context,
        Err(response) => return *response,
    };
    match store.namespace(&tenant, &namespace) {
        Ok(groups) => namespaces_yaml(vec![(namespace, groups)]),
        Err(err) => ruler_error(err),
    }
}

async fn ruler_group(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Path((namespace, group)): Path<(String, String)>,
) -> Response {
    let (store, tenant) = match ruler_context(&manager, &headers) {
        Ok(context) => context,
        Err(response) => return *response,
    };
    match store.group(&tenant, &namespace, &group) {
        Ok(group) => yaml_response(&group),
        Err(err) => ruler_error(err),
    }
}

async fn ruler_set_group(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    body: String,
) -> Response {
    let (store, tenant) = match ruler_context(&manager, &headers) {
        Ok(context) => context,
        Err(response) => return *response,
    };
    if let Err(err) = store.set_group(&tenant, &namespace, &body) {
        return ruler_error(err);
    }
    ruler_apply(manager).await
}

async fn ruler_delete_namespace(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Response {
    let (store, tenant) = match ruler_context(&manager, &headers) {
        Ok(context) => context,
        Err(response) => return *response,
    };
    if let Err(err) = store.delete_namespace(&tenant, &namespace) {
        return ruler_error(err);
    }
    ruler_apply(manager).await
}

async fn ruler_delete_group(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Path((namespace, group)): Path<(String, String)>,
) -> Response {
    let (store, tenant) = match ruler_context(&manager, &headers) {
        Ok(context) => context,
        Err(response) => return *response,
    };
    if let Err(err) = store.delete_group(&tenant, &namespace, &group) {
        return ruler_error(err);
    }
    ruler_apply(manager).await
}

async fn metrics(axum::extract::State(manager): axum::extract::State<Arc<Manager>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        manager.metrics_text(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_use_go_exponent_format() {
        assert_eq!(go_float_e(1.0), "1e+00");
        assert_eq!(go_float_e(0.5), "5e-01");
        assert_eq!(go_float_e(123.45), "1.2345e+02");
        assert_eq!(go_float_e(1e100), "1e+100");
        assert_eq!(go_float_e(f64::NAN), "NaN");
        assert_eq!(go_float_e(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn times_follow_go_json() {
        assert_eq!(go_time(None), "0001-01-01T00:00:00Z");
        assert_eq!(go_time(Some(1_700_000_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(go_time(Some(1_700_000_000_250)), "2023-11-14T22:13:20.25Z");
    }
}
