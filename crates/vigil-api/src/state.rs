use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vigil_model::TenantId;
use vigil_storage::{Appendable, LogQueryable, Queryable};

/// Version facts for `/api/v1/status/buildinfo`.
#[derive(Debug, Clone, Default)]
pub struct BuildInfo {
    /// Release version.
    pub version: String,
    /// Source revision.
    pub revision: String,
    /// Branch built from.
    pub branch: String,
    /// Build date.
    pub build_date: String,
    /// Compiler version.
    pub rustc_version: String,
}

/// Settings of the API layer.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Tenant used when a request carries no `X-Scope-OrgID`.
    pub default_tenant: TenantId,
    /// Largest accepted request body on write paths (bytes, as sent).
    pub max_request_body_bytes: usize,
    /// Largest remote_write request after snappy decompression (bytes).
    pub max_decompressed_bytes: usize,
}

/// Shared state of all handlers.
pub struct ApiState {
    /// Where writes go.
    pub appendable: Arc<dyn Appendable>,
    /// Where reads come from.
    pub queryable: Arc<dyn Queryable>,
    /// API settings.
    pub options: ApiOptions,
    /// Build facts.
    pub build_info: BuildInfo,
    /// Set once storage has replayed its WAL.
    pub ready: Arc<AtomicBool>,
    /// Bounds concurrent write requests; when none is free the request gets 503.
    pub write_permits: tokio::sync::Semaphore,
    /// Evaluates PromQL for the query endpoints.
    pub engine: vigil_promql::Engine,
    /// Where the Loki read API reads logs from; `None` makes those routes answer 503.
    pub logs: Option<Arc<dyn LogQueryable>>,
}

impl ApiState {
    /// True once storage is ready to serve.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
