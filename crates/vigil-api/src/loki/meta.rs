//! Loki's metadata endpoints: label names and values, series, index statistics, volumes,
//! detected labels and fields, and patterns.
//!
//! Vigil has no separate index statistics: `index/stats` and the volume endpoints scan the
//! selected streams' entries in the range (line filters are not applied, as in Loki), and
//! report `chunks` as the number of streams.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value as JsonValue, json};
use vigil_logql::syntax::units::{parse_bytes, parse_duration_ns};
use vigil_logql::syntax::{Expr, LogExpr, parse, parse_log_expr};
use vigil_logql::{
    Direction, EvalError, EvalOptions, LogQueryParams, Pipeline, StorageLogSource, eval_log_query,
};
use vigil_model::{Direction as StoreDirection, Labels, LogTimeRange, Matcher};
use vigil_promql::{InstantSample, Point, RangeSeries, Value};
use vigil_storage::{LogQuerier, LogQueryable, LogSelect};

use super::params::LokiParams;
use super::{LokiError, blocking, json_response, log_store};
use crate::params::Params;
use crate::promjson::push_value;

/// The stream matchers of a log selector or log query.
fn selector_matchers(raw: &str) -> Result<Vec<Matcher>, LokiError> {
    let expr = parse(raw).map_err(EvalError::from)?;
    let Expr::Log(log) = expr else {
        return Err(LokiError::bad_request(format!(
            "only log selectors are allowed here, got a metric query: {raw}"
        )));
    };
    compile(&log)
}

fn compile(log: &LogExpr) -> Result<Vec<Matcher>, LokiError> {
    log.matchers
        .iter()
        .map(|m| {
            Matcher::new(m.op, m.name.clone(), m.value.clone())
                .map_err(|err| LokiError::bad_request(err.to_string()))
        })
        .collect()
}

fn optional_matchers(p: &LokiParams<'_>) -> Result<Vec<Matcher>, LokiError> {
    match p.get("query") {
        None => Ok(Vec::new()),
        Some(raw) => selector_matchers(raw),
    }
}

fn inclusive(start_ns: i64, end_ns: i64) -> Result<LogTimeRange, LokiError> {
    if end_ns < start_ns {
        return Err(LokiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok(LogTimeRange { start_ns, end_ns })
}

/// Runs `read` on a querier over the request's range, off the async workers.
async fn with_log_querier<T: Send + 'static>(
    state: &Arc<crate::ApiState>,
    headers: &HeaderMap,
    range: LogTimeRange,
    read: impl FnOnce(&dyn LogQuerier) -> Result<T, LokiError> + Send + 'static,
) -> Result<T, LokiError> {
    let (logs, tenant) = log_store(state, headers)?;
    blocking(move || {
        let querier = logs.log_querier(&tenant, range)?;
        read(querier.as_ref())
    })
    .await
}

fn envelope(data: JsonValue) -> Response {
    json_response(json!({"status": "success", "data": data}).to_string())
}

/// `GET|POST /loki/api/v1/labels`
pub(super) async fn labels(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let (start, end) = p.bounds()?;
    let range = inclusive(start, end)?;
    let matchers = optional_matchers(&p)?;
    let names = with_log_querier(&state, &headers, range, move |querier| {
        Ok(querier.label_names(&matchers)?)
    })
    .await?;
    Ok(envelope(json!(names)))
}

/// `GET /loki/api/v1/label/<name>/values`
pub(super) async fn label_values(
    State(state): State<Arc<crate::ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let (start, end) = p.bounds()?;
    let range = inclusive(start, end)?;
    let matchers = optional_matchers(&p)?;
    let values = with_log_querier(&state, &headers, range, move |querier| {
        Ok(querier.label_values(&name, &matchers)?)
    })
    .await?;
    Ok(envelope(json!(values)))
}

fn labels_json(labels: &Labels) -> JsonValue {
    JsonValue::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), JsonValue::String(l.value.clone())))
            .collect(),
    )
}

/// `GET|POST /loki/api/v1/series`: the union over every `match[]` (or `match`) selector.
pub(super) async fn series(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let (start, end) = p.bounds()?;
    let range = inclusive(start, end)?;
    let mut selectors: Vec<Vec<Matcher>> = Vec::new();
    for raw in params
        .get_all("match[]")
        .into_iter()
        .chain(params.get_all("match"))
        .filter(|raw| !raw.is_empty())
    {
        selectors.push(selector_matchers(raw)?);
    }
    let found = with_log_querier(&state, &headers, range, move |querier| {
        if selectors.is_empty() {
            return Ok(querier.series(&[])?);
        }
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        for matchers in &selectors {
            all.extend(querier.series(matchers)?);
        }
        Ok(all.into_iter().collect::<Vec<_>>())
    })
    .await?;
    Ok(envelope(JsonValue::Array(
        found.iter().map(labels_json).collect(),
    )))
}

