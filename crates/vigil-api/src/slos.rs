//! `GET /api/v1/slos` and `GET /api/v1/slos/{name}`: every loaded SLO with its objective,
//! period, SLI and burn rate per window, budget remaining (as a ratio and as time), the
//! projected exhaustion time, the state of each alert tier, and — for one SLO — its error
//! budget over the period as a series for graphs.
//!
//! Values are read from the SLO's recorded series (see `vigil-slo`): every window is a ratio
//! of sums of the per-slice recordings, evaluated here with the PromQL engine at request
//! time, so the answer is right even before the generated window rules have run. 0/0 (no
//! traffic in a window) is `null`, never NaN.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vigil_model::TenantId;
use vigil_promql::{QueryOptions, Value as PromValue};
use vigil_rules::{AlertState, Manager};
use vigil_slo::{SloMeta, WindowMeta};

use crate::{ApiError, ApiState};

/// The SLOs the server has loaded (it reloads them with the rule files).
pub trait SloCatalog: Send + Sync {
    /// The current SLOs, in load order.
    fn slos(&self) -> Vec<SloMeta>;
}

/// What the SLO handlers read.
#[derive(Clone)]
pub struct SloApi {
    /// Loaded SLOs.
    pub catalog: Arc<dyn SloCatalog>,
    /// Storage and engine.
    pub state: Arc<ApiState>,
    /// Alert states.
    pub rules: Arc<Manager>,
}

/// Routes of the SLO API.
pub fn router(api: SloApi) -> Router {
    Router::new()
        .route("/api/v1/slos", get(list))
        .route("/api/v1/slos/{name}", get(one))
        .with_state(api)
}

