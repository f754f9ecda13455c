//! SLO → Prometheus rule groups (see the crate docs for the slice derivation).

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_model::format_duration_ms;
use vigil_rules::{FileError, GroupSpec, ParseOptions, parse_rule_file};

use crate::decimal::Decimal;
use crate::spec::{
    BadEvents, Budgeting, CalendarUnit, DAY_MS, Period, Severity, SliSource, Slo, window_name,
};

/// Per-slice count of all events (or slices, for raw SLIs), one series per SLO.
pub const EVENTS_TOTAL_SLICE: &str = "slo:sli_events_total:slice_increase";
/// Per-slice count of bad events, one series per SLO (0 when there are none).
pub const EVENTS_ERROR_SLICE: &str = "slo:sli_events_error:slice_increase";
/// Timeslices budgeting: 1 per slice with data.
pub const SLICES_TOTAL: &str = "slo:sli_slices_total:slice";
/// Timeslices budgeting: 1 per bad slice (RatioTimeslices: the slice's error ratio).
pub const SLICES_ERROR: &str = "slo:sli_slices_error:slice";
/// Calendar periods: budget units since the period started.
pub const PERIOD_TOTAL_CUMULATIVE: &str = "slo:sli_period_total:cumulative";
/// Calendar periods: bad budget units since the period started.
pub const PERIOD_ERROR_CUMULATIVE: &str = "slo:sli_period_error:cumulative";

/// Calendar periods in an IANA zone: the zone's UTC offset (seconds) at evaluation time.
pub const CALENDAR_UTC_OFFSET: &str = "slo:calendar_utc_offset:seconds";

/// Windows Sloth records error ratios for (besides the period).
const STANDARD_WINDOWS_MS: &[i64] = &[
    300_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    DAY_MS,
    3 * DAY_MS,
];

/// One generated rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratedRule {
    /// Recorded metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Alert name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// Expression.
    pub expr: String,
    /// `for:` (Prometheus duration).
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One generated group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratedGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval (Prometheus duration); `None` = the global interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// `logql` for LogQL groups (a Vigil extension; promtool rejects the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Rules in evaluation order.
    pub rules: Vec<GeneratedRule>,
}

/// One error-ratio window of an SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowMeta {
    /// `sloth_window` value (`5m`, `1d`, `30d`, `calendar_month`).
    pub name: String,
    /// Length (ms); the nominal length for calendar periods.
    pub ms: i64,
    /// Metric holding the error ratio over the window.
    pub metric: String,
}

/// One burn-rate alert tier of an SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierMeta {
    /// `page` or `ticket`.
    pub severity: String,
    /// Alert name.
    pub alert: String,
    /// Long window.
    pub long: WindowMeta,
    /// Short window.
    pub short: WindowMeta,
    /// Burn-rate factor.
    pub factor: f64,
    /// Error-ratio threshold (`factor × error budget`).
    pub threshold: f64,
    /// Share of the period's budget spent in the long window at this burn rate.
    pub budget_consumed: f64,
}

/// Metric names of an SLO's series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricNames {
    /// Per-slice events.
    pub events_total_slice: String,
    /// Per-slice bad events.
    pub events_error_slice: String,
    /// Per-slice budget units (events, or slices for timeslice budgeting).
    pub budget_total_slice: String,
    /// Per-slice bad budget units.
    pub budget_error_slice: String,
    /// `slo:objective:ratio`.
    pub objective: String,
    /// `slo:error_budget:ratio`.
    pub error_budget: String,
    /// `slo:time_period:days`.
    pub time_period_days: String,
    /// `slo:current_burn_rate:ratio` (5m window).
    pub current_burn_rate: String,
    /// `slo:period_burn_rate:ratio`.
    pub period_burn_rate: String,
    /// `slo:period_error_budget_remaining:ratio`.
    pub period_error_budget_remaining: String,
    /// `sloth_slo_info`.
    pub info: String,
}