/// Visits every entry of the streams matching `matchers` as (stream, timestamp, bytes).
fn scan(
    querier: &dyn LogQuerier,
    matchers: &[Matcher],
    mut visit: impl FnMut(&Labels, i64, u64),
) -> Result<(), LokiError> {
    let entries = querier.select_entries(&LogSelect {
        matchers: matchers.to_vec(),
        direction: StoreDirection::Forward,
        limit: 0,
        line_contains: Vec::new(),
    })?;
    for item in entries {
        let read = item?;
        visit(
            &read.stream,
            read.entry.timestamp_ns,
            read.entry.size_bytes() as u64,
        );
    }
    Ok(())
}

/// `GET|POST /loki/api/v1/index/stats`: `{"streams","chunks","entries","bytes"}`, bare.
pub(super) async fn index_stats(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let matchers = selector_matchers(&p.query()?)?;
    let (start, end) = p.bounds()?;
    let range = inclusive(start, end)?;
    let (streams, entries, bytes) = with_log_querier(&state, &headers, range, move |querier| {
        let mut streams: BTreeSet<Labels> = BTreeSet::new();
        let (mut entries, mut bytes) = (0_u64, 0_u64);
        scan(querier, &matchers, |stream, _, size| {
            if !streams.contains(stream) {
                streams.insert(stream.clone());
            }
            entries += 1;
            bytes += size;
        })?;
        Ok((streams.len() as u64, entries, bytes))
    })
    .await?;
    Ok(json_response(
        json!({"streams": streams, "chunks": streams, "entries": entries, "bytes": bytes})
            .to_string(),
    ))
}

/// How volume groups streams.
struct VolumeGrouping {
    /// `aggregateBy=labels`: one group per label name/value instead of per label set.
    by_label: bool,
    /// The label names that form a group (`targetLabels`, else the selector's names).
    names: Vec<String>,
}

impl VolumeGrouping {
    fn parse(p: &LokiParams<'_>, matchers: &[Matcher]) -> Result<Self, LokiError> {
        let by_label = match p.get("aggregateBy") {
            None | Some("series") => false,
            Some("labels") => true,
            Some(other) => {
                return Err(LokiError::bad_request(format!(
                    "invalid aggregateBy '{other}': expected 'series' or 'labels'"
                )));
            }
        };
        let mut names: Vec<String> = match p.get("targetLabels") {
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            None => matchers.iter().map(|m| m.name.clone()).collect(),
        };
        names.sort();
        names.dedup();
        Ok(Self { by_label, names })
    }

    /// The groups a stream's bytes count towards.
    fn groups(&self, stream: &Labels) -> Vec<Labels> {
        let wanted = |name: &str| self.names.is_empty() || self.names.iter().any(|n| n == name);
        if self.by_label {
            return stream
                .iter()
                .filter(|l| wanted(&l.name))
                .map(|l| Labels::from_unsorted_unique(vec![l.clone()]).unwrap_or_default())
                .collect();
        }
        let kept: Vec<_> = stream.iter().filter(|l| wanted(&l.name)).cloned().collect();
        vec![Labels::from_unsorted_unique(kept).unwrap_or_default()]
    }
}

fn ns_to_ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

fn metric_envelope(value: &Value) -> Response {
    let kind = if matches!(value, Value::Matrix(_)) {
        "matrix"
    } else {
        "vector"
    };
    let mut body =
        format!("{{\"status\":\"success\",\"data\":{{\"resultType\":\"{kind}\",\"result\":");
    push_value(&mut body, value);
    body.push_str("}}");
    json_response(body)
}

/// `GET|POST /loki/api/v1/index/volume`: bytes per group over the range, largest first.
pub(super) async fn volume(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let matchers = selector_matchers(&p.query()?)?;
    let (start, end) = p.bounds()?;
    let range = inclusive(start, end)?;
    let limit = p.positive("limit", 100)?;
    let grouping = VolumeGrouping::parse(&p, &matchers)?;
    let mut totals = with_log_querier(&state, &headers, range, move |querier| {
        let mut per_stream: HashMap<Labels, f64> = HashMap::new();
        scan(querier, &matchers, |stream, _, size| {
            *per_stream.entry(stream.clone()).or_default() += size as f64;
        })?;
        let mut totals: BTreeMap<Labels, f64> = BTreeMap::new();
        for (stream, bytes) in per_stream {
            for group in grouping.groups(&stream) {
                *totals.entry(group).or_default() += bytes;
            }
        }
        Ok(totals.into_iter().collect::<Vec<_>>())
    })
    .await?;
    totals.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    totals.truncate(limit);
    let t_ms = ns_to_ms(end);
    let samples = totals
        .into_iter()
        .map(|(labels, v)| InstantSample { labels, t_ms, v })
        .collect();
    Ok(metric_envelope(&Value::Vector(samples)))
}

