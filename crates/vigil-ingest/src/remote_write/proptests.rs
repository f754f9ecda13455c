//! Property tests: random valid requests survive encode → snappy → decompress → decode →
//! ingest unchanged, and random bytes never make any stage panic.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use prost::Message;
use vigil_model::{Label, Labels, MetricMetadata, MetricType, Sample, TenantId, stale_nan};

use crate::IngestError;
use crate::proto::{v1 as pb1, v2 as pb2};
use crate::remote_write::{
    RemoteWriteOptions, RemoteWriteVersion, WriteOutcome, decompress, ingest, v1, v2,
};
use crate::test_support::{Recorded, RecordingStorage};

/// One valid series: label pairs in the (unsorted) order sent, and its samples.
#[derive(Debug, Clone)]
struct SeriesSpec {
    pairs: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
    metadata: MetricMetadata,
}

impl SeriesSpec {
    fn labels(&self) -> Labels {
        let labels = self
            .pairs
            .iter()
            .map(|(name, value)| Label::new(name.clone(), value.clone()))
            .collect();
        Labels::from_unsorted_unique(labels).unwrap()
    }

    fn metric_name(&self) -> &str {
        &self
            .pairs
            .iter()
            .find(|(name, _)| name == "__name__")
            .unwrap()
            .1
    }
}

fn sample_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(stale_nan()),
        1 => Just(f64::NAN),
        1 => Just(-0.0),
    ]
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    (0..8i32).prop_map(MetricType::from_proto)
}

fn metadata() -> impl Strategy<Value = MetricMetadata> {
    (metric_type(), "\\PC{0,10}", "[a-z]{0,4}").prop_map(|(metric_type, help, unit)| {
        MetricMetadata {
            metric_type,
            help,
            unit,
        }
    })
}

fn series_spec() -> impl Strategy<Value = SeriesSpec> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,11}",
        // Names start with a letter, so they never collide with `__name__`.
        prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,7}", "\\PC{1,12}", 0..5),
        prop::collection::btree_map(any::<i64>(), sample_value(), 0..6),
        metadata(),
    )
        .prop_flat_map(|(metric_name, labels, samples, metadata)| {
            let mut pairs: Vec<(String, String)> = labels.into_iter().collect();
            pairs.push(("__name__".to_string(), metric_name));
            (
                Just(pairs).prop_shuffle(),
                Just(samples.into_iter().collect::<Vec<_>>()),
                Just(metadata),
            )
        })
        .prop_map(|(pairs, samples, metadata)| SeriesSpec {
            pairs,
            samples,
            metadata,
        })
}

fn run_ingest(
    version: RemoteWriteVersion,
    raw: &[u8],
) -> (Result<WriteOutcome, IngestError>, Recorded) {
    let storage = RecordingStorage::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tenant = TenantId::new("prop").unwrap();
    let options = RemoteWriteOptions::default();
    let result = runtime.block_on(ingest(&storage, &tenant, version, raw, &options));
    (result, storage.recorded())
}