/// What a generated SLO looks like: enough for an API to read its state from the TSDB.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloMeta {
    /// `sloth_id`.
    pub id: String,
    /// Service.
    pub service: String,
    /// SLO name.
    pub name: String,
    /// Spec file.
    pub file: String,
    /// Spec format (`vigil/v1`, `prometheus/v1`, `openslo/v1`).
    pub format: String,
    /// Description.
    pub description: String,
    /// SLI kind.
    pub sli_kind: String,
    /// Objective as a ratio.
    pub objective: f64,
    /// Objective in percent, as written.
    pub objective_percent: String,
    /// Error budget as a ratio.
    pub error_budget: f64,
    /// Budgeting method (OpenSLO name).
    pub budgeting: String,
    /// Slice length (ms).
    pub slice_ms: i64,
    /// True when per-slice counts are exact counter differences.
    pub exact: bool,
    /// The period window.
    pub period: WindowMeta,
    /// True for calendar periods.
    pub calendar: bool,
    /// Error-ratio windows (without the period).
    pub windows: Vec<WindowMeta>,
    /// Burn-rate tiers.
    pub tiers: Vec<TierMeta>,
    /// Metric names.
    pub metrics: MetricNames,
    /// Labels selecting this SLO's series (`sloth_id`, `sloth_service`, `sloth_slo`).
    pub selector: BTreeMap<String, String>,
    /// Labels on every series of the SLO.
    pub labels: BTreeMap<String, String>,
    /// Generated group names.
    pub groups: Vec<String>,
    /// Name of the no-data alert, when generated.
    pub no_data_alert: Option<String>,
    /// Name of the budget-exhausted alert, when generated.
    pub budget_exhausted_alert: Option<String>,
}

/// The rules of one SLO and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedSlo {
    /// Groups in order.
    pub groups: Vec<GeneratedGroup>,
    /// Metadata.
    pub meta: SloMeta,
}

/// A generated rule file (the SLOs of one spec file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeneratedFile {
    /// Spec file.
    pub file: String,
    /// Groups of all its SLOs.
    pub groups: Vec<GeneratedGroup>,
    /// Metadata per SLO.
    pub slos: Vec<SloMeta>,
}

#[derive(Serialize)]
struct YamlFile<'a> {
    groups: &'a [GeneratedGroup],
}

impl GeneratedFile {
    /// The rule file as YAML, with a header naming the command that made it.
    pub fn to_yaml(&self) -> String {
        let body = serde_norway::to_string(&YamlFile {
            groups: &self.groups,
        })
        .unwrap_or_else(|err| format!("# cannot render: {err}\n"));
        format!(
            "# Generated by `vigil slo generate {}`; do not edit.\n# Exact slice recordings, Sloth-compatible names: see the vigil-slo crate docs.\n{body}",
            self.file
        )
    }

    /// The groups as the rules engine reads them (LogQL groups included), parsed back from
    /// the YAML so they are exactly what a file would load.
    pub fn to_rule_groups(&self) -> Result<Vec<GroupSpec>, Vec<FileError>> {
        let options = ParseOptions {
            logql: Some(vigil_rules::logql_validator()),
            ignore_unknown_fields: false,
            ..ParseOptions::default()
        };
        parse_rule_file(&self.to_yaml(), &options).map(|f| f.groups)
    }
}

/// Generates the rule files of `slos`, one per spec file, in first-seen file order.
pub fn generate_files(slos: &[Slo]) -> Vec<GeneratedFile> {
    let mut files: Vec<GeneratedFile> = Vec::new();
    for slo in slos {
        let generated = generate(slo);
        let index = match files.iter().position(|f| f.file == slo.file) {
            Some(i) => i,
            None => {
                files.push(GeneratedFile {
                    file: slo.file.clone(),
                    ..GeneratedFile::default()
                });
                files.len() - 1
            }
        };
        files[index].groups.extend(generated.groups);
        files[index].slos.push(generated.meta);
    }
    files
}

fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Range that holds exactly `window / slice` slice samples under both left-closed
/// (Prometheus 2) and left-open (Prometheus 3, Vigil) range semantics.
fn slice_range(window_ms: i64, slice_ms: i64) -> String {
    format_duration_ms(window_ms - slice_ms / 2)
}