/// `GET|POST /loki/api/v1/index/volume_range`: bytes per group and step; the point at `t`
/// counts entries in `(t - step, t]`, like `bytes_over_time(...[step])`.
pub(super) async fn volume_range(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let matchers = selector_matchers(&p.query()?)?;
    let (start, end) = p.bounds()?;
    inclusive(start, end)?;
    let step = p.step(start, end)?;
    if step <= 0 {
        return Err(LokiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > 11_000 {
        return Err(LokiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let limit = p.positive("limit", 100)?;
    let grouping = VolumeGrouping::parse(&p, &matchers)?;
    let range = LogTimeRange {
        start_ns: start.saturating_sub(step).saturating_add(1),
        end_ns: end,
    };
    let series = with_log_querier(&state, &headers, range, move |querier| {
        let mut per_group: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
        scan(querier, &matchers, |stream, ts, size| {
            // The first step point t >= ts (points are start + k * step).
            let k = if ts <= start {
                0
            } else {
                (ts - start + step - 1) / step
            };
            let point = start + k * step;
            if point > end {
                return;
            }
            for group in grouping.groups(stream) {
                *per_group
                    .entry(group)
                    .or_default()
                    .entry(point)
                    .or_default() += size as f64;
            }
        })?;
        Ok(per_group)
    })
    .await?;
    let mut ranked: Vec<(f64, RangeSeries)> = series
        .into_iter()
        .map(|(labels, points)| {
            let total: f64 = points.values().sum();
            let points = points
                .into_iter()
                .map(|(t, v)| Point {
                    t_ms: ns_to_ms(t),
                    v,
                })
                .collect();
            (total, RangeSeries { labels, points })
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.labels.cmp(&b.1.labels))
    });
    ranked.truncate(limit);
    let mut matrix: Vec<RangeSeries> = ranked.into_iter().map(|(_, s)| s).collect();
    matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(metric_envelope(&Value::Matrix(matrix)))
}

/// `GET /loki/api/v1/detected_labels`: `{"detectedLabels":[{"label","cardinality"}]}`.
pub(super) async fn detected_labels(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    let (start, end) = p.bounds()?;
    let range = inclusive(start, end)?;
    let matchers = optional_matchers(&p)?;
    let cardinality = with_log_querier(&state, &headers, range, move |querier| {
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for stream in querier.series(&matchers)? {
            for label in stream.iter() {
                values
                    .entry(label.name.clone())
                    .or_default()
                    .insert(label.value.clone());
            }
        }
        Ok(values)
    })
    .await?;
    let list: Vec<JsonValue> = cardinality
        .iter()
        .filter(|(name, _)| !name.starts_with("__"))
        .map(|(name, values)| json!({"label": name, "cardinality": values.len()}))
        .collect();
    Ok(json_response(json!({"detectedLabels": list}).to_string()))
}

/// One field seen in sampled lines.
#[derive(Default)]
struct FieldSeen {
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
}

/// The narrowest Loki field type every value fits.
fn field_type(values: &BTreeSet<String>) -> &'static str {
    let all = |ok: &dyn Fn(&str) -> bool| values.iter().all(|v| ok(v));
    if all(&|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(&|v| v == "true" || v == "false") {
        "boolean"
    } else if all(&|v| parse_duration_ns(v).is_ok()) {
        "duration"
    } else if all(&|v| parse_bytes(v).is_ok()) {
        "bytes"
    } else {
        "string"
    }
}

/// Samples the newest `line_limit` entries of `query` and collects their fields: structured
/// metadata, and what `json` (for lines that look like objects) or `logfmt` (otherwise)
/// extracts from the line as the query returns it.
fn sample_fields(
    logs: &dyn LogQueryable,
    tenant: vigil_model::TenantId,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    line_limit: usize,
) -> Result<BTreeMap<String, FieldSeen>, LokiError> {
    let log = parse_log_expr(query).map_err(EvalError::from)?;
    let json_pipeline =
        Pipeline::new(&parse_log_expr("{x=\"y\"} | json").map_err(EvalError::from)?)
            .map_err(LokiError::internal)?;
    let logfmt_pipeline =
        Pipeline::new(&parse_log_expr("{x=\"y\"} | logfmt").map_err(EvalError::from)?)
            .map_err(LokiError::internal)?;
    let source = StorageLogSource::new(logs, tenant);
    let streams = eval_log_query(
        &source,
        &log,
        &LogQueryParams {
            start_ns,
            end_ns: end_ns.saturating_add(1),
            limit: line_limit,
            direction: Direction::Backward,
        },
        &EvalOptions::default(),
    )?;
    let mut fields: BTreeMap<String, FieldSeen> = BTreeMap::new();
    let mut note = |name: &str, value: &str, parser: Option<&'static str>| {
        if name.starts_with("__") || value.is_empty() {
            return;
        }
        let seen = fields.entry(name.to_string()).or_default();
        seen.values.insert(value.to_string());
        if let Some(parser) = parser {
            seen.parsers.insert(parser);
        }
    };
    for stream in &streams {
        for entry in &stream.entries {
            for label in entry.metadata.iter() {
                note(&label.name, &label.value, None);
            }
            let (pipeline, parser) = if entry.line.trim_start().starts_with('{') {
                (&json_pipeline, "json")
            } else {
                (&logfmt_pipeline, "logfmt")
            };
            let Some(processed) =
                pipeline.process(entry.ts_ns, &entry.line, &Labels::empty(), &Labels::empty())
            else {
                continue;
            };
            if processed.parsed.get("__error__").is_some() {
                continue;
            }
            for label in processed.parsed.iter() {
                if stream.stream.get(&label.name).is_none() {
                    note(&label.name, &label.value, Some(parser));
                }
            }
        }
    }
    Ok(fields)
}

struct FieldsRequest {
    query: String,
    start: i64,
    end: i64,
    line_limit: usize,
    limit: usize,
}

fn fields_request(p: &LokiParams<'_>) -> Result<FieldsRequest, LokiError> {
    let query = p.query()?;
    let (start, end) = p.bounds()?;
    inclusive(start, end)?;
    Ok(FieldsRequest {
        query,
        start,
        end,
        line_limit: p.positive("line_limit", 1000)?,
        limit: p.positive("limit", 1000)?,
    })
}

async fn collect_fields(
    state: &Arc<crate::ApiState>,
    headers: &HeaderMap,
    request: &FieldsRequest,
) -> Result<BTreeMap<String, FieldSeen>, LokiError> {
    let (logs, tenant) = log_store(state, headers)?;
    let query = request.query.clone();
    let (start, end, line_limit) = (request.start, request.end, request.line_limit);
    blocking(move || sample_fields(logs.as_ref(), tenant, &query, start, end, line_limit)).await
}

/// `GET /loki/api/v1/detected_fields`: `{"fields":[...],"limit":N}`, bare.
pub(super) async fn detected_fields(
    State(state): State<Arc<crate::ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let request = fields_request(&LokiParams(&params))?;
    let fields = collect_fields(&state, &headers, &request).await?;
    let list: Vec<JsonValue> = fields
        .iter()
        .take(request.limit)
        .map(|(name, seen)| {
            let parsers: JsonValue = if seen.parsers.is_empty() {
                JsonValue::Null
            } else {
                json!(seen.parsers.iter().copied().collect::<Vec<_>>())
            };
            json!({
                "label": name,
                "type": field_type(&seen.values),
                "cardinality": seen.values.len(),
                "parsers": parsers,
            })
        })
        .collect();
    Ok(json_response(
        json!({"fields": list, "limit": request.limit}).to_string(),
    ))
}

/// `GET /loki/api/v1/detected_field/<name>/values`: `{"values":[...],"limit":N}`, bare.
pub(super) async fn detected_field_values(
    State(state): State<Arc<crate::ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, LokiError> {
    let request = fields_request(&LokiParams(&params))?;
    let fields = collect_fields(&state, &headers, &request).await?;
    let values: Vec<&String> = fields
        .get(&name)
        .map(|seen| seen.values.iter().take(request.limit).collect())
        .unwrap_or_default();
    Ok(json_response(
        json!({"values": values, "limit": request.limit}).to_string(),
    ))
}

/// `GET /loki/api/v1/patterns`: Vigil does not mine patterns; an empty list is a valid
/// answer that keeps Grafana's patterns tab quiet.
pub(super) async fn patterns(params: Params) -> Result<Response, LokiError> {
    let p = LokiParams(&params);
    p.query()?;
    p.bounds()?;
    Ok(envelope(json!([])))
}
