//! OTLP/JSON (the proto3 JSON mapping with OTLP's exceptions): lowerCamelCase keys (the
//! original snake_case names are accepted too), 64-bit integers as strings or numbers,
//! `traceId`/`spanId` as hex, other bytes as base64, enums as integers, unknown fields
//! ignored. Converted into the same messages the protobuf path decodes.

use serde_json::{Map, Value};

use crate::IngestError;
use crate::otlp::proto::{
    AnyValue, ArrayValue, ExportLogsServiceRequest, ExportLogsServiceResponse,
    InstrumentationScope, KeyValue, KeyValueList, LogRecord, Resource, ResourceLogs, ScopeLogs,
    any_value,
};

type Result<T> = std::result::Result<T, String>;

fn field<'a>(object: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|v| !v.is_null())
}

fn as_object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))
}

fn as_array<'a>(value: Option<&'a Value>, what: &str) -> Result<&'a [Value]> {
    match value {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{what} must be an array")),
    }
}

fn string(value: Option<&Value>, what: &str) -> Result<String> {
    match value {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{what} must be a string")),
    }
}

fn integer(value: Option<&Value>, what: &str) -> Result<i128> {
    match value {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| format!("{what} must be an integer, got {n}")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i128>()
            .map_err(|_| format!("{what} must be an integer, got {s:?}")),
        Some(_) => Err(format!("{what} must be an integer")),
    }
}

fn ranged<T: TryFrom<i128>>(value: i128, what: &str) -> Result<T> {
    T::try_from(value).map_err(|_| format!("{what} is out of range: {value}"))
}

fn hex_bytes(value: Option<&Value>, what: &str) -> Result<Vec<u8>> {
    let text = string(value, what)?;
    if text.len() % 2 != 0 {
        return Err(format!(
            "{what} must be hex with an even number of digits, got {text:?}"
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{what} must be hex, got {text:?}"))
        })
        .collect()
}

/// Decodes standard or URL-safe base64, padded or not.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter(|&b| b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

fn any_value(value: &Value, what: &str) -> Result<AnyValue> {
    let object = as_object(value, what)?;
    let kind = if let Some(v) = field(object, "stringValue", "string_value") {
        any_value::Value::StringValue(string(Some(v), what)?)
    } else if let Some(v) = field(object, "boolValue", "bool_value") {
        any_value::Value::BoolValue(
            v.as_bool()
                .ok_or_else(|| format!("{what}.boolValue must be a boolean"))?,
        )
    } else if let Some(v) = field(object, "intValue", "int_value") {
        any_value::Value::IntValue(ranged(integer(Some(v), what)?, what)?)
    } else if let Some(v) = field(object, "doubleValue", "double_value") {
        let number = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                other => other.parse().ok(),
            },
            _ => None,
        };
        any_value::Value::DoubleValue(
            number.ok_or_else(|| format!("{what}.doubleValue must be a number"))?,
        )
    } else if let Some(v) = field(object, "arrayValue", "array_value") {
        let items = as_array(as_object(v, what)?.get("values"), what)?;
        let values = items
            .iter()
            .map(|item| any_value(item, what))
            .collect::<Result<_>>()?;
        any_value::Value::ArrayValue(ArrayValue { values })
    } else if let Some(v) = field(object, "kvlistValue", "kvlist_value") {
        let values = key_values(as_object(v, what)?.get("values"), what)?;
        any_value::Value::KvlistValue(KeyValueList { values })
    } else if let Some(v) = field(object, "bytesValue", "bytes_value") {
        let text = string(Some(v), what)?;
        any_value::Value::BytesValue(
            base64_decode(&text).ok_or_else(|| format!("{what}.bytesValue must be base64"))?,
        )
    } else {
        return Ok(AnyValue { value: None });
    };
    Ok(AnyValue { value: Some(kind) })
}

fn key_values(value: Option<&Value>, what: &str) -> Result<Vec<KeyValue>> {
    as_array(value, what)?
        .iter()
        .map(|item| {
            let object = as_object(item, what)?;
            let key = string(object.get("key"), what)?;
            let value = match object.get("value").filter(|v| !v.is_null()) {
                Some(v) => Some(any_value(v, &format!("{what} {key:?}"))?),
                None => None,
            };
            Ok(KeyValue { key, value })
        })
        .collect()
}

fn log_record(value: &Value) -> Result<LogRecord> {
    let o = as_object(value, "logRecord")?;
    Ok(LogRecord {
        time_unix_nano: ranged(
            integer(field(o, "timeUnixNano", "time_unix_nano"), "timeUnixNano")?,
            "timeUnixNano",
        )?,
        observed_time_unix_nano: ranged(
            integer(
                field(o, "observedTimeUnixNano", "observed_time_unix_nano"),
                "observedTimeUnixNano",
            )?,
            "observedTimeUnixNano",
        )?,
        severity_number: ranged(
            integer(
                field(o, "severityNumber", "severity_number"),
                "severityNumber",
            )?,
            "severityNumber",
        )?,
        severity_text: string(field(o, "severityText", "severity_text"), "severityText")?,
        body: field(o, "body", "body")
            .map(|b| any_value(b, "body"))
            .transpose()?,
        attributes: key_values(field(o, "attributes", "attributes"), "attributes")?,
        dropped_attributes_count: ranged(
            integer(
                field(o, "droppedAttributesCount", "dropped_attributes_count"),
                "droppedAttributesCount",
            )?,
            "droppedAttributesCount",
        )?,
        flags: ranged(integer(field(o, "flags", "flags"), "flags")?, "flags")?,
        trace_id: hex_bytes(field(o, "traceId", "trace_id"), "traceId")?,
        span_id: hex_bytes(field(o, "spanId", "span_id"), "spanId")?,
        event_name: string(field(o, "eventName", "event_name"), "eventName")?,
    })
}

