//! The JSON form of a Loki push:
//! `{"streams":[{"stream":{"app":"api"},"values":[["<ns>","line",{"k":"v"}]]}]}`.
//! Timestamps must be strings of nanoseconds (a number is refused, as Loki does); the third
//! element, flat string-to-string structured metadata, is optional.

use serde_json::Value;
use vigil_model::LogEntry;

use crate::IngestError;
use crate::logs::{DecodedPush, DecodedStream};
use crate::loki::metadata_labels;

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn stream_text(pairs: &[(String, String)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn decode_entry(value: &Value, stream: &str) -> Result<LogEntry, String> {
    let Value::Array(parts) = value else {
        return Err(format!(
            "entry for stream '{stream}' must be an array, got {}",
            describe(value)
        ));
    };
    if parts.len() < 2 || parts.len() > 3 {
        return Err(format!(
            "entry for stream '{stream}' must have 2 or 3 elements [timestamp, line, metadata], got {}",
            parts.len()
        ));
    }
    let Value::String(ts) = &parts[0] else {
        return Err(format!(
            "entry for stream '{stream}' has a timestamp that is {}, expected a string of nanoseconds",
            describe(&parts[0])
        ));
    };
    let timestamp_ns: i64 = ts.parse().map_err(|_| {
        format!("entry for stream '{stream}' has timestamp {ts:?} which is not an integer of nanoseconds")
    })?;
    let Value::String(line) = &parts[1] else {
        return Err(format!(
            "entry for stream '{stream}' at {ts} has a line that is {}, expected a string",
            describe(&parts[1])
        ));
    };
    let mut metadata = Vec::new();
    match parts.get(2) {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let Value::String(value) = value else {
                    return Err(format!(
                        "entry for stream '{stream}' at {ts} has structured metadata {name:?} that is {}, expected a string",
                        describe(value)
                    ));
                };
                metadata.push((name.clone(), value.clone()));
            }
        }
        Some(other) => {
            return Err(format!(
                "entry for stream '{stream}' at {ts} has structured metadata that is {}, expected an object",
                describe(other)
            ));
        }
    }
    let structured_metadata = metadata_labels(metadata)
        .map_err(|reason| format!("entry for stream '{stream}' at {ts}: {reason}"))?;
    Ok(LogEntry {
        timestamp_ns,
        line: line.clone(),
        structured_metadata,
    })
}

/// Decodes an uncompressed JSON push body.
pub(crate) fn decode_json(raw: &[u8]) -> Result<DecodedPush, IngestError> {
    let document: Value = serde_json::from_slice(raw)
        .map_err(|err| IngestError::decode(format!("invalid JSON push body: {err}")))?;
    let Some(streams) = document.get("streams") else {
        return Err(IngestError::decode(
            "JSON push body has no \"streams\" field",
        ));
    };
    let Value::Array(streams) = streams else {
        return Err(IngestError::decode(format!(
            "\"streams\" must be an array, got {}",
            describe(streams)
        )));
    };
    let mut push = DecodedPush::default();
    for (index, stream) in streams.iter().enumerate() {
        let labels_value = stream.get("stream").unwrap_or(&Value::Null);
        let Value::Object(label_map) = labels_value else {
            return Err(IngestError::decode(format!(
                "streams[{index}].stream must be an object of labels, got {}",
                describe(labels_value)
            )));
        };
        let mut pairs = Vec::with_capacity(label_map.len());
        for (name, value) in label_map {
            let Value::String(value) = value else {
                return Err(IngestError::decode(format!(
                    "streams[{index}].stream label {name:?} must be a string, got {}",
                    describe(value)
                )));
            };
            pairs.push((name.clone(), value.clone()));
        }
        let labels_text = stream_text(&pairs);
        let values = match stream.get("values") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(values)) => values,
            Some(other) => {
                return Err(IngestError::decode(format!(
                    "streams[{index}].values must be an array, got {}",
                    describe(other)
                )));
            }
        };
        let mut decoded = DecodedStream {
            labels: Ok(pairs),
            labels_text,
            entries: Vec::with_capacity(values.len()),
            invalid_entries: Vec::new(),
        };
        for value in values {
            match decode_entry(value, &decoded.labels_text) {
                Ok(entry) => decoded.entries.push(entry),
                Err(reason) => decoded.invalid_entries.push(reason),
            }
        }
        push.streams.push(decoded);
    }
    if push.streams.is_empty() {
        return Err(IngestError::decode("push request contains no streams"));
    }
    Ok(push)
}

#[cfg(test)]
mod tests {
    use vigil_model::Labels;

    use super::*;

    #[test]
    fn decodes_streams_entries_and_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"api","env":"prod"},"values":[
            ["1735689600000000001","first"],
            ["1735689600000000002","second",{"trace_id":"abc"}]]}]}"#;
        let push = decode_json(body).unwrap();
        assert_eq!(push.streams.len(), 1);
        let stream = &push.streams[0];
        assert_eq!(stream.labels_text, "{app=\"api\", env=\"prod\"}");
        assert_eq!(
            stream.entries[0],
            LogEntry::new(1_735_689_600_000_000_001, "first")
        );
        assert_eq!(
            stream.entries[1].structured_metadata,
            Labels::from_static(&[("trace_id", "abc")])
        );
    }

    #[test]
    fn bad_entries_are_named_and_the_rest_kept() {
        let body = br#"{"streams":[{"stream":{"app":"api"},"values":[
            [1735689600000000001,"number timestamp"],
            ["1735689600000000002","kept"],
            ["x","bad ts"],
            ["1","line",{"k":1}],
            ["1"]]}]}"#;
        let push = decode_json(body).unwrap();
        let stream = &push.streams[0];
        assert_eq!(stream.entries.len(), 1);
        assert_eq!(stream.entries[0].line, "kept");
        let reasons = &stream.invalid_entries;
        assert_eq!(reasons.len(), 4);
        assert!(
            reasons[0].contains("timestamp that is a number"),
            "{}",
            reasons[0]
        );
        assert!(
            reasons[1].contains("\"x\" which is not an integer"),
            "{}",
            reasons[1]
        );
        assert!(
            reasons[2].contains("structured metadata \"k\" that is a number"),
            "{}",
            reasons[2]
        );
        assert!(reasons[3].contains("2 or 3 elements"), "{}", reasons[3]);
    }

    #[test]
    fn structural_errors_fail_the_request() {
        for (body, reason) in [
            (&b"not json"[..], "invalid JSON push body"),
            (b"{}", "no \"streams\""),
            (b"{\"streams\":[]}", "no streams"),
            (b"{\"streams\":{}}", "must be an array"),
            (
                b"{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}",
                "label \"a\" must be a string",
            ),
        ] {
            let err = decode_json(body).unwrap_err();
            assert!(err.to_string().contains(reason), "{err}");
            assert_eq!(err.kind(), crate::IngestErrorKind::BadRequest);
        }
    }
}
