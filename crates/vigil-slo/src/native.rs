//! Vigil's native spec (`version: vigil/v1`).
//!
//! ```yaml
//! version: vigil/v1
//! service: order-service
//! labels: {team: shop}                 # on every generated series and alert
//! slos:
//!   - name: availability
//!     description: Non-5xx responses
//!     objective: 99.9                  # percent, in (0, 100)
//!     window: 30d                      # rolling period (default 30d), or:
//!     # calendar: {period: month, time_zone: Europe/Paris}  # week|month; IANA zone or +02:00
//!     # calendar: {period: week, time_zone: UTC, week_start: monday}
//!     budgeting: occurrences           # occurrences | timeslices | ratio_timeslices
//!     # timeslice_target: 99           # percent good a slice needs (timeslices)
//!     slice: 1m                        # slice length = slice group interval (default 1m)
//!     sli:                             # exactly one of:
//!       events:                        # counter selectors; `error` or `good`, and `total`
//!         error: http_requests_total{service="order-service",status=~"5.."}
//!         total: http_requests_total{service="order-service"}
//!       # latency: {histogram: http_request_duration_seconds, selector: '{service="x"}',
//!       #           threshold: 0.5, buckets: [0.1, 0.25, 1], interpolate: false, total: count}
//!       # native_latency: {histogram: http_request_duration_seconds, selector: '{…}', threshold: 0.5}
//!       # logql: {error: '{service="x"} | json | level="error"', total: '{service="x"}'}
//!       # raw: {error_ratio_query: '… [$window] …'}
//!       # queries: {error_query: 'sum(rate(x{…}[$window]))', total_query: '…'}
//!     labels: {category: availability}
//!     alerting:
//!       name: OrderAvailabilityBudgetBurn
//!       labels: {category: slo}
//!       annotations: {summary: …}
//!       page: {labels: {severity: critical}}       # default severity: critical
//!       ticket: {labels: {severity: warning}}      # default severity: warning
//!       tiers:                                     # default: the workbook's three, scaled
//!         - {severity: page, long: 1h, short: 5m, factor: 14.4}
//!         - {severity: ticket, long: 3d, short: 6h, budget_percent: 10}
//!       min_events: 100                            # low-traffic guard (long window)
//!       no_data: {for: 15m}                        # absent-metrics alert (disable: true)
//!       budget_exhausted: {for: 5m}                # period budget used up
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

