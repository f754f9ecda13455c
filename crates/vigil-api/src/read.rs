//! Read endpoints that need no query engine: series, label names and values, metadata,
//! build info and TSDB status, with Prometheus' JSON envelopes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use vigil_model::{Labels, Matcher, TenantId, TimeRange};
use vigil_storage::{Querier, Queryable, SelectHints};

use crate::params::{Params, tenant};
use crate::{ApiError, ApiState};

const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// `{"status":"success","data":...}` plus `warnings` when there are any.
fn success(data: Value, warnings: Vec<String>) -> Json<Value> {
    let mut body = Map::new();
    body.insert("status".into(), json!("success"));
    body.insert("data".into(), data);
    if !warnings.is_empty() {
        body.insert("warnings".into(), json!(warnings));
    }
    Json(Value::Object(body))
}

/// Runs a storage read off the async workers, once storage is ready.
async fn on_storage<T: Send + 'static>(
    state: &Arc<ApiState>,
    read: impl FnOnce(&dyn Queryable) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::unavailable(
            "storage is still replaying its write-ahead log",
        ));
    }
    let queryable = state.queryable.clone();
    tokio::task::spawn_blocking(move || read(queryable.as_ref()))
        .await
        .map_err(|err| ApiError::internal(format!("read task failed: {err}")))?
}

/// Runs a read through a querier over `range` of `tenant`.
async fn with_querier<T: Send + 'static>(
    state: &Arc<ApiState>,
    tenant: TenantId,
    range: TimeRange,
    read: impl FnOnce(&dyn Querier) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    on_storage(state, move |queryable| {
        let querier = queryable.querier(&tenant, range)?;
        read(querier.as_ref())
    })
    .await
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect(),
    )
}

/// The parameters shared by the series, label names and label values endpoints.
struct MetadataQuery {
    tenant: TenantId,
    selectors: Vec<Vec<Vec<Matcher>>>,
    range: TimeRange,
    limit: usize,
}

impl MetadataQuery {
    fn parse(state: &ApiState, headers: &HeaderMap, params: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            tenant: tenant(headers, &state.options.default_tenant)?,
            selectors: params.selectors()?,
            range: params.time_range()?,
            limit: params.limit()?,
        })
    }

    /// Applies `limit` to a result; when it cuts, Prometheus adds a warning.
    fn limited<T>(&self, mut items: Vec<T>) -> (Vec<T>, Vec<String>) {
        if self.limit > 0 && items.len() > self.limit {
            items.truncate(self.limit);
            return (items, vec![TRUNCATED_WARNING.to_string()]);
        }
        (items, Vec::new())
    }
}

pub(crate) async fn series(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let query = MetadataQuery::parse(&state, &headers, &params)?;
    if query.selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    // One more than the limit, to know whether the limit cut anything.
    let hints = SelectHints {
        series_only: true,
        limit: if query.limit > 0 { query.limit + 1 } else { 0 },
    };
    let selectors = query.selectors.clone();
    let found: Vec<Labels> =
        with_querier(&state, query.tenant.clone(), query.range, move |querier| {
            let mut all: BTreeSet<Labels> = BTreeSet::new();
            for matchers in selectors.iter().flatten() {
                for series in querier.select(matchers, &hints)? {
                    all.insert(series?.labels);
                }
            }
            Ok(all.into_iter().collect())
        })
        .await?;
    let (found, warnings) = query.limited(found);
    Ok(success(
        Value::Array(found.iter().map(labels_json).collect()),
        warnings,
    ))
}

/// Label names or values over the union of `match[]` selectors (or all series).
fn union_over_selectors(
    querier: &dyn Querier,
    selectors: &[Vec<Vec<Matcher>>],
    read: impl Fn(&dyn Querier, &[Matcher]) -> Result<Vec<String>, vigil_storage::StorageError>,
) -> Result<Vec<String>, ApiError> {
    if selectors.is_empty() {
        return Ok(read(querier, &[])?);
    }
    let mut all: BTreeSet<String> = BTreeSet::new();
    for matchers in selectors.iter().flatten() {
        all.extend(read(querier, matchers)?);
    }
    Ok(all.into_iter().collect())
}

