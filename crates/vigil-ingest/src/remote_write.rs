//! Prometheus remote write 1.0 and 2.0 receiving: content negotiation, snappy decompression,
//! decoding, validation and appending, with Prometheus' receiver semantics.
//!
//! The HTTP handler (in the API crate) calls, in order: [`negotiate`] on the request headers,
//! [`decompress`] on the body, then [`ingest`] (or [`prepare`] on a blocking thread followed
//! by [`PreparedWrite::commit`]). Stages, one file each: `transport` (negotiation and
//! decompression), `v1` and `v2` (decoding), `series` (label validation), `batch` (appending
//! and tallying), `outcome` (the result).
//!
//! Per-item problems never fail the whole request: invalid series, rejected samples and
//! unsupported native histograms are counted, the valid rest is committed, and only then is
//! the request answered with [`IngestError::Partial`] (400, or 429 when a limit was hit),
//! like Prometheus' own receiver. Exemplars and start timestamps are accepted and dropped.

mod batch;
mod outcome;
mod series;
mod transport;
mod v1;
mod v2;

use vigil_model::TenantId;
use vigil_storage::{AppendOptions, Appendable, Appender, StorageError};

use crate::IngestError;
use crate::remote_write::batch::BatchWriter;

pub use outcome::WriteOutcome;
pub use transport::{decompress, negotiate};

/// Response header with the number of float samples written (required for 2.0).
pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// Response header with the number of native histogram samples written (required for 2.0).
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// Response header with the number of exemplars written (required for 2.0).
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// The only media type remote write uses; the `proto` parameter picks the message.
const PROTOBUF_MEDIA_TYPE: &str = "application/x-protobuf";
/// The `proto` parameter value of remote write 1.0.
const V1_PROTO_MESSAGE: &str = "prometheus.WriteRequest";
/// The `proto` parameter value of remote write 2.0.
const V2_PROTO_MESSAGE: &str = "io.prometheus.write.v2.Request";

/// The remote write protocol version of a request, chosen by its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteWriteVersion {
    /// Remote write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

impl RemoteWriteVersion {
    /// The fully qualified protobuf message name, as in the Content-Type `proto` parameter.
    pub fn proto_message(self) -> &'static str {
        match self {
            Self::V1 => V1_PROTO_MESSAGE,
            Self::V2 => V2_PROTO_MESSAGE,
        }
    }

    /// The Content-Type a sender of this version uses.
    pub fn content_type(self) -> String {
        format!("{PROTOBUF_MEDIA_TYPE};proto={}", self.proto_message())
    }
}

/// Limits of the remote write receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteWriteOptions {
    /// Largest accepted body after snappy decompression, in bytes (default 32 MiB).
    pub max_decompressed_bytes: usize,
    /// How many rejection messages a [`WriteOutcome`] keeps and an error reports (default 10).
    pub max_errors_reported: usize,
}

impl RemoteWriteOptions {
    /// Default for [`RemoteWriteOptions::max_decompressed_bytes`]: 32 MiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 << 20;
    /// Default for [`RemoteWriteOptions::max_errors_reported`].
    pub const DEFAULT_MAX_ERRORS_REPORTED: usize = 10;
}

impl Default for RemoteWriteOptions {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_errors_reported: Self::DEFAULT_MAX_ERRORS_REPORTED,
        }
    }
}

/// Decodes, validates and appends a decompressed request into the tenant's appender, then
/// commits.
///
/// Returns the [`WriteOutcome`] when everything was accepted. When some items were rejected
/// the valid rest is committed all the same and the result is [`IngestError::Partial`],
/// carrying the outcome for the remote write 2.0 response headers. Every other error means
/// nothing was written. Equivalent to [`prepare`] followed by [`PreparedWrite::commit`].
pub async fn ingest(
    appendable: &dyn Appendable,
    tenant: &TenantId,
    version: RemoteWriteVersion,
    raw: &[u8],
    options: &RemoteWriteOptions,
) -> Result<WriteOutcome, IngestError> {
    prepare(appendable, tenant, version, raw, options)?
        .commit()
        .await
}

