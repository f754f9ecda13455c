//! Storage that becomes available once WAL replay has finished, so the HTTP listener can be
//! up (health checks, readiness 503) while the TSDB is still opening.

use std::sync::OnceLock;

use async_trait::async_trait;
use vigil_model::{Labels, MetricMetadata, Sample, TenantId, TimeRange};
use vigil_storage::{
    AppendError, AppendOptions, Appendable, Appender, CommitStats, Querier, Queryable,
    StorageError, TsdbStatus,
};
use vigil_tsdb::Tsdb;

#[derive(Default)]
pub(crate) struct DeferredStorage {
    tsdb: OnceLock<Tsdb>,
}

impl DeferredStorage {
    pub(crate) fn set(&self, tsdb: Tsdb) {
        let _ = self.tsdb.set(tsdb);
    }

    fn get(&self) -> Result<&Tsdb, StorageError> {
        self.tsdb.get().ok_or_else(|| {
            StorageError::Unavailable("storage is still replaying its write-ahead log".into())
        })
    }
}

/// Appender handed out before storage is ready: accepts nothing.
struct NotReady;

#[async_trait]
impl Appender for NotReady {
    fn append_sample(&mut self, _labels: &Labels, _sample: Sample) -> Result<(), AppendError> {
        Ok(())
    }

    fn append_metadata(
        &mut self,
        _family: &str,
        _metadata: MetricMetadata,
    ) -> Result<(), AppendError> {
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        Err(StorageError::Unavailable(
            "storage is still replaying its write-ahead log".into(),
        ))
    }

    fn rollback(self: Box<Self>) {}
}

impl Appendable for DeferredStorage {
    fn appender(&self, tenant: &TenantId, options: AppendOptions) -> Box<dyn Appender> {
        match self.tsdb.get() {
            Some(tsdb) => tsdb.appender(tenant, options),
            None => Box::new(NotReady),
        }
    }
}

impl Queryable for DeferredStorage {
    fn querier(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<Box<dyn Querier>, StorageError> {
        self.get()?.querier(tenant, range)
    }

    fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<(String, Vec<MetricMetadata>)>, StorageError> {
        self.get()?.metadata(tenant, metric)
    }

    fn status(&self, tenant: &TenantId, limit: usize) -> Result<TsdbStatus, StorageError> {
        self.get()?.status(tenant, limit)
    }
}
