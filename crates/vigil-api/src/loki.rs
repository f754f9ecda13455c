//! The Loki HTTP read API (`/loki/api/v1/...`) over `vigil-storage`'s log traits, in the
//! shapes Grafana's Loki datasource parses: `query`/`query_range` (streams, vector, matrix,
//! the `categorize-labels` encoding flag, a `stats` block), label and series metadata,
//! index statistics and volumes, detected labels and fields, patterns, build info,
//! `format_query` and the WebSocket live tail.
//!
//! Errors are Loki's: a plain-text body naming the problem, 400 for bad input, 503 when no
//! log store is configured or storage is not ready, 504 on timeout, 500 otherwise.

mod json;
mod meta;
mod params;
mod tail;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vigil_logql::syntax::{Expr, parse};
use vigil_logql::{
    EvalError, EvalOptions, LogQueryParams, MetricQueryParams, QueryOutput, StorageLogSource,
    eval_query,
};
use vigil_model::TenantId;
use vigil_storage::{LogQueryable, StorageError, StorageErrorKind};

use self::json::{QueryData, QueryTimings, query_body};
use self::params::{DEFAULT_LIMIT, LokiParams, now_ns};
use crate::ApiState;
use crate::params::{Params, tenant};

/// The Loki API level Vigil speaks, reported by `status/buildinfo` (Grafana enables
/// features by the Loki version it sees).
const LOKI_API_VERSION: &str = "3.4.0";

/// Most entries one log query may ask for (Loki's default `max_entries_limit_per_query`).
const MAX_ENTRIES_LIMIT: usize = 5_000;

/// `limit` within [`MAX_ENTRIES_LIMIT`], with Loki's message otherwise.
fn checked_limit(p: &LokiParams<'_>) -> Result<usize, LokiError> {
    let limit = p.positive("limit", DEFAULT_LIMIT)?;
    if limit > MAX_ENTRIES_LIMIT {
        return Err(LokiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {MAX_ENTRIES_LIMIT})"
        )));
    }
    Ok(limit)
}

/// The header carrying Loki's response encoding flags.
const ENCODING_FLAGS_HEADER: &str = "x-loki-response-encoding-flags";

/// The Loki read routes.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/loki/api/v1/query", get(query).post(query))
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/labels", get(meta::labels).post(meta::labels))
        .route("/loki/api/v1/label", get(meta::labels))
        .route("/loki/api/v1/label/{name}/values", get(meta::label_values))
        .route("/loki/api/v1/series", get(meta::series).post(meta::series))
        .route(
            "/loki/api/v1/index/stats",
            get(meta::index_stats).post(meta::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(meta::volume).post(meta::volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(meta::volume_range).post(meta::volume_range),
        )
        .route("/loki/api/v1/detected_labels", get(meta::detected_labels))
        .route("/loki/api/v1/detected_fields", get(meta::detected_fields))
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(meta::detected_field_values),
        )
        .route("/loki/api/v1/patterns", get(meta::patterns))
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route(
            "/loki/api/v1/format_query",
            get(format_query).post(format_query),
        )
}

/// A failed Loki request: status plus a plain-text message, as Loki's `http.Error` writes.
#[derive(Debug, Clone)]
pub(crate) struct LokiError {
    status: StatusCode,
    message: String,
}

impl LokiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<EvalError> for LokiError {
    fn from(err: EvalError) -> Self {
        match err {
            EvalError::Parse(_)
            | EvalError::BadRequest(_)
            | EvalError::Pipeline(_)
            | EvalError::Limit(_)
            | EvalError::Execution(_) => LokiError::bad_request(err.to_string()),
            EvalError::Timeout => Self {
                status: StatusCode::GATEWAY_TIMEOUT,
                message: "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed".into(),
            },
            EvalError::Source(message) => {
                tracing::error!(error = %message, "log storage failed during a query");
                LokiError::internal(message)
            }
        }
    }
}

impl From<StorageError> for LokiError {
    fn from(err: StorageError) -> Self {
        match err.kind() {
            StorageErrorKind::InvalidInput => LokiError::bad_request(err.to_string()),
            StorageErrorKind::Unavailable => LokiError::unavailable(err.to_string()),
            StorageErrorKind::Internal => {
                tracing::error!(error = %err, "log storage error while serving a request");
                LokiError::internal(err.to_string())
            }
        }
    }
}

impl From<crate::ApiError> for LokiError {
    fn from(err: crate::ApiError) -> Self {
        Self {
            status: err.status(),
            message: err.message().to_string(),
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            format!("{}\n", self.message),
        )
            .into_response()
    }
}

/// A JSON response body built as text.
pub(crate) fn json_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The configured log store and the request's tenant, or the error that explains why the
/// request cannot be served.
fn log_store(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<(Arc<dyn LogQueryable>, TenantId), LokiError> {
    let Some(logs) = state.logs.clone() else {
        return Err(LokiError::unavailable(
            "no log store is configured on this server",
        ));
    };
    if !state.is_ready() {
        return Err(LokiError::unavailable(
            "storage is still replaying its write-ahead log",
        ));
    }
    let tenant = tenant(headers, &state.options.default_tenant)?;
    Ok((logs, tenant))
}

/// Runs blocking log work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LokiError> + Send + 'static,
) -> Result<T, LokiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| LokiError::internal(format!("log read task failed: {err}")))?
}

/// True when the request asks for the `categorize-labels` encoding.
fn wants_categorized(headers: &HeaderMap) -> bool {
    headers
        .get_all(ENCODING_FLAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|flag| flag.trim() == "categorize-labels")
}

