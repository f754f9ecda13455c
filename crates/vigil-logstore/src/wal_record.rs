//! Log WAL records (layout in `docs/format/log-wal-records.md`): one record per committed
//! batch of one tenant, entries grouped by stream. Checkpoints hold the same records.

use vigil_model::{Labels, LogEntry, TenantId};

use crate::LogStoreError;
use crate::codec::{Reader, Writer};

const RECORD_ENTRIES: u8 = 1;
const VERSION: u8 = 1;

/// One decoded record: a tenant and its entries per stream.
pub(crate) struct EntriesRecord {
    pub(crate) tenant: TenantId,
    pub(crate) streams: Vec<(Labels, Vec<LogEntry>)>,
}

pub(crate) fn encode(tenant: &TenantId, streams: &[(Labels, Vec<LogEntry>)]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(RECORD_ENTRIES);
    w.u8(VERSION);
    w.bytes(tenant.as_str().as_bytes());
    w.u32(streams.len() as u32);
    for (labels, entries) in streams {
        w.labels(labels);
        w.u32(entries.len() as u32);
        for entry in entries {
            w.i64(entry.timestamp_ns);
            w.bytes(entry.line.as_bytes());
            w.labels(&entry.structured_metadata);
        }
    }
    w.buf
}

pub(crate) fn decode(record: &[u8]) -> Result<EntriesRecord, LogStoreError> {
    let mut r = Reader::new(record, "log wal record");
    let kind = r.u8()?;
    if kind != RECORD_ENTRIES {
        return Err(LogStoreError::corrupt(
            "log wal record",
            format!("unknown record type {kind}"),
        ));
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(LogStoreError::corrupt(
            "log wal record",
            format!("unknown version {version}"),
        ));
    }
    let tenant = TenantId::new(&r.string()?)
        .map_err(|err| LogStoreError::corrupt("log wal record", err.to_string()))?;
    let stream_count = r.u32()? as usize;
    let mut streams = Vec::with_capacity(stream_count.min(4096));
    for _ in 0..stream_count {
        let labels = r.labels()?;
        let entry_count = r.u32()? as usize;
        let mut entries = Vec::with_capacity(entry_count.min(65_536));
        for _ in 0..entry_count {
            let timestamp_ns = r.i64()?;
            let line = r.string()?;
            let structured_metadata = r.labels()?;
            entries.push(LogEntry {
                timestamp_ns,
                line,
                structured_metadata,
            });
        }
        streams.push((labels, entries));
    }
    if !r.is_empty() {
        return Err(LogStoreError::corrupt("log wal record", "trailing bytes"));
    }
    Ok(EntriesRecord { tenant, streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let tenant = TenantId::new("t").unwrap();
        let mut entry = LogEntry::new(-5, "line é");
        entry.structured_metadata = Labels::from_static(&[("k", "v")]);
        let streams = vec![(
            Labels::from_static(&[("app", "a")]),
            vec![entry.clone(), LogEntry::new(7, "")],
        )];
        let bytes = encode(&tenant, &streams);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.tenant, tenant);
        assert_eq!(decoded.streams, streams);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[1] = 9;
        assert!(decode(&wrong_version).is_err());
    }
}