/// Encodes, compresses and then runs the receiving path exactly as the HTTP handler does.
fn through_the_wire(
    version: RemoteWriteVersion,
    encoded: &[u8],
) -> (Result<WriteOutcome, IngestError>, Recorded) {
    let body = snap::raw::Encoder::new().compress_vec(encoded).unwrap();
    let raw = decompress(&body, RemoteWriteOptions::DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
    assert_eq!(raw, encoded);
    run_ingest(version, &raw)
}

fn expected_samples(series: &[SeriesSpec]) -> Vec<(Labels, Sample)> {
    series
        .iter()
        .flat_map(|spec| {
            let labels = spec.labels();
            spec.samples.iter().map(move |&(timestamp, value)| {
                // proto3 omits scalars equal to their default and -0.0 == 0.0, so -0.0 arrives
                // as 0.0 (Prometheus' Go encoder does the same).
                let value = if value == 0.0 { 0.0 } else { value };
                (labels.clone(), Sample::new(timestamp, value))
            })
        })
        .collect()
}

/// Distinct records in first-seen order, as the receiver stores them.
fn distinct(
    records: impl IntoIterator<Item = (String, MetricMetadata)>,
) -> Vec<(String, MetricMetadata)> {
    let mut seen = HashSet::new();
    records
        .into_iter()
        .filter(|record| seen.insert(record.clone()))
        .collect()
}

fn encode_v1(series: &[SeriesSpec], metadata: &[(String, MetricMetadata)]) -> Vec<u8> {
    pb1::WriteRequest {
        timeseries: series
            .iter()
            .map(|spec| pb1::TimeSeries {
                labels: spec
                    .pairs
                    .iter()
                    .map(|(name, value)| pb1::Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples: spec
                    .samples
                    .iter()
                    .map(|&(timestamp, value)| pb1::Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: metadata
            .iter()
            .map(|(family, record)| pb1::MetricMetadata {
                r#type: record.metric_type.to_proto(),
                metric_family_name: family.clone(),
                help: record.help.clone(),
                unit: record.unit.clone(),
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Interns strings into a 2.0 symbol table, `""` first.
#[derive(Default)]
struct SymbolTable {
    symbols: Vec<String>,
    refs: HashMap<String, u32>,
}

impl SymbolTable {
    fn new() -> Self {
        let mut table = Self::default();
        table.intern("");
        table
    }

    fn intern(&mut self, symbol: &str) -> u32 {
        if let Some(&symbol_ref) = self.refs.get(symbol) {
            return symbol_ref;
        }
        let symbol_ref = self.symbols.len() as u32;
        self.symbols.push(symbol.to_string());
        self.refs.insert(symbol.to_string(), symbol_ref);
        symbol_ref
    }
}

fn encode_v2(series: &[SeriesSpec]) -> Vec<u8> {
    let mut table = SymbolTable::new();
    let timeseries = series
        .iter()
        .map(|spec| pb2::TimeSeries {
            labels_refs: spec
                .pairs
                .iter()
                .flat_map(|(name, value)| [table.intern(name), table.intern(value)])
                .collect(),
            samples: spec
                .samples
                .iter()
                .map(|&(timestamp, value)| pb2::Sample {
                    value,
                    timestamp,
                    start_timestamp: 0,
                })
                .collect(),
            metadata: Some(pb2::Metadata {
                r#type: spec.metadata.metric_type.to_proto(),
                help_ref: table.intern(&spec.metadata.help),
                unit_ref: table.intern(&spec.metadata.unit),
            }),
            ..Default::default()
        })
        .collect();
    pb2::Request {
        symbols: table.symbols,
        timeseries,
    }
    .encode_to_vec()
}

fn expected_v2_metadata(series: &[SeriesSpec]) -> Vec<(String, MetricMetadata)> {
    let unset = MetricMetadata {
        metric_type: MetricType::Unknown,
        help: String::new(),
        unit: String::new(),
    };
    distinct(
        series
            .iter()
            .filter(|spec| spec.metadata != unset)
            .map(|spec| (spec.metric_name().to_string(), spec.metadata.clone())),
    )
}

proptest! {
    #[test]
    fn v1_requests_round_trip_exactly(
        series in prop::collection::vec(series_spec(), 0..8),
        metadata in prop::collection::vec(("[a-zA-Z_:][a-zA-Z0-9_:]{0,11}", metadata()), 0..4),
    ) {
        let encoded = encode_v1(&series, &metadata);
        let (result, recorded) = through_the_wire(RemoteWriteVersion::V1, &encoded);
        let outcome = result.unwrap();
        let expected = expected_samples(&series);
        prop_assert_eq!(outcome.samples_written, expected.len() as u64);
        prop_assert!(outcome.is_fully_accepted());
        prop_assert_eq!(recorded.samples, expected);
        prop_assert_eq!(recorded.metadata, distinct(metadata));
    }

    #[test]
    fn v2_requests_round_trip_exactly(series in prop::collection::vec(series_spec(), 0..8)) {
        let encoded = encode_v2(&series);
        let (result, recorded) = through_the_wire(RemoteWriteVersion::V2, &encoded);
        let outcome = result.unwrap();
        let expected = expected_samples(&series);
        prop_assert_eq!(outcome.samples_written, expected.len() as u64);
        prop_assert!(outcome.is_fully_accepted());
        prop_assert_eq!(recorded.samples, expected);
        prop_assert_eq!(recorded.metadata, expected_v2_metadata(&series));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decompress(&bytes, 1 << 16);
        let _ = v1::decode(&bytes);
        let _ = v2::decode(&bytes);
        for version in [RemoteWriteVersion::V1, RemoteWriteVersion::V2] {
            let _ = run_ingest(version, &bytes);
        }
    }

    #[test]
    fn corrupted_requests_never_panic(
        series in prop::collection::vec(series_spec(), 1..4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        for (version, mut encoded) in [
            (RemoteWriteVersion::V1, encode_v1(&series, &[])),
            (RemoteWriteVersion::V2, encode_v2(&series)),
        ] {
            for (index, byte) in &flips {
                let position = index.index(encoded.len());
                encoded[position] ^= byte;
            }
            let _ = run_ingest(version, &encoded);
            let compressed = snap::raw::Encoder::new().compress_vec(&encoded).unwrap();
            let mut body = compressed.clone();
            for (index, byte) in &flips {
                let position = index.index(body.len());
                body[position] ^= byte;
            }
            let _ = decompress(&body, 1 << 20);
        }
    }
}
