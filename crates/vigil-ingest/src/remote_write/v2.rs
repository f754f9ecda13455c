//! Remote write 2.0: decoding `io.prometheus.write.v2.Request`, checking its symbol
//! references and feeding it to the append stage.

use prost::Message;
use vigil_model::{MetricMetadata, MetricType, Sample};

use crate::IngestError;
use crate::proto::v2::{Metadata, Request};
use crate::remote_write::batch::BatchWriter;

/// A 2.0 request whose symbol references are all known to be in range.
pub(crate) struct CheckedRequest(Request);

/// Decodes an uncompressed `io.prometheus.write.v2.Request` and checks its structure.
///
/// A request that breaks the symbol table rules (`symbols[0]` not empty, an odd number of
/// label refs, a ref out of range) is malformed as a whole, so it is a decode error.
pub(crate) fn decode(raw: &[u8]) -> Result<CheckedRequest, IngestError> {
    let request = Request::decode(raw).map_err(|err| {
        IngestError::decode(format!(
            "cannot decode io.prometheus.write.v2.Request: {err}"
        ))
    })?;
    check_symbol_refs(&request)?;
    Ok(CheckedRequest(request))
}

fn check_symbol_refs(request: &Request) -> Result<(), IngestError> {
    let symbols = &request.symbols;
    if let Some(first) = symbols.first()
        && !first.is_empty()
    {
        return Err(IngestError::decode(format!(
            "symbols[0] must be the empty string, got {first:?}"
        )));
    }
    let check = |series_index: usize, field: &str, symbol_ref: u32| {
        if (symbol_ref as usize) < symbols.len() {
            return Ok(());
        }
        Err(IngestError::decode(format!(
            "series {series_index}: {field} {symbol_ref} is out of range of the symbol table ({} symbols)",
            symbols.len()
        )))
    };
    for (series_index, series) in request.timeseries.iter().enumerate() {
        if series.labels_refs.len() % 2 != 0 {
            return Err(IngestError::decode(format!(
                "series {series_index}: labels_refs has odd length {}, expected name/value pairs",
                series.labels_refs.len()
            )));
        }
        for &label_ref in &series.labels_refs {
            check(series_index, "label ref", label_ref)?;
        }
        if let Some(metadata) = &series.metadata {
            check(series_index, "metadata help_ref", metadata.help_ref)?;
            check(series_index, "metadata unit_ref", metadata.unit_ref)?;
        }
    }
    Ok(())
}

