//! Hand-written `prost` messages of Loki's push protocol (package `logproto`, file
//! `pkg/push/push.proto` upstream): field numbers and wire types as there, written by hand
//! so the build needs neither `protoc` nor a `build.rs`.

/// `logproto.PushRequest`: the body of `POST /loki/api/v1/push` (snappy-compressed).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
    /// A format hint some senders set; ignored.
    #[prost(string, tag = "2")]
    pub format: String,
}

/// `logproto.StreamAdapter`: one stream and its entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The label set as text, e.g. `{app="api", env="prod"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// A hash of the labels some senders set; ignored by the server.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When the entry happened.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The log line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    /// Labels parsed at query time; only used in query responses, ignored on push.
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0..1e9.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// Golden bytes from the upstream field numbers, so a wrong tag cannot hide behind a
    /// prost round trip.
    #[test]
    fn fields_use_the_upstream_tags() {
        let request = PushRequest {
            streams: vec![StreamAdapter {
                labels: "{a=\"b\"}".into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 1,
                        nanos: 2,
                    }),
                    line: "x".into(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "k".into(),
                        value: "v".into(),
                    }],
                    parsed: vec![],
                }],
                hash: 0,
            }],
            format: String::new(),
        };
        assert_eq!(
            request.encode_to_vec(),
            [
                0x0a, 0x1c, // streams (1)
                0x0a, 0x07, b'{', b'a', b'=', b'"', b'b', b'"', b'}', // labels (1)
                0x12, 0x11, // entries (2)
                0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, // timestamp (1) {seconds 1, nanos 2}
                0x12, 0x01, b'x', // line (2)
                0x1a, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v', // structuredMetadata (3)
            ]
        );
    }
}
