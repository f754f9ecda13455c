//! The TSDB's WAL record types: how series, samples and metadata are encoded into the byte
//! records of `vigil-wal`, and decoded on replay. Layout: `docs/format/wal.md` (TSDB records).

use vigil_model::{Label, Labels, MetricMetadata, MetricType, TenantId};

use crate::TsdbError;

const RECORD_SERIES: u8 = 1;
const RECORD_SAMPLES: u8 = 2;
const RECORD_METADATA: u8 = 3;

/// One decoded TSDB WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WalRecord {
    /// New series of a tenant with their head-local ids.
    Series {
        tenant: TenantId,
        series: Vec<(u32, Labels)>,
    },
    /// Float samples: (series id, timestamp ms, value).
    Samples {
        tenant: TenantId,
        samples: Vec<(u32, i64, f64)>,
    },
    /// Metadata of one metric family.
    Metadata {
        tenant: TenantId,
        family: String,
        metadata: MetricMetadata,
    },
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn encode_series(tenant: &TenantId, series: &[(u32, Labels)]) -> Vec<u8> {
    let mut out = vec![RECORD_SERIES];
    put_str(&mut out, tenant.as_str());
    put_uvarint(&mut out, series.len() as u64);
    for (id, labels) in series {
        put_uvarint(&mut out, u64::from(*id));
        put_uvarint(&mut out, labels.len() as u64);
        for label in labels {
            put_str(&mut out, &label.name);
            put_str(&mut out, &label.value);
        }
    }
    out
}

pub(crate) fn encode_samples(tenant: &TenantId, samples: &[(u32, i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + samples.len() * 20);
    out.push(RECORD_SAMPLES);
    put_str(&mut out, tenant.as_str());
    put_uvarint(&mut out, samples.len() as u64);
    for (id, timestamp_ms, value) in samples {
        put_uvarint(&mut out, u64::from(*id));
        out.extend_from_slice(&timestamp_ms.to_le_bytes());
        out.extend_from_slice(&value.to_bits().to_le_bytes());
    }
    out
}

pub(crate) fn encode_metadata(
    tenant: &TenantId,
    family: &str,
    metadata: &MetricMetadata,
) -> Vec<u8> {
    let mut out = vec![RECORD_METADATA];
    put_str(&mut out, tenant.as_str());
    put_str(&mut out, family);
    out.push(metadata.metric_type.to_proto() as u8);
    put_str(&mut out, &metadata.help);
    put_str(&mut out, &metadata.unit);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> TsdbError {
        TsdbError::CorruptRecord(format!("{what} at byte {}", self.pos))
    }

    fn u8(&mut self) -> Result<u8, TsdbError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.corrupt("truncated byte"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn uvarint(&mut self) -> Result<u64, TsdbError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.corrupt("varint too long"))
    }

    fn len(&mut self) -> Result<usize, TsdbError> {
        let len = self.uvarint()?;
        let remaining = (self.bytes.len() - self.pos) as u64;
        if len > remaining {
            return Err(self.corrupt("length beyond record end"));
        }
        Ok(len as usize)
    }

    fn u32_id(&mut self) -> Result<u32, TsdbError> {
        u32::try_from(self.uvarint()?).map_err(|_| self.corrupt("series id out of range"))
    }

    fn fixed8(&mut self) -> Result<[u8; 8], TsdbError> {
        let end = self.pos + 8;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.corrupt("truncated fixed64"))?;
        self.pos = end;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(slice);
        Ok(buf)
    }

    fn string(&mut self) -> Result<&'a str, TsdbError> {
        let len = self.len()?;
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        std::str::from_utf8(slice).map_err(|_| self.corrupt("invalid utf-8"))
    }

    fn tenant(&mut self) -> Result<TenantId, TsdbError> {
        let raw = self.string()?;
        TenantId::new(raw).map_err(|err| TsdbError::CorruptRecord(err.to_string()))
    }
}

/// Decodes one record; unknown record types and malformed bytes are errors.
pub(crate) fn decode(bytes: &[u8]) -> Result<WalRecord, TsdbError> {
    let mut reader = Reader { bytes, pos: 0 };
    match reader.u8()? {
        RECORD_SERIES => {
            let tenant = reader.tenant()?;
            let count = reader.len()?;
            let mut series = Vec::with_capacity(count);
            for _ in 0..count {
                let id = reader.u32_id()?;
                let label_count = reader.len()?;
                let mut labels = Vec::with_capacity(label_count);
                for _ in 0..label_count {
                    let name = reader.string()?.to_string();
                    let value = reader.string()?.to_string();
                    labels.push(Label { name, value });
                }
                let labels = Labels::from_unsorted_unique(labels)
                    .map_err(|err| TsdbError::CorruptRecord(err.to_string()))?;
                series.push((id, labels));
            }
            Ok(WalRecord::Series { tenant, series })
        }
        RECORD_SAMPLES => {
            let tenant = reader.tenant()?;
            let count = reader.len()?;
            let mut samples = Vec::with_capacity(count);
            for _ in 0..count {
                let id = reader.u32_id()?;
                let timestamp_ms = i64::from_le_bytes(reader.fixed8()?);
                let value = f64::from_bits(u64::from_le_bytes(reader.fixed8()?));
                samples.push((id, timestamp_ms, value));
            }
            Ok(WalRecord::Samples { tenant, samples })
        }
        RECORD_METADATA => {
            let tenant = reader.tenant()?;
            let family = reader.string()?.to_string();
            let metric_type = MetricType::from_proto(i32::from(reader.u8()?));
            let help = reader.string()?.to_string();
            let unit = reader.string()?.to_string();
            Ok(WalRecord::Metadata {
                tenant,
                family,
                metadata: MetricMetadata {
                    metric_type,
                    help,
                    unit,
                },
            })
        }
        other => Err(TsdbError::CorruptRecord(format!(
            "unknown record type {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn records_round_trip() {
        let tenant = TenantId::new("t1").unwrap();
        let labels = Labels::from_static(&[("__name__", "up"), ("job", "a")]);
        let series = encode_series(&tenant, &[(7, labels.clone())]);
        assert_eq!(
            decode(&series).unwrap(),
            WalRecord::Series {
                tenant: tenant.clone(),
                series: vec![(7, labels)]
            }
        );
        let md = MetricMetadata {
            metric_type: MetricType::Counter,
            help: "h".into(),
            unit: "seconds".into(),
        };
        let rec = encode_metadata(&tenant, "up", &md);
        assert_eq!(
            decode(&rec).unwrap(),
            WalRecord::Metadata {
                tenant,
                family: "up".into(),
                metadata: md
            }
        );
    }

    proptest! {
        #[test]
        fn samples_round_trip_bit_exact(samples in proptest::collection::vec((any::<u32>(), any::<i64>(), any::<u64>()), 0..50)) {
            let tenant = TenantId::new("t").unwrap();
            let input: Vec<(u32, i64, f64)> = samples.iter().map(|(id, t, v)| (*id, *t, f64::from_bits(*v))).collect();
            let WalRecord::Samples { samples: out, .. } = decode(&encode_samples(&tenant, &input)).unwrap() else {
                panic!("wrong record type");
            };
            let bits = |v: &[(u32, i64, f64)]| v.iter().map(|(a, b, c)| (*a, *b, c.to_bits())).collect::<Vec<_>>();
            prop_assert_eq!(bits(&out), bits(&input));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
