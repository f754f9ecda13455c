//! The normalized SLO model every input format is read into.

use std::collections::BTreeMap;
use std::fmt;

use crate::decimal::Decimal;

/// Which input format an SLO came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// Vigil's native form, `version: vigil/v1`.
    Native,
    /// Sloth's `version: prometheus/v1`.
    Sloth,
    /// OpenSLO v1 (`apiVersion: openslo/v1`).
    OpenSlo,
}

impl SpecFormat {
    /// The version string written into `sloth_slo_info{sloth_spec}`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecFormat::Native => "vigil/v1",
            SpecFormat::Sloth => "prometheus/v1",
            SpecFormat::OpenSlo => "openslo/v1",
        }
    }
}

/// How the per-slice counts of an SLI are obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum SliSource {
    /// PromQL expressions returning one series each: the number of events (or a quantity
    /// proportional to it) in the slice that just ended.
    Promql {
        /// All events in the slice.
        total: String,
        /// Bad events, or good events to subtract from `total`.
        bad: BadEvents,
        /// True when the slice counts are exact (counter-reset-aware differences of the
        /// counters' samples, see the crate docs); false when a user query had to be
        /// evaluated over the slice as written (extrapolated `rate`/`increase`).
        exact: bool,
    },
    /// LogQL metric queries returning one series each: log lines in the slice.
    Logql {
        /// All lines.
        total: String,
        /// Bad lines.
        bad: String,
    },
    /// A PromQL expression that is the error ratio over the slice (Sloth's raw SLI,
    /// OpenSLO's `raw`): budgets can only be time-weighted.
    RawRatio {
        /// Error ratio over the slice, in `[0, 1]`.
        error_ratio: String,
    },
}

/// The numerator of an events SLI.
#[derive(Debug, Clone, PartialEq)]
pub enum BadEvents {
    /// Bad events per slice.
    Errors(String),
    /// Good events per slice (bad = total - good, clamped at 0).
    Good(String),
}

/// The SLO period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A rolling window of this many milliseconds.
    Rolling(i64),
    /// A calendar period that resets at its start in a time zone.
    Calendar(Calendar),
}

/// A calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// Week or month.
    pub unit: CalendarUnit,
    /// Seconds to add to UTC to get local time (a fixed offset; with an IANA zone, added to
    /// the zone's offset), minus the boundary's time of day when the period does not start
    /// at midnight.
    pub utc_offset_s: i64,
    /// First day of the week for weekly periods (0 = Sunday … 6 = Saturday, as PromQL's
    /// `day_of_week()`).
    pub week_start: u8,
}

/// Unit of a calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    /// Weeks.
    Week,
    /// Calendar months.
    Month,
}

impl Period {
    /// Nominal length (a calendar month counts as 30 days), for scaling alert windows.
    pub fn nominal_ms(self) -> i64 {
        match self {
            Period::Rolling(ms) => ms,
            Period::Calendar(c) => match c.unit {
                CalendarUnit::Week => 7 * DAY_MS,
                CalendarUnit::Month => 30 * DAY_MS,
            },
        }
    }

    /// The suffix of the period's metric name and `sloth_window` value: `30d`, `calendar_month`.
    pub fn window_name(self) -> String {
        match self {
            Period::Rolling(ms) => window_name(ms),
            Period::Calendar(c) => match c.unit {
                CalendarUnit::Week => "calendar_week".into(),
                CalendarUnit::Month => "calendar_month".into(),
            },
        }
    }
}

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// A window length as Sloth names it: whole days as `Nd`, else Prometheus' duration format.
pub fn window_name(ms: i64) -> String {
    if ms % DAY_MS == 0 {
        format!("{}d", ms / DAY_MS)
    } else {
        vigil_model::format_duration_ms(ms)
    }
}

/// How the error budget is counted.
#[derive(Debug, Clone, PartialEq)]
pub enum Budgeting {
    /// Bad events / all events (traffic-weighted).
    Occurrences,
    /// Bad slices / all slices with data; a slice is bad when its good ratio is below
    /// `slice_target` (a fraction).
    Timeslices {
        /// Good ratio a slice needs to be good, as a fraction in `(0, 1]`.
        slice_target: Decimal,
    },
    /// The mean of the slices' error ratios.
    RatioTimeslices,
}

