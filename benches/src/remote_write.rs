//! Prometheus remote write 1.0 requests, encoded and snappy-compressed as Prometheus sends them.

use prost::Message;
use vigil_ingest::proto::v1 as pb;

use crate::BenchError;

/// Headers of a remote write 1.0 request, as Prometheus sends them.
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// One series with one or more `(timestamp_ms, value)` samples.
pub fn timeseries(labels: &[(String, String)], samples: &[(i64, f64)]) -> pb::TimeSeries {
    pb::TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| pb::Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| pb::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

/// The request body for `timeseries`: protobuf, then snappy block compression.
pub fn encode_body(timeseries: Vec<pb::TimeSeries>) -> Result<Vec<u8>, BenchError> {
    let request = pb::WriteRequest {
        timeseries,
        metadata: Vec::new(),
    };
    Ok(snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips() {
        let labels = vec![
            ("__name__".to_string(), "up".to_string()),
            ("job".to_string(), "node".to_string()),
        ];
        let body = encode_body(vec![timeseries(&labels, &[(1000, 1.0), (16_000, 1.0)])]).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = pb::WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.timeseries.len(), 1);
        assert_eq!(request.timeseries[0].labels[1].value, "node");
        assert_eq!(request.timeseries[0].samples[1].timestamp, 16_000);
    }
}