use crate::decimal::Decimal;
use crate::load::{Doc, FileCtx, decimal, duration, scaled_tiers, workbook_tiers};
use crate::query::{
    check_promql, counter_selector, has_window_placeholder, logql_slice_count,
    rewrite_windowed_counters, substitute_window, summed_slice_increase,
};
use crate::spec::{
    AlertSpec, Alerting, BadEvents, Budgeting, Calendar, CalendarUnit, DAY_MS, Period, Severity,
    SliSource, Slo, SpecError, SpecFormat, Tier,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeFile {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<NativeSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeSlo {
    name: String,
    #[serde(default)]
    description: String,
    objective: Value,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    calendar: Option<NativeCalendar>,
    #[serde(default)]
    budgeting: Option<String>,
    #[serde(default)]
    timeslice_target: Option<Value>,
    #[serde(default)]
    slice: Option<String>,
    sli: NativeSli,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    alerting: NativeAlerting,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NativeCalendar {
    pub(crate) period: String,
    #[serde(default)]
    pub(crate) time_zone: Option<String>,
    #[serde(default)]
    pub(crate) week_start: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NativeSli {
    events: Option<Events>,
    latency: Option<Latency>,
    native_latency: Option<NativeLatency>,
    logql: Option<Logql>,
    raw: Option<Raw>,
    queries: Option<Queries>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Events {
    error: Option<String>,
    good: Option<String>,
    total: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    histogram: String,
    #[serde(default)]
    selector: String,
    threshold: Value,
    #[serde(default)]
    buckets: Option<Vec<Value>>,
    #[serde(default)]
    interpolate: bool,
    #[serde(default)]
    total: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeLatency {
    histogram: String,
    #[serde(default)]
    selector: String,
    threshold: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Logql {
    error: String,
    total: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    error_ratio_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Queries {
    error_query: Option<String>,
    good_query: Option<String>,
    total_query: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NativeAlerting {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page: NativeAlert,
    #[serde(default)]
    ticket: NativeAlert,
    #[serde(default)]
    tiers: Option<Vec<NativeTier>>,
    #[serde(default)]
    min_events: u64,
    #[serde(default)]
    no_data: NativeAlert,
    #[serde(default)]
    budget_exhausted: NativeAlert,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NativeAlert {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeTier {
    severity: String,
    long: String,
    short: String,
    #[serde(default)]
    factor: Option<Value>,
    #[serde(default)]
    budget_percent: Option<Value>,
}

/// Default slice length.
pub(crate) const DEFAULT_SLICE_MS: i64 = 60_000;
/// Default period.
pub(crate) const DEFAULT_PERIOD_MS: i64 = 30 * DAY_MS;

pub(crate) fn parse(ctx: &FileCtx<'_>, doc: &Doc<'_>) -> Result<Vec<Slo>, Vec<SpecError>> {
    let file: NativeFile = ctx.decode(doc).map_err(|e| vec![e])?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, slo) in file.slos.into_iter().enumerate() {
        match convert(ctx, &file.service, &file.labels, i, slo) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn convert(
    ctx: &FileCtx<'_>,
    service: &str,
    file_labels: &BTreeMap<String, String>,
    index: usize,
    slo: NativeSlo,
) -> Result<Slo, SpecError> {
    let name = slo.name.clone();
    let err = |field: &str, message: String| {
        ctx.error(
            Some(&name),
            Some(&format!("slos[{index}].{field}")),
            message,
        )
    };
    let objective_percent = decimal(&slo.objective)
        .ok_or_else(|| err("objective", "must be a number (percent)".into()))?;
    let slice_ms = match &slo.slice {
        Some(s) => duration(s).map_err(|m| err("slice", m))?,
        None => DEFAULT_SLICE_MS,
    };
    let mut zone = None;
    let period = match (&slo.window, &slo.calendar) {
        (Some(_), Some(_)) => {
            return Err(err(
                "window",
                "use either window (rolling) or calendar, not both".into(),
            ));
        }
        (Some(w), None) => Period::Rolling(duration(w).map_err(|m| err("window", m))?),
        (None, Some(c)) => {
            let (cal, z) = calendar(&c.period, c.time_zone.as_deref(), c.week_start.as_deref())
                .map_err(|m| err("calendar", m))?;
            zone = z;
            Period::Calendar(cal)
        }
        (None, None) => Period::Rolling(DEFAULT_PERIOD_MS),
    };
    let budgeting = match slo.budgeting.as_deref().unwrap_or("occurrences") {
        "occurrences" | "Occurrences" => Budgeting::Occurrences,
        "ratio_timeslices" | "RatioTimeslices" => Budgeting::RatioTimeslices,
        "timeslices" | "Timeslices" => {
            let target = slo.timeslice_target.as_ref().ok_or_else(|| {
                err(
                    "timeslice_target",
                    "timeslices budgeting needs timeslice_target (percent of good events a slice needs)".into(),
                )
            })?;
            let pct = decimal(target)
                .ok_or_else(|| err("timeslice_target", "must be a number (percent)".into()))?;
            Budgeting::Timeslices {
                slice_target: pct.shift_down(2),
            }
        }
        other => {
            return Err(err(
                "budgeting",
                format!(
                    "unknown budgeting method {other:?}: use occurrences, timeslices or ratio_timeslices"
                ),
            ));
        }
    };
    if slo.timeslice_target.is_some() && !matches!(budgeting, Budgeting::Timeslices { .. }) {
        return Err(err(
            "timeslice_target",
            "only used with budgeting: timeslices".into(),
        ));
    }
    let (sli, sli_kind) = sli(&slo.sli, slice_ms).map_err(|(f, m)| err(&format!("sli{f}"), m))?;

    let a = slo.alerting;
    let tiers = match a.tiers {
        None => scaled_tiers(&workbook_tiers(), period, slice_ms),
        Some(list) => {
            let mut tiers = Vec::new();
            for (i, t) in list.into_iter().enumerate() {
                let field = format!("alerting.tiers[{i}]");
                let severity = match t.severity.as_str() {
                    "page" => Severity::Page,
                    "ticket" => Severity::Ticket,
                    other => {
                        return Err(err(
                            &field,
                            format!("unknown severity {other:?}: use page or ticket"),
                        ));
                    }
                };
                let long_ms = duration(&t.long).map_err(|m| err(&format!("{field}.long"), m))?;
                let short_ms = duration(&t.short).map_err(|m| err(&format!("{field}.short"), m))?;
                let factor = match (&t.factor, &t.budget_percent) {
                    (Some(f), None) => decimal(f).ok_or_else(|| {
                        err(&format!("{field}.factor"), "must be a number".into())
                    })?,
                    (None, Some(p)) => {
                        let p = decimal(p).ok_or_else(|| {
                            err(
                                &format!("{field}.budget_percent"),
                                "must be a number".into(),
                            )
                        })?;
                        let f = p.to_f64() / 100.0 * period.nominal_ms() as f64 / long_ms as f64;
                        Decimal::from_f64((f * 1000.0).round() / 1000.0).ok_or_else(|| {
                            err(&format!("{field}.budget_percent"), "out of range".into())
                        })?
                    }
                    _ => {
                        return Err(err(
                            &field,
                            "give exactly one of factor and budget_percent".into(),
                        ));
                    }
                };
                tiers.push(Tier {
                    severity,
                    long_ms,
                    short_ms,
                    factor,
                });
            }
            tiers
        }
    };
    let alert =
        |a: NativeAlert, field: &str, severity: Option<&str>| -> Result<AlertSpec, SpecError> {
            let mut labels = a.labels;
            if let Some(s) = severity {
                labels
                    .entry("severity".into())
                    .or_insert_with(|| s.to_string());
            }
            Ok(AlertSpec {
                disable: a.disable,
                name: a.name.unwrap_or_default(),
                for_ms: match &a.for_ {
                    Some(f) => duration(f).map_err(|m| err(&format!("alerting.{field}.for"), m))?,
                    None => 0,
                },
                labels,
                annotations: a.annotations,
            })
        };
    let mut no_data = alert(a.no_data, "no_data", None)?;
    if no_data.for_ms == 0 {
        no_data.for_ms = 15 * 60_000;
    }
    let alerting = Alerting {
        name: a.name.unwrap_or_else(|| "SLOErrorBudgetBurn".into()),
        labels: a.labels,
        annotations: a.annotations,
        page: alert(a.page, "page", Some("critical"))?,
        ticket: alert(a.ticket, "ticket", Some("warning"))?,
        tiers,
        min_events: a.min_events,
        no_data,
        budget_exhausted: alert(a.budget_exhausted, "budget_exhausted", None)?,
    };
    let mut labels = file_labels.clone();
    labels.extend(slo.labels);
    Ok(Slo {
        file: ctx.file.to_string(),
        format: SpecFormat::Native,
        service: service.to_string(),
        id: format!("{service}-{}", slo.name),
        name: slo.name,
        description: slo.description,
        objective_percent,
        sli,
        sli_kind,
        period,
        budgeting,
        slice_ms,
        labels,
        alerting,
        zone,
    })
}

type FieldError = (String, String);

fn sli(sli: &NativeSli, slice_ms: i64) -> Result<(SliSource, &'static str), FieldError> {
    let given = [
        sli.events.is_some(),
        sli.latency.is_some(),
        sli.native_latency.is_some(),
        sli.logql.is_some(),
        sli.raw.is_some(),
        sli.queries.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err((
            String::new(),
            "give exactly one of events, latency, native_latency, logql, raw, queries".into(),
        ));
    }
    let field = |f: &str, m: String| (format!(".{f}"), m);
    if let Some(e) = &sli.events {
        let total = counter_selector(&e.total).map_err(|m| field("events.total", m))?;
        let bad = match (&e.error, &e.good) {
            (Some(err), None) => BadEvents::Errors(summed_slice_increase(
                &counter_selector(err).map_err(|m| field("events.error", m))?,
                slice_ms,
            )),
            (None, Some(good)) => BadEvents::Good(summed_slice_increase(
                &counter_selector(good).map_err(|m| field("events.good", m))?,
                slice_ms,
            )),
            _ => {
                return Err(field("events", "give exactly one of error and good".into()));
            }
        };
        return Ok((
            SliSource::Promql {
                total: summed_slice_increase(&total, slice_ms),
                bad,
                exact: true,
            },
            "events",
        ));
    }
    if let Some(l) = &sli.latency {
        return latency(l, slice_ms)
            .map(|s| (s, "latency"))
            .map_err(|(f, m)| field(&format!("latency{f}"), m));
    }
    if let Some(n) = &sli.native_latency {
        let threshold = decimal(&n.threshold)
            .filter(|d| d.is_positive())
            .ok_or_else(|| {
                field(
                    "native_latency.threshold",
                    "must be a positive number (seconds)".into(),
                )
            })?;
        let sel = with_matcher(&n.histogram, &n.selector, None)
            .map_err(|m| field("native_latency.selector", m))?;
        let inc = format!(
            "sum(increase({sel}[{}]))",
            vigil_model::format_duration_ms(slice_ms)
        );
        return Ok((
            SliSource::Promql {
                total: format!("histogram_count({inc})"),
                bad: BadEvents::Good(format!(
                    "histogram_count({inc}) * histogram_fraction(0, {threshold}, {inc})"
                )),
                exact: false,
            },
            "native_latency",
        ));
    }
    if let Some(l) = &sli.logql {
        let q = |text: &str, f: &str| -> Result<String, FieldError> {
            let text = text.trim();
            if text.is_empty() {
                return Err(field(f, "must not be empty".into()));
            }
            if has_window_placeholder(text) {
                Ok(format!(
                    "({}) or vector(0)",
                    substitute_window(text, &vigil_model::format_duration_ms(slice_ms))
                ))
            } else {
                Ok(logql_slice_count(text, slice_ms))
            }
        };
        return Ok((
            SliSource::Logql {
                total: q(&l.total, "logql.total")?,
                bad: q(&l.error, "logql.error")?,
            },
            "logql",
        ));
    }
    if let Some(r) = &sli.raw {
        return raw_source(&r.error_ratio_query, slice_ms)
            .map(|s| (s, "raw"))
            .map_err(|m| field("raw.error_ratio_query", m));
    }
    if let Some(q) = &sli.queries {
        return windowed_queries(
            q.error_query.as_deref(),
            q.good_query.as_deref(),
            &q.total_query,
            slice_ms,
        )
        .map(|s| (s, "queries"))
        .map_err(|(f, m)| field(&format!("queries.{f}"), m));
    }
    Err((String::new(), "no SLI given".into()))
}

/// A raw error-ratio query with a window placeholder, evaluated over each slice.
pub(crate) fn raw_source(query: &str, slice_ms: i64) -> Result<SliSource, String> {
    if !has_window_placeholder(query) {
        return Err("the query needs a {{.window}} (or $window) placeholder for its range".into());
    }
    let q = substitute_window(query, &vigil_model::format_duration_ms(slice_ms));
    check_promql(&q)?;
    Ok(SliSource::RawRatio { error_ratio: q })
}

/// Sloth-style windowed queries (`sum(rate(x[{{.window}}]))`): rewritten to exact slice
/// increments when every windowed part is `rate`/`increase` of a selector, else evaluated
/// over the slice as written.
pub(crate) fn windowed_queries(
    error: Option<&str>,
    good: Option<&str>,
    total: &str,
    slice_ms: i64,
) -> Result<SliSource, FieldError> {
    let slice = vigil_model::format_duration_ms(slice_ms);
    let one = |q: &str, f: &str| -> Result<(String, bool), FieldError> {
        if !has_window_placeholder(q) {
            return Err((
                f.to_string(),
                "the query needs a {{.window}} (or $window) placeholder for its range".into(),
            ));
        }
        let as_written = substitute_window(q, &slice);
        check_promql(&as_written).map_err(|m| (f.to_string(), m))?;
        Ok(match rewrite_windowed_counters(q, slice_ms) {
            Some(exact) => (format!("sum({exact})"), true),
            None => (format!("sum({as_written})"), false),
        })
    };
    let (total, total_exact) = one(total, "total_query")?;
    let (bad, bad_exact) = match (error, good) {
        (Some(e), None) => {
            let (q, x) = one(e, "error_query")?;
            (BadEvents::Errors(q), x)
        }
        (None, Some(g)) => {
            let (q, x) = one(g, "good_query")?;
            (BadEvents::Good(q), x)
        }
        _ => {
            return Err((
                "error_query".into(),
                "give exactly one of error_query and good_query".into(),
            ));
        }
    };
    Ok(SliSource::Promql {
        total,
        bad,
        exact: total_exact && bad_exact,
    })
}

/// `metric{matchers…, extra}` from a metric name and a `{…}` selector text.
fn with_matcher(metric: &str, selector: &str, extra: Option<&str>) -> Result<String, String> {
    let selector = selector.trim();
    let inner = if selector.is_empty() {
        ""
    } else {
        selector
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(|| format!("expected label matchers in braces, got {selector:?}"))?
            .trim()
            .trim_end_matches(',')
    };
    let mut parts: Vec<&str> = Vec::new();
    if !inner.is_empty() {
        parts.push(inner);
    }
    if let Some(e) = extra {
        parts.push(e);
    }
    let text = format!("{metric}{{{}}}", parts.join(","));
    counter_selector(&text)
}

fn latency(l: &Latency, slice_ms: i64) -> Result<SliSource, FieldError> {
    let f = |name: &str, m: String| (format!(".{name}"), m);
    let threshold = decimal(&l.threshold)
        .filter(|d| d.is_positive())
        .ok_or_else(|| f("threshold", "must be a positive number (seconds)".into()))?;
    let bucket = format!("{}_bucket", l.histogram.trim());
    let bucket_at = |le: &str| -> Result<String, FieldError> {
        with_matcher(&bucket, &l.selector, Some(&format!("le=\"{le}\"")))
            .map_err(|m| f("selector", m))
    };
    let total_sel = match l.total.as_deref().unwrap_or("count") {
        "count" => with_matcher(&format!("{}_count", l.histogram.trim()), &l.selector, None)
            .map_err(|m| f("selector", m))?,
        "inf_bucket" => bucket_at("+Inf")?,
        other => {
            return Err(f(
                "total",
                format!(
                    "unknown total {other:?}: use count (the _count series) or inf_bucket (le=\"+Inf\")"
                ),
            ));
        }
    };
    let good = match &l.buckets {
        None => {
            if l.interpolate {
                return Err(f(
                    "interpolate",
                    "interpolation needs the histogram's bucket boundaries in buckets".into(),
                ));
            }
            summed_slice_increase(&bucket_at(&threshold.to_string())?, slice_ms)
        }
        Some(list) => {
            let mut bounds = Vec::new();
            for v in list {
                bounds.push(decimal(v).filter(|d| d.is_positive()).ok_or_else(|| {
                    f(
                        "buckets",
                        "bucket boundaries must be positive numbers".into(),
                    )
                })?);
            }
            if bounds.windows(2).any(|w| w[0] >= w[1]) {
                return Err(f("buckets", "bucket boundaries must be increasing".into()));
            }
            if bounds.contains(&threshold) {
                summed_slice_increase(&bucket_at(&threshold.to_string())?, slice_ms)
            } else if !l.interpolate {
                return Err(f(
                    "threshold",
                    format!(
                        "{threshold} is not a bucket boundary of the histogram ({}): add the bucket, pick a boundary, or set interpolate: true to interpolate linearly inside the bucket (an approximation)",
                        bounds
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            } else {
                let Some(upper_index) = bounds.iter().position(|b| *b > threshold) else {
                    return Err(f(
                        "threshold",
                        format!(
                            "{threshold} is above the last finite bucket boundary; cannot interpolate into +Inf"
                        ),
                    ));
                };
                let upper = bounds[upper_index];
                let upper_inc = summed_slice_increase(&bucket_at(&upper.to_string())?, slice_ms);
                if upper_index == 0 {
                    let frac = threshold.to_f64() / upper.to_f64();
                    format!("{frac} * {upper_inc}")
                } else {
                    let lower = bounds[upper_index - 1];
                    let lower_inc =
                        summed_slice_increase(&bucket_at(&lower.to_string())?, slice_ms);
                    let span = |a: crate::decimal::Decimal, b: crate::decimal::Decimal| {
                        a.checked_sub(b)
                            .map_or(f64::NAN, crate::decimal::Decimal::to_f64)
                    };
                    let frac = span(threshold, lower) / span(upper, lower);
                    format!("{lower_inc} + {frac} * ({upper_inc} - {lower_inc})")
                }
            }
        }
    };
    Ok(SliSource::Promql {
        total: summed_slice_increase(&total_sel, slice_ms),
        bad: BadEvents::Good(good),
        exact: !(l.interpolate
            && l.buckets
                .as_ref()
                .is_some_and(|b| !b.iter().filter_map(decimal).any(|d| d == threshold))),
    })
}

/// A calendar period from its unit, time zone (UTC or a fixed offset such as `+02:00`) and
/// week start.
pub(crate) fn calendar(
    unit: &str,
    time_zone: Option<&str>,
    week_start: Option<&str>,
) -> Result<(Calendar, Option<crate::zone::ZoneTable>), String> {
    let unit = match unit {
        "week" | "Week" | "1w" | "7d" | "1W" => CalendarUnit::Week,
        "month" | "Month" | "1M" => CalendarUnit::Month,
        other => {
            return Err(format!(
                "unknown calendar period {other:?}: use week or month"
            ));
        }
    };
    let (utc_offset_s, zone) = match time_zone {
        None => (0, None),
        Some(tz) => match utc_offset(tz) {
            Ok(o) => (o, None),
            Err(_) if !tz.starts_with(['+', '-']) => (0, Some(crate::zone::ZoneTable::load(tz)?)),
            Err(e) => return Err(e),
        },
    };
    let week_start = match week_start.unwrap_or("monday").to_ascii_lowercase().as_str() {
        "sunday" => 0,
        "monday" => 1,
        "tuesday" => 2,
        "wednesday" => 3,
        "thursday" => 4,
        "friday" => 5,
        "saturday" => 6,
        other => return Err(format!("unknown week_start {other:?}: use a day name")),
    };
    if week_start != 1 && unit == CalendarUnit::Month {
        return Err("week_start only applies to weekly periods".into());
    }
    Ok((
        Calendar {
            unit,
            utc_offset_s,
            week_start,
        },
        zone,
    ))
}

/// Seconds east of UTC of `UTC`, `Z`, `Etc/UTC`, `GMT` or a fixed offset `±HH:MM`/`±HHMM`.
pub(crate) fn utc_offset(tz: &str) -> Result<i64, String> {
    let tz = tz.trim();
    if matches!(
        tz,
        "UTC" | "Z" | "Etc/UTC" | "GMT" | "Etc/GMT" | "UTC+0" | "+00:00"
    ) {
        return Ok(0);
    }
    let bytes = tz.as_bytes();
    let sign = match bytes.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => {
            return Err(format!(
                "time zone {tz:?}: not UTC or a fixed offset such as +02:00"
            ));
        }
    };
    let digits: String = tz[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "time zone {tz:?}: expected an offset such as +02:00"
        ));
    }
    let hours: i64 = digits[..2].parse().map_err(|_| "bad hours".to_string())?;
    let minutes: i64 = digits[2..].parse().map_err(|_| "bad minutes".to_string())?;
    if hours > 14 || minutes > 59 {
        return Err(format!("time zone {tz:?}: offset out of range"));
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}