impl Budgeting {
    /// Name as in OpenSLO.
    pub fn as_str(&self) -> &'static str {
        match self {
            Budgeting::Occurrences => "Occurrences",
            Budgeting::Timeslices { .. } => "Timeslices",
            Budgeting::RatioTimeslices => "RatioTimeslices",
        }
    }
}

/// Severity class of an alert tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Wake someone up.
    Page,
    /// Look at it soon.
    Ticket,
}

impl Severity {
    /// `page` or `ticket` (the `sloth_severity` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One multi-window burn-rate condition: the error ratio over both windows must exceed
/// `factor × error budget`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Page or ticket.
    pub severity: Severity,
    /// Long window (ms).
    pub long_ms: i64,
    /// Short window (ms).
    pub short_ms: i64,
    /// Burn-rate factor.
    pub factor: Decimal,
}

/// Labels and annotations of one alert, and whether it is generated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertSpec {
    /// Not generated when true.
    pub disable: bool,
    /// Alert name (empty: use the default).
    pub name: String,
    /// `for:` (ms).
    pub for_ms: i64,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Alerting of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// Name of the burn-rate alerts (page and ticket share it, as in Sloth).
    pub name: String,
    /// Labels of every alert of the SLO.
    pub labels: BTreeMap<String, String>,
    /// Annotations of every alert of the SLO.
    pub annotations: BTreeMap<String, String>,
    /// The page alert.
    pub page: AlertSpec,
    /// The ticket alert.
    pub ticket: AlertSpec,
    /// Burn-rate tiers (each belongs to the page or the ticket alert).
    pub tiers: Vec<Tier>,
    /// Low-traffic guard: a tier only fires with at least this many events in its long window.
    pub min_events: u64,
    /// Alert when the SLI's metrics are absent (the no-data policy).
    pub no_data: AlertSpec,
    /// Alert when the period's error budget is used up.
    pub budget_exhausted: AlertSpec,
}

/// One SLO, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// File it was read from.
    pub file: String,
    /// Input format.
    pub format: SpecFormat,
    /// Service.
    pub service: String,
    /// SLO name, unique within the service.
    pub name: String,
    /// `<service>-<name>` (Sloth's `sloth_id`).
    pub id: String,
    /// Description.
    pub description: String,
    /// Objective in percent, in `(0, 100)`.
    pub objective_percent: Decimal,
    /// Where the per-slice counts come from.
    pub sli: SliSource,
    /// A short name of the SLI kind (`events`, `latency`, `native_latency`, `logql`, `raw`,
    /// `queries`) for metadata.
    pub sli_kind: &'static str,
    /// The period.
    pub period: Period,
    /// Budgeting method.
    pub budgeting: Budgeting,
    /// Slice length (ms): the evaluation interval of the slice recordings.
    pub slice_ms: i64,
    /// Labels added to every generated series (spec labels, then SLO labels).
    pub labels: BTreeMap<String, String>,
    /// Alerting.
    pub alerting: Alerting,
    /// IANA time zone of a calendar period (then `Calendar::utc_offset_s` is only the
    /// period start's time of day, negated).
    pub zone: Option<crate::zone::ZoneTable>,
}

impl Slo {
    /// The error budget as a fraction (`1 - objective`), exactly.
    pub fn error_budget(&self) -> Decimal {
        Decimal::from_int(100)
            .checked_sub(self.objective_percent)
            .unwrap_or(Decimal::from_int(0))
            .shift_down(2)
    }

    /// The objective as a fraction.
    pub fn objective_ratio(&self) -> Decimal {
        self.objective_percent.shift_down(2)
    }
}

/// A problem in a spec file: file, SLO (when known), field (when known) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file.
    pub file: String,
    /// `line:col` when known.
    pub position: Option<(usize, usize)>,
    /// SLO name when known.
    pub slo: Option<String>,
    /// Field path (`slos[0].sli.events.total`) when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(slo) = &self.slo {
            write!(f, "slo {slo:?}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field {field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}
