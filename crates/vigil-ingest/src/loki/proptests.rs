//! Property tests of the Loki decoders: arbitrary bytes never panic, and every request
//! built from arbitrary streams decodes back to the same streams in both encodings.

use proptest::prelude::*;
use prost::Message;
use vigil_model::LogEntry;

use super::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
use super::{LokiFormat, decode, decode_protobuf};
use crate::logs::DecodedPush;

type Pairs = Vec<(String, String)>;
type GenEntry = (i64, String, Pairs);
type GenStream = (Pairs, Vec<GenEntry>);

fn label_value() -> impl Strategy<Value = String> {
    "[ -~é\\n\"\\\\]{1,12}"
}

fn stream_strategy() -> impl Strategy<Value = GenStream> {
    (
        prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", label_value(), 1..4)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
        prop::collection::vec(
            (
                -1_000_000_000_000_000_000i64..4_000_000_000_000_000_000,
                ".{0,40}",
                prop::collection::btree_map("[a-z_]{1,5}", "[a-z0-9]{1,5}", 0..3)
                    .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
            ),
            0..5,
        ),
    )
}

fn go_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn check(push: &DecodedPush, streams: &[GenStream]) {
    assert_eq!(push.streams.len(), streams.len());
    for (decoded, (labels, entries)) in push.streams.iter().zip(streams) {
        assert_eq!(decoded.labels.as_ref().unwrap(), labels);
        assert!(
            decoded.invalid_entries.is_empty(),
            "{:?}",
            decoded.invalid_entries
        );
        let got: Vec<GenEntry> = decoded
            .entries
            .iter()
            .map(|e: &LogEntry| {
                let md = e
                    .structured_metadata
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                (e.timestamp_ns, e.line.clone(), md)
            })
            .collect();
        assert_eq!(&got, entries);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_protobuf(&body);
        let _ = decode(&body, LokiFormat::Protobuf, None, 1 << 20);
        let _ = decode(&body, LokiFormat::Json, None, 1 << 20);
        let _ = decode(&body, LokiFormat::Json, Some("gzip"), 1 << 20);
        let _ = super::parse_label_string(&String::from_utf8_lossy(&body));
    }

    #[test]
    fn protobuf_and_json_round_trip(streams in prop::collection::vec(stream_strategy(), 1..4)) {
        let request = PushRequest {
            streams: streams.iter().map(|(labels, entries)| StreamAdapter {
                labels: format!("{{{}}}", labels.iter().map(|(n, v)| format!("{n}={}", go_quote(v))).collect::<Vec<_>>().join(", ")),
                entries: entries.iter().map(|(ts, line, md)| EntryAdapter {
                    timestamp: Some(Timestamp { seconds: ts.div_euclid(1_000_000_000), nanos: ts.rem_euclid(1_000_000_000) as i32 }),
                    line: line.clone(),
                    structured_metadata: md.iter().map(|(n, v)| LabelPairAdapter { name: n.clone(), value: v.clone() }).collect(),
                    parsed: vec![],
                }).collect(),
                hash: 0,
            }).collect(),
            format: String::new(),
        };
        let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
        check(&decode(&body, LokiFormat::Protobuf, Some("snappy"), 1 << 24).unwrap(), &streams);

        let json = serde_json::json!({"streams": streams.iter().map(|(labels, entries)| serde_json::json!({
            "stream": labels.iter().cloned().map(|(k, v)| (k, serde_json::Value::String(v))).collect::<serde_json::Map<_, _>>(),
            "values": entries.iter().map(|(ts, line, md)| serde_json::json!([
                ts.to_string(), line, md.iter().cloned().map(|(k, v)| (k, serde_json::Value::String(v))).collect::<serde_json::Map<_, _>>()
            ])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()});
        let decoded = decode(json.to_string().as_bytes(), LokiFormat::Json, None, 1 << 24).unwrap();
        check(&decoded, &streams);
    }
}
