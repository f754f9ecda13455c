//! Reading spec files: multi-document YAML, format detection, and the checks every format
//! shares (objective, windows, tiers, labels).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_norway::Value;
use vigil_model::{is_valid_label_name, parse_duration_ms};

use crate::decimal::Decimal;
use crate::spec::{Budgeting, DAY_MS, Period, Severity, Slo, SpecError, Tier};
use crate::{native, openslo, sloth};

/// One YAML document of a file, with the line it starts on (1-based).
pub(crate) struct Doc<'a> {
    pub(crate) text: &'a str,
    pub(crate) first_line: usize,
}

/// Splits a multi-document YAML text at its `---` lines.
pub(crate) fn split_documents(text: &str) -> Vec<Doc<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            docs.push(Doc {
                text: &text[start..offset],
                first_line: start_line,
            });
            start = offset + line.len();
            start_line = index + 2;
        }
        offset += line.len();
    }
    docs.push(Doc {
        text: &text[start..],
        first_line: start_line,
    });
    docs.into_iter()
        .filter(|d| {
            d.text
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Context for errors about one file.
pub(crate) struct FileCtx<'a> {
    pub(crate) file: &'a str,
}

impl FileCtx<'_> {
    pub(crate) fn error(
        &self,
        slo: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError {
            file: self.file.to_string(),
            position: None,
            slo: slo.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// Deserializes one document into `T`, with positions relative to the file.
    pub(crate) fn decode<T: DeserializeOwned>(&self, doc: &Doc<'_>) -> Result<T, SpecError> {
        serde_norway::from_str::<T>(doc.text).map_err(|err| {
            let position = err
                .location()
                .map(|l| (l.line() + doc.first_line - 1, l.column()));
            let mut message = err.to_string();
            if let Some(at) = message.find(" at line ") {
                message.truncate(at);
            }
            let (field, message) = match message.split_once(": ") {
                Some((path, rest)) if !path.contains(' ') && !path.is_empty() => {
                    (Some(path.to_string()), rest.to_string())
                }
                _ => (None, message),
            };
            SpecError {
                file: self.file.to_string(),
                position,
                slo: None,
                field,
                message,
            }
        })
    }
}

/// A number written as a YAML number or string, as an exact decimal.
pub(crate) fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Decimal::from_int(i))
            } else {
                n.as_f64().and_then(Decimal::from_f64)
            }
        }
        Value::String(s) => Decimal::parse(s),
        _ => None,
    }
}

/// A Prometheus duration.
pub(crate) fn duration(text: &str) -> Result<i64, String> {
    match parse_duration_ms(text.trim()) {
        Ok(ms) if ms > 0 => Ok(ms),
        Ok(_) => Err(format!("duration {text:?} must be positive")),
        Err(err) => Err(err.to_string()),
    }
}

/// The workbook's tiers for a 30-day period: page 14.4× over 1h & 5m, page 6× over 6h &
/// 30m, ticket 1× over 3d & 6h.
pub(crate) fn workbook_tiers() -> Vec<(Severity, i64, i64, &'static str)> {
    const H: i64 = 3_600_000;
    const M: i64 = 60_000;
    vec![
        (Severity::Page, H, 5 * M, "14.4"),
        (Severity::Page, 6 * H, 30 * M, "6"),
        (Severity::Ticket, 3 * DAY_MS, 6 * H, "1"),
    ]
}

/// Sloth's four tiers for a 30-day period (adds ticket 3× over 1d & 2h).
pub(crate) fn sloth_tiers() -> Vec<(Severity, i64, i64, &'static str)> {
    const H: i64 = 3_600_000;
    const M: i64 = 60_000;
    vec![
        (Severity::Page, H, 5 * M, "14.4"),
        (Severity::Page, 6 * H, 30 * M, "6"),
        (Severity::Ticket, DAY_MS, 2 * H, "3"),
        (Severity::Ticket, 3 * DAY_MS, 6 * H, "1"),
    ]
}

