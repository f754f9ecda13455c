//! The query engine's public entry points.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use promql_parser::parser::{Expr, value::ValueType};
use vigil_model::{Labels, TenantId};
use vigil_storage::Queryable;

use crate::error::QueryError;
use crate::eval::{Annotation, Evaluator, Grid, Series, Val, drop_metric_name};
use crate::functions::merge_same_labels;
use crate::parser::{self, ParseContext};
use crate::value::{InstantSample, Point, QueryResult, QueryStats, RangeSeries, Value};

/// Engine-wide settings (Prometheus' `--query.*` flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (default 5m).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once (default 50 000 000).
    pub max_samples: usize,
    /// Default per-query timeout (default 2m).
    pub timeout: Duration,
    /// Step of subqueries written without one (`[1h:]`), default 1m.
    pub default_subquery_step_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step_ms: 60 * 1000,
        }
    }
}

/// Per-query settings.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Overrides the engine's lookback delta for this query.
    pub lookback_delta_ms: Option<i64>,
    /// Overrides the engine's timeout when shorter.
    pub timeout: Option<Duration>,
    /// Set to `true` by the caller (e.g. when the HTTP client disconnects)
    /// to abort evaluation with an `ErrorKind::Canceled` error.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Collect `samples_per_step` in the stats (`stats=all`).
    pub per_step_stats: bool,
}

/// A PromQL engine. Cheap to clone and share; queries are synchronous and
/// CPU-bound, so async callers run them on a blocking thread.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at one instant (`/api/v1/query`).
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        tenant: &TenantId,
        query: &str,
        t_ms: i64,
        opts: &QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        self.range_query_inner(storage, tenant, query, t_ms, t_ms, 0, opts, true)
    }

    /// Evaluates `query` at every step of `[start, end]` (`/api/v1/query_range`).
    /// The result is always a matrix.
    #[allow(clippy::too_many_arguments)]
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        tenant: &TenantId,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        self.range_query_inner(
            storage, tenant, query, start_ms, end_ms, step_ms, opts, false,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn range_query_inner(
        &self,
        storage: &dyn Queryable,
        tenant: &TenantId,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
        instant: bool,
    ) -> Result<QueryResult, QueryError> {
        let began = Instant::now();
        let ctx = ParseContext {
            start_ms,
            end_ms,
            step_ms,
        };
        let expr = parser::parse(query, &ctx)?;
        self.eval_expr(
            storage, tenant, &expr, query, start_ms, end_ms, step_ms, opts, instant, began,
        )
    }

    /// Evaluates an already parsed expression (used by the rules engine and
    /// by the conformance runner, which rewrites ASTs). `query` is the text
    /// annotation positions refer to.
    #[allow(clippy::too_many_arguments)]
    pub fn eval_expr(
        &self,
        storage: &dyn Queryable,
        tenant: &TenantId,
        expr: &Expr,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
        instant: bool,
        began: Instant,
    ) -> Result<QueryResult, QueryError> {
        if !instant {
            if step_ms <= 0 {
                return Err(QueryError::bad_data(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
            if end_ms < start_ms {
                return Err(QueryError::bad_data(
                    "end timestamp must not be before start time",
                ));
            }
            match expr.value_type() {
                ValueType::Scalar | ValueType::Vector => {}
                other => {
                    return Err(QueryError::bad_data(format!(
                        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                        type_label(other)
                    )));
                }
            }
        }
        let timeout = match opts.timeout {
            Some(t) if t < self.options.timeout => t,
            _ => self.options.timeout,
        };
        let lookback = opts
            .lookback_delta_ms
            .filter(|l| *l > 0)
            .unwrap_or(self.options.lookback_delta_ms);
        let mut ev = Evaluator::new(
            storage,
            tenant,
            start_ms,
            end_ms,
            lookback,
            self.options.default_subquery_step_ms,
            self.options.max_samples,
            began + timeout,
            opts.cancel.clone(),
        );
        ev.query_step = if instant { 0 } else { step_ms };
        ev.query = query.to_string();
        let grid = Grid {
            start: start_ms,
            end: end_ms,
            step: if instant { 1 } else { step_ms },
        };
        ev.top_grid = Some(grid);
        let prepared = Instant::now();
        let val = ev.eval(expr, grid)?;
        let value = finish(val, grid, instant)?;
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        for a in ev.annotations {
            match a {
                Annotation::Warning(w) => warnings.push(w),
                Annotation::Info(i) => infos.push(i),
            }
        }
        Ok(QueryResult {
            value,
            warnings,
            infos,
            stats: QueryStats {
                total_queryable_samples: ev.total_samples,
                peak_samples: ev.peak_samples,
                prepare_ns: prepared.duration_since(began).as_nanos() as u64,
                eval_ns: prepared.elapsed().as_nanos() as u64,
                samples_per_step: if opts.per_step_stats {
                    grid.iter()
                        .map(|(i, t)| (t, ev.step_samples.get(i).copied().unwrap_or(0)))
                        .collect()
                } else {
                    Vec::new()
                },
            },
        })
    }
}

fn type_label(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

/// Turns the evaluator's value into the API value: drops `__name__` where
/// delayed name removal asked for it, checks label-set uniqueness, and
/// shapes instant vs range results.
fn finish(val: Val, grid: Grid, instant: bool) -> Result<Value, QueryError> {
    let cleanup = |series: Vec<Series>| -> Result<Vec<Series>, QueryError> {
        let mut out = Vec::with_capacity(series.len());
        for mut s in series {
            if s.drop_name {
                s.labels = drop_metric_name(&s.labels);
                s.drop_name = false;
            }
            out.push(s);
        }
        if instant {
            let mut seen = HashSet::with_capacity(out.len());
            if out.iter().any(|s| !seen.insert(s.labels.clone())) {
                return Err(QueryError::execution(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
            Ok(out)
        } else {
            merge_same_labels(out)
        }
    };
    match val {
        Val::String(s) => Ok(Value::String {
            t_ms: grid.start,
            s,
        }),
        Val::Scalar(v) if instant => Ok(Value::Scalar {
            t_ms: grid.start,
            v: v.first().copied().unwrap_or(f64::NAN),
        }),
        Val::Scalar(v) => Ok(Value::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            points: grid
                .iter()
                .map(|(i, t)| Point {
                    t_ms: t,
                    v: v.get(i).copied().unwrap_or(f64::NAN),
                })
                .collect(),
        }])),
        Val::Vector(series) => {
            let series = cleanup(series)?;
            if instant {
                Ok(Value::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| {
                            s.points.first().map(|p| InstantSample {
                                labels: s.labels,
                                t_ms: p.t_ms,
                                v: p.v,
                            })
                        })
                        .collect(),
                ))
            } else {
                let mut m: Vec<RangeSeries> = series
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        points: s.points,
                    })
                    .collect();
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                Ok(Value::Matrix(m))
            }
        }
        Val::Range(data) => {
            let end = data.window_end(grid.start);
            let start = end - data.range_ms;
            let mut m: Vec<RangeSeries> = data
                .series
                .into_iter()
                .filter_map(|s| {
                    let points: Vec<Point> = s
                        .points
                        .into_iter()
                        .filter(|p| p.t_ms > start && p.t_ms <= end)
                        .collect();
                    (!points.is_empty()).then_some(RangeSeries {
                        labels: if s.drop_name {
                            drop_metric_name(&s.labels)
                        } else {
                            s.labels
                        },
                        points,
                    })
                })
                .collect();
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(Value::Matrix(m))
        }
    }
}