/// Points in the error-budget series of `/api/v1/slos/{name}`.
const HISTORY_POINTS: i64 = 240;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn finite(v: Option<f64>) -> Value {
    match v {
        Some(v) if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

/// A PromQL selector body `{k="v",...}` for the SLO's own series.
fn selector(meta: &SloMeta) -> String {
    let parts: Vec<String> = meta
        .selector
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// The error ratio over `window` from the per-slice budget recordings: exact sums, no
/// dependence on the window rules having run. `None` without traffic.
fn ratio_expr(meta: &SloMeta, window_ms: i64) -> String {
    let sel = selector(meta);
    // `W − slice/2` holds exactly W/slice slice samples (see the vigil-slo crate docs).
    let range = (window_ms - meta.slice_ms / 2).max(1);
    format!(
        "sum(sum_over_time({err}{sel}[{range}ms])) / (sum(sum_over_time({tot}{sel}[{range}ms])) > 0)",
        err = meta.metrics.budget_error_slice,
        tot = meta.metrics.budget_total_slice,
    )
}

struct Reader<'a> {
    api: &'a SloApi,
    tenant: TenantId,
}

impl Reader<'_> {
    fn scalar(&self, expr: &str, t_ms: i64) -> Result<Option<f64>, ApiError> {
        let result = self
            .api
            .state
            .engine
            .instant_query(
                self.api.state.queryable.as_ref(),
                &self.tenant,
                expr,
                t_ms,
                &QueryOptions::default(),
            )
            .map_err(|err| ApiError::internal(format!("evaluating {expr}: {}", err.message)))?;
        Ok(match result.value {
            PromValue::Vector(samples) => samples.first().map(|s| s.v),
            PromValue::Scalar { v, .. } => Some(v),
            _ => None,
        })
    }

    fn series(&self, expr: &str, start: i64, end: i64, step: i64) -> Result<Vec<Value>, ApiError> {
        let result = self
            .api
            .state
            .engine
            .range_query(
                self.api.state.queryable.as_ref(),
                &self.tenant,
                expr,
                start,
                end,
                step,
                &QueryOptions::default(),
            )
            .map_err(|err| ApiError::internal(format!("evaluating {expr}: {}", err.message)))?;
        let PromValue::Matrix(series) = result.value else {
            return Ok(Vec::new());
        };
        Ok(series
            .first()
            .map(|s| {
                s.points
                    .iter()
                    .filter(|p| p.v.is_finite())
                    .map(|p| json!([p.t_ms as f64 / 1000.0, p.v]))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn window(&self, meta: &SloMeta, window: &WindowMeta, t: i64) -> Result<Value, ApiError> {
        let ratio = self.scalar(&ratio_expr(meta, window.ms), t)?;
        let burn = ratio.map(|r| r / meta.error_budget);
        Ok(json!({
            "window": window.name,
            "metric": window.metric,
            "errorRatio": finite(ratio),
            "sli": finite(ratio.map(|r| 1.0 - r)),
            "burnRate": finite(burn),
        }))
    }

    fn alert_state(&self, meta: &SloMeta, alert: &str) -> &'static str {
        let mut state = AlertState::Inactive;
        for group in self.api.rules.groups() {
            for rule in &group.rules {
                if rule.spec.alert.as_deref() != Some(alert) {
                    continue;
                }
                for active in rule.active_alerts() {
                    let ours = meta
                        .selector
                        .iter()
                        .all(|(k, v)| active.labels.get(k).is_none_or(|have| have == v));
                    if !ours {
                        continue;
                    }
                    match active.state {
                        AlertState::Firing => state = AlertState::Firing,
                        AlertState::Pending if state != AlertState::Firing => {
                            state = AlertState::Pending
                        }
                        _ => {}
                    }
                }
            }
        }
        match state {
            AlertState::Firing => "firing",
            AlertState::Pending => "pending",
            AlertState::Inactive => "inactive",
        }
    }

    fn describe(&self, meta: &SloMeta, t: i64, history: bool) -> Result<Value, ApiError> {
        let mut windows = Vec::new();
        for window in &meta.windows {
            windows.push(self.window(meta, window, t)?);
        }
        let period = self.window(meta, &meta.period, t)?;
        let period_ratio = period["errorRatio"].as_f64();
        let remaining = period_ratio.map(|r| 1.0 - r / meta.error_budget);
        // Budget as time: the whole budget is `error_budget × period` of total outage.
        let budget_ms = meta.error_budget * meta.period.ms as f64;
        let remaining_ms = remaining.map(|r| r * budget_ms);
        // Exhaustion at the current (1h, else shortest) burn rate: the remaining share of
        // the budget is spent in `remaining × period / burn`.
        let current = windows
            .iter()
            .find(|w| w["window"] == "1h")
            .or_else(|| windows.first())
            .and_then(|w| w["burnRate"].as_f64());
        let exhaustion = match (remaining, current) {
            (Some(r), Some(_)) if r <= 0.0 => Some(t),
            (Some(r), Some(b)) if b > 0.0 => {
                Some(t + (r * meta.period.ms as f64 / b).round() as i64)
            }
            _ => None,
        }
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let tiers: Vec<Value> = meta
            .tiers
            .iter()
            .map(|tier| {
                json!({
                    "severity": tier.severity,
                    "alert": tier.alert,
                    "factor": tier.factor,
                    "threshold": tier.threshold,
                    "longWindow": tier.long.name,
                    "shortWindow": tier.short.name,
                    "state": self.alert_state(meta, &tier.alert),
                })
            })
            .collect();
        let mut out = json!({
            "id": meta.id,
            "service": meta.service,
            "name": meta.name,
            "description": meta.description,
            "file": meta.file,
            "format": meta.format,
            "labels": meta.labels,
            "sli": {"kind": meta.sli_kind, "exact": meta.exact},
            "objective": meta.objective,
            "objectivePercent": meta.objective_percent,
            "errorBudget": meta.error_budget,
            "budgeting": meta.budgeting,
            "period": {"window": meta.period.name, "seconds": meta.period.ms / 1000, "calendar": meta.calendar},
            "sliceSeconds": meta.slice_ms as f64 / 1000.0,
            "windows": windows,
            "periodSli": period,
            "budgetRemaining": {
                "ratio": finite(remaining),
                "seconds": finite(remaining_ms.map(|ms| ms / 1000.0)),
                "totalSeconds": budget_ms / 1000.0,
            },
            "projectedExhaustion": exhaustion,
            "alerts": tiers,
        });
        if let Some(alert) = &meta.budget_exhausted_alert {
            out["budgetExhaustedAlert"] =
                json!({"alert": alert, "state": self.alert_state(meta, alert)});
        }
        if let Some(alert) = &meta.no_data_alert {
            out["noDataAlert"] = json!({"alert": alert, "state": self.alert_state(meta, alert)});
        }
        if history {
            let step = (meta.period.ms / HISTORY_POINTS)
                .max(meta.slice_ms)
                .max(1000);
            let expr = format!(
                "1 - ({}) / {}",
                ratio_expr(meta, meta.period.ms),
                meta.error_budget
            );
            let points = self.series(&expr, t - meta.period.ms, t, step)?;
            out["budgetHistory"] = json!({"stepSeconds": step / 1000, "values": points});
        }
        Ok(out)
    }
}

fn reader<'a>(api: &'a SloApi, headers: &HeaderMap) -> Result<Reader<'a>, ApiError> {
    if !api.state.is_ready() {
        return Err(ApiError::unavailable("storage is not ready yet"));
    }
    // SLO rules run as the rules' tenant; another tenant has no SLOs.
    let rules_tenant = api.rules.options().tenant.clone();
    let tenant = crate::params::tenant(headers, &api.state.options.default_tenant)?;
    if tenant != rules_tenant {
        return Err(ApiError::not_found(format!("tenant {tenant} has no SLOs")));
    }
    Ok(Reader { api, tenant })
}

async fn list(State(api): State<SloApi>, headers: HeaderMap) -> Result<Response, ApiError> {
    tokio::task::spawn_blocking(move || {
        let reader = reader(&api, &headers)?;
        let t = now_ms();
        let mut slos = Vec::new();
        for meta in api.catalog.slos() {
            slos.push(reader.describe(&meta, t, false)?);
        }
        Ok(axum::Json(json!({"status": "success", "data": {"slos": slos}})).into_response())
    })
    .await
    .map_err(|err| ApiError::internal(format!("slo task: {err}")))?
}

async fn one(
    State(api): State<SloApi>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    tokio::task::spawn_blocking(move || {
        let reader = reader(&api, &headers)?;
        let slos = api.catalog.slos();
        // By id, by `service/name`, or by name when that is unique.
        let by_name: Vec<&SloMeta> = slos.iter().filter(|m| m.name == name).collect();
        let meta = slos
            .iter()
            .find(|m| m.id == name || format!("{}/{}", m.service, m.name) == name)
            .or(if by_name.len() == 1 {
                Some(by_name[0])
            } else {
                None
            });
        let Some(meta) = meta else {
            let message = if by_name.len() > 1 {
                format!("SLO name {name:?} is ambiguous: use its id or service/name")
            } else {
                format!("no SLO named {name:?}")
            };
            return Err(ApiError::not_found(message));
        };
        let slo = reader.describe(meta, now_ms(), true)?;
        Ok(axum::Json(json!({"status": "success", "data": slo})).into_response())
    })
    .await
    .map_err(|err| ApiError::internal(format!("slo task: {err}")))?
}