/// Everything a `query`/`query_range` evaluation needs, owned for the blocking task.
struct QueryJob {
    logs: Arc<dyn LogQueryable>,
    tenant: TenantId,
    query: String,
    log: LogQueryParams,
    metric: MetricQueryParams,
    interval_ns: i64,
    accepted: Instant,
    /// The query timeout (`query.timeout`, shared with PromQL).
    timeout: Duration,
}

fn run_query(job: QueryJob) -> Result<(QueryData, QueryTimings), LokiError> {
    let started = Instant::now();
    let source = StorageLogSource::new(job.logs.as_ref(), job.tenant);
    let options = EvalOptions {
        deadline: Some(started + job.timeout),
        ..EvalOptions::default()
    };
    let output = eval_query(&source, &job.query, &job.log, &job.metric, &options)?;
    let mut timings = QueryTimings {
        scan: source.stats(),
        exec_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        queue_ns: u64::try_from(started.duration_since(job.accepted).as_nanos())
            .unwrap_or(u64::MAX),
        entries_returned: 0,
    };
    let data = match output {
        QueryOutput::Streams(mut streams) => {
            if job.interval_ns > 0 {
                thin_by_interval(&mut streams, job.interval_ns, job.log.direction);
            }
            timings.entries_returned = streams.iter().map(|s| s.entries.len() as u64).sum();
            QueryData::Streams {
                streams,
                direction: job.log.direction,
            }
        }
        QueryOutput::Metric(value) => QueryData::Metric(value),
    };
    Ok((data, timings))
}

/// Loki's `interval` for log queries: within a stream, keep only entries at least
/// `interval` apart, starting from the first one in the result's order.
fn thin_by_interval(
    streams: &mut [vigil_logql::StreamResult],
    interval_ns: i64,
    direction: vigil_logql::Direction,
) {
    for stream in streams {
        let mut last: Option<i64> = None;
        stream.entries.retain(|entry| {
            let keep = match (last, direction) {
                (None, _) => true,
                (Some(prev), vigil_logql::Direction::Forward) => {
                    entry.ts_ns >= prev.saturating_add(interval_ns)
                }
                (Some(prev), vigil_logql::Direction::Backward) => {
                    entry.ts_ns <= prev.saturating_sub(interval_ns)
                }
            };
            if keep {
                last = Some(entry.ts_ns);
            }
            keep
        });
    }
}

async fn evaluate(job: QueryJob, categorize: bool) -> Result<Response, LokiError> {
    let (data, timings) = blocking(move || run_query(job)).await?;
    Ok(json_response(query_body(data, &timings, categorize)))
}

/// `GET|POST /loki/api/v1/query_range`
async fn query_range(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let accepted = Instant::now();
    let (logs, tenant) = log_store(&state, &headers)?;
    let p = LokiParams(&params);
    let query = p.query()?;
    let limit = checked_limit(&p)?;
    let (start_ns, end_ns) = p.bounds()?;
    if end_ns < start_ns {
        return Err(LokiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    let step_ns = p.step(start_ns, end_ns)?;
    if step_ns <= 0 {
        return Err(LokiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let interval_ns = p.duration("interval")?.unwrap_or(0);
    if interval_ns < 0 {
        return Err(LokiError::bad_request(
            "negative query interval widths are not accepted. Try a positive integer",
        ));
    }
    let direction = p.direction()?;
    let job = QueryJob {
        logs,
        tenant,
        query,
        log: LogQueryParams {
            start_ns,
            end_ns,
            limit,
            direction,
        },
        metric: MetricQueryParams::range(start_ns, end_ns, step_ns),
        interval_ns,
        accepted,
        timeout: state.engine.options().timeout,
    };
    evaluate(job, wants_categorized(&headers)).await
}

/// `GET|POST /loki/api/v1/query`: instant metric queries (log queries must use
/// `query_range`, as in Loki 3).
async fn query(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let accepted = Instant::now();
    let (logs, tenant) = log_store(&state, &headers)?;
    let p = LokiParams(&params);
    let query = p.query()?;
    let limit = checked_limit(&p)?;
    let at_ns = p.time("time")?.unwrap_or_else(now_ns);
    let direction = p.direction()?;
    if let Expr::Log(_) = parse(&query).map_err(EvalError::from)? {
        return Err(LokiError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ));
    }
    let job = QueryJob {
        logs,
        tenant,
        query,
        log: LogQueryParams {
            start_ns: at_ns,
            end_ns: at_ns,
            limit,
            direction,
        },
        metric: MetricQueryParams::instant(at_ns),
        interval_ns: 0,
        accepted,
        timeout: state.engine.options().timeout,
    };
    evaluate(job, wants_categorized(&headers)).await
}

/// `GET|POST /loki/api/v1/format_query`: the query in canonical form.
async fn format_query(params: Params) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let query = p.query()?;
    let expr = parse(&query).map_err(EvalError::from)?;
    let formatted = expr.to_string();
    let mut body = String::from("{\"status\":\"success\",\"data\":");
    crate::promjson::push_json_string(&mut body, &formatted);
    body.push('}');
    Ok(json_response(body))
}

/// `GET /loki/api/v1/status/buildinfo`: Loki's shape, without an envelope.
async fn buildinfo(State(state): State<Arc<ApiState>>) -> Response {
    let info = &state.build_info;
    let body = serde_json::json!({
        "version": LOKI_API_VERSION,
        "revision": info.revision,
        "branch": info.branch,
        "buildUser": format!("vigil {}", info.version),
        "buildDate": info.build_date,
        "goVersion": info.rustc_version,
    });
    json_response(body.to_string())
}

#[cfg(test)]
mod tests;