fn request(document: &Value) -> Result<ExportLogsServiceRequest> {
    let root = as_object(document, "the request")?;
    let mut resource_logs = Vec::new();
    for rl in as_array(field(root, "resourceLogs", "resource_logs"), "resourceLogs")? {
        let rl = as_object(rl, "resourceLogs[]")?;
        let resource = match field(rl, "resource", "resource") {
            Some(r) => {
                let r = as_object(r, "resource")?;
                Some(Resource {
                    attributes: key_values(
                        field(r, "attributes", "attributes"),
                        "resource.attributes",
                    )?,
                    dropped_attributes_count: ranged(
                        integer(
                            field(r, "droppedAttributesCount", "dropped_attributes_count"),
                            "droppedAttributesCount",
                        )?,
                        "droppedAttributesCount",
                    )?,
                })
            }
            None => None,
        };
        let mut scope_logs = Vec::new();
        for sl in as_array(field(rl, "scopeLogs", "scope_logs"), "scopeLogs")? {
            let sl = as_object(sl, "scopeLogs[]")?;
            let scope = match field(sl, "scope", "scope") {
                Some(s) => {
                    let s = as_object(s, "scope")?;
                    Some(InstrumentationScope {
                        name: string(field(s, "name", "name"), "scope.name")?,
                        version: string(field(s, "version", "version"), "scope.version")?,
                        attributes: key_values(
                            field(s, "attributes", "attributes"),
                            "scope.attributes",
                        )?,
                        dropped_attributes_count: ranged(
                            integer(
                                field(s, "droppedAttributesCount", "dropped_attributes_count"),
                                "droppedAttributesCount",
                            )?,
                            "droppedAttributesCount",
                        )?,
                    })
                }
                None => None,
            };
            let log_records = as_array(field(sl, "logRecords", "log_records"), "logRecords")?
                .iter()
                .map(log_record)
                .collect::<Result<_>>()?;
            scope_logs.push(ScopeLogs {
                scope,
                log_records,
                schema_url: string(field(sl, "schemaUrl", "schema_url"), "schemaUrl")?,
            });
        }
        resource_logs.push(ResourceLogs {
            resource,
            scope_logs,
            schema_url: string(field(rl, "schemaUrl", "schema_url"), "schemaUrl")?,
        });
    }
    Ok(ExportLogsServiceRequest { resource_logs })
}

/// Parses an OTLP/JSON `ExportLogsServiceRequest`.
pub fn decode_json_request(
    raw: &[u8],
) -> std::result::Result<ExportLogsServiceRequest, IngestError> {
    let document: Value = serde_json::from_slice(raw)
        .map_err(|err| IngestError::decode(format!("invalid OTLP/JSON body: {err}")))?;
    request(&document)
        .map_err(|reason| IngestError::decode(format!("invalid OTLP/JSON logs request: {reason}")))
}

/// Renders an `ExportLogsServiceResponse` as OTLP/JSON.
pub fn encode_json_response(response: &ExportLogsServiceResponse) -> String {
    let body = match &response.partial_success {
        None => serde_json::json!({}),
        Some(partial) => serde_json::json!({"partialSuccess": {
            "rejectedLogRecords": partial.rejected_log_records.to_string(),
            "errorMessage": partial.error_message,
        }}),
    };
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example_shape() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
          "scopeLogs":[{"scope":{"name":"my.lib","version":"1.0"},"logRecords":[{
            "timeUnixNano":"1735689600000000001","observedTimeUnixNano":1735689600000000002,
            "severityNumber":17,"severityText":"ERROR","traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","body":{"stringValue":"boom"},
            "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"b","value":{"bytesValue":"aGk="}}],
            "unknownField":true}]}]}]}"#;
        let request = decode_json_request(body).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.time_unix_nano, 1_735_689_600_000_000_001);
        assert_eq!(record.observed_time_unix_nano, 1_735_689_600_000_000_002);
        assert_eq!(record.severity_number, 17);
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.trace_id[0], 0x5b);
        assert_eq!(
            record.span_id,
            [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert_eq!(
            record.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(42))
        );
        assert_eq!(
            record.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::BytesValue(b"hi".to_vec()))
        );
    }

    #[test]
    fn malformed_fields_are_named() {
        for (body, reason) in [
            (
                &br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz1"}]}]}]}"#[..],
                "traceId must be hex",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#,
                "timeUnixNano must be an integer",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"-1"}]}]}]}"#,
                "timeUnixNano is out of range",
            ),
            (br#"{"resourceLogs":{}}"#, "resourceLogs must be an array"),
            (b"[]", "the request must be an object"),
            (b"{", "invalid OTLP/JSON body"),
        ] {
            let err = decode_json_request(body).unwrap_err();
            assert!(err.to_string().contains(reason), "{err}");
        }
    }

    #[test]
    fn base64_variants() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(base64_decode("a b").is_none());
    }
}
