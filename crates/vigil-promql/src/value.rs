//! Query result values, shaped as the Prometheus HTTP API reports them.

use vigil_model::Labels;

/// One float point of a range-vector series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t_ms: i64,
    pub v: f64,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t_ms: i64,
    pub v: f64,
}

/// One series of a range vector (matrix), points ordered by time.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t_ms: i64, v: f64 },
    String { t_ms: i64, s: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// The `resultType` string of the Prometheus API.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Counters reported under `stats` (Prometheus' `stats=all`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples loaded from storage and held by the query, summed over steps.
    pub total_queryable_samples: u64,
    /// Largest number of samples held at one time.
    pub peak_samples: u64,
    /// Wall time of parsing + preparation, nanoseconds.
    pub prepare_ns: u64,
    /// Wall time of evaluation, nanoseconds.
    pub eval_ns: u64,
    /// Samples loaded per step (only for range queries with `stats=all`).
    pub samples_per_step: Vec<(i64, u64)>,
}

/// A finished query: its value plus annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    /// Rendered as Prometheus does: `PromQL warning: <msg>`.
    pub warnings: Vec<String>,
    /// Rendered as Prometheus does: `PromQL info: <msg>`.
    pub infos: Vec<String>,
    pub stats: QueryStats,
}