/// Generates one SLO's groups and metadata.
pub fn generate(slo: &Slo) -> GeneratedSlo {
    let s = slo.slice_ms;
    let slice = format_duration_ms(s);
    let budget = slo.error_budget();
    let selector: BTreeMap<String, String> = [
        ("sloth_id".to_string(), slo.id.clone()),
        ("sloth_service".to_string(), slo.service.clone()),
        ("sloth_slo".to_string(), slo.name.clone()),
    ]
    .into();
    let sel = format!(
        "{{sloth_id={}, sloth_service={}, sloth_slo={}}}",
        quote(&slo.id),
        quote(&slo.service),
        quote(&slo.name)
    );
    let mut labels = slo.labels.clone();
    labels.extend(selector.clone());
    let record = |name: &str, expr: String, extra: &[(&str, String)]| {
        let mut l = labels.clone();
        for (k, v) in extra {
            l.insert((*k).to_string(), v.clone());
        }
        GeneratedRule {
            record: Some(name.to_string()),
            alert: None,
            expr,
            for_: None,
            labels: l,
            annotations: BTreeMap::new(),
        }
    };
    let mut groups = Vec::new();

    // 1. Slices.
    let mut slice_rules = Vec::new();
    let mut exact = true;
    match &slo.sli {
        SliSource::Logql { total, bad } => {
            groups.push(GeneratedGroup {
                name: format!("sloth-slo-logql-slices-{}", slo.id),
                interval: Some(slice.clone()),
                language: Some("logql".into()),
                rules: vec![
                    record(EVENTS_TOTAL_SLICE, total.clone(), &[]),
                    record(EVENTS_ERROR_SLICE, bad.clone(), &[]),
                ],
            });
        }
        SliSource::Promql {
            total,
            bad,
            exact: e,
        } => {
            exact = *e;
            slice_rules.push(record(EVENTS_TOTAL_SLICE, total.clone(), &[]));
            let fallback = format!("(0 * {EVENTS_TOTAL_SLICE}{sel})");
            let error = match bad {
                BadEvents::Errors(q) => format!("{q}\nor on ()\n{fallback}"),
                BadEvents::Good(q) => format!(
                    "clamp_min(\n  {EVENTS_TOTAL_SLICE}{sel}\n  - on ()\n  ({q}\n  or on ()\n  {fallback}),\n  0\n)"
                ),
            };
            slice_rules.push(record(EVENTS_ERROR_SLICE, error, &[]));
        }
        SliSource::RawRatio { error_ratio } => {
            exact = false;
            slice_rules.push(record(
                EVENTS_TOTAL_SLICE,
                format!("(avg({error_ratio}) >= 0) * 0 + 1"),
                &[],
            ));
            slice_rules.push(record(
                EVENTS_ERROR_SLICE,
                format!("clamp_max(avg({error_ratio}) >= 0, 1)"),
                &[],
            ));
        }
    }
    let (unit_total, unit_error) = match &slo.budgeting {
        Budgeting::Occurrences => (EVENTS_TOTAL_SLICE, EVENTS_ERROR_SLICE),
        Budgeting::Timeslices { slice_target } => {
            let max_error = Decimal::from_int(1)
                .checked_sub(*slice_target)
                .unwrap_or(Decimal::from_int(0));
            slice_rules.push(record(
                SLICES_ERROR,
                format!(
                    "{EVENTS_ERROR_SLICE}{sel} / ({EVENTS_TOTAL_SLICE}{sel} > 0) > bool {max_error}"
                ),
                &[],
            ));
            slice_rules.push(record(
                SLICES_TOTAL,
                format!("{SLICES_ERROR}{sel} * 0 + 1"),
                &[],
            ));
            (SLICES_TOTAL, SLICES_ERROR)
        }
        Budgeting::RatioTimeslices => {
            slice_rules.push(record(
                SLICES_ERROR,
                format!("{EVENTS_ERROR_SLICE}{sel} / ({EVENTS_TOTAL_SLICE}{sel} > 0)"),
                &[],
            ));
            slice_rules.push(record(
                SLICES_TOTAL,
                format!("{SLICES_ERROR}{sel} * 0 + 1"),
                &[],
            ));
            (SLICES_TOTAL, SLICES_ERROR)
        }
    };

    // 2. Windows.
    let nominal = slo.period.nominal_ms();
    let period_name = slo.period.window_name();
    let mut window_ms: Vec<i64> = STANDARD_WINDOWS_MS.to_vec();
    for t in &slo.alerting.tiers {
        window_ms.push(t.long_ms);
        window_ms.push(t.short_ms);
    }
    window_ms.retain(|w| *w >= s && w % s == 0 && *w <= nominal);
    window_ms.sort_unstable();
    window_ms.dedup();
    let window_meta = |ms: i64| WindowMeta {
        name: window_name(ms),
        ms,
        metric: format!("slo:sli_error:ratio_rate{}", window_name(ms)),
    };
    let mut windows: Vec<WindowMeta> = window_ms
        .iter()
        .map(|&ms| window_meta(ms))
        .filter(|w| !(matches!(slo.period, Period::Rolling(_)) && w.name == period_name))
        .collect();
    let ratio = |range: &str| {
        format!(
            "sum_over_time({unit_error}{sel}[{range}])\n/\n(sum_over_time({unit_total}{sel}[{range}]) > 0)"
        )
    };
    for w in &windows {
        slice_rules.push(record(
            &w.metric,
            ratio(&slice_range(w.ms, s)),
            &[("sloth_window", w.name.clone())],
        ));
    }
    let period = WindowMeta {
        name: period_name.clone(),
        ms: nominal,
        metric: match slo.period {
            Period::Rolling(_) => format!("slo:sli_error:ratio_rate{period_name}"),
            Period::Calendar(_) => format!("slo:sli_error:ratio_rate_{period_name}"),
        },
    };
    let mut meta_rules = Vec::new();
    let period_days_expr = match slo.period {
        Period::Rolling(ms) => {
            // Cheap: one sum over the period of one recorded series per SLO, read once per
            // slice in the slice group itself, right after the slice it sums is recorded.
            slice_rules.push(record(
                &period.metric,
                ratio(&slice_range(ms, s)),
                &[("sloth_window", period.name.clone())],
            ));
            groups.push(GeneratedGroup {
                name: format!("sloth-slo-sli-recordings-{}", slo.id),
                interval: Some(slice.clone()),
                language: None,
                rules: std::mem::take(&mut slice_rules),
            });
            let days = ms as f64 / DAY_MS as f64;
            format!("vector({days})")
        }
        Period::Calendar(c) => {
            let fixed = match c.utc_offset_s {
                0 => String::new(),
                o if o > 0 => format!(" + {o}"),
                o => format!(" - {}", -o),
            };
            let shifted = match &slo.zone {
                None => format!("vector(time(){fixed})"),
                Some(zone) => {
                    // The zone's offset as a step function of time, recorded first in the
                    // slice group so the other rules read it as one series.
                    slice_rules.insert(
                        0,
                        record(
                            CALENDAR_UTC_OFFSET,
                            format!("vector({})", zone.promql_offset()),
                            &[("time_zone", zone.name.clone())],
                        ),
                    );
                    format!("vector(time(){fixed} + scalar({CALENDAR_UTC_OFFSET}{sel}))")
                }
            };
            let day_test = match c.unit {
                CalendarUnit::Month => format!("(day_of_month({shifted}) == 1)"),
                CalendarUnit::Week => format!("(day_of_week({shifted}) == {})", c.week_start),
            };
            let first_slice = format!("{day_test} and on () ({shifted} % 86400 < {})", s / 1000);
            for (name, unit) in [
                (PERIOD_TOTAL_CUMULATIVE, unit_total),
                (PERIOD_ERROR_CUMULATIVE, unit_error),
            ] {
                slice_rules.push(record(
                    name,
                    format!(
                        "{unit}{sel}\n+ on ()\n(\n  ({name}{sel} unless on () ({first_slice}))\n  or on ()\n  (0 * {unit}{sel})\n)"
                    ),
                    &[],
                ));
            }
            slice_rules.push(record(
                &period.metric,
                format!("{PERIOD_ERROR_CUMULATIVE}{sel}\n/\n({PERIOD_TOTAL_CUMULATIVE}{sel} > 0)"),
                &[("sloth_window", period.name.clone())],
            ));
            groups.push(GeneratedGroup {
                name: format!("sloth-slo-sli-recordings-{}", slo.id),
                interval: Some(slice.clone()),
                language: None,
                rules: std::mem::take(&mut slice_rules),
            });
            match c.unit {
                CalendarUnit::Month => format!("days_in_month({shifted})"),
                CalendarUnit::Week => "vector(7)".into(),
            }
        }
    };

    // 3. Metadata recordings (Sloth's names).
    let objective = slo.objective_ratio();
    meta_rules.push(record(
        "slo:objective:ratio",
        format!("vector({objective})"),
        &[],
    ));
    meta_rules.push(record(
        "slo:error_budget:ratio",
        format!("vector({budget})"),
        &[],
    ));
    meta_rules.push(record("slo:time_period:days", period_days_expr, &[]));
    let five = windows
        .iter()
        .find(|w| w.ms == 300_000)
        .or(windows.first())
        .map(|w| w.metric.clone())
        .unwrap_or_else(|| period.metric.clone());
    let per_budget = |metric: &str| {
        format!(
            "{metric}{sel}\n/ on (sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{sel}"
        )
    };
    meta_rules.push(record(
        "slo:current_burn_rate:ratio",
        per_budget(&five),
        &[],
    ));
    meta_rules.push(record(
        "slo:period_burn_rate:ratio",
        per_budget(&period.metric),
        &[],
    ));
    meta_rules.push(record(
        "slo:period_error_budget_remaining:ratio",
        format!("1 - slo:period_burn_rate:ratio{sel}"),
        &[],
    ));
    meta_rules.push(record(
        "sloth_slo_info",
        "vector(1)".into(),
        &[
            ("sloth_mode", "vigil".into()),
            ("sloth_objective", slo.objective_percent.to_string()),
            ("sloth_spec", slo.format.as_str().into()),
            ("sloth_version", env!("CARGO_PKG_VERSION").into()),
        ],
    ));
    groups.push(GeneratedGroup {
        name: format!("sloth-slo-meta-recordings-{}", slo.id),
        interval: None,
        language: None,
        rules: meta_rules,
    });

    // 4. Alerts.
    let a = &slo.alerting;
    let mut alert_rules = Vec::new();
    let mut tiers_meta = Vec::new();
    for severity in [Severity::Page, Severity::Ticket] {
        let spec = match severity {
            Severity::Page => &a.page,
            Severity::Ticket => &a.ticket,
        };
        let tiers: Vec<_> = a.tiers.iter().filter(|t| t.severity == severity).collect();
        if spec.disable || tiers.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        for t in &tiers {
            let threshold = t.factor.checked_mul(budget).unwrap_or(t.factor);
            let long = window_meta(t.long_ms);
            let short = window_meta(t.short_ms);
            let metric_of = |w: &WindowMeta| {
                if matches!(slo.period, Period::Rolling(_)) && w.name == period_name {
                    period.metric.clone()
                } else {
                    w.metric.clone()
                }
            };
            let mut part = format!(
                "(\n    max({}{sel} > {threshold}) without (sloth_window)\n  and\n    max({}{sel} > {threshold}) without (sloth_window)",
                metric_of(&short),
                metric_of(&long)
            );
            if a.min_events > 0 {
                part.push_str(&format!(
                    "\n  and on ()\n    (sum_over_time({EVENTS_TOTAL_SLICE}{sel}[{}]) >= {})",
                    slice_range(t.long_ms, s),
                    a.min_events
                ));
            }
            part.push_str("\n)");
            parts.push(part);
            tiers_meta.push(TierMeta {
                severity: severity.as_str().into(),
                alert: a.name.clone(),
                long,
                short,
                factor: t.factor.to_f64(),
                threshold: threshold.to_f64(),
                budget_consumed: t.factor.to_f64() * t.long_ms as f64 / nominal as f64,
            });
        }
        // The SLO's identity labels are on the series already; repeating them on the rule
        // keeps rules of different SLOs distinct (promtool's duplicate-rule lint).
        let mut l = a.labels.clone();
        l.extend(spec.labels.clone());
        l.extend(selector.clone());
        l.insert("sloth_severity".into(), severity.as_str().into());
        let mut ann = a.annotations.clone();
        ann.extend(spec.annotations.clone());
        ann.entry("title".into()).or_insert_with(|| {
            format!(
                "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."
            )
        });
        ann.entry("summary".into()).or_insert_with(|| {
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.".into()
        });
        alert_rules.push(GeneratedRule {
            record: None,
            alert: Some(a.name.clone()),
            expr: parts.join("\nor\n"),
            for_: (spec.for_ms > 0).then(|| format_duration_ms(spec.for_ms)),
            labels: l,
            annotations: ann,
        });
    }
    let extra_alert = |spec: &crate::spec::AlertSpec,
                       default_name: &str,
                       expr: String,
                       summary: &str|
     -> Option<GeneratedRule> {
        if spec.disable {
            return None;
        }
        let mut l = a.labels.clone();
        l.extend(spec.labels.clone());
        l.extend(selector.clone());
        let mut ann = a.annotations.clone();
        ann.extend(spec.annotations.clone());
        ann.insert("summary".into(), summary.into());
        ann.remove("title");
        Some(GeneratedRule {
            record: None,
            alert: Some(if spec.name.is_empty() {
                default_name.to_string()
            } else {
                spec.name.clone()
            }),
            expr,
            for_: (spec.for_ms > 0).then(|| format_duration_ms(spec.for_ms)),
            labels: l,
            annotations: ann,
        })
    };
    let no_data_expr = match &slo.sli {
        SliSource::Logql { .. } => {
            format!("({EVENTS_TOTAL_SLICE}{sel} == 0)\nor on ()\nabsent({EVENTS_TOTAL_SLICE}{sel})")
        }
        _ => format!("absent({EVENTS_TOTAL_SLICE}{sel})"),
    };
    let no_data = extra_alert(
        &a.no_data,
        "SLOMetricAbsent",
        no_data_expr,
        "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO has no SLI data: its metrics or logs are absent.",
    );
    let exhausted = extra_alert(
        &a.budget_exhausted,
        "SLOErrorBudgetExhausted",
        format!("slo:period_error_budget_remaining:ratio{sel} <= 0"),
        "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget for the period is exhausted.",
    );
    let no_data_alert = no_data.as_ref().and_then(|r| r.alert.clone());
    let budget_exhausted_alert = exhausted.as_ref().and_then(|r| r.alert.clone());
    alert_rules.extend(no_data);
    alert_rules.extend(exhausted);
    if !alert_rules.is_empty() {
        groups.push(GeneratedGroup {
            name: format!("sloth-slo-alerts-{}", slo.id),
            interval: None,
            language: None,
            rules: alert_rules,
        });
    }

    windows.sort_by_key(|w| w.ms);
    let meta = SloMeta {
        id: slo.id.clone(),
        service: slo.service.clone(),
        name: slo.name.clone(),
        file: slo.file.clone(),
        format: slo.format.as_str().into(),
        description: slo.description.clone(),
        sli_kind: slo.sli_kind.into(),
        objective: objective.to_f64(),
        objective_percent: slo.objective_percent.to_string(),
        error_budget: budget.to_f64(),
        budgeting: slo.budgeting.as_str().into(),
        slice_ms: s,
        exact,
        period,
        calendar: matches!(slo.period, Period::Calendar(_)),
        windows,
        tiers: tiers_meta,
        metrics: MetricNames {
            events_total_slice: EVENTS_TOTAL_SLICE.into(),
            events_error_slice: EVENTS_ERROR_SLICE.into(),
            budget_total_slice: unit_total.into(),
            budget_error_slice: unit_error.into(),
            objective: "slo:objective:ratio".into(),
            error_budget: "slo:error_budget:ratio".into(),
            time_period_days: "slo:time_period:days".into(),
            current_burn_rate: "slo:current_burn_rate:ratio".into(),
            period_burn_rate: "slo:period_burn_rate:ratio".into(),
            period_error_budget_remaining: "slo:period_error_budget_remaining:ratio".into(),
            info: "sloth_slo_info".into(),
        },
        selector,
        labels,
        groups: groups.iter().map(|g| g.name.clone()).collect(),
        no_data_alert,
        budget_exhausted_alert,
    };
    GeneratedSlo { groups, meta }
}