/// The CPU-bound half of [`ingest`]: decodes, validates and appends, without committing.
///
/// Large requests take milliseconds here, so async callers should run it on a blocking
/// thread and then await [`PreparedWrite::commit`]. A decode error returns before any
/// appender is created.
pub fn prepare(
    appendable: &dyn Appendable,
    tenant: &TenantId,
    version: RemoteWriteVersion,
    raw: &[u8],
    options: &RemoteWriteOptions,
) -> Result<PreparedWrite, IngestError> {
    let decoded = match version {
        RemoteWriteVersion::V1 => DecodedRequest::V1(v1::decode(raw)?),
        RemoteWriteVersion::V2 => DecodedRequest::V2(v2::decode(raw)?),
    };
    let appender = appendable.appender(tenant, AppendOptions::default());
    let mut writer = BatchWriter::new(appender, options);
    match &decoded {
        DecodedRequest::V1(request) => v1::write(request, &mut writer),
        DecodedRequest::V2(request) => v2::write(request, &mut writer),
    }
    let (appender, outcome) = writer.finish();
    Ok(PreparedWrite {
        appender: Some(appender),
        outcome,
        tenant: tenant.clone(),
    })
}

enum DecodedRequest {
    V1(crate::proto::v1::WriteRequest),
    V2(v2::CheckedRequest),
}

/// A request appended but not yet committed; dropping it rolls the batch back.
pub struct PreparedWrite {
    /// `Some` until `commit`, `rollback` or drop takes it.
    appender: Option<Box<dyn Appender>>,
    outcome: WriteOutcome,
    tenant: TenantId,
}

impl PreparedWrite {
    /// What was appended and rejected so far; `samples_written` counts appended samples that
    /// become written once [`PreparedWrite::commit`] succeeds.
    pub fn outcome(&self) -> &WriteOutcome {
        &self.outcome
    }

    /// Commits the batch. Returns the outcome, or [`IngestError::Partial`] if some items were
    /// rejected, or [`IngestError::Storage`] if the commit failed (then nothing was written).
    pub async fn commit(mut self) -> Result<WriteOutcome, IngestError> {
        let mut outcome = std::mem::take(&mut self.outcome);
        let Some(appender) = self.appender.take() else {
            // Only `commit`, `rollback` and drop take the appender, and each consumes `self`.
            return Err(IngestError::Storage(StorageError::Internal(
                "remote write batch was already committed or rolled back".to_string(),
            )));
        };
        let stats = appender.commit().await.map_err(IngestError::Storage)?;
        outcome.new_series = stats.new_series;
        if outcome.is_fully_accepted() {
            return Ok(outcome);
        }
        let message = outcome.rejection_message();
        tracing::debug!(
            tenant = %self.tenant,
            samples_written = outcome.samples_written,
            samples_rejected = outcome.samples_rejected,
            histograms_rejected = outcome.histograms_rejected,
            rejected_count = outcome.rejected_count,
            error = %message,
            "remote write request partially rejected"
        );
        Err(IngestError::Partial {
            outcome: Box::new(outcome),
            message,
        })
    }

    /// Drops the batch without writing anything.
    pub fn rollback(mut self) {
        if let Some(appender) = self.appender.take() {
            appender.rollback();
        }
    }
}

