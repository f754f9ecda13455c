//! Transport-level checks of a remote write request: which protocol version its headers ask
//! for, and snappy decompression of its body under a size limit.

use crate::IngestError;
use crate::remote_write::{
    PROTOBUF_MEDIA_TYPE, RemoteWriteVersion, V1_PROTO_MESSAGE, V2_PROTO_MESSAGE,
};

/// Picks the protocol version from the request's Content-Type and checks its Content-Encoding.
///
/// `application/x-protobuf` without a `proto` parameter, with `proto=prometheus.WriteRequest`,
/// or no Content-Type at all mean 1.0; `proto=io.prometheus.write.v2.Request` means 2.0.
/// Anything else, and a Content-Encoding other than `snappy`, is
/// [`IngestError::UnsupportedMediaType`] (415), which tells a 2.0 sender to fall back to 1.0.
/// A missing Content-Encoding is accepted and the body still treated as snappy, as Prometheus
/// does for old 1.0 senders.
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<RemoteWriteVersion, IngestError> {
    if let Some(encoding) = content_encoding.map(str::trim)
        && !encoding.is_empty()
        && !encoding.eq_ignore_ascii_case("snappy")
    {
        return Err(IngestError::unsupported(format!(
            "content-encoding {encoding:?} is not accepted, only \"snappy\" is"
        )));
    }
    let Some(content_type) = content_type.map(str::trim).filter(|ct| !ct.is_empty()) else {
        return Ok(RemoteWriteVersion::V1);
    };
    let mut parts = content_type.split(';');
    let media_type = parts.next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE) {
        return Err(IngestError::unsupported(format!(
            "content-type {content_type:?} is not supported, expected {PROTOBUF_MEDIA_TYPE:?}"
        )));
    }
    for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = parameter.split_once('=') else {
            return Err(IngestError::unsupported(format!(
                "malformed parameter {parameter:?} in content-type {content_type:?}"
            )));
        };
        if !name.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let message = value.trim().trim_matches('"');
        return match message {
            V1_PROTO_MESSAGE => Ok(RemoteWriteVersion::V1),
            V2_PROTO_MESSAGE => Ok(RemoteWriteVersion::V2),
            _ => Err(IngestError::unsupported(format!(
                "proto message {message:?} is not supported, expected {V1_PROTO_MESSAGE:?} or {V2_PROTO_MESSAGE:?}"
            ))),
        };
    }
    Ok(RemoteWriteVersion::V1)
}

/// Decompresses a snappy block-format body (not the framed format).
///
/// The decompressed size announced in the snappy header is checked against
/// `max_decompressed_bytes` before anything is allocated: a larger body is
/// [`IngestError::TooLarge`] (413), a malformed one [`IngestError::Decode`] (400).
pub fn decompress(body: &[u8], max_decompressed_bytes: usize) -> Result<Vec<u8>, IngestError> {
    let decompressed_bytes = snap::raw::decompress_len(body)
        .map_err(|err| IngestError::decode(format!("invalid snappy block: {err}")))?;
    if decompressed_bytes > max_decompressed_bytes {
        return Err(IngestError::TooLarge {
            decompressed_bytes,
            limit_bytes: max_decompressed_bytes,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|err| IngestError::decode(format!("invalid snappy block: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IngestErrorKind;
    use crate::test_support::{v1_request, v1_series};

    #[test]
    fn negotiates_versions_from_content_type() {
        use RemoteWriteVersion::{V1, V2};
        let cases = [
            (None, V1),
            (Some(""), V1),
            (Some("application/x-protobuf"), V1),
            (
                Some("application/x-protobuf;proto=prometheus.WriteRequest"),
                V1,
            ),
            (Some("Application/X-Protobuf; charset=utf-8"), V1),
            (
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
                V2,
            ),
            (
                Some("application/x-protobuf; proto=\"io.prometheus.write.v2.Request\""),
                V2,
            ),
        ];
        for (content_type, expected) in cases {
            assert_eq!(
                negotiate(content_type, Some("snappy")).unwrap(),
                expected,
                "{content_type:?}"
            );
        }
        assert_eq!(negotiate(Some(&V2.content_type()), None).unwrap(), V2);
        assert_eq!(
            negotiate(Some(&V1.content_type()), Some("SNAPPY")).unwrap(),
            V1
        );
    }

    #[test]
    fn rejects_unsupported_media_types_and_encodings_with_415() {
        let bad_types = [
            "application/json",
            "text/plain",
            "application/x-protobuf;proto=io.prometheus.write.v3.Request",
            "application/x-protobuf;proto",
        ];
        for content_type in bad_types {
            let err = negotiate(Some(content_type), Some("snappy")).unwrap_err();
            assert_eq!(
                err.kind(),
                IngestErrorKind::UnsupportedMediaType,
                "{content_type}"
            );
            assert_eq!(err.kind().http_status(), 415);
        }
        let err = negotiate(Some("application/x-protobuf"), Some("gzip")).unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::UnsupportedMediaType);
        assert!(err.to_string().contains("\"gzip\""), "{err}");
        assert!(negotiate(None, Some("zstd")).is_err());
    }

    #[test]
    fn decompresses_within_the_limit() {
        let raw = v1_request(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)])]);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert_eq!(decompress(&body, raw.len()).unwrap(), raw);
    }

    #[test]
    fn rejects_bodies_over_the_limit_with_413_before_allocating() {
        let raw = vec![7u8; 4096];
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let err = decompress(&body, 4095).unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::TooLarge);
        assert_eq!(err.kind().http_status(), 413);
        assert_eq!(
            err.to_string(),
            "decompressed body of 4096 bytes exceeds the limit of 4095 bytes"
        );
        // A 9-byte body whose header claims ~4 GiB must be refused from the header alone.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0];
        let err = decompress(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn rejects_malformed_snappy_with_400() {
        for body in [&b""[..], &[0x05, 0xff, 0xff][..], b"not snappy at all"] {
            let err = decompress(body, 1 << 20).unwrap_err();
            assert_eq!(err.kind(), IngestErrorKind::BadRequest, "{body:?}");
            assert!(err.to_string().starts_with("invalid snappy block"), "{err}");
        }
    }
}
