use crate::remote_write::{
    EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, SAMPLES_WRITTEN_HEADER,
};

/// What one remote write request wrote and what it rejected.
///
/// Returned as `Ok` when everything was accepted, and inside
/// [`IngestError::Partial`](crate::IngestError::Partial) when the valid part was committed but
/// some items were rejected. The written counts feed the remote write 2.0 response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Float samples committed.
    pub samples_written: u64,
    /// Native histogram samples committed; always 0 until Vigil stores native histograms.
    pub histograms_written: u64,
    /// Exemplars committed; always 0 until Vigil stores exemplars.
    pub exemplars_written: u64,
    /// Distinct metadata records committed.
    pub metadata_written: u64,
    /// Series the commit created, as storage reports it.
    pub new_series: u64,
    /// Float samples not written (invalid series, append errors, limits).
    pub samples_rejected: u64,
    /// Native histogram samples not written.
    pub histograms_rejected: u64,
    /// Exemplars received and dropped without error, since they are not stored yet.
    pub exemplars_dropped: u64,
    /// Metadata records not written.
    pub metadata_rejected: u64,
    /// Items rejected because a per-tenant limit was reached; any makes the answer 429.
    pub over_limit: u64,
    /// The first rejection messages (at most `max_errors_reported`), most important first.
    pub rejected: Vec<String>,
    /// Number of rejection messages, including those beyond `rejected`: one per invalid series,
    /// rejected sample or rejected metadata record, plus one for all native histograms.
    pub rejected_count: u64,
}

impl WriteOutcome {
    /// True when nothing was rejected (dropped exemplars do not count as rejections).
    pub fn is_fully_accepted(&self) -> bool {
        self.rejected_count == 0
    }

    /// The remote write 2.0 response headers and their values, to be set on every answer to
    /// a 2.0 request (Prometheus treats a 2.0 answer without them as a 1.0-only receiver).
    pub fn response_headers(&self) -> [(&'static str, u64); 3] {
        [
            (SAMPLES_WRITTEN_HEADER, self.samples_written),
            (HISTOGRAMS_WRITTEN_HEADER, self.histograms_written),
            (EXEMPLARS_WRITTEN_HEADER, self.exemplars_written),
        ]
    }

    /// The rejection messages on one line: Prometheus logs only the first line of an error body.
    pub(crate) fn rejection_message(&self) -> String {
        let reported = self.rejected.len() as u64;
        if reported == 0 {
            return format!("{} items rejected", self.rejected_count);
        }
        let mut message = self.rejected.join("; ");
        let unreported = self.rejected_count.saturating_sub(reported);
        if unreported > 0 {
            message.push_str(&format!("; and {unreported} more errors"));
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_message_joins_on_one_line_and_counts_the_rest() {
        let outcome = WriteOutcome {
            rejected: vec!["first".into(), "second".into()],
            rejected_count: 5,
            ..WriteOutcome::default()
        };
        assert_eq!(
            outcome.rejection_message(),
            "first; second; and 3 more errors"
        );
        let silent = WriteOutcome {
            rejected_count: 2,
            ..WriteOutcome::default()
        };
        assert_eq!(silent.rejection_message(), "2 items rejected");
        assert!(WriteOutcome::default().is_fully_accepted());
    }
}
