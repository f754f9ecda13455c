//! Content-Encoding handling of log pushes: gzip, deflate (zlib), snappy block format, or
//! none, each decompressed under a size limit so a small body cannot inflate without bound.

use std::io::Read;

use crate::IngestError;

/// A supported Content-Encoding of a log push body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No encoding header (or `identity`).
    Identity,
    /// `gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped, per RFC 9110).
    Deflate,
    /// `snappy` (block format, not framed).
    Snappy,
}

impl ContentEncoding {
    /// Parses a Content-Encoding header value; unknown encodings are a 415 naming them.
    pub fn parse(header: Option<&str>) -> Result<Self, IngestError> {
        let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Self::Identity);
        };
        match value.to_ascii_lowercase().as_str() {
            "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "snappy" => Ok(Self::Snappy),
            _ => Err(IngestError::unsupported(format!(
                "content-encoding {value:?} is not supported, use gzip, deflate or snappy"
            ))),
        }
    }
}

fn read_limited(reader: impl Read, limit: usize, what: &str) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    let read = reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|err| IngestError::decode(format!("invalid {what} body: {err}")))?;
    if read > limit {
        return Err(IngestError::TooLarge {
            decompressed_bytes: read,
            limit_bytes: limit,
        });
    }
    Ok(out)
}

/// Decompresses `body` as `encoding` says, refusing results over `limit` bytes with 413.
pub fn decompress_body(
    body: &[u8],
    encoding: ContentEncoding,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    match encoding {
        ContentEncoding::Identity => {
            if body.len() > limit {
                return Err(IngestError::TooLarge {
                    decompressed_bytes: body.len(),
                    limit_bytes: limit,
                });
            }
            Ok(body.to_vec())
        }
        ContentEncoding::Gzip => read_limited(flate2::read::GzDecoder::new(body), limit, "gzip"),
        ContentEncoding::Deflate => {
            read_limited(flate2::read::ZlibDecoder::new(body), limit, "deflate")
        }
        ContentEncoding::Snappy => crate::remote_write::decompress(body, limit),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::IngestErrorKind;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn decodes_each_encoding_within_the_limit() {
        let raw = b"hello hello hello hello".to_vec();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&raw).unwrap();
        let cases = [
            (ContentEncoding::Identity, raw.clone()),
            (ContentEncoding::Gzip, gzip(&raw)),
            (ContentEncoding::Deflate, zlib.finish().unwrap()),
            (
                ContentEncoding::Snappy,
                snap::raw::Encoder::new().compress_vec(&raw).unwrap(),
            ),
        ];
        for (encoding, body) in cases {
            assert_eq!(decompress_body(&body, encoding, raw.len()).unwrap(), raw);
            let err = decompress_body(&body, encoding, raw.len() - 1).unwrap_err();
            assert_eq!(err.kind(), IngestErrorKind::TooLarge, "{encoding:?}");
        }
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit_and_garbage_is_400() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        let err = decompress_body(&bomb, ContentEncoding::Gzip, 1 << 20).unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::TooLarge);
        let err = decompress_body(b"not gzip", ContentEncoding::Gzip, 1 << 20).unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::BadRequest);
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn parses_header_values() {
        assert_eq!(
            ContentEncoding::parse(None).unwrap(),
            ContentEncoding::Identity
        );
        assert_eq!(
            ContentEncoding::parse(Some(" GZIP ")).unwrap(),
            ContentEncoding::Gzip
        );
        let err = ContentEncoding::parse(Some("br")).unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::UnsupportedMediaType);
        assert!(err.to_string().contains("\"br\""));
    }
}
