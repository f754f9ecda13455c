//! Remote write 1.0: decoding `prometheus.WriteRequest` and feeding it to the append stage.

use prost::Message;
use vigil_model::{MetricMetadata, MetricType, Sample};

use crate::IngestError;
use crate::proto::v1::WriteRequest;
use crate::remote_write::batch::BatchWriter;

/// Decodes an uncompressed `prometheus.WriteRequest`.
pub(crate) fn decode(raw: &[u8]) -> Result<WriteRequest, IngestError> {
    WriteRequest::decode(raw)
        .map_err(|err| IngestError::decode(format!("cannot decode prometheus.WriteRequest: {err}")))
}

/// Appends every series and metadata record of `request`.
pub(crate) fn write(request: &WriteRequest, writer: &mut BatchWriter) {
    for series in &request.timeseries {
        let pairs = series
            .labels
            .iter()
            .map(|label| (label.name.as_str(), label.value.as_str()))
            .collect();
        let samples = series
            .samples
            .iter()
            .map(|sample| Sample::new(sample.timestamp, sample.value));
        writer.write_series(
            pairs,
            samples,
            series.histograms.len(),
            series.exemplars.len(),
        );
    }
    for metadata in &request.metadata {
        let record = MetricMetadata {
            metric_type: MetricType::from_proto(metadata.r#type),
            help: metadata.help.clone(),
            unit: metadata.unit.clone(),
        };
        writer.write_metadata(&metadata.metric_family_name, record);
    }
}