/// Tiers defined for a 30-day period, scaled to `period`: windows scale with the period
/// (rounded to whole slices, at least one), and the factor is recomputed so each tier
/// still means "this share of the budget spent within the long window".
pub(crate) fn scaled_tiers(
    base: &[(Severity, i64, i64, &'static str)],
    period: Period,
    slice_ms: i64,
) -> Vec<Tier> {
    let nominal = period.nominal_ms();
    let base_period = 30 * DAY_MS;
    base.iter()
        .map(|&(severity, long, short, factor)| {
            let factor = Decimal::parse(factor).unwrap_or(Decimal::from_int(1));
            if nominal == base_period {
                return Tier {
                    severity,
                    long_ms: long,
                    short_ms: short,
                    factor,
                };
            }
            let scale = |w: i64| -> i64 {
                let scaled = (w as f64 * nominal as f64 / base_period as f64 / slice_ms as f64)
                    .round()
                    .max(1.0) as i64;
                scaled * slice_ms
            };
            let long_ms = scale(long);
            let short_ms = scale(short).min(long_ms);
            // Budget share spent in the long window at this factor, kept constant.
            let share = factor.to_f64() * long as f64 / base_period as f64;
            let scaled = share * nominal as f64 / long_ms as f64;
            let factor = Decimal::from_f64((scaled * 1000.0).round() / 1000.0).unwrap_or(factor);
            Tier {
                severity,
                long_ms,
                short_ms,
                factor,
            }
        })
        .collect()
}

/// Checks what every format shares; returns warnings (tiers that can never fire).
pub(crate) fn validate(slo: &Slo) -> Result<Vec<String>, SpecError> {
    let ctx = FileCtx { file: &slo.file };
    let name = Some(slo.name.as_str());
    let err = |field: &str, message: String| ctx.error(name, Some(field), message);
    if slo.service.is_empty() {
        return Err(err("service", "must not be empty".into()));
    }
    if slo.name.is_empty() {
        return Err(ctx.error(None, Some("name"), "must not be empty"));
    }
    for (what, text) in [("service", &slo.service), ("name", &slo.name)] {
        if text
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(err(
                what,
                format!("{text:?} has characters that cannot be used in a label value"),
            ));
        }
    }
    let zero = Decimal::from_int(0);
    let hundred = Decimal::from_int(100);
    if slo.objective_percent <= zero || slo.objective_percent >= hundred {
        return Err(err(
            "objective",
            format!(
                "{}% is out of range: it must be above 0 and below 100 (100% leaves no error budget)",
                slo.objective_percent
            ),
        ));
    }
    if let Budgeting::Timeslices { slice_target } = &slo.budgeting
        && (*slice_target <= zero || *slice_target > Decimal::from_int(1))
    {
        return Err(err(
            "timeslice target",
            format!("{slice_target} must be in (0, 1] as a ratio (or (0, 100] as a percent)"),
        ));
    }
    if slo.slice_ms <= 0 || slo.slice_ms >= DAY_MS || (DAY_MS % slo.slice_ms) != 0 {
        return Err(err(
            "slice",
            format!(
                "{} must divide one day (e.g. 30s, 1m, 5m)",
                vigil_model::format_duration_ms(slo.slice_ms)
            ),
        ));
    }
    let nominal = slo.period.nominal_ms();
    if let Period::Rolling(ms) = slo.period
        && ms % slo.slice_ms != 0
    {
        return Err(err(
            "window",
            format!(
                "{} is not a whole number of slices of {}",
                vigil_model::format_duration_ms(ms),
                vigil_model::format_duration_ms(slo.slice_ms)
            ),
        ));
    }
    for (key, _) in slo.labels.iter().chain(&slo.alerting.labels) {
        if !is_valid_label_name(key) {
            return Err(err("labels", format!("invalid label name {key:?}")));
        }
    }
    let mut warnings = Vec::new();
    let budget = slo.error_budget();
    for (i, tier) in slo.alerting.tiers.iter().enumerate() {
        let field = format!("alerting.tiers[{i}]");
        for (what, w) in [("long", tier.long_ms), ("short", tier.short_ms)] {
            if w % slo.slice_ms != 0 {
                return Err(err(
                    &field,
                    format!(
                        "{what} window {} is not a whole number of slices of {}",
                        vigil_model::format_duration_ms(w),
                        vigil_model::format_duration_ms(slo.slice_ms)
                    ),
                ));
            }
        }
        if tier.short_ms > tier.long_ms {
            return Err(err(
                &field,
                "the short window is longer than the long window".into(),
            ));
        }
        if tier.long_ms > nominal {
            return Err(err(
                &field,
                "the long window is longer than the SLO period".into(),
            ));
        }
        if !tier.factor.is_positive() {
            return Err(err(&field, "the burn-rate factor must be positive".into()));
        }
        let threshold = tier
            .factor
            .checked_mul(budget)
            .unwrap_or(Decimal::from_int(2));
        if threshold >= Decimal::from_int(1) {
            warnings.push(format!(
                "{}: slo {:?}: {} tier {}× over {}/{} needs an error ratio of {threshold} ≥ 1 and can never fire; lower the factor or raise the objective",
                slo.file,
                slo.name,
                tier.severity,
                tier.factor,
                vigil_model::format_duration_ms(tier.long_ms),
                vigil_model::format_duration_ms(tier.short_ms),
            ));
        }
    }
    Ok(warnings)
}

/// Specs read from files: the SLOs and the warnings.
#[derive(Debug, Clone, Default)]
pub struct LoadedSpecs {
    /// SLOs in file order.
    pub slos: Vec<Slo>,
    /// Non-fatal findings (e.g. an alert tier that can never fire).
    pub warnings: Vec<String>,
}

/// Parses spec files given as `(file name, text)`: each YAML document is a native spec
/// (`version: vigil/v1`), a Sloth spec (`version: prometheus/v1`) or an OpenSLO v1 object
/// (`apiVersion: openslo/v1`; `SLI` and `DataSource` objects may be referenced from SLOs of
/// any of the files). Returns every error found.
pub fn parse_specs(files: &[(String, String)]) -> Result<LoadedSpecs, Vec<SpecError>> {
    let mut errors = Vec::new();
    let mut slos = Vec::new();
    let mut openslo_docs = openslo::Objects::default();
    for (file, text) in files {
        let ctx = FileCtx { file };
        let docs = split_documents(text);
        if docs.is_empty() {
            errors.push(ctx.error(None, None, "the file has no SLO spec"));
        }
        for doc in docs {
            let head: Value = match ctx.decode(&doc) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let get = |key: &str| head.get(key).and_then(Value::as_str).map(str::to_string);
            match (get("version").as_deref(), get("apiVersion").as_deref()) {
                (Some("vigil/v1"), _) => match native::parse(&ctx, &doc) {
                    Ok(mut s) => slos.append(&mut s),
                    Err(mut e) => errors.append(&mut e),
                },
                (Some("prometheus/v1"), _) => match sloth::parse(&ctx, &doc) {
                    Ok(mut s) => slos.append(&mut s),
                    Err(mut e) => errors.append(&mut e),
                },
                (_, Some("openslo/v1")) => {
                    if let Err(e) = openslo_docs.add(&ctx, &doc, &head) {
                        errors.push(e);
                    }
                }
                (Some(other), _) => errors.push(ctx.error(
                    None,
                    Some("version"),
                    format!("unknown spec version {other:?}: use vigil/v1 or prometheus/v1 (Sloth)"),
                )),
                (_, Some(other)) => errors.push(ctx.error(
                    None,
                    Some("apiVersion"),
                    format!("unknown apiVersion {other:?}: only openslo/v1 is read"),
                )),
                (None, None) => errors.push(SpecError {
                    file: file.clone(),
                    position: Some((doc.first_line, 1)),
                    slo: None,
                    field: None,
                    message: "not an SLO spec: expected `version: vigil/v1`, `version: prometheus/v1` (Sloth) or `apiVersion: openslo/v1`".into(),
                }),
            }
        }
    }
    match openslo_docs.into_slos() {
        Ok(mut s) => slos.append(&mut s),
        Err(mut e) => errors.append(&mut e),
    }
    let mut warnings = Vec::new();
    let mut seen = BTreeMap::new();
    for slo in &slos {
        match validate(slo) {
            Ok(mut w) => warnings.append(&mut w),
            Err(e) => errors.push(e),
        }
        if let Some(first) = seen.insert(slo.id.clone(), slo.file.clone()) {
            errors.push(FileCtx { file: &slo.file }.error(
                Some(&slo.name),
                None,
                format!(
                    "SLO id {:?} (service-name) is defined twice (first in {first})",
                    slo.id
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(LoadedSpecs { slos, warnings })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_with_their_first_lines() {
        let docs = split_documents("# head\n---\na: 1\n---\n\nb: 2\n--- \n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].first_line, 3);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[1].first_line, 5);
    }
}
