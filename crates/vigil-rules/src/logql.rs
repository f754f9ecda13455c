//! LogQL rule groups (Loki's ruler): metric queries evaluated by the LogQL
//! engine over the log store; their results go through the same durable
//! write path as PromQL results, so PromQL and SLOs can use them.

use std::sync::Arc;

use vigil_logql::{EvalOptions, Expr, MetricQueryParams, StorageLogSource, eval_metric_query};
use vigil_model::{Labels, TenantId};
use vigil_promql::Value;
use vigil_storage::LogQueryable;

use crate::eval::{EvalSample, QueryEvaluator};
use crate::file::ExprValidator;

/// Checks that a LogQL rule expression parses and is a metric query (a log
/// query has no value to record or alert on).
pub fn logql_validator() -> ExprValidator {
    Arc::new(|expr: &str| {
        match vigil_logql::parse(expr) {
        Ok(Expr::Sample(_)) => Ok(()),
        Ok(Expr::Log(_)) => Err(
            "LogQL rule expressions must be metric queries (e.g. rate({app=\"x\"}[5m])), not log queries"
                .to_string(),
        ),
        Err(err) => Err(err.to_string()),
    }
    })
}

/// Evaluates LogQL rule expressions over a log store.
pub struct LogqlEvaluator {
    logs: Arc<dyn LogQueryable>,
}

impl LogqlEvaluator {
    /// An evaluator reading from `logs`.
    pub fn new(logs: Arc<dyn LogQueryable>) -> Self {
        Self { logs }
    }
}

impl QueryEvaluator for LogqlEvaluator {
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vec<EvalSample>, String> {
        let Expr::Sample(sample) = vigil_logql::parse(expr).map_err(|e| e.to_string())? else {
            return Err("LogQL rule expressions must be metric queries".to_string());
        };
        let source = StorageLogSource::new(self.logs.as_ref(), tenant.clone());
        let t_ns = t_ms.saturating_mul(1_000_000);
        let value = eval_metric_query(
            &source,
            &sample,
            &MetricQueryParams::instant(t_ns),
            &EvalOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        match value {
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