/// Appends every series of `request`, and the metadata of each valid series under its
/// metric name.
pub(crate) fn write(request: &CheckedRequest, writer: &mut BatchWriter) {
    let CheckedRequest(request) = request;
    let symbol = |symbol_ref: u32| {
        let resolved = request.symbols.get(symbol_ref as usize);
        debug_assert!(resolved.is_some(), "decode checked every symbol ref");
        resolved.map(String::as_str).unwrap_or_default()
    };
    for series in &request.timeseries {
        let pairs = series
            .labels_refs
            .chunks_exact(2)
            .map(|pair| (symbol(pair[0]), symbol(pair[1])))
            .collect();
        let samples = series
            .samples
            .iter()
            .map(|sample| Sample::new(sample.timestamp, sample.value));
        let labels = writer.write_series(
            pairs,
            samples,
            series.histograms.len(),
            series.exemplars.len(),
        );
        let (Some(labels), Some(metadata)) = (labels, series.metadata) else {
            continue;
        };
        if metadata == Metadata::default() {
            continue;
        }
        // 2.0 carries metadata per series; its metric name is the closest to a family name.
        let record = MetricMetadata {
            metric_type: MetricType::from_proto(metadata.r#type),
            help: symbol(metadata.help_ref).to_string(),
            unit: symbol(metadata.unit_ref).to_string(),
        };
        writer.write_metadata(labels.metric_name().unwrap_or_default(), record);
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use vigil_model::{MetricMetadata, MetricType, Sample};

    use crate::proto::v2 as pb2;
    use crate::remote_write::{
        EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, RemoteWriteVersion,
        SAMPLES_WRITTEN_HEADER,
    };
    use crate::test_support::{RecordingStorage, partial, run, up};
    use crate::{IngestError, IngestErrorKind};

    /// Builds a 2.0 request over a fixed symbol table.
    fn v2_request(symbols: &[&str], timeseries: Vec<pb2::TimeSeries>) -> Vec<u8> {
        pb2::Request {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timeseries,
        }
        .encode_to_vec()
    }

    fn v2_series(labels_refs: &[u32], samples: &[(i64, f64)]) -> pb2::TimeSeries {
        pb2::TimeSeries {
            labels_refs: labels_refs.to_vec(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| pb2::Sample {
                    value,
                    timestamp,
                    start_timestamp: 0,
                })
                .collect(),
            ..Default::default()
        }
    }

    const SYMBOLS: [&str; 7] = [
        "",
        "__name__",
        "up",
        "job",
        "api",
        "requests served",
        "seconds",
    ];

    #[tokio::test]
    async fn resolves_v2_symbols_and_sorts_labels() {
        let storage = RecordingStorage::new();
        // job="api" first: unsorted on purpose.
        let raw = v2_request(&SYMBOLS, vec![v2_series(&[3, 4, 1, 2], &[(7, 2.5)])]);
        let outcome = run(&storage, RemoteWriteVersion::V2, &raw).await.unwrap();
        assert_eq!(outcome.samples_written, 1);
        assert_eq!(
            storage.recorded().samples,
            vec![(up("api"), Sample::new(7, 2.5))]
        );
    }

    #[tokio::test]
    async fn rejects_malformed_v2_symbol_references_with_400_naming_the_series() {
        let cases: [(&[&str], Vec<pb2::TimeSeries>, &str); 4] = [
            (
                &SYMBOLS,
                vec![v2_series(&[1, 2], &[]), v2_series(&[1, 99], &[(1, 1.0)])],
                "series 1: label ref 99 is out of range of the symbol table (7 symbols)",
            ),
            (
                &SYMBOLS,
                vec![v2_series(&[1, 2, 3], &[(1, 1.0)])],
                "series 0: labels_refs has odd length 3, expected name/value pairs",
            ),
            (
                &["x", "__name__", "up"],
                vec![v2_series(&[1, 2], &[(1, 1.0)])],
                r#"symbols[0] must be the empty string, got "x""#,
            ),
            (
                &SYMBOLS,
                vec![pb2::TimeSeries {
                    metadata: Some(pb2::Metadata {
                        r#type: 1,
                        help_ref: 7,
                        unit_ref: 0,
                    }),
                    ..v2_series(&[1, 2], &[(1, 1.0)])
                }],
                "series 0: metadata help_ref 7 is out of range of the symbol table (7 symbols)",
            ),
        ];
        for (symbols, timeseries, expected) in cases {
            let storage = RecordingStorage::new();
            let raw = v2_request(symbols, timeseries);
            let err = run(&storage, RemoteWriteVersion::V2, &raw)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), IngestErrorKind::BadRequest);
            assert!(matches!(err, IngestError::Decode { .. }), "{err:?}");
            assert_eq!(err.to_string(), expected);
            assert!(storage.recorded().samples.is_empty(), "nothing is written");
        }
    }

    #[tokio::test]
    async fn stores_v2_series_metadata_under_the_metric_name() {
        let storage = RecordingStorage::new();
        let with_metadata = |labels_refs: &[u32]| pb2::TimeSeries {
            metadata: Some(pb2::Metadata {
                r#type: pb2::metadata::MetricType::Gauge as i32,
                help_ref: 5,
                unit_ref: 6,
            }),
            ..v2_series(labels_refs, &[(1, 1.0)])
        };
        let raw = v2_request(
            &SYMBOLS,
            vec![
                with_metadata(&[1, 2, 3, 4]),
                // Same family again: stored once.
                with_metadata(&[1, 2]),
                // No metadata at all: nothing stored.
                pb2::TimeSeries {
                    metadata: Some(pb2::Metadata::default()),
                    ..v2_series(&[1, 2, 3, 5], &[(1, 1.0)])
                },
            ],
        );
        let outcome = run(&storage, RemoteWriteVersion::V2, &raw).await.unwrap();
        assert_eq!(outcome.metadata_written, 1);
        assert_eq!(
            storage.recorded().metadata,
            vec![(
                "up".to_string(),
                MetricMetadata {
                    metric_type: MetricType::Gauge,
                    help: "requests served".to_string(),
                    unit: "seconds".to_string(),
                }
            )]
        );
    }

    #[tokio::test]
    async fn v2_reports_written_counts_alongside_histogram_rejection() {
        let storage = RecordingStorage::new();
        let histogram = pb2::Histogram {
            count: Some(pb2::histogram::Count::CountFloat(2.0)),
            sum: 3.0,
            schema: -53,
            custom_values: vec![1.0, 5.0],
            positive_spans: vec![pb2::BucketSpan {
                offset: 0,
                length: 2,
            }],
            positive_counts: vec![1.0, 1.0],
            timestamp: 5,
            start_timestamp: 1,
            ..Default::default()
        };
        let raw = v2_request(
            &SYMBOLS,
            vec![
                pb2::TimeSeries {
                    histograms: vec![histogram.clone(), histogram],
                    exemplars: vec![pb2::Exemplar {
                        labels_refs: vec![],
                        value: 1.0,
                        timestamp: 5,
                    }],
                    ..v2_series(&[1, 2, 3, 4], &[])
                },
                v2_series(&[1, 2], &[(5, 1.0), (6, 1.0)]),
            ],
        );
        let (kind, outcome, message) = partial(run(&storage, RemoteWriteVersion::V2, &raw).await);
        assert_eq!(kind, IngestErrorKind::BadRequest);
        assert_eq!(
            message,
            r#"native histograms are not supported yet: rejected 2 histogram samples (first: {__name__="up", job="api"})"#
        );
        assert_eq!(
            outcome.response_headers(),
            [
                (SAMPLES_WRITTEN_HEADER, 2),
                (HISTOGRAMS_WRITTEN_HEADER, 0),
                (EXEMPLARS_WRITTEN_HEADER, 0)
            ]
        );
        assert_eq!(outcome.exemplars_dropped, 1);
    }

    #[tokio::test]
    async fn rejects_invalid_v2_series_but_commits_the_rest() {
        let storage = RecordingStorage::new();
        // Series 0 has no __name__, series 1 is fine.
        let raw = v2_request(
            &SYMBOLS,
            vec![
                v2_series(&[3, 4], &[(1, 1.0)]),
                v2_series(&[1, 2], &[(1, 1.0)]),
            ],
        );
        let (kind, outcome, message) = partial(run(&storage, RemoteWriteVersion::V2, &raw).await);
        assert_eq!(kind, IngestErrorKind::BadRequest);
        assert_eq!(
            message,
            r#"missing metric name (__name__) in series {job="api"}"#
        );
        assert_eq!(outcome.samples_written, 1);
    }
}
