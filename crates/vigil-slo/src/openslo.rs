//! OpenSLO v1 objects, read unchanged: `SLO` (inline `indicator` or `indicatorRef`), `SLI`,
//! and `DataSource` (for the `type` of a `metricSourceRef`). Other kinds (`Service`,
//! `AlertPolicy`, …) are accepted and ignored; alerting uses the workbook's tiers.
//!
//! Supported: `ratioMetric` with `good`|`bad` and `total` (or `raw` + `rawType`), metric
//! sources of type Prometheus (PromQL) or Loki (LogQL) with the query in `spec.query`;
//! `counter: true` queries are counter selectors (optionally inside `sum(...)`) or LogQL
//! stream selectors, and queries with a `{{.window}}`/`$window` placeholder are windowed
//! queries; `timeWindow` rolling or calendar (`1w`/`1M`, UTC or fixed-offset time zone);
//! `budgetingMethod` Occurrences, Timeslices and RatioTimeslices; several objectives give
//! one SLO each.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

use crate::load::{Doc, FileCtx, decimal, duration, scaled_tiers, workbook_tiers};
use crate::native::{DEFAULT_PERIOD_MS, DEFAULT_SLICE_MS, calendar, raw_source};
use crate::query::{
    check_promql, counter_in_sum, has_window_placeholder, logql_slice_count,
    rewrite_windowed_counters, substitute_window, summed_slice_increase,
};
use crate::spec::{
    AlertSpec, Alerting, BadEvents, Budgeting, Period, SliSource, Slo, SpecError, SpecFormat,
};

#[derive(Deserialize)]
struct Head {
    kind: String,
    metadata: Metadata,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    name: String,
    #[serde(default)]
    labels: Option<Value>,
}

