//! The PromQL endpoints: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`,
//! `/api/v1/parse_query` and `/api/v1/query_exemplars`, with Prometheus' parameter rules,
//! messages, error types and JSON.
//!
//! Queries are CPU-bound and synchronous, so they run on a blocking thread. The handler's
//! future owns a flag the engine polls: when the client goes away, the server drops the
//! future, the guard sets the flag and the engine stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promql_parser::parser::Expr;
use serde_json::Value as Json;
use vigil_promql::parser::{ParseContext, RANGE_MODIFIER_LABEL};
use vigil_promql::{ErrorKind, QueryError, QueryOptions, QueryResult, Value};

use crate::params::{Params, parse_time_ms, tenant};
use crate::promjson::{self, Timings};
use crate::{ApiError, ApiState};

/// Most points a range query may return per series, as Prometheus allows.
const MAX_POINTS_PER_SERIES: i64 = 11_000;
const TRUNCATED_WARNING: &str = "results truncated due to limit";
const NS_PER_MS: i64 = 1_000_000;
const NS_PER_SECOND: f64 = 1e9;

/// The query routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/query", get(instant_query).post(instant_query))
        .route("/api/v1/query_range", get(range_query).post(range_query))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
}

fn invalid_param(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_data(format!("invalid parameter \"{name}\": {reason}"))
}

/// Parses a Prometheus API duration (float seconds such as `15` or `0.5`, or a duration such
/// as `1m30s`) into nanoseconds, the unit Prometheus compares and divides steps in.
pub(crate) fn parse_duration_ns(raw: &str) -> Result<i64, String> {
    if let Ok(seconds) = raw.parse::<f64>() {
        let ns = seconds * NS_PER_SECOND;
        if ns.is_nan() {
            return Err(format!("cannot parse {raw:?} to a valid duration"));
        }
        if ns >= i64::MAX as f64 || ns <= i64::MIN as f64 {
            return Err(format!(
                "cannot parse {raw:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    vigil_model::parse_duration_ms(raw)
        .ok()
        .and_then(|ms| ms.checked_mul(NS_PER_MS))
        .ok_or_else(|| format!("cannot parse {raw:?} to a valid duration"))
}

fn required_time(params: &Params, name: &str) -> Result<i64, ApiError> {
    let raw = params.get(name).unwrap_or_default();
    parse_time_ms(raw).map_err(|reason| invalid_param(name, reason))
}

/// `limit` (0 or absent = no limit).
fn parse_limit(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit").filter(|s| !s.is_empty()) {
        None => Ok(0),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n < 0 => Err(invalid_param("limit", "limit must be non-negative")),
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => Err(invalid_param(
                "limit",
                format!("cannot parse {raw:?} to an integer"),
            )),
        },
    }
}

/// The options shared by instant and range queries: `timeout`, `lookback_delta`, `stats`.
struct CommonOptions {
    timeout: Option<Duration>,
    lookback_delta_ms: Option<i64>,
    /// `stats` was given (any non-empty value, as Prometheus accepts).
    stats: bool,
    per_step_stats: bool,
}

fn common_options(params: &Params) -> Result<CommonOptions, ApiError> {
    let timeout = match params.get("timeout").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => {
            let ns = parse_duration_ns(raw).map_err(|reason| invalid_param("timeout", reason))?;
            // A zero or negative timeout has already expired, as in Prometheus.
            Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
        }
    };
    let lookback_delta_ms = match params.get("lookback_delta").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => {
            let ns = parse_duration_ns(raw).map_err(|reason| {
                ApiError::bad_data(format!("error parsing lookback delta duration: {reason}"))
            })?;
            // Zero or negative means "the engine's default", as in Prometheus.
            Some(ns / NS_PER_MS).filter(|ms| *ms > 0)
        }
    };
    let stats = params.get("stats").unwrap_or_default();
    Ok(CommonOptions {
        timeout,
        lookback_delta_ms,
        stats: !stats.is_empty(),
        per_step_stats: stats == "all",
    })
}

