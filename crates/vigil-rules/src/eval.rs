//! Query evaluation behind rules: a pluggable [`QueryEvaluator`] per query language, with
//! the PromQL implementation over `vigil-promql`.

use std::sync::Arc;

use vigil_model::{Labels, TenantId};
use vigil_promql::{Engine, QueryOptions, Value};
use vigil_storage::Queryable;

/// One sample of an instant query result.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSample {
    /// Series labels (empty for a scalar result).
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// Runs a rule's instant query. PromQL comes with the crate; the LogQL engine plugs in here.
pub trait QueryEvaluator: Send + Sync {
    /// Evaluates `expr` for `tenant` at `t_ms`; the result must be a vector or a scalar.
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vec<EvalSample>, String>;
}

/// PromQL rules over any `Queryable`.
pub struct PromqlEvaluator {
    engine: Engine,
    queryable: Arc<dyn Queryable>,
}

impl PromqlEvaluator {
    /// An evaluator reading from `queryable` with `engine`.
    pub fn new(engine: Engine, queryable: Arc<dyn Queryable>) -> Self {
        Self { engine, queryable }
    }
}

impl QueryEvaluator for PromqlEvaluator {
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vec<EvalSample>, String> {
        let result = self
            .engine
            .instant_query(
                self.queryable.as_ref(),
                tenant,
                expr,
                t_ms,
                &QueryOptions::default(),
            )
            .map_err(|err| err.message)?;
        match result.value {
            Value::Vector(samples) => Ok(samples
                .into_iter()
                .map(|s| EvalSample {
                    labels: s.labels,
                    value: s.v,
                })
                .collect()),
            Value::Scalar { v, .. } => Ok(vec![EvalSample {
                labels: Labels::empty(),
                value: v,
            }]),
            _ => Err("rule result is not a vector or scalar".into()),
        }
    }
}
