//! IANA time zones for calendar periods, read from the system's tz database (TZif files
//! under `$TZDIR` or `/usr/share/zoneinfo`): the UTC offset as a step function of time,
//! from 2020 to the end of the file's explicit transitions (2037 in "fat" TZif files).

use std::path::PathBuf;

/// A zone's UTC offsets: `base` from 2020-01-01, then `(utc_seconds, offset)` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTable {
    /// IANA name.
    pub name: String,
    /// Offset (seconds east of UTC) in effect on 2020-01-01.
    pub base: i64,
    /// Later transitions: from this UTC time (s) on, this offset applies.
    pub transitions: Vec<(i64, i64)>,
}

/// 2020-01-01T00:00:00Z.
const FROM: i64 = 1_577_836_800;

impl ZoneTable {
    /// Reads `name` (e.g. `Europe/Paris`) from the tz database.
    pub fn load(name: &str) -> Result<ZoneTable, String> {
        if name.is_empty()
            || name.contains("..")
            || name.starts_with('/')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        {
            return Err(format!("time zone {name:?} is not an IANA zone name"));
        }
        let dir = std::env::var_os("TZDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
        let path = dir.join(name);
        let data = std::fs::read(&path).map_err(|err| {
            format!(
                "time zone {name:?}: cannot read {} ({err}); use a fixed offset such as +02:00 or install the tz database (tzdata)",
                path.display()
            )
        })?;
        parse_tzif(name, &data)
            .ok_or_else(|| format!("time zone {name:?}: {} is not a TZif file", path.display()))
    }

    /// A PromQL scalar expression of the offset at `time()`.
    pub fn promql_offset(&self) -> String {
        let mut out = self.base.to_string();
        let mut prev = self.base;
        for (t, off) in &self.transitions {
            let delta = off - prev;
            prev = *off;
            if delta != 0 {
                out.push_str(&format!(" + (time() >= bool {t}) * {delta}"));
            }
        }
        out
    }
}

fn parse_tzif(name: &str, data: &[u8]) -> Option<ZoneTable> {
    let header = |at: usize| -> Option<(u8, [usize; 6])> {
        if data.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let version = *data.get(at + 4)?;
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            let b = data.get(at + 20 + 4 * i..at + 24 + 4 * i)?;
            *slot = u32::from_be_bytes(b.try_into().ok()?) as usize;
        }
        Some((version, c))
    };
    // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let (version, c) = header(0)?;
    let (start, time_size, c) = if version >= b'2' {
        let v1_len = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
        let (_, c2) = header(v1_len)?;
        (v1_len + 44, 8, c2)
    } else {
        (44, 4, c)
    };
    let times_at = start;
    let idx_at = times_at + c[3] * time_size;
    let types_at = idx_at + c[3];
    let read_time = |i: usize| -> Option<i64> {
        let b = data.get(times_at + i * time_size..times_at + (i + 1) * time_size)?;
        Some(if time_size == 8 {
            i64::from_be_bytes(b.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(b.try_into().ok()?))
        })
    };
    let offset_of = |ty: usize| -> Option<i64> {
        let b = data.get(types_at + ty * 6..types_at + ty * 6 + 4)?;
        Some(i64::from(i32::from_be_bytes(b.try_into().ok()?)))
    };
    if c[4] == 0 {
        return None;
    }
    let mut base = offset_of(0)?;
    let mut transitions = Vec::new();
    for i in 0..c[3] {
        let t = read_time(i)?;
        let off = offset_of(usize::from(*data.get(idx_at + i)?))?;
        if t <= FROM {
            base = off;
        } else {
            transitions.push((t, off));
        }
    }
    Some(ZoneTable {
        name: name.to_string(),
        base,
        transitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_system_tz_database_or_says_why_not() {
        match ZoneTable::load("Europe/Paris") {
            Ok(z) => {
                assert_eq!(z.base, 3600);
                // 2020-03-29 01:00 UTC: CEST starts.
                assert_eq!(z.transitions[0], (1_585_443_600, 7200));
                assert!(
                    z.promql_offset()
                        .starts_with("3600 + (time() >= bool 1585443600) * 3600 + (time() >= bool 1603587600) * -3600"),
                    "{}",
                    z.promql_offset()
                );
            }
            Err(e) => assert!(e.contains("cannot read"), "{e}"),
        }
        assert!(ZoneTable::load("../etc/passwd").is_err());
        assert!(
            ZoneTable::load("Nowhere/Atlantis")
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
