//! Property tests of the OTLP decoders: arbitrary bytes never panic, and arbitrary records
//! decode identically from protobuf and from OTLP/JSON.

use proptest::prelude::*;
use prost::Message;

use super::proto::{
    AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Resource, ResourceLogs, ScopeLogs,
    any_value,
};
use super::{OtlpFormat, decode};

type GenRecord = (u64, i32, String, String, Vec<u8>, Vec<(String, i64)>);

fn record() -> impl Strategy<Value = GenRecord> {
    (
        0u64..4_000_000_000_000_000_000,
        0i32..25,
        "[A-Za-z]{0,6}",
        ".{0,30}",
        prop::collection::vec(any::<u8>(), 0..17),
        prop::collection::vec(("[a-z.]{1,8}", any::<i64>()), 0..3),
    )
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&body, OtlpFormat::Protobuf, None, 1 << 20, 0, true);
        let _ = decode(&body, OtlpFormat::Json, None, 1 << 20, 0, true);
    }

    #[test]
    fn protobuf_and_json_agree(service in "[a-z]{1,8}", records in prop::collection::vec(record(), 1..5)) {
        let proto_records: Vec<LogRecord> = records.iter().map(|(time, severity, text, body, trace, attrs)| LogRecord {
            time_unix_nano: *time,
            severity_number: *severity,
            severity_text: text.clone(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.clone())) }),
            trace_id: trace.clone(),
            attributes: attrs.iter().map(|(k, v)| KeyValue { key: k.clone(), value: Some(AnyValue { value: Some(any_value::Value::IntValue(*v)) }) }).collect(),
            ..Default::default()
        }).collect();
        let request = ExportLogsServiceRequest { resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![KeyValue { key: "service.name".into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(service.clone())) }) }], dropped_attributes_count: 0 }),
            scope_logs: vec![ScopeLogs { scope: None, log_records: proto_records, schema_url: String::new() }],
            schema_url: String::new(),
        }]};
        let from_proto = decode(&request.encode_to_vec(), OtlpFormat::Protobuf, None, 1 << 24, 7, true).unwrap();
        let json = serde_json::json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeLogs": [{"logRecords": records.iter().map(|(time, severity, text, body, trace, attrs)| serde_json::json!({
                "timeUnixNano": time.to_string(),
                "severityNumber": severity,
                "severityText": text,
                "body": {"stringValue": body},
                "traceId": to_hex(trace),
                "attributes": attrs.iter().map(|(k, v)| serde_json::json!({"key": k, "value": {"intValue": v.to_string()}})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()}],
        }]});
        let from_json = decode(json.to_string().as_bytes(), OtlpFormat::Json, None, 1 << 24, 7, true).unwrap();
        prop_assert_eq!(from_proto, from_json);
    }
}
