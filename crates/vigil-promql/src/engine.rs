//! The query engine's public entry points.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vigil_model::TenantId;
use vigil_storage::Queryable;

use crate::error::QueryError;
use crate::value::QueryResult;

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
        self.range_query_inner(storage, tenant, query, start_ms, end_ms, step_ms, opts, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn range_query_inner(
        &self,
        _storage: &dyn Queryable,
        _tenant: &TenantId,
        _query: &str,
        _start_ms: i64,
        _end_ms: i64,
        _step_ms: i64,
        _opts: &QueryOptions,
        _instant: bool,
    ) -> Result<QueryResult, QueryError> {
        Err(QueryError::execution("engine under construction"))
    }
}