pub(crate) async fn labels(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let query = MetadataQuery::parse(&state, &headers, &params)?;
    let selectors = query.selectors.clone();
    let names = with_querier(&state, query.tenant.clone(), query.range, move |querier| {
        union_over_selectors(querier, &selectors, |q, m| q.label_names(m))
    })
    .await?;
    let (names, warnings) = query.limited(names);
    Ok(success(json!(names), warnings))
}

/// Undoes Prometheus' `U__` escaping of UTF-8 label names in URL paths.
fn unescape_label_name(raw: &str) -> Result<String, ApiError> {
    let Some(escaped) = raw.strip_prefix("U__") else {
        return Ok(raw.to_string());
    };
    let invalid = || ApiError::bad_data(format!("invalid escaped label name {raw:?}"));
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(pos) = rest.find('_') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('_') {
            out.push('_');
            rest = after;
            continue;
        }
        let end = rest.find('_').ok_or_else(invalid)?;
        let code = u32::from_str_radix(&rest[..end], 16).map_err(|_| invalid())?;
        out.push(char::from_u32(code).ok_or_else(invalid)?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(crate) async fn label_values(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let query = MetadataQuery::parse(&state, &headers, &params)?;
    let name = unescape_label_name(&name)?;
    if name.is_empty() {
        return Err(ApiError::bad_data("invalid label name: \"\""));
    }
    let selectors = query.selectors.clone();
    let values = with_querier(&state, query.tenant.clone(), query.range, move |querier| {
        union_over_selectors(querier, &selectors, |q, m| q.label_values(&name, m))
    })
    .await?;
    let (values, warnings) = query.limited(values);
    Ok(success(json!(values), warnings))
}

fn optional_count(params: &Params, name: &str) -> Result<Option<usize>, ApiError> {
    match params.get(name).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n <= 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::bad_data(format!(
                "invalid parameter \"{name}\": {raw:?} is not a number"
            ))),
        },
    }
}

pub(crate) async fn metadata(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&headers, &state.options.default_tenant)?;
    let limit = optional_count(&params, "limit")?;
    let per_metric = optional_count(&params, "limit_per_metric")?;
    let metric = params
        .get("metric")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let families = on_storage(&state, move |queryable| {
        Ok(queryable.metadata(&tenant, metric.as_deref())?)
    })
    .await?;
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for (family, entries) in families.into_iter().take(limit.unwrap_or(usize::MAX)) {
        let entries: Vec<Value> = entries
            .iter()
            .take(per_metric.unwrap_or(usize::MAX))
            .map(|m| json!({"type": m.metric_type.as_str(), "help": m.help, "unit": m.unit}))
            .collect();
        out.insert(family, Value::Array(entries));
    }
    Ok(success(json!(out), Vec::new()))
}

pub(crate) async fn buildinfo(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let info = &state.build_info;
    // No "features" key: Grafana would take a non-empty map for Mimir and call its ruler API.
    success(
        json!({
            "version": info.version,
            "revision": info.revision,
            "branch": info.branch,
            "buildUser": "vigil",
            "buildDate": info.build_date,
            "goVersion": info.rustc_version,
        }),
        Vec::new(),
    )
}

fn name_values(entries: &[(String, u64)]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

pub(crate) async fn tsdb_status(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&headers, &state.options.default_tenant)?;
    let limit = match params.get("limit").filter(|s| !s.is_empty()) {
        None => 10,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_data(
                    "limit must be a positive number not above 10000",
                ));
            }
        },
    };
    let status = on_storage(&state, move |queryable| {
        Ok(queryable.status(&tenant, limit)?)
    })
    .await?;
    let head = &status.head;
    Ok(success(
        json!({
            "headStats": {
                "numSeries": head.num_series,
                "numLabelPairs": head.num_label_pairs,
                "chunkCount": head.chunk_count,
                "minTime": head.min_time_ms,
                "maxTime": head.max_time_ms,
            },
            "seriesCountByMetricName": name_values(&status.series_count_by_metric_name),
            "labelValueCountByLabelName": name_values(&status.label_value_count_by_label_name),
            "memoryInBytesByLabelName": name_values(&status.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": name_values(&status.series_count_by_label_value_pair),
        }),
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_utf8_label_names() {
        assert_eq!(unescape_label_name("job").unwrap(), "job");
        assert_eq!(
            unescape_label_name("U__service_2e_name").unwrap(),
            "service.name"
        );
        assert_eq!(unescape_label_name("U__a__b").unwrap(), "a_b");
        assert!(unescape_label_name("U__x_zz_").is_err());
    }
}
