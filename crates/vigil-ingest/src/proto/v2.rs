//! Remote write 2.0: `io.prometheus.write.v2.Request` and the types it uses.
//!
//! Strings are interned: every label name and value, help text and unit is an index
//! (`*_ref`) into [`Request::symbols`], whose first entry is always `""`.

/// `io.prometheus.write.v2.Request`: the body of a remote write 2.0 request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The symbol table every `*_ref` points into; `symbols[0]` is `""` (fields 1 to 3 are
    /// reserved upstream so a 1.0 body decodes as an empty 2.0 request).
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series of this request.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// `io.prometheus.write.v2.TimeSeries`: one series with its samples or histograms.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Label name/value pairs as symbol indexes: `[name0, value0, name1, value1, ...]`.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples, oldest first.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars attached to the samples.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// Type, help and unit of the series (field 6, the old created timestamp, is reserved).
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
}

/// `io.prometheus.write.v2.Exemplar`: an example observation attached to a series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// The exemplar's label pairs as symbol indexes; may be empty.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `io.prometheus.write.v2.Sample`: one float sample.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The sample value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// When the counter started counting (ms), 0 when unknown.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// `io.prometheus.write.v2.Metadata`: type, help and unit of a series.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Metadata {
    /// The metric type.
    #[prost(enumeration = "metadata::MetricType", tag = "1")]
    pub r#type: i32,
    /// Symbol index of the help text (0 for none).
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Symbol index of the unit (0 for none).
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// Nested types of [`Metadata`].
pub mod metadata {
    /// `io.prometheus.write.v2.Metadata.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// No type given.
        Unspecified = 0,
        /// A counter.
        Counter = 1,
        /// A gauge.
        Gauge = 2,
        /// A histogram.
        Histogram = 3,
        /// A gauge histogram.
        Gaugehistogram = 4,
        /// A summary.
        Summary = 5,
        /// An info metric.
        Info = 6,
        /// A state set.
        Stateset = 7,
    }
}

/// `io.prometheus.write.v2.Histogram`: one native histogram sample.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Count of observations.
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Bucket schema: -4..=8 for exponential buckets, -53 for custom buckets.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Breadth of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Count in the zero bucket.
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    /// Spans of the negative buckets.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket counts as deltas to the previous bucket (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket counts as absolute values (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Spans of the positive buckets.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket counts as deltas to the previous bucket (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket counts as absolute values (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Whether a counter reset happened before this sample.
    #[prost(enumeration = "histogram::ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Upper bounds of custom buckets (schema -53).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
    /// When the histogram started counting (ms), 0 when unknown.
    #[prost(int64, tag = "17")]
    pub start_timestamp: i64,
}

/// Nested types of [`Histogram`].
pub mod histogram {
    /// The observation count, integer or float.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        /// Count of an integer histogram.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Count of a float histogram.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// The zero bucket count, integer or float.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        /// Zero bucket count of an integer histogram.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Zero bucket count of a float histogram.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }

    /// `io.prometheus.write.v2.Histogram.ResetHint`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResetHint {
        /// The receiver must detect counter resets itself.
        Unspecified = 0,
        /// This is the first histogram after a counter reset.
        Yes = 1,
        /// No counter reset since the previous histogram.
        No = 2,
        /// A gauge histogram, where counter resets do not apply.
        Gauge = 3,
    }
}

/// `io.prometheus.write.v2.BucketSpan`: a run of consecutive buckets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the start index for the first span.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}