/// Parses `query` with the engine's parser, as Prometheus does before evaluating.
fn parse_query_param(params: &Params, ctx: &ParseContext) -> Result<(String, Expr), ApiError> {
    let query = params.get("query").unwrap_or_default().to_string();
    let expr = vigil_promql::parser::parse(&query, ctx)
        .map_err(|err| invalid_param("query", err.message))?;
    Ok((query, expr))
}

/// Maps an engine error to Prometheus' error type and HTTP status.
fn engine_error(err: QueryError) -> ApiError {
    let (status, error_type) = match err.kind {
        ErrorKind::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
        ErrorKind::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
        ErrorKind::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
        // Prometheus answers 499 ("client closed request"); usually nobody is listening.
        ErrorKind::Canceled => (
            StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "canceled",
        ),
        ErrorKind::Internal => {
            tracing::error!(error = %err.message, "query failed inside storage or the engine");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    ApiError::typed(status, error_type, err.message)
}

/// Sets the engine's cancel flag when dropped: the handler future is dropped when the client
/// disconnects, and the blocking evaluation must not outlive it.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `eval` on a blocking thread once storage is ready, cancelling it if this future is
/// dropped. Returns the result and how long the query waited for a thread.
async fn run_engine(
    state: &Arc<ApiState>,
    mut opts: QueryOptions,
    accepted: Instant,
    eval: impl FnOnce(
        &vigil_promql::Engine,
        &dyn vigil_storage::Queryable,
        &QueryOptions,
    ) -> Result<QueryResult, QueryError>
    + Send
    + 'static,
) -> Result<(QueryResult, Timings), ApiError> {
    if !state.is_ready() {
        return Err(ApiError::unavailable(
            "storage is still replaying its write-ahead log",
        ));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    opts.cancel = Some(cancel.clone());
    let _guard = CancelOnDrop(cancel);
    let engine = state.engine.clone();
    let queryable = state.queryable.clone();
    let task = tokio::task::spawn_blocking(move || {
        let queue_ns = accepted.elapsed().as_nanos();
        (eval(&engine, queryable.as_ref(), &opts), queue_ns)
    });
    let (result, queue_ns) = task
        .await
        .map_err(|err| ApiError::internal(format!("query task failed: {err}")))?;
    let result = result.map_err(engine_error)?;
    let timings = Timings {
        queue_ns: u64::try_from(queue_ns).unwrap_or(u64::MAX),
        total_ns: u64::try_from(accepted.elapsed().as_nanos()).unwrap_or(u64::MAX),
    };
    Ok((result, timings))
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Renders a finished query as Prometheus' success envelope.
fn render(mut result: QueryResult, timings: Timings, limit: usize, stats: bool) -> Response {
    let mut warnings = std::mem::take(&mut result.warnings);
    if limit > 0 {
        let truncated = match &mut result.value {
            Value::Vector(samples) if samples.len() > limit => {
                samples.truncate(limit);
                true
            }
            Value::Matrix(series) if series.len() > limit => {
                series.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push(TRUNCATED_WARNING.to_string());
        }
    }
    let mut body = String::with_capacity(256);
    body.push_str("{\"status\":\"success\",\"data\":{\"resultType\":\"");
    body.push_str(result.value.type_name());
    body.push_str("\",\"result\":");
    promjson::push_value(&mut body, &result.value);
    if stats {
        body.push_str(",\"stats\":");
        promjson::push_stats(&mut body, &result.stats, timings);
    }
    body.push('}');
    promjson::push_annotations(&mut body, "warnings", &warnings);
    promjson::push_annotations(&mut body, "infos", &result.infos);
    body.push('}');
    json_response(body)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `GET|POST /api/v1/query`
pub(crate) async fn instant_query(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let accepted = Instant::now();
    let limit = parse_limit(&params)?;
    let t_ms = match params.get("time").filter(|s| !s.is_empty()) {
        None => now_ms(),
        Some(raw) => parse_time_ms(raw).map_err(|reason| {
            invalid_param("time", format!("invalid time value for 'time': {reason}"))
        })?,
    };
    let common = common_options(&params)?;
    let ctx = ParseContext {
        start_ms: t_ms,
        end_ms: t_ms,
        step_ms: 0,
    };
    let (query, _) = parse_query_param(&params, &ctx)?;
    let tenant = tenant(&headers, &state.options.default_tenant)?;
    let opts = QueryOptions {
        lookback_delta_ms: common.lookback_delta_ms,
        timeout: common.timeout,
        cancel: None,
        per_step_stats: common.per_step_stats,
    };
    let (result, timings) = run_engine(&state, opts, accepted, move |engine, storage, opts| {
        engine.instant_query(storage, &tenant, &query, t_ms, opts)
    })
    .await?;
    Ok(render(result, timings, limit, common.stats))
}

/// `GET|POST /api/v1/query_range`
pub(crate) async fn range_query(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let accepted = Instant::now();
    let limit = parse_limit(&params)?;
    let start_ms = required_time(&params, "start")?;
    let end_ms = required_time(&params, "end")?;
    if end_ms < start_ms {
        return Err(invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns = parse_duration_ns(params.get("step").unwrap_or_default())
        .map_err(|reason| invalid_param("step", reason))?;
    // Steps are evaluated in whole milliseconds; a step below 1ms cannot advance.
    if step_ns < NS_PER_MS {
        return Err(invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let span_ns = (i128::from(end_ms) - i128::from(start_ms)) * i128::from(NS_PER_MS);
    // Prometheus divides durations that saturate at the int64 range.
    let span_ns = span_ns.min(i128::from(i64::MAX));
    if span_ns / i128::from(step_ns) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let step_ms = step_ns / NS_PER_MS;
    let common = common_options(&params)?;
    let ctx = ParseContext {
        start_ms,
        end_ms,
        step_ms,
    };
    let (query, _) = parse_query_param(&params, &ctx)?;
    let tenant = tenant(&headers, &state.options.default_tenant)?;
    let opts = QueryOptions {
        lookback_delta_ms: common.lookback_delta_ms,
        timeout: common.timeout,
        cancel: None,
        per_step_stats: common.per_step_stats,
    };
    let (result, timings) = run_engine(&state, opts, accepted, move |engine, storage, opts| {
        engine.range_query(storage, &tenant, &query, start_ms, end_ms, step_ms, opts)
    })
    .await?;
    Ok(render(result, timings, limit, common.stats))
}

/// `{"status":"success","data":<data>}` with Prometheus' key order.
fn success_json(data: Json) -> Response {
    json_response(format!("{{\"status\":\"success\",\"data\":{data}}}"))
}

/// `GET|POST /api/v1/format_query`: the query pretty-printed.
pub(crate) async fn format_query(params: Params) -> Result<Response, ApiError> {
    let (_, expr) = parse_query_param(&params, &ParseContext::default())?;
    Ok(success_json(Json::String(expr.prettify())))
}

/// `GET|POST /api/v1/parse_query`: the query's syntax tree as JSON, in the shape of
/// Prometheus' tree view (`type` per node, matchers including the one on `__name__`).
pub(crate) async fn parse_query(params: Params) -> Result<Response, ApiError> {
    let (_, expr) = parse_query_param(&params, &ParseContext::default())?;
    let mut tree = serde_json::to_value(&expr)
        .map_err(|err| ApiError::internal(format!("cannot render the syntax tree: {err}")))?;
    complete_selectors(&mut tree);
    Ok(success_json(tree))
}

/// promql-parser leaves the metric name out of a selector's matchers, and carries Vigil's
/// `anchored`/`smoothed` modifiers as a pseudo matcher. Prometheus lists the name as a final
/// `__name__` matcher and reports the modifiers as booleans.
fn complete_selectors(node: &mut Json) {
    match node {
        Json::Array(items) => items.iter_mut().for_each(complete_selectors),
        Json::Object(map) => {
            let is_selector = matches!(
                map.get("type").and_then(Json::as_str),
                Some("vectorSelector" | "matrixSelector")
            );
            if is_selector {
                let name = map.get("name").and_then(Json::as_str).map(str::to_string);
                let mut modifier = None;
                if let Some(Json::Array(matchers)) = map.get_mut("matchers") {
                    matchers.retain(|m| {
                        if m.get("name").and_then(Json::as_str) == Some(RANGE_MODIFIER_LABEL) {
                            modifier = m.get("value").and_then(Json::as_str).map(str::to_string);
                            return false;
                        }
                        true
                    });
                    let has_name_matcher = matchers
                        .iter()
                        .any(|m| m.get("name").and_then(Json::as_str) == Some("__name__"));
                    if let Some(name) = name.filter(|_| !has_name_matcher) {
                        matchers.push(
                            serde_json::json!({"name": "__name__", "type": "=", "value": name}),
                        );
                    }
                }
                map.insert(
                    "anchored".into(),
                    Json::Bool(modifier.as_deref() == Some("anchored")),
                );
                map.insert(
                    "smoothed".into(),
                    Json::Bool(modifier.as_deref() == Some("smoothed")),
                );
            }
            map.values_mut().for_each(complete_selectors);
        }
        _ => {}
    }
}

/// True when the expression reads any series.
fn has_selector(expr: &Expr) -> bool {
    match expr {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Aggregate(agg) => {
            has_selector(&agg.expr) || agg.param.as_deref().is_some_and(has_selector)
        }
        Expr::Unary(unary) => has_selector(&unary.expr),
        Expr::Binary(binary) => has_selector(&binary.lhs) || has_selector(&binary.rhs),
        Expr::Paren(paren) => has_selector(&paren.expr),
        Expr::Subquery(sub) => has_selector(&sub.expr),
        Expr::Call(call) => call.args.args.iter().any(|arg| has_selector(arg)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

/// `GET|POST /api/v1/query_exemplars`: Vigil stores no exemplars, so after the same checks
/// as Prometheus the answer is an empty list (`null` for a query without selectors, as there).
pub(crate) async fn query_exemplars(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let range = params.time_range().map_err(|err| {
        if err.message() == "end timestamp must not be before start time" {
            ApiError::bad_data("end timestamp must not be before start timestamp")
        } else {
            err
        }
    })?;
    let query = params.get("query").unwrap_or_default();
    let ctx = ParseContext {
        start_ms: range.min_ms,
        end_ms: range.max_ms,
        step_ms: 0,
    };
    let expr =
        vigil_promql::parser::parse(query, &ctx).map_err(|err| ApiError::bad_data(err.message))?;
    tenant(&headers, &state.options.default_tenant)?;
    if !has_selector(&expr) {
        return Ok(success_json(Json::Null));
    }
    Ok(success_json(Json::Array(Vec::new())))
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod router_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration_ns("15").unwrap(), 15_000_000_000);
        assert_eq!(parse_duration_ns("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("250ms").unwrap(), 250_000_000);
        assert_eq!(parse_duration_ns("-1").unwrap(), -1_000_000_000);
        assert!(
            parse_duration_ns("1e10")
                .unwrap_err()
                .contains("overflows int64")
        );
        assert_eq!(
            parse_duration_ns("1x").unwrap_err(),
            "cannot parse \"1x\" to a valid duration"
        );
        assert!(parse_duration_ns("NaN").is_err());
        assert!(parse_duration_ns("").is_err());
    }

    #[test]
    fn cancel_flag_is_set_when_the_handler_future_goes_away() {
        let flag = Arc::new(AtomicBool::new(false));
        let guard = CancelOnDrop(flag.clone());
        assert!(!flag.load(Ordering::Acquire));
        drop(guard);
        assert!(flag.load(Ordering::Acquire));
    }

    #[test]
    fn selectors_are_found_anywhere_in_the_tree() {
        let parse = |q: &str| promql_parser::parser::parse(q).unwrap();
        assert!(has_selector(&parse("test")));
        assert!(has_selector(&parse("1 + sum(rate(x[5m]))")));
        assert!(has_selector(&parse("max_over_time(up[1h:1m])")));
        assert!(!has_selector(&parse("1 + 2")));
        assert!(!has_selector(&parse("time()")));
    }
}
