//! Vigil's shared data model.
//!
//! Owns the plain value types every other crate speaks: [`Labels`], [`Matcher`],
//! [`Sample`], [`LogEntry`], [`TenantId`], [`TimeRange`], [`LogTimeRange`], [`MetricMetadata`] and the Prometheus
//! duration/timestamp conventions. This crate is a leaf: it performs no I/O, does not
//! use tokio and must not depend on any other Vigil crate.

mod duration;
mod error;
mod labels;
mod log;
mod matcher;
mod metadata;
mod sample;
mod tenant;

pub use duration::{format_duration_ms, parse_duration_ms};
pub use error::ModelError;
pub use labels::{Label, Labels, METRIC_NAME, is_valid_label_name, is_valid_metric_name};
pub use log::{Direction, LogEntry, LogTimeRange};
pub use matcher::{MatchOp, Matcher};
pub use metadata::{MetricMetadata, MetricType};
pub use sample::{STALE_NAN_BITS, Sample, TimeRange, is_stale_nan, stale_nan};
pub use tenant::TenantId;
