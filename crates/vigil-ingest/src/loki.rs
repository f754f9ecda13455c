//! Loki push (`POST /loki/api/v1/push`) decoding: `logproto.PushRequest` protobuf in a
//! snappy block (Promtail's and Alloy's default), and the JSON form
//! `{"streams":[{"stream":{..},"values":[["<ns>","line",{..}]]}]}`, each optionally wrapped
//! in `Content-Encoding: gzip` or `deflate`. Produces a [`DecodedPush`] for the shared
//! pipeline in [`crate::logs`].

mod json;
mod labels;
#[cfg(test)]
mod proptests;
pub mod proto;

use prost::Message;
use vigil_model::{Label, Labels, LogEntry};

use crate::IngestError;
use crate::logs::{ContentEncoding, DecodedPush, DecodedStream, decompress_body};

pub use labels::parse_label_string;

/// The body format of a Loki push, chosen by its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LokiFormat {
    /// `logproto.PushRequest` in a snappy block: any Content-Type that is not JSON.
    Protobuf,
    /// `application/json` (parameters such as `charset` allowed).
    Json,
}

impl LokiFormat {
    /// Picks the format from the Content-Type header, as Loki does: JSON only when the
    /// media type says so, protobuf otherwise.
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        let media_type = content_type
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if media_type.eq_ignore_ascii_case("application/json") {
            Self::Json
        } else {
            Self::Protobuf
        }
    }
}

/// Decodes a push body: undoes the Content-Encoding, then snappy for protobuf bodies, then
/// parses. Every decompression step is bounded by `max_decompressed_bytes` (413 beyond).
pub fn decode(
    body: &[u8],
    format: LokiFormat,
    content_encoding: Option<&str>,
    max_decompressed_bytes: usize,
) -> Result<DecodedPush, IngestError> {
    let encoding = ContentEncoding::parse(content_encoding)?;
    match format {
        LokiFormat::Json => {
            let raw = decompress_body(body, encoding, max_decompressed_bytes)?;
            json::decode_json(&raw)
        }
        LokiFormat::Protobuf => {
            // The protobuf body is a snappy block whether or not the header says so; gzip or
            // deflate may wrap it.
            let unwrapped = match encoding {
                ContentEncoding::Gzip | ContentEncoding::Deflate => {
                    decompress_body(body, encoding, max_decompressed_bytes)?
                }
                ContentEncoding::Identity | ContentEncoding::Snappy => body.to_vec(),
            };
            let raw = crate::remote_write::decompress(&unwrapped, max_decompressed_bytes)?;
            decode_protobuf(&raw)
        }
    }
}

pub(crate) fn metadata_labels(pairs: Vec<(String, String)>) -> Result<Labels, String> {
    let labels: Vec<Label> = pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect();
    if let Some(empty) = labels.iter().find(|l| l.name.is_empty()) {
        return Err(format!(
            "structured metadata name must not be empty (value {:?})",
            empty.value
        ));
    }
    Labels::from_unsorted_unique(labels).map_err(|err| format!("structured metadata: {err}"))
}

fn timestamp_ns(seconds: i64, nanos: i32) -> Option<i64> {
    seconds
        .checked_mul(1_000_000_000)?
        .checked_add(i64::from(nanos))
}

/// Decodes an uncompressed `logproto.PushRequest`.
pub fn decode_protobuf(raw: &[u8]) -> Result<DecodedPush, IngestError> {
    let request = proto::PushRequest::decode(raw)
        .map_err(|err| IngestError::decode(format!("invalid protobuf PushRequest: {err}")))?;
    let mut push = DecodedPush::default();
    for stream in request.streams {
        let mut entries = Vec::with_capacity(stream.entries.len());
        let mut invalid_entries = Vec::new();
        let labels = parse_label_string(&stream.labels)
            .map_err(|reason| format!("error parsing labels '{}': {reason}", stream.labels));
        for entry in stream.entries {
            let ts = entry.timestamp.unwrap_or_default();
            let Some(timestamp_ns) = timestamp_ns(ts.seconds, ts.nanos) else {
                invalid_entries.push(format!(
                    "entry for stream '{}' has a timestamp out of range: {}s {}ns",
                    stream.labels, ts.seconds, ts.nanos
                ));
                continue;
            };
            let metadata = entry
                .structured_metadata
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect();
            let structured_metadata = match metadata_labels(metadata) {
                Ok(m) => m,
                Err(reason) => {
                    invalid_entries.push(format!("entry for stream '{}': {reason}", stream.labels));
                    continue;
                }
            };
            entries.push(LogEntry {
                timestamp_ns,
                line: entry.line,
                structured_metadata,
            });
        }
        push.streams.push(DecodedStream {
            labels,
            labels_text: stream.labels,
            entries,
            invalid_entries,
        });
    }
    if push.streams.is_empty() {
        return Err(IngestError::decode("push request contains no streams"));
    }
    Ok(push)
}
