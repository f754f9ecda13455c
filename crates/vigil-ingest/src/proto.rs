//! Hand-written `prost` messages of the Prometheus remote_write protocols.
//!
//! Written by hand with `#[derive(prost::Message)]` so the build needs neither `protoc` nor a
//! `build.rs`. Field numbers and types follow the upstream files in `prometheus/prometheus`:
//! [`v1`] mirrors `prompb/remote.proto` + `prompb/types.proto` (package `prometheus`), [`v2`]
//! mirrors `prompb/io/prometheus/write/v2/types.proto` (package `io.prometheus.write.v2`,
//! spec 2.0-rc.4). Every field is declared, even those Vigil does not store yet, so that
//! receivers can count what they drop and senders (tests, the load generator) can encode
//! complete requests.
//!
//! As in any proto3 encoder, fields equal to their default are not written: a sample value of
//! `-0.0` compares equal to `0.0`, so it is omitted and decodes as `0.0`.

pub mod v1;
pub mod v2;

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::{v1, v2};

    /// Golden bytes written from the upstream field numbers and wire types, so a wrong tag in
    /// the hand-written messages cannot hide behind a prost round trip.
    #[test]
    fn v1_fields_use_the_upstream_tags() {
        let sample = v1::Sample {
            value: 1.0,
            timestamp: 2,
        };
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.0f64.to_le_bytes());
        expected.extend_from_slice(&[0x10, 0x02]);
        assert_eq!(sample.encode_to_vec(), expected);

        let metadata = v1::MetricMetadata {
            r#type: v1::metric_metadata::MetricType::Gauge as i32,
            metric_family_name: "m".into(),
            help: "h".into(),
            unit: "u".into(),
        };
        assert_eq!(
            metadata.encode_to_vec(),
            [
                0x08, 0x02, 0x12, 0x01, b'm', 0x22, 0x01, b'h', 0x2a, 0x01, b'u'
            ]
        );

        let request = v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels: vec![v1::Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                exemplars: vec![v1::Exemplar::default()],
                histograms: vec![v1::Histogram::default()],
                ..Default::default()
            }],
            metadata: vec![v1::MetricMetadata::default()],
        };
        assert_eq!(
            request.encode_to_vec(),
            [
                0x0a, 0x0c, // timeseries (1), 12 bytes
                0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // labels (1)
                0x1a, 0x00, // exemplars (3)
                0x22, 0x00, // histograms (4)
                0x1a, 0x00, // metadata (3)
            ]
        );
    }

    #[test]
    fn histogram_fields_use_the_upstream_tags() {
        let histogram = v2::Histogram {
            count: Some(v2::histogram::Count::CountInt(3)),
            schema: -1,
            zero_count: Some(v2::histogram::ZeroCount::ZeroCountFloat(0.0)),
            negative_deltas: vec![-1],
            positive_spans: vec![v2::BucketSpan {
                offset: -2,
                length: 1,
            }],
            reset_hint: v2::histogram::ResetHint::Gauge as i32,
            timestamp: 5,
            custom_values: vec![],
            start_timestamp: 4,
            ..Default::default()
        };
        let mut expected = vec![0x08, 0x03, 0x20, 0x01, 0x39];
        expected.extend_from_slice(&0.0f64.to_le_bytes());
        expected.extend_from_slice(&[
            0x4a, 0x01, 0x01, // negative_deltas (9), packed sint64 -1
            0x5a, 0x04, 0x08, 0x03, 0x10, 0x01, // positive_spans (11): offset -2, length 1
            0x70, 0x03, // reset_hint (14)
            0x78, 0x05, // timestamp (15)
            0x88, 0x01, 0x04, // start_timestamp (17)
        ]);
        assert_eq!(histogram.encode_to_vec(), expected);

        let v1_histogram = v1::Histogram {
            count: Some(v1::histogram::Count::CountFloat(0.0)),
            custom_values: vec![0.0],
            ..Default::default()
        };
        let mut expected = vec![0x11];
        expected.extend_from_slice(&0.0f64.to_le_bytes());
        expected.extend_from_slice(&[0x82, 0x01, 0x08]);
        expected.extend_from_slice(&0.0f64.to_le_bytes());
        assert_eq!(v1_histogram.encode_to_vec(), expected);
    }

    #[test]
    fn v2_fields_use_the_upstream_tags() {
        let request = v2::Request {
            symbols: vec![String::new(), "a".into()],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 1],
                samples: vec![v2::Sample {
                    value: 0.0,
                    timestamp: 1,
                    start_timestamp: 2,
                }],
                histograms: vec![v2::Histogram::default()],
                exemplars: vec![v2::Exemplar {
                    labels_refs: vec![1],
                    value: 0.0,
                    timestamp: 3,
                }],
                metadata: Some(v2::Metadata {
                    r#type: v2::metadata::MetricType::Counter as i32,
                    help_ref: 1,
                    unit_ref: 1,
                }),
            }],
        };
        assert_eq!(
            request.encode_to_vec(),
            [
                0x22, 0x00, 0x22, 0x01, b'a', // symbols (4)
                0x2a, 0x1b, // timeseries (5), 27 bytes
                0x0a, 0x02, 0x01, 0x01, // labels_refs (1), packed
                0x12, 0x04, 0x10, 0x01, 0x18,
                0x02, // samples (2): timestamp, start_timestamp (3)
                0x1a, 0x00, // histograms (3)
                0x22, 0x05, 0x0a, 0x01, 0x01, 0x18, 0x03, // exemplars (4)
                0x2a, 0x06, 0x08, 0x01, 0x18, 0x01, 0x20,
                0x01, // metadata (5): type, help_ref (3), unit_ref (4)
            ]
        );
    }
}