impl Drop for PreparedWrite {
    fn drop(&mut self) {
        if let Some(appender) = self.appender.take() {
            appender.rollback();
        }
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use prost::Message;
    use vigil_model::{MetricMetadata, MetricType, Sample, TimeRange};
    use vigil_storage::memory::MemStorage;
    use vigil_storage::{Queryable, SelectHints, StorageError};

    use super::*;
    use crate::IngestErrorKind;
    use crate::proto::v1 as pb1;
    use crate::test_support::{
        RecordingStorage, partial, run, tenant, up, v1_histogram, v1_request, v1_series,
    };

    #[tokio::test]
    async fn rejects_undecodable_protobuf_with_400_and_writes_nothing() {
        let storage = RecordingStorage::new();
        for version in [RemoteWriteVersion::V1, RemoteWriteVersion::V2] {
            let err = run(&storage, version, &[0x0a, 0xff, 0x01])
                .await
                .unwrap_err();
            assert_eq!(err.kind(), IngestErrorKind::BadRequest);
            assert!(err.outcome().is_none());
            assert!(err.to_string().contains(version.proto_message()), "{err}");
        }
        let recorded = storage.recorded();
        assert!(recorded.commits.is_empty());
        assert_eq!(
            recorded.rollbacks, 0,
            "no appender is created before decoding"
        );
    }

    #[tokio::test]
    async fn writes_a_v1_request_that_reads_back_from_storage() {
        let storage = MemStorage::new();
        let raw = v1_request(vec![
            v1_series(
                &[("__name__", "up"), ("job", "api")],
                &[(1000, 1.0), (2000, 0.0)],
            ),
            v1_series(&[("__name__", "up"), ("job", "web")], &[(1000, 1.0)]),
        ]);
        let outcome = run(&storage, RemoteWriteVersion::V1, &raw).await.unwrap();
        assert_eq!(outcome.samples_written, 3);
        assert_eq!(outcome.new_series, 2);
        assert!(outcome.is_fully_accepted());
        let querier = storage.querier(&tenant(), TimeRange::ALL).unwrap();
        let series: Vec<_> = querier
            .select(
                &[vigil_model::Matcher::equal("__name__", "up")],
                &SelectHints::default(),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels, up("api"));
        assert_eq!(
            series[0].samples,
            vec![Sample::new(1000, 1.0), Sample::new(2000, 0.0)]
        );
    }

    #[tokio::test]
    async fn sorts_unsorted_labels_and_drops_empty_values() {
        let storage = RecordingStorage::new();
        let raw = v1_request(vec![v1_series(
            &[("job", "api"), ("empty", ""), ("__name__", "up")],
            &[(5, 1.0)],
        )]);
        run(&storage, RemoteWriteVersion::V1, &raw).await.unwrap();
        assert_eq!(
            storage.recorded().samples,
            vec![(up("api"), Sample::new(5, 1.0))]
        );
    }

    #[tokio::test]
    async fn rejects_invalid_series_but_commits_the_rest_with_400() {
        let storage = RecordingStorage::new();
        let raw = v1_request(vec![
            v1_series(&[("__name__", "up"), ("1abc", "x")], &[(1, 1.0), (2, 1.0)]),
            v1_series(
                &[("__name__", "up"), ("job", "a"), ("job", "b")],
                &[(1, 1.0)],
            ),
            v1_series(&[("job", "nameless")], &[(1, 1.0)]),
            v1_series(&[("__name__", ""), ("job", "empty")], &[(1, 1.0)]),
            v1_series(&[("__name__", "1up")], &[(1, 1.0)]),
            v1_series(&[("__name__", "up"), ("job", "api")], &[(1, 1.0)]),
        ]);
        let (kind, outcome, message) = partial(run(&storage, RemoteWriteVersion::V1, &raw).await);
        assert_eq!(kind, IngestErrorKind::BadRequest);
        assert_eq!(outcome.samples_written, 1);
        assert_eq!(outcome.samples_rejected, 6);
        assert_eq!(outcome.rejected_count, 5);
        assert_eq!(
            outcome.rejected,
            vec![
                r#"invalid label name "1abc" in series {1abc="x", __name__="up"}"#,
                r#"duplicate label name "job" in series {__name__="up", job="a", job="b"}"#,
                r#"missing metric name (__name__) in series {job="nameless"}"#,
                r#"missing metric name (__name__) in series {__name__="", job="empty"}"#,
                r#"invalid metric name "1up" in series {__name__="1up"}"#,
            ]
        );
        assert!(
            message.starts_with(r#"invalid label name "1abc""#),
            "{message}"
        );
        assert!(
            !message.contains('\n'),
            "prometheus logs only the first line"
        );
        assert_eq!(
            storage.recorded().samples,
            vec![(up("api"), Sample::new(1, 1.0))]
        );
    }

    #[tokio::test]
    async fn collects_append_errors_commits_good_samples_and_caps_messages() {
        let storage = RecordingStorage::rejecting(|labels, sample| {
            if sample.timestamp_ms < 100 {
                return Err(vigil_storage::AppendError::OutOfOrder {
                    labels: labels.clone(),
                    timestamp_ms: sample.timestamp_ms,
                    newest_ms: 100,
                });
            }
            Ok(())
        });
        let samples: Vec<(i64, f64)> = (0..20).map(|i| (i * 10, i as f64)).collect();
        let raw = v1_request(vec![v1_series(
            &[("__name__", "up"), ("job", "api")],
            &samples,
        )]);
        let options = RemoteWriteOptions {
            max_errors_reported: 3,
            ..RemoteWriteOptions::default()
        };
        let result = ingest(&storage, &tenant(), RemoteWriteVersion::V1, &raw, &options).await;
        let (kind, outcome, message) = partial(result);
        assert_eq!(kind, IngestErrorKind::BadRequest);
        assert_eq!(outcome.samples_written, 10);
        assert_eq!(outcome.samples_rejected, 10);
        assert_eq!(outcome.rejected_count, 10);
        assert_eq!(outcome.rejected.len(), 3);
        assert!(outcome.rejected[0].contains("out of order sample"));
        assert!(outcome.rejected[0].contains(r#"{__name__="up", job="api"}"#));
        assert!(message.ends_with("; and 7 more errors"), "{message}");
        let recorded = storage.recorded();
        assert_eq!(recorded.commits.len(), 1, "good samples are committed");
        assert_eq!(recorded.samples.len(), 10);
    }

    #[tokio::test]
    async fn answers_429_after_commit_when_the_series_limit_is_hit() {
        let storage = RecordingStorage::rejecting(|labels, _| {
            if labels.get("job") == Some("new") {
                return Err(vigil_storage::AppendError::SeriesLimit {
                    labels: labels.clone(),
                    limit: 1,
                });
            }
            Ok(())
        });
        let raw = v1_request(vec![
            v1_series(&[("__name__", "up"), ("job", "old")], &[(1, 1.0)]),
            v1_series(&[("__name__", "up"), ("job", "new")], &[(1, 1.0), (2, 1.0)]),
            v1_series(&[("__name__", "1bad")], &[(1, 1.0)]),
        ]);
        let (kind, outcome, message) = partial(run(&storage, RemoteWriteVersion::V1, &raw).await);
        assert_eq!(kind, IngestErrorKind::TooManyRequests);
        assert_eq!(kind.http_status(), 429);
        assert_eq!(outcome.over_limit, 2);
        assert_eq!(outcome.samples_written, 1);
        assert!(message.contains("series limit"), "{message}");
        assert_eq!(
            storage.recorded().samples,
            vec![(up("old"), Sample::new(1, 1.0))]
        );
    }

    #[tokio::test]
    async fn maps_commit_failures_to_503_and_500() {
        let raw = v1_request(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)])]);
        let unavailable =
            RecordingStorage::failing_commit(|| StorageError::Unavailable("shutting down".into()));
        let err = run(&unavailable, RemoteWriteVersion::V1, &raw)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::Unavailable);
        assert_eq!(err.kind().http_status(), 503);
        assert!(err.outcome().is_none(), "nothing was written");
        assert!(err.to_string().contains("shutting down"), "{err}");

