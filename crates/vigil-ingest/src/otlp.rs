//! OTLP/HTTP logs (`POST /otlp/v1/logs`, `POST /v1/logs`) decoding: protobuf or OTLP/JSON
//! `ExportLogsServiceRequest`, optionally gzip/deflate encoded, mapped to streams the way
//! Loki maps them by default (see [`mapping`]); and the `ExportLogsServiceResponse` in the
//! request's encoding.

mod json;
pub mod mapping;
#[cfg(test)]
mod proptests;
pub mod proto;

use prost::Message;

use crate::IngestError;
use crate::logs::{ContentEncoding, DecodedPush, LogPushOutcome, decompress_body};

pub use json::{decode_json_request, encode_json_response};

/// The encoding of an OTLP request, chosen by its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpFormat {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl OtlpFormat {
    /// Picks the encoding from the Content-Type; anything else is a 415 naming it.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, IngestError> {
        let media_type = content_type
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if media_type.eq_ignore_ascii_case("application/x-protobuf")
            || media_type.eq_ignore_ascii_case("application/protobuf")
        {
            return Ok(Self::Protobuf);
        }
        if media_type.eq_ignore_ascii_case("application/json") {
            return Ok(Self::Json);
        }
        Err(IngestError::unsupported(format!(
            "content type {media_type:?} is not supported, use application/x-protobuf or application/json"
        )))
    }

    /// The Content-Type of responses in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Decodes an OTLP logs body into streams; `now_ns` stamps records without any time.
pub fn decode(
    body: &[u8],
    format: OtlpFormat,
    content_encoding: Option<&str>,
    max_decompressed_bytes: usize,
    now_ns: i64,
    discover_levels: bool,
) -> Result<DecodedPush, IngestError> {
    let encoding = ContentEncoding::parse(content_encoding)?;
    let raw = decompress_body(body, encoding, max_decompressed_bytes)?;
    let request = match format {
        OtlpFormat::Protobuf => {
            proto::ExportLogsServiceRequest::decode(raw.as_slice()).map_err(|err| {
                IngestError::decode(format!("invalid protobuf ExportLogsServiceRequest: {err}"))
            })?
        }
        OtlpFormat::Json => decode_json_request(&raw)?,
    };
    Ok(mapping::to_push(request, now_ns, discover_levels))
}

/// The response body for `outcome` (full or partial success) in `format`.
pub fn response_body(format: OtlpFormat, outcome: Option<&LogPushOutcome>) -> Vec<u8> {
    let response = proto::ExportLogsServiceResponse {
        partial_success: outcome.filter(|o| o.rejected() > 0).map(|o| {
            proto::ExportLogsPartialSuccess {
                rejected_log_records: i64::try_from(o.rejected()).unwrap_or(i64::MAX),
                error_message: o.message(),
            }
        }),
    };
    match format {
        OtlpFormat::Protobuf => response.encode_to_vec(),
        OtlpFormat::Json => encode_json_response(&response).into_bytes(),
    }
}
