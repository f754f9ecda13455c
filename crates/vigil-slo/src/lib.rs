//! Vigil's SLOs: spec files → plain Prometheus rule groups with exact, cheap long windows.
//!
//! This crate owns SLO specs — Vigil's native form (`version: vigil/v1`, see [`native`]),
//! Sloth's `version: prometheus/v1` and OpenSLO v1 `SLO`/`SLI`/`DataSource` objects, read
//! unchanged from multi-document YAML — their validation (errors name the file, the SLO and
//! the field), and the generation of recording and alerting rules under Sloth's metric names
//! (`slo:sli_error:ratio_rate5m` … `slo:sli_error:ratio_rate30d`, `slo:objective:ratio`,
//! `slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio`,
//! `slo:period_burn_rate:ratio`, `slo:period_error_budget_remaining:ratio`,
//! `sloth_slo_info`, labels `sloth_id`, `sloth_service`, `sloth_slo`, `sloth_window`,
//! `sloth_severity`) so Sloth dashboards work. [`generate_files`] gives the groups as YAML
//! ([`GeneratedFile::to_yaml`]) or as the rules engine's [`vigil_rules::GroupSpec`]s, plus a
//! [`SloMeta`] per SLO (windows, tiers, metric names) for an API to read state from.
//!
//! It depends on `vigil-model` and on `vigil-rules` (rule-file types, LogQL validation); it
//! must not depend on a storage engine (`vigil-tsdb`, `vigil-logstore`), the HTTP layer
//! (`vigil-api`) or the server.
//!
//! # Slices: how long windows are exact and cheap
//!
//! Every SLO records, once per *slice* (default 1 minute; the slice group's `interval`), the
//! number of events and of bad events in the slice that just ended:
//! `slo:sli_events_total:slice_increase` and `slo:sli_events_error:slice_increase`, one
//! series each per SLO. Every window — 5m … 3d and the 30-day period — is then a ratio of
//! sums of those series, `sum_over_time(errors[W]) / sum_over_time(total[W])`: the period
//! reads one small recorded series per SLO instead of scanning 30 days of raw counters, and
//! it is traffic-weighted (a ratio of counts, not Sloth's mean of 5-minute ratios).
//!
//! **Per-series slice increase.** For a counter series `x` and a slice `(t−s, t]`, let
//! `a = x offset s` and `b = x` (the last samples at or before `t−s` and `t`). The
//! generated expression is `b − a` when `b ≥ a`, and `b + max(0, max_over_time(x[s]) − a)`
//! when `b < a` (a reset: what was gained before the reset plus the value after it). It is
//! not `increase(x[s])`, which extrapolates to the range boundaries: sums of extrapolated
//! increases do not add up to the true increase.
//!
//! **Telescoping.** Slice group evaluations are slotted exactly `s` apart, so the slices
//! `(t_k − s, t_k]` tile time and the `a` of one slice is the `b` of the one before. Without
//! resets the sum over `n` slices is `x(t_n) − x(t_0)`, exactly the counter's increase between
//! the last samples at the two ends; with resets it is the reset-aware sum of consecutive
//! sample differences, which is what `increase()` measures before extrapolation. The window
//! ranges are `W − s/2`, so they hold exactly `W/s` slice samples under both Prometheus 2's
//! left-closed and Prometheus 3's (and Vigil's) left-open range semantics.
//!
//! **Exactness conditions.** (1) Every slice evaluation happens: a missed evaluation loses
//! that slice (backfill can recompute it). (2) At most one reset per series per slice, and a
//! reset counter does not climb back above its pre-reset value within the same slice (else
//! the reset is not seen or part of it is lost) — always true when the slice is no longer
//! than the scrape interval. (3) A new series counts from its first sample on (its first
//! value is the baseline, as in `increase()`): in the slice it appears in, with no sample at
//! the slice's start, it counts `x − min_over_time(x[s])`, what it gained since that first
//! sample, so no partial slice is lost; a series that disappears keeps counting for the
//! 5-minute lookback. (4) Scrape gaps stay under the 5-minute lookback (a longer gap
//! restarts the series' baseline).
//! Sloth-style `rate(sel[{{.window}}])`/`increase(...)` queries are rewritten to this exact
//! form; queries that use their window any other way are evaluated per slice as written and
//! [`SloMeta::exact`] is false. LogQL SLIs count lines with `count_over_time` over each
//! slice (exact counts) in a `language: logql` group that Vigil's ruler runs.
//!
//! **No NaN.** Ratios divide by `(total > 0)`, so 0/0 is *no data* (no sample), never NaN,
//! and the burn-rate and budget series are absent rather than NaN while there is no traffic.
//!
//! **Calendar periods** (week/month; UTC, a fixed UTC offset, or an IANA zone read from the
//! system tz database, whose offset is recorded as `slo:calendar_utc_offset:seconds` — a step
//! function of time from 2020 through the database's last explicit transition, 2037 in fat
//! TZif files, after which the last offset is kept) keep a cumulative sum that
//! the first slice of each period restarts (`slo:sli_period_total:cumulative`,
//! `slo:sli_period_error:cumulative`), read in O(1). **Timeslices** budgeting records 1 per
//! slice with data and 1 per bad slice (`slo:sli_slices_total:slice`,
//! `slo:sli_slices_error:slice`), RatioTimeslices the slice's error ratio, and the same
//! window sums apply.
//!
//! Alerts are the SRE workbook's multi-window multi-burn-rate tiers (page 14.4× over 1h and
//! 5m, page 6× over 6h and 30m, ticket 1× over 3d and 6h; Sloth specs keep Sloth's four
//! tiers), scaled to periods other than 30 days, with an optional minimum-events guard on
//! the long window, a no-data alert and a budget-exhausted alert.

pub mod decimal;
mod generate;
mod load;
pub mod native;
mod openslo;
mod query;
mod sloth;
pub mod spec;
#[cfg(test)]
mod tests;
pub mod zone;

use std::path::Path;

pub use generate::{
    CALENDAR_UTC_OFFSET, EVENTS_ERROR_SLICE, EVENTS_TOTAL_SLICE, GeneratedFile, GeneratedGroup,
    GeneratedRule, GeneratedSlo, MetricNames, PERIOD_ERROR_CUMULATIVE, PERIOD_TOTAL_CUMULATIVE,
    SLICES_ERROR, SLICES_TOTAL, SloMeta, TierMeta, WindowMeta, generate, generate_files,
};
pub use load::{LoadedSpecs, parse_specs};
pub use spec::{Slo, SpecError};

/// Reads and parses spec files from disk (see [`parse_specs`]); an unreadable file is an
/// error naming it.
pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<LoadedSpecs, Vec<SpecError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let name = path.as_ref().display().to_string();
        match std::fs::read_to_string(path.as_ref()) {
            Ok(text) => files.push((name, text)),
            Err(err) => errors.push(SpecError {
                file: name,
                position: None,
                slo: None,
                field: None,
                message: format!("cannot read: {err}"),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    parse_specs(&files)
}
