//! Sloth's `version: prometheus/v1` spec, read unchanged. The period is Sloth's default,
//! 30 days, and the alert tiers are Sloth's four (page 14.4× 1h/5m and 6× 6h/30m, ticket
//! 3× 1d/2h and 1× 3d/6h), so the generated alerts match what Sloth would generate.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

use crate::load::{Doc, FileCtx, decimal, scaled_tiers, sloth_tiers};
use crate::native::{DEFAULT_PERIOD_MS, DEFAULT_SLICE_MS, raw_source, windowed_queries};
use crate::spec::{AlertSpec, Alerting, Budgeting, Period, Slo, SpecError, SpecFormat};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothFile {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    slo_plugins: Option<Value>,
    slos: Vec<SlothSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSlo {
    name: String,
    objective: Value,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    plugins: Option<Value>,
    sli: SlothSli,
    #[serde(default)]
    alerting: SlothAlerting,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSli {
    #[serde(default)]
    events: Option<SlothEvents>,
    #[serde(default)]
    raw: Option<SlothRaw>,
    #[serde(default)]
    plugin: Option<SlothPlugin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothEvents {
    error_query: String,
    total_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothRaw {
    error_ratio_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothPlugin {
    id: String,
    #[serde(default)]
    #[allow(dead_code)]
    options: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SlothAlerting {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: SlothAlert,
    #[serde(default)]
    ticket_alert: SlothAlert,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SlothAlert {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

pub(crate) fn parse(ctx: &FileCtx<'_>, doc: &Doc<'_>) -> Result<Vec<Slo>, Vec<SpecError>> {
    let file: SlothFile = ctx.decode(doc).map_err(|e| vec![e])?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    if let Some(p) = &file.slo_plugins
        && !p.is_null()
    {
        errors.push(ctx.error(
            None,
            Some("slo_plugins"),
            "Sloth SLO plugins are Go code and are not run by Vigil; remove them (Vigil's generator already does what the core plugins do)",
        ));
    }
    for (i, slo) in file.slos.into_iter().enumerate() {
        let name = slo.name.clone();
        let err = |field: &str, message: String| {
            ctx.error(Some(&name), Some(&format!("slos[{i}].{field}")), message)
        };
        let result = (|| -> Result<Slo, SpecError> {
            if let Some(p) = &slo.plugins
                && !p.is_null()
            {
                return Err(err("plugins", "Sloth SLO plugins are not supported".into()));
            }
            let objective_percent = decimal(&slo.objective)
                .ok_or_else(|| err("objective", "must be a number (percent)".into()))?;
            let slice_ms = DEFAULT_SLICE_MS;
            let (sli, kind) = match (&slo.sli.events, &slo.sli.raw, &slo.sli.plugin) {
                (Some(e), None, None) => (
                    windowed_queries(Some(&e.error_query), None, &e.total_query, slice_ms)
                        .map_err(|(f, m)| err(&format!("sli.events.{f}"), m))?,
                    "events",
                ),
                (None, Some(r), None) => (
                    raw_source(&r.error_ratio_query, slice_ms)
                        .map_err(|m| err("sli.raw.error_ratio_query", m))?,
                    "raw",
                ),
                (None, None, Some(p)) => {
                    return Err(err(
                        "sli.plugin",
                        format!(
                            "SLI plugin {:?} is Go code that Vigil does not run; write the SLI as events or raw queries",
                            p.id
                        ),
                    ));
                }
                _ => {
                    return Err(err(
                        "sli",
                        "give exactly one of events, raw and plugin".into(),
                    ));
                }
            };
            let a = slo.alerting;
            let alerts_on = !(a.page_alert.disable && a.ticket_alert.disable);
            if alerts_on && a.name.is_empty() {
                return Err(err(
                    "alerting.name",
                    "is required unless both page_alert and ticket_alert are disabled".into(),
                ));
            }
            let period = Period::Rolling(DEFAULT_PERIOD_MS);
            let mut labels = file.labels.clone();
            labels.extend(slo.labels);
            let alert = |x: SlothAlert| AlertSpec {
                disable: x.disable,
                name: String::new(),
                for_ms: 0,
                labels: x.labels,
                annotations: x.annotations,
            };
            Ok(Slo {
                file: ctx.file.to_string(),
                format: SpecFormat::Sloth,
                service: file.service.clone(),
                id: format!("{}-{}", file.service, slo.name),
                name: slo.name.clone(),
                description: slo.description.clone(),
                objective_percent,
                sli,
                sli_kind: kind,
                period,
                budgeting: Budgeting::Occurrences,
                slice_ms,
                labels,
                alerting: Alerting {
                    name: a.name,
                    labels: a.labels,
                    annotations: a.annotations,
                    page: alert(a.page_alert),
                    ticket: alert(a.ticket_alert),
                    tiers: scaled_tiers(&sloth_tiers(), period, slice_ms),
                    min_events: 0,
                    no_data: AlertSpec {
                        for_ms: 15 * 60_000,
                        ..AlertSpec::default()
                    },
                    budget_exhausted: AlertSpec::default(),
                },
                zone: None,
            })
        })();
        match result {
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
