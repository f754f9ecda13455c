/// The bit pattern Prometheus uses to mark a series as stale.
///
/// It is a NaN, so it must be compared by bits, never by value.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as an `f64`.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `value` is exactly the staleness marker (not just any NaN).
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// One float sample of a metric series; the timestamp is in milliseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The sample value; NaN payloads (staleness) are preserved bit-exactly.
    pub value: f64,
}

impl Sample {
    /// Builds a sample.
    pub fn new(timestamp_ms: i64, value: f64) -> Self {
        Self {
            timestamp_ms,
            value,
        }
    }

    /// Compares two samples by timestamp and value bits, so NaNs compare equal to themselves.
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.timestamp_ms == other.timestamp_ms && self.value.to_bits() == other.value.to_bits()
    }
}

impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.bit_eq(other)
    }
}

/// An inclusive time range in milliseconds: `[min_ms, max_ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// Inclusive lower bound, milliseconds since the epoch.
    pub min_ms: i64,
    /// Inclusive upper bound, milliseconds since the epoch.
    pub max_ms: i64,
}

impl TimeRange {
    /// The whole representable time line.
    pub const ALL: TimeRange = TimeRange {
        min_ms: i64::MIN,
        max_ms: i64::MAX,
    };

    /// Builds a range; callers must pass `min_ms <= max_ms` for it to contain anything.
    pub fn new(min_ms: i64, max_ms: i64) -> Self {
        Self { min_ms, max_ms }
    }

    /// True when `t` lies within the range.
    pub fn contains(&self, t: i64) -> bool {
        self.min_ms <= t && t <= self.max_ms
    }

    /// True when the two inclusive ranges share at least one instant.
    pub fn overlaps(&self, min_ms: i64, max_ms: i64) -> bool {
        self.min_ms <= max_ms && min_ms <= self.max_ms
    }
}