        let broken =
            RecordingStorage::failing_commit(|| StorageError::Internal("disk full".into()));
        let err = run(&broken, RemoteWriteVersion::V1, &raw)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::Internal);
        assert_eq!(err.kind().http_status(), 500);
    }

    #[tokio::test]
    async fn stores_v1_metadata_once_per_distinct_record() {
        let storage = RecordingStorage::new();
        let metadata = |name: &str, help: &str| pb1::MetricMetadata {
            r#type: pb1::metric_metadata::MetricType::Counter as i32,
            metric_family_name: name.to_string(),
            help: help.to_string(),
            unit: "seconds".to_string(),
        };
        let raw = pb1::WriteRequest {
            timeseries: Vec::new(),
            metadata: vec![
                metadata("http_requests", "requests served"),
                metadata("http_requests", "requests served"),
                metadata("", "nameless"),
            ],
        }
        .encode_to_vec();
        let (kind, outcome, message) = partial(run(&storage, RemoteWriteVersion::V1, &raw).await);
        assert_eq!(kind, IngestErrorKind::BadRequest);
        assert_eq!(outcome.metadata_written, 1);
        assert_eq!(outcome.metadata_rejected, 1);
        assert_eq!(message, r#"invalid metric family name "" in metadata"#);
        assert_eq!(
            storage.recorded().metadata,
            vec![(
                "http_requests".to_string(),
                MetricMetadata {
                    metric_type: MetricType::Counter,
                    help: "requests served".to_string(),
                    unit: "seconds".to_string(),
                }
            )]
        );
    }

    #[tokio::test]
    async fn rejects_v1_native_histograms_after_committing_float_samples() {
        let storage = RecordingStorage::new();
        let mut histograms = v1_series(&[("__name__", "latency")], &[]);
        histograms.histograms = (0..12).map(v1_histogram).collect();
        let mut more = v1_series(&[("__name__", "size"), ("job", "a")], &[]);
        more.histograms = vec![v1_histogram(1)];
        let raw = v1_request(vec![
            histograms,
            v1_series(&[("__name__", "up"), ("job", "api")], &[(1, 1.0)]),
            more,
        ]);
        let (kind, outcome, message) = partial(run(&storage, RemoteWriteVersion::V1, &raw).await);
        assert_eq!(kind, IngestErrorKind::BadRequest);
        assert_eq!(
            message,
            r#"native histograms are not supported yet: rejected 13 histogram samples (first: {__name__="latency"}, {__name__="size", job="a"})"#
        );
        assert_eq!(outcome.histograms_written, 0);
        assert_eq!(outcome.histograms_rejected, 13);
        assert_eq!(outcome.samples_written, 1);
        assert_eq!(outcome.rejected_count, 1);
        assert_eq!(storage.recorded().samples.len(), 1);
    }

    #[tokio::test]
    async fn drops_exemplars_without_error() {
        let storage = RecordingStorage::new();
        let mut series = v1_series(&[("__name__", "up")], &[(1, 1.0)]);
        series.exemplars = vec![pb1::Exemplar {
            labels: vec![pb1::Label {
                name: "trace_id".into(),
                value: "abc".into(),
            }],
            value: 1.0,
            timestamp: 1,
        }];
        let outcome = run(&storage, RemoteWriteVersion::V1, &v1_request(vec![series]))
            .await
            .unwrap();
        assert_eq!(outcome.exemplars_written, 0);
        assert_eq!(outcome.exemplars_dropped, 1);
        assert_eq!(outcome.samples_written, 1);
        assert_eq!(
            outcome.response_headers(),
            [
                (SAMPLES_WRITTEN_HEADER, 1),
                (HISTOGRAMS_WRITTEN_HEADER, 0),
                (EXEMPLARS_WRITTEN_HEADER, 0)
            ]
        );
    }

    #[tokio::test]
    async fn empty_requests_are_accepted() {
        let storage = RecordingStorage::new();
        for version in [RemoteWriteVersion::V1, RemoteWriteVersion::V2] {
            let outcome = run(&storage, version, &[]).await.unwrap();
            assert_eq!(outcome, WriteOutcome::default());
        }
        // A 1.0 body sent as 2.0 decodes as an empty request (fields 1 to 3 are reserved in 2.0).
        let raw = v1_request(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)])]);
        let outcome = run(&storage, RemoteWriteVersion::V2, &raw).await.unwrap();
        assert_eq!(outcome.samples_written, 0);
    }

    #[tokio::test]
    async fn dropping_a_prepared_write_rolls_back() {
        let storage = RecordingStorage::new();
        let raw = v1_request(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)])]);
        let options = RemoteWriteOptions::default();
        let prepared =
            prepare(&storage, &tenant(), RemoteWriteVersion::V1, &raw, &options).unwrap();
        assert_eq!(prepared.outcome().samples_written, 1);
        drop(prepared);
        let prepared =
            prepare(&storage, &tenant(), RemoteWriteVersion::V1, &raw, &options).unwrap();
        prepared.rollback();
        let recorded = storage.recorded();
        assert_eq!(recorded.rollbacks, 2);
        assert!(recorded.commits.is_empty());
    }

    #[test]
    fn ingest_future_is_send_for_http_handlers() {
        fn assert_send<T: Send>(_: &T) {}
        let storage = RecordingStorage::new();
        let tenant = tenant();
        let options = RemoteWriteOptions::default();
        let future = ingest(&storage, &tenant, RemoteWriteVersion::V1, &[], &options);
        assert_send(&future);
        fn assert_send_type<T: Send>() {}
        assert_send_type::<PreparedWrite>();
    }
}
