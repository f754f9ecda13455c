//! Test doubles and helpers: a storage that records what was committed and can be told to
//! reject, and builders for remote write requests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message;
use vigil_model::{Labels, MetricMetadata, Sample, TenantId};
use vigil_storage::{AppendError, AppendOptions, Appendable, Appender, CommitStats, StorageError};

use crate::proto::v1 as pb1;
use crate::remote_write::{RemoteWriteOptions, RemoteWriteVersion, WriteOutcome, ingest};
use crate::{IngestError, IngestErrorKind};

/// Decides per sample whether the fake appender rejects it.
pub(crate) type SampleCheck = dyn Fn(&Labels, &Sample) -> Result<(), AppendError> + Send + Sync;

/// What reached storage through committed appenders.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded {
    /// Committed samples in append order.
    pub(crate) samples: Vec<(Labels, Sample)>,
    /// Committed metadata in append order.
    pub(crate) metadata: Vec<(String, MetricMetadata)>,
    /// Tenants of committed appenders.
    pub(crate) commits: Vec<TenantId>,
    /// Number of appenders rolled back.
    pub(crate) rollbacks: usize,
}

/// An [`Appendable`] that records committed writes and can reject samples or fail commits.
#[derive(Clone, Default)]
pub(crate) struct RecordingStorage {
    recorded: Arc<Mutex<Recorded>>,
    sample_check: Option<Arc<SampleCheck>>,
    commit_error: Option<fn() -> StorageError>,
}

impl RecordingStorage {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Rejects the samples for which `check` returns an error.
    pub(crate) fn rejecting(
        check: impl Fn(&Labels, &Sample) -> Result<(), AppendError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            sample_check: Some(Arc::new(check)),
            ..Self::default()
        }
    }

    /// Fails every commit with the error `make` builds.
    pub(crate) fn failing_commit(make: fn() -> StorageError) -> Self {
        Self {
            commit_error: Some(make),
            ..Self::default()
        }
    }

    pub(crate) fn recorded(&self) -> Recorded {
        self.recorded.lock().unwrap().clone()
    }
}

impl Appendable for RecordingStorage {
    fn appender(&self, tenant: &TenantId, _options: AppendOptions) -> Box<dyn Appender> {
        Box::new(RecordingAppender {
            storage: self.clone(),
            tenant: tenant.clone(),
            pending: Recorded::default(),
        })
    }
}

struct RecordingAppender {
    storage: RecordingStorage,
    tenant: TenantId,
    pending: Recorded,
}

#[async_trait]
impl Appender for RecordingAppender {
    fn append_sample(&mut self, labels: &Labels, sample: Sample) -> Result<(), AppendError> {
        if let Some(check) = &self.storage.sample_check {
            check(labels, &sample)?;
        }
        self.pending.samples.push((labels.clone(), sample));
        Ok(())
    }

    fn append_metadata(
        &mut self,
        metric_family: &str,
        metadata: MetricMetadata,
    ) -> Result<(), AppendError> {
        self.pending
            .metadata
            .push((metric_family.to_string(), metadata));
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        if let Some(make) = self.storage.commit_error {
            return Err(make());
        }
        let mut recorded = self.storage.recorded.lock().unwrap();
        let stats = CommitStats {
            samples: self.pending.samples.len() as u64,
            metadata: self.pending.metadata.len() as u64,
            new_series: 0,
        };
        recorded.samples.extend(self.pending.samples);
        recorded.metadata.extend(self.pending.metadata);
        recorded.commits.push(self.tenant);
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {
        self.storage.recorded.lock().unwrap().rollbacks += 1;
    }
}

pub(crate) fn tenant() -> TenantId {
    TenantId::new("team-a").unwrap()
}

pub(crate) fn v1_series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> pb1::TimeSeries {
    pb1::TimeSeries {
        labels: pairs
            .iter()
            .map(|(name, value)| pb1::Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| pb1::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn v1_request(timeseries: Vec<pb1::TimeSeries>) -> Vec<u8> {
    pb1::WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
    .encode_to_vec()
}

pub(crate) fn v1_histogram(timestamp: i64) -> pb1::Histogram {
    pb1::Histogram {
        count: Some(pb1::histogram::Count::CountInt(3)),
        sum: 4.5,
        schema: 1,
        positive_spans: vec![pb1::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![1, 1],
        timestamp,
        ..Default::default()
    }
}

pub(crate) async fn run(
    storage: &dyn Appendable,
    version: RemoteWriteVersion,
    raw: &[u8],
) -> Result<WriteOutcome, IngestError> {
    ingest(
        storage,
        &tenant(),
        version,
        raw,
        &RemoteWriteOptions::default(),
    )
    .await
}

pub(crate) fn partial(
    result: Result<WriteOutcome, IngestError>,
) -> (IngestErrorKind, WriteOutcome, String) {
    match result {
        Err(err @ IngestError::Partial { .. }) => {
            let kind = err.kind();
            let message = err.to_string();
            let outcome = err.outcome().cloned().unwrap();
            (kind, outcome, message)
        }
        other => panic!("expected a partial write, got {other:?}"),
    }
}

pub(crate) fn up(value: &str) -> Labels {
    Labels::from_static(&[("__name__", "up"), ("job", value)])
}
