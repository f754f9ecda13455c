//! The append stage: validated series, samples and metadata into one appender, with every
//! rejection counted and the first ones kept as messages.

use std::collections::HashSet;

use vigil_model::{Labels, MetricMetadata, Sample, is_valid_metric_name};
use vigil_storage::{AppendError, AppendErrorKind, Appender};

use crate::remote_write::RemoteWriteOptions;
use crate::remote_write::outcome::WriteOutcome;
use crate::remote_write::series::validate_series_labels;

/// How many series the native histogram rejection message names.
const HISTOGRAM_SERIES_REPORTED: usize = 3;

/// Feeds one request into an appender and tallies the [`WriteOutcome`].
pub(crate) struct BatchWriter {
    appender: Box<dyn Appender>,
    outcome: WriteOutcome,
    max_errors_reported: usize,
    /// Histogram samples of valid series, rejected only because they are not supported.
    unsupported_histograms: u64,
    histogram_series: Vec<String>,
    /// Metadata already appended in this request: most senders repeat it per series.
    metadata_seen: HashSet<(String, MetricMetadata)>,
}

impl BatchWriter {
    pub(crate) fn new(appender: Box<dyn Appender>, options: &RemoteWriteOptions) -> Self {
        Self {
            appender,
            outcome: WriteOutcome::default(),
            max_errors_reported: options.max_errors_reported,
            unsupported_histograms: 0,
            histogram_series: Vec::new(),
            metadata_seen: HashSet::new(),
        }
    }

    /// Validates one series and appends its samples; returns its labels if the series is valid.
    ///
    /// Histograms and exemplars are only counted: Vigil does not store them yet.
    pub(crate) fn write_series(
        &mut self,
        pairs: Vec<(&str, &str)>,
        samples: impl ExactSizeIterator<Item = Sample>,
        histogram_count: usize,
        exemplar_count: usize,
    ) -> Option<Labels> {
        self.outcome.exemplars_dropped += exemplar_count as u64;
        let labels = match validate_series_labels(pairs) {
            Ok(labels) => labels,
            Err(message) => {
                self.outcome.samples_rejected += samples.len() as u64;
                self.outcome.histograms_rejected += histogram_count as u64;
                self.reject(|| message);
                return None;
            }
        };
        for sample in samples {
            match self.appender.append_sample(&labels, sample) {
                Ok(()) => self.outcome.samples_written += 1,
                Err(err) => {
                    self.outcome.samples_rejected += 1;
                    self.reject_append(&err);
                }
            }
        }
        if histogram_count > 0 {
            self.outcome.histograms_rejected += histogram_count as u64;
            self.unsupported_histograms += histogram_count as u64;
            if self.histogram_series.len() < HISTOGRAM_SERIES_REPORTED {
                self.histogram_series.push(labels.to_string());
            }
        }
        Some(labels)
    }

    /// Appends type/help/unit of a metric family, once per distinct record and request.
    pub(crate) fn write_metadata(&mut self, metric_family: &str, metadata: MetricMetadata) {
        if !is_valid_metric_name(metric_family) {
            self.outcome.metadata_rejected += 1;
            self.reject(|| format!("invalid metric family name {metric_family:?} in metadata"));
            return;
        }
        if !self
            .metadata_seen
            .insert((metric_family.to_string(), metadata.clone()))
        {
            return;
        }
        match self.appender.append_metadata(metric_family, metadata) {
            Ok(()) => self.outcome.metadata_written += 1,
            Err(err) => {
                self.outcome.metadata_rejected += 1;
                self.reject_append(&err);
            }
        }
    }

    /// Ends the append stage: the appender, ready to commit, and the tally so far.
    pub(crate) fn finish(mut self) -> (Box<dyn Appender>, WriteOutcome) {
        if self.unsupported_histograms > 0 {
            // First, so the one message that covers many samples is never cut off.
            let message = format!(
                "native histograms are not supported yet: rejected {} histogram samples (first: {})",
                self.unsupported_histograms,
                self.histogram_series.join(", ")
            );
            self.outcome.rejected_count += 1;
            self.outcome.rejected.insert(0, message);
            self.outcome.rejected.truncate(self.max_errors_reported);
        }
        debug_assert!(self.outcome.rejected.len() <= self.max_errors_reported);
        debug_assert!(self.outcome.rejected.len() as u64 <= self.outcome.rejected_count);
        (self.appender, self.outcome)
    }

    fn reject_append(&mut self, err: &AppendError) {
        if err.kind() == AppendErrorKind::LimitExceeded {
            self.outcome.over_limit += 1;
        }
        self.reject(|| err.to_string());
    }

    /// Counts a rejection; builds its message only while there is room to report it.
    fn reject(&mut self, message: impl FnOnce() -> String) {
        self.outcome.rejected_count += 1;
        if self.outcome.rejected.len() < self.max_errors_reported {
            self.outcome.rejected.push(message());
        }
    }
}