#[derive(Deserialize)]
struct Object<T> {
    metadata: Metadata,
    spec: T,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SloSpec {
    #[serde(default)]
    description: String,
    service: String,
    #[serde(default)]
    indicator: Option<InlineSli>,
    #[serde(default)]
    indicator_ref: Option<String>,
    #[serde(default)]
    time_window: Vec<TimeWindow>,
    budgeting_method: String,
    objectives: Vec<Objective>,
}

#[derive(Deserialize, Clone)]
struct InlineSli {
    #[allow(dead_code)]
    metadata: Option<Metadata>,
    spec: SliSpec,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SliSpec {
    #[serde(default)]
    threshold_metric: Option<Value>,
    #[serde(default)]
    ratio_metric: Option<RatioMetric>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RatioMetric {
    #[serde(default)]
    counter: bool,
    #[serde(default)]
    good: Option<MetricHolder>,
    #[serde(default)]
    bad: Option<MetricHolder>,
    #[serde(default)]
    total: Option<MetricHolder>,
    #[serde(default)]
    raw: Option<MetricHolder>,
    #[serde(default)]
    raw_type: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct MetricHolder {
    metric_source: MetricSource,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct MetricSource {
    #[serde(default)]
    metric_source_ref: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    spec: Value,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct TimeWindow {
    duration: String,
    #[serde(default)]
    is_rolling: Option<bool>,
    #[serde(default)]
    calendar: Option<CalendarSpec>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct CalendarSpec {
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Objective {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    target: Option<Value>,
    #[serde(default)]
    target_percent: Option<Value>,
    #[serde(default)]
    time_slice_target: Option<Value>,
    #[serde(default)]
    time_slice_window: Option<Value>,
    #[serde(default)]
    indicator: Option<InlineSli>,
    #[serde(default)]
    indicator_ref: Option<String>,
}

#[derive(Deserialize)]
struct DataSourceSpec {
    #[serde(rename = "type")]
    kind: String,
}

/// OpenSLO objects collected over all files, resolved at the end.
#[derive(Default)]
pub(crate) struct Objects {
    slos: Vec<(String, Metadata, SloSpec)>,
    slis: BTreeMap<String, SliSpec>,
    data_sources: BTreeMap<String, String>,
}

impl Objects {
    pub(crate) fn add(
        &mut self,
        ctx: &FileCtx<'_>,
        doc: &Doc<'_>,
        head: &Value,
    ) -> Result<(), SpecError> {
        let h: Head = serde_norway::from_value(head.clone()).map_err(|e| {
            ctx.error(
                None,
                None,
                format!("OpenSLO object needs kind and metadata.name: {e}"),
            )
        })?;
        match h.kind.as_str() {
            "SLO" => {
                let o: Object<SloSpec> = ctx.decode(doc).map_err(|mut e| {
                    e.slo = Some(h.metadata.name.clone());
                    e
                })?;
                self.slos.push((ctx.file.to_string(), o.metadata, o.spec));
            }
            "SLI" => {
                let o: Object<SliSpec> = ctx.decode(doc)?;
                self.slis.insert(o.metadata.name, o.spec);
            }
            "DataSource" => {
                let o: Object<DataSourceSpec> = ctx.decode(doc)?;
                self.data_sources.insert(o.metadata.name, o.spec.kind);
            }
            "Service" | "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget" => {}
            other => {
                return Err(ctx.error(
                    Some(&h.metadata.name),
                    Some("kind"),
                    format!("unknown OpenSLO kind {other:?}"),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn into_slos(self) -> Result<Vec<Slo>, Vec<SpecError>> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (file, metadata, spec) in &self.slos {
            match self.convert(file, metadata, spec) {
                Ok(mut s) => out.append(&mut s),
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
        &self,
        file: &str,
        metadata: &Metadata,
        spec: &SloSpec,
    ) -> Result<Vec<Slo>, SpecError> {
        let ctx = FileCtx { file };
        let name = &metadata.name;
        let err = |field: &str, message: String| ctx.error(Some(name), Some(field), message);
        let (period_and_calendar, zone) = match spec.time_window.as_slice() {
            [] => (Period::Rolling(DEFAULT_PERIOD_MS), None),
            [w] => time_window(w).map_err(|m| err("spec.timeWindow[0]", m))?,
            _ => {
                return Err(err(
                    "spec.timeWindow",
                    "OpenSLO allows exactly one time window".into(),
                ));
            }
        };
        if spec.objectives.is_empty() {
            return Err(err(
                "spec.objectives",
                "at least one objective is needed".into(),
            ));
        }
        let mut labels = BTreeMap::new();
        if let Some(Value::Mapping(m)) = &metadata.labels {
            for (k, v) in m {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                    labels.insert(k.to_string(), v.to_string());
                }
            }
        }
        let mut out = Vec::new();
        for (i, objective) in spec.objectives.iter().enumerate() {
            let field = |f: &str| format!("spec.objectives[{i}].{f}");
            let objective_percent = match (&objective.target, &objective.target_percent) {
                (Some(t), None) => decimal(t)
                    .and_then(|d| d.shift_up(2))
                    .ok_or_else(|| err(&field("target"), "must be a number in [0, 1)".into()))?,
                (None, Some(p)) => decimal(p)
                    .ok_or_else(|| err(&field("targetPercent"), "must be a number".into()))?,
                _ => {
                    return Err(err(
                        &field("target"),
                        "give exactly one of target and targetPercent".into(),
                    ));
                }
            };
            let slice_window = match &objective.time_slice_window {
                None => None,
                Some(Value::Number(n)) => Some(
                    n.as_i64()
                        .filter(|m| *m > 0)
                        .map(|m| m * 60_000)
                        .ok_or_else(|| {
                            err(
                                &field("timeSliceWindow"),
                                "must be a positive number of minutes or a duration".into(),
                            )
                        })?,
                ),
                Some(Value::String(s)) => {
                    Some(duration(s).map_err(|m| err(&field("timeSliceWindow"), m))?)
                }
                Some(_) => {
                    return Err(err(&field("timeSliceWindow"), "must be a duration".into()));
                }
            };
            let budgeting = match spec.budgeting_method.as_str() {
                "Occurrences" => Budgeting::Occurrences,
                "Timeslices" => {
                    let target = objective
                        .time_slice_target
                        .as_ref()
                        .and_then(decimal)
                        .ok_or_else(|| {
                            err(
                                &field("timeSliceTarget"),
                                "Timeslices budgeting needs timeSliceTarget in (0, 1]".into(),
                            )
                        })?;
                    if slice_window.is_none() {
                        return Err(err(
                            &field("timeSliceWindow"),
                            "Timeslices budgeting needs timeSliceWindow".into(),
                        ));
                    }
                    Budgeting::Timeslices {
                        slice_target: target,
                    }
                }
                "RatioTimeslices" => {
                    if slice_window.is_none() {
                        return Err(err(
                            &field("timeSliceWindow"),
                            "RatioTimeslices budgeting needs timeSliceWindow".into(),
                        ));
                    }
                    Budgeting::RatioTimeslices
                }
                other => {
                    return Err(err(
                        "spec.budgetingMethod",
                        format!(
                            "unknown budgeting method {other:?}: use Occurrences, Timeslices or RatioTimeslices"
                        ),
                    ));
                }
            };
            let slice_ms = slice_window.unwrap_or(DEFAULT_SLICE_MS);
            let sli_spec = self
                .indicator(
                    objective.indicator.as_ref().or(spec.indicator.as_ref()),
                    objective
                        .indicator_ref
                        .as_deref()
                        .or(spec.indicator_ref.as_deref()),
                )
                .map_err(|(f, m)| err(&f, m))?;
            let (sli, kind) = self
                .sli_source(&sli_spec, slice_ms)
                .map_err(|(f, m)| err(&format!("indicator.spec.{f}"), m))?;
            let slo_name = if spec.objectives.len() == 1 {
                name.clone()
            } else {
                match &objective.display_name {
                    Some(d) if !d.trim().is_empty() => format!("{name}-{}", slug(d)),
                    _ => format!("{name}-{i}"),
                }
            };
            out.push(Slo {
                file: file.to_string(),
                format: SpecFormat::OpenSlo,
                service: spec.service.clone(),
                id: format!("{}-{slo_name}", spec.service),
                name: slo_name,
                description: spec.description.clone(),
                objective_percent,
                sli,
                sli_kind: kind,
                period: period_and_calendar,
                budgeting,
                slice_ms,
                labels: labels.clone(),
                alerting: Alerting {
                    name: "SLOErrorBudgetBurn".into(),
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    page: AlertSpec {
                        labels: [("severity".to_string(), "critical".to_string())].into(),
                        ..AlertSpec::default()
                    },
                    ticket: AlertSpec {
                        labels: [("severity".to_string(), "warning".to_string())].into(),
                        ..AlertSpec::default()
                    },
                    tiers: scaled_tiers(&workbook_tiers(), period_and_calendar, slice_ms),
                    min_events: 0,
                    no_data: AlertSpec {
                        for_ms: 15 * 60_000,
                        ..AlertSpec::default()
                    },
                    budget_exhausted: AlertSpec::default(),
                },
                zone: zone.clone(),
            });
        }
        Ok(out)
    }

    fn indicator(
        &self,
        inline: Option<&InlineSli>,
        reference: Option<&str>,
    ) -> Result<SliSpec, (String, String)> {
        match (inline, reference) {
            (Some(i), None) => Ok(i.spec.clone()),
            (None, Some(r)) => self.slis.get(r).cloned().ok_or_else(|| {
                (
                    "spec.indicatorRef".to_string(),
                    format!("no SLI object named {r:?} in the given files"),
                )
            }),
            (Some(_), Some(_)) => Err((
                "spec.indicator".into(),
                "give indicator or indicatorRef, not both".into(),
            )),
            (None, None) => Err((
                "spec.indicator".into(),
                "one of indicator and indicatorRef is required".into(),
            )),
        }
    }

    fn sli_source(
        &self,
        sli: &SliSpec,
        slice_ms: i64,
    ) -> Result<(SliSource, &'static str), (String, String)> {
        if sli.threshold_metric.is_some() {
            return Err((
                "thresholdMetric".into(),
                "threshold SLIs are not supported; use a ratioMetric (e.g. latency buckets as good, _count as total)".into(),
            ));
        }
        let Some(r) = &sli.ratio_metric else {
            return Err(("ratioMetric".into(), "a ratioMetric is required".into()));
        };
        if let Some(raw) = &r.raw {
            let (lang, query) = self.query(raw, "ratioMetric.raw")?;
            if lang != Lang::Promql {
                return Err(("ratioMetric.raw".into(), "raw ratios must be PromQL".into()));
            }
            let query = match r.raw_type.as_deref() {
                Some("failure") => query,
                Some("success") => format!("1 - ({query})"),
                _ => {
                    return Err((
                        "ratioMetric.rawType".into(),
                        "rawType must be success or failure".into(),
                    ));
                }
            };
            return raw_source(&query, slice_ms)
                .map(|s| (s, "raw"))
                .map_err(|m| ("ratioMetric.raw".into(), m));
        }
        let Some(total) = &r.total else {
            return Err((
                "ratioMetric.total".into(),
                "total is required (or raw)".into(),
            ));
        };
        let (numerator, is_good, nfield) = match (&r.good, &r.bad) {
            (Some(g), None) => (g, true, "ratioMetric.good"),
            (None, Some(b)) => (b, false, "ratioMetric.bad"),
            _ => {
                return Err((
                    "ratioMetric".into(),
                    "give exactly one of good and bad".into(),
                ));
            }
        };
        let (tlang, tq) = self.query(total, "ratioMetric.total")?;
        let (nlang, nq) = self.query(numerator, nfield)?;
        if tlang != nlang {
            return Err((
                "ratioMetric".into(),
                "good/bad and total must use the same metric source type".into(),
            ));
        }
        match tlang {
            Lang::Logql => {
                if is_good {
                    return Err((
                        nfield.into(),
                        "LogQL SLIs are read as bad lines / all lines: use bad".into(),
                    ));
                }
                let slice = vigil_model::format_duration_ms(slice_ms);
                let q = |text: &str| {
                    if has_window_placeholder(text) {
                        format!("({}) or vector(0)", substitute_window(text, &slice))
                    } else {
                        logql_slice_count(text, slice_ms)
                    }
                };
                Ok((
                    SliSource::Logql {
                        total: q(&tq),
                        bad: q(&nq),
                    },
                    "logql",
                ))
            }
            Lang::Promql => {
                let (total, te) = promql_slice(&tq, r.counter, slice_ms)
                    .map_err(|m| ("ratioMetric.total".to_string(), m))?;
                let (num, ne) =
                    promql_slice(&nq, r.counter, slice_ms).map_err(|m| (nfield.to_string(), m))?;
                Ok((
                    SliSource::Promql {
                        total,
                        bad: if is_good {
                            BadEvents::Good(num)
                        } else {
                            BadEvents::Errors(num)
                        },
                        exact: te && ne,
                    },
                    "events",
                ))
            }
        }
    }

    fn query(
        &self,
        holder: &MetricHolder,
        field: &str,
    ) -> Result<(Lang, String), (String, String)> {
        let src = &holder.metric_source;
        let kind = match (&src.kind, &src.metric_source_ref) {
            (Some(k), _) => k.clone(),
            (None, Some(r)) => self.data_sources.get(r).cloned().ok_or_else(|| {
                (
                    format!("{field}.metricSource.metricSourceRef"),
                    format!("no DataSource named {r:?} in the given files"),
                )
            })?,
            (None, None) => "Prometheus".into(),
        };
        let lang = match kind.to_ascii_lowercase().as_str() {
            "prometheus" | "vigil" | "promql" => Lang::Promql,
            "loki" | "logql" => Lang::Logql,
            other => {
                return Err((
                    format!("{field}.metricSource.type"),
                    format!(
                        "metric source type {other:?} is not supported: use Prometheus or Loki"
                    ),
                ));
            }
        };
        let query = src
            .spec
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| {
                (
                    format!("{field}.metricSource.spec.query"),
                    "the query is required".into(),
                )
            })?;
        Ok((lang, query.trim().to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Promql,
    Logql,
}

fn promql_slice(query: &str, counter: bool, slice_ms: i64) -> Result<(String, bool), String> {
    if has_window_placeholder(query) {
        let as_written = substitute_window(query, &vigil_model::format_duration_ms(slice_ms));
        check_promql(&as_written)?;
        return Ok(match rewrite_windowed_counters(query, slice_ms) {
            Some(exact) => (format!("sum({exact})"), true),
            None => (format!("sum({as_written})"), false),
        });
    }
    if !counter {
        return Err(
            "with counter: false the query needs a {{.window}} placeholder (e.g. sum(rate(x[{{.window}}])))"
                .into(),
        );
    }
    Ok((
        summed_slice_increase(&counter_in_sum(query)?, slice_ms),
        true,
    ))
}

fn time_window(w: &TimeWindow) -> Result<(Period, Option<crate::zone::ZoneTable>), String> {
    let rolling = w.is_rolling.unwrap_or(w.calendar.is_none());
    if rolling {
        if w.calendar.is_some() {
            return Err("a rolling window has no calendar".into());
        }
        if w.duration.ends_with('M') || w.duration.ends_with('Q') || w.duration.ends_with('Y') {
            return Err(format!(
                "rolling window {:?}: months, quarters and years are calendar units; use days or weeks",
                w.duration
            ));
        }
        return Ok((Period::Rolling(duration(&w.duration)?), None));
    }
    let Some(cal) = &w.calendar else {
        return Err("a calendar window needs calendar.startTime and calendar.timeZone".into());
    };
    let mut offset = 0;
    let mut week_start = None;
    if let Some(start) = &cal.start_time {
        let (date, time) = start
            .trim()
            .split_once([' ', 'T'])
            .unwrap_or((start.trim(), "00:00:00"));
        let parts: Vec<i64> = date.split('-').filter_map(|p| p.parse().ok()).collect();
        let [y, m, d] = parts[..] else {
            return Err(format!(
                "calendar.startTime {start:?}: expected YYYY-MM-DD hh:mm:ss"
            ));
        };
        let t: Vec<i64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
        let seconds = t.first().copied().unwrap_or(0) * 3600
            + t.get(1).copied().unwrap_or(0) * 60
            + t.get(2).copied().unwrap_or(0);
        offset -= seconds;
        if w.duration == "1M" && d != 1 {
            return Err(format!(
                "calendar.startTime {start:?}: monthly periods must start on the 1st"
            ));
        }
        week_start = Some(
            [
                "sunday",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
            ][weekday(y, m, d) as usize],
        );
    }
    let (mut c, zone) = calendar(
        &w.duration,
        cal.time_zone.as_deref(),
        if w.duration == "1M" { None } else { week_start },
    )?;
    c.utc_offset_s += offset;
    Ok((Period::Calendar(c), zone))
}

/// Day of the week (0 = Sunday) of a proleptic Gregorian date.
fn weekday(y: i64, m: i64, d: i64) -> i64 {
    let (y, m) = if m < 3 { (y - 1, m + 12) } else { (y, m) };
    let k = y.rem_euclid(100);
    let j = y.div_euclid(100);
    let h = (d + (13 * (m + 1)) / 5 + k + k / 4 + j / 4 + 5 * j).rem_euclid(7);
    // Zeller: 0 = Saturday.
    (h + 6) % 7
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays() {
        assert_eq!(weekday(2022, 1, 1), 6); // Saturday
        assert_eq!(weekday(2026, 11, 23), 1); // Monday
        assert_eq!(weekday(2000, 2, 29), 2); // Tuesday
        assert_eq!(slug("Internal objective!"), "internal-objective");
    }
}
