use serde::{Deserialize, Serialize};

/// The type of a metric family, as Prometheus exposition and remote_write carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// No type was given.
    Unknown,
    /// A monotonically increasing counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A classic or native histogram.
    Histogram,
    /// A histogram with buckets of variable width (gauge histogram).
    Gaugehistogram,
    /// A summary with quantiles.
    Summary,
    /// An info metric.
    Info,
    /// A state set.
    Stateset,
}

impl MetricType {
    /// Maps the remote_write protobuf enum value to a type; unknown numbers map to `Unknown`.
    pub fn from_proto(value: i32) -> Self {
        match value {
            1 => Self::Counter,
            2 => Self::Gauge,
            3 => Self::Histogram,
            4 => Self::Gaugehistogram,
            5 => Self::Summary,
            6 => Self::Info,
            7 => Self::Stateset,
            _ => Self::Unknown,
        }
    }

    /// The remote_write protobuf enum value of this type.
    pub fn to_proto(self) -> i32 {
        match self {
            Self::Unknown => 0,
            Self::Counter => 1,
            Self::Gauge => 2,
            Self::Histogram => 3,
            Self::Gaugehistogram => 4,
            Self::Summary => 5,
            Self::Info => 6,
            Self::Stateset => 7,
        }
    }

    /// The lowercase name Prometheus' `/api/v1/metadata` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Gaugehistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::Stateset => "stateset",
        }
    }
}

/// Type, help and unit of one metric family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetricMetadata {
    /// The metric family's type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// The help text.
    pub help: String,
    /// The unit, often empty.
    pub unit: String,
}
