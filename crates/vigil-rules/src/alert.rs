//! Alerting rules: the per-label-set state machine inactive → pending → firing → resolved,
//! with `for`, `keep_firing_for`, the 15-minute resolved retention, and the `ALERTS` /
//! `ALERTS_FOR_STATE` samples.

use std::collections::{BTreeMap, HashMap};

use vigil_model::{Label, Labels, METRIC_NAME};

use crate::eval::EvalSample;
use crate::template::{self, AlertData, Context};

/// How long a resolved alert is kept (and re-sent) before it is forgotten.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Resolved (kept for [`RESOLVED_RETENTION_MS`] so the resolution is sent).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// Prometheus' name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Identifying labels (expression labels without `__name__`, rule labels, `alertname`).
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// State.
    pub state: AlertState,
    /// Sample value of the latest evaluation.
    pub value: f64,
    /// When it became active (ms).
    pub active_at_ms: i64,
    /// When it started firing (ms).
    pub fired_at_ms: Option<i64>,
    /// When it was resolved (ms).
    pub resolved_at_ms: Option<i64>,
    /// When it was last sent to Alertmanager (ms).
    pub last_sent_at_ms: Option<i64>,
    /// `endsAt` of the last send (ms).
    pub valid_until_ms: Option<i64>,
    /// Since when the expression stopped returning it while `keep_firing_for` holds it (ms).
    pub keep_firing_since_ms: Option<i64>,
}

impl Alert {
    /// Prometheus' `needsSending`: never pending; always after a resolution not yet sent;
    /// otherwise once `resend_delay` has passed since the last send.
    pub fn needs_sending(&self, ts_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(resolved) = self.resolved_at_ms
            && self.last_sent_at_ms.is_none_or(|sent| resolved > sent)
        {
            return true;
        }
        match self.last_sent_at_ms {
            None => true,
            Some(sent) => sent + resend_delay_ms < ts_ms,
        }
    }
}

/// Static facts an alerting rule needs besides its spec.
pub struct AlertEnv<'a> {
    /// External labels for `$externalLabels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// External URL for `$externalURL`.
    pub external_url: &'a str,
    /// Runs `query` in templates.
    pub query: &'a template::QueryFn<'a>,
}

/// State of one alerting rule across evaluations.
#[derive(Debug, Clone, Default)]
pub struct AlertingState {
    /// Active (pending, firing, or recently resolved) alerts by label set.
    pub active: HashMap<Labels, Alert>,
    /// False until `for` state was restored after start; no `ALERTS` series before.
    pub restored: bool,
}

fn labels_from_map(map: &BTreeMap<String, String>) -> Labels {
    let list: Vec<Label> = map
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| Label::new(k.clone(), v.clone()))
        .collect();
    // A BTreeMap has unique keys, so this cannot fail.
    Labels::from_unsorted_unique(list).unwrap_or_default()
}

fn labels_to_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Adds or replaces labels.
pub(crate) fn with_labels(base: &Labels, extra: &[(&str, &str)]) -> Labels {
    let mut map = labels_to_map(base);
    for (k, v) in extra {
        map.insert((*k).to_string(), (*v).to_string());
    }
    labels_from_map(&map)
}

/// Everything an alerting rule evaluation produced.
pub struct AlertOutput {
    /// `ALERTS` and `ALERTS_FOR_STATE` samples (only once restored).
    pub samples: Vec<(Labels, f64)>,
}

/// One evaluation of an alerting rule at `ts_ms` from the query result `result`
/// (Prometheus' `AlertingRule.Eval` after the query).
#[allow(clippy::too_many_arguments)]
pub fn eval_alerting(
    state: &mut AlertingState,
    name: &str,
    for_ms: i64,
    keep_firing_for_ms: i64,
    rule_labels: &BTreeMap<String, String>,
    rule_annotations: &BTreeMap<String, String>,
    result: Vec<EvalSample>,
    ts_ms: i64,
    limit: usize,
    env: &AlertEnv<'_>,
) -> Result<AlertOutput, String> {
    let ctx = Context {
        query: Some(env.query),
        now_ms: ts_ms,
        external_url: env.external_url,
    };
    let mut fresh: HashMap<Labels, Alert> = HashMap::with_capacity(result.len());
    for sample in result {
        let sample_map = labels_to_map(&sample.labels);
        let data = AlertData {
            labels: &sample_map,
            external_labels: env.external_labels,
            external_url: env.external_url,
            value: sample.value,
        };
        let mut map = sample_map.clone();
        map.remove(METRIC_NAME);
        for (k, v) in rule_labels {
            let expanded = template::expand_alert_template(name, v, &data, &ctx);
            map.insert(k.clone(), expanded);
        }
        map.insert("alertname".into(), name.to_string());
        let annotations: BTreeMap<String, String> = rule_annotations
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    template::expand_alert_template(name, v, &data, &ctx),
                )
            })
            .collect();
        let labels = labels_from_map(&map);
        if fresh.contains_key(&labels) {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels".into(),
            );
        }
        fresh.insert(
            labels.clone(),
            Alert {
                labels,
                annotations,
                state: AlertState::Pending,
                value: sample.value,
                active_at_ms: ts_ms,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
                valid_until_ms: None,
                keep_firing_since_ms: None,
            },
        );
    }
    let returned: std::collections::HashSet<Labels> = fresh.keys().cloned().collect();
    for (labels, alert) in fresh {
        match state.active.get_mut(&labels) {
            Some(existing) if existing.state != AlertState::Inactive => {
                existing.value = alert.value;
                existing.annotations = alert.annotations;
            }
            _ => {
                state.active.insert(labels, alert);
            }
        }
    }
    let mut samples = Vec::new();
    let mut active_count = 0usize;
    let mut to_delete = Vec::new();
    let mut keys: Vec<Labels> = state.active.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let Some(alert) = state.active.get_mut(&key) else {
            continue;
        };
        if !returned.contains(&key) {
            let mut keep_firing = false;
            if alert.state == AlertState::Firing && keep_firing_for_ms > 0 {
                let since = *alert.keep_firing_since_ms.get_or_insert(ts_ms);
                if ts_ms - since < keep_firing_for_ms {
                    keep_firing = true;
                }
            }
            if alert.state == AlertState::Pending
                || alert
                    .resolved_at_ms
                    .is_some_and(|r| ts_ms - r > RESOLVED_RETENTION_MS)
            {
                to_delete.push(key.clone());
            }
            if alert.state != AlertState::Inactive && !keep_firing {
                alert.state = AlertState::Inactive;
                alert.resolved_at_ms = Some(ts_ms);
            }
            if !keep_firing {
                continue;
            }
        } else {
            alert.keep_firing_since_ms = None;
        }
        active_count += 1;
        if alert.state == AlertState::Pending && ts_ms - alert.active_at_ms >= for_ms {
            alert.state = AlertState::Firing;
            alert.fired_at_ms = Some(ts_ms);
        }
        if state.restored {
            samples.push((
                with_labels(
                    &alert.labels,
                    &[
                        (METRIC_NAME, "ALERTS"),
                        ("alertstate", alert.state.as_str()),
                    ],
                ),
                1.0,
            ));
            samples.push((
                with_labels(&alert.labels, &[(METRIC_NAME, "ALERTS_FOR_STATE")]),
                (alert.active_at_ms.div_euclid(1000)) as f64,
            ));
        }
    }
    for key in to_delete {
        state.active.remove(&key);
    }
    if limit > 0 && active_count > limit {
        state.active.clear();
        return Err(format!(
            "exceeded limit of {limit} with {active_count} alerts"
        ));
    }
    Ok(AlertOutput { samples })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(
        state: &mut AlertingState,
        present: bool,
        ts_s: i64,
        for_s: i64,
        keep_s: i64,
    ) -> Vec<(Labels, f64)> {
        let result = if present {
            vec![EvalSample {
                labels: Labels::from_static(&[("__name__", "up"), ("job", "a")]),
                value: 0.0,
            }]
        } else {
            vec![]
        };
        let ext = BTreeMap::new();
        let query = |_: &str| Ok(vec![]);
        let env = AlertEnv {
            external_labels: &ext,
            external_url: "",
            query: &query,
        };
        let mut labels = BTreeMap::new();
        labels.insert("severity".to_string(), "page".to_string());
        eval_alerting(
            state,
            "Down",
            for_s * 1000,
            keep_s * 1000,
            &labels,
            &BTreeMap::new(),
            result,
            ts_s * 1000,
            0,
            &env,
        )
        .unwrap()
        .samples
    }

    fn only(state: &AlertingState) -> &Alert {
        assert_eq!(state.active.len(), 1);
        state.active.values().next().unwrap()
    }

    #[test]
    fn pending_then_firing_then_resolved_then_forgotten() {
        let mut state = AlertingState {
            restored: true,
            ..AlertingState::default()
        };
        let samples = run(&mut state, true, 0, 120, 0);
        assert_eq!(only(&state).state, AlertState::Pending);
        assert_eq!(samples[0].0.get("alertstate"), Some("pending"));
        assert_eq!(samples[1].0.metric_name(), Some("ALERTS_FOR_STATE"));
        assert_eq!(samples[1].1, 0.0);
        run(&mut state, true, 60, 120, 0);
        assert_eq!(only(&state).state, AlertState::Pending);
        let samples = run(&mut state, true, 120, 120, 0);
        assert_eq!(only(&state).state, AlertState::Firing);
        assert_eq!(only(&state).fired_at_ms, Some(120_000));
        assert_eq!(samples[0].0.get("alertstate"), Some("firing"));
        assert_eq!(samples[0].0.get("severity"), Some("page"));
        assert_eq!(samples[0].0.get("alertname"), Some("Down"));
        let samples = run(&mut state, false, 180, 120, 0);
        assert!(samples.is_empty());
        assert_eq!(only(&state).state, AlertState::Inactive);
        assert_eq!(only(&state).resolved_at_ms, Some(180_000));
        run(&mut state, false, 180 + 15 * 60, 120, 0);
        assert_eq!(state.active.len(), 1, "kept for the resolved retention");
        run(&mut state, false, 181 + 15 * 60, 120, 0);
        assert!(state.active.is_empty());
    }

    #[test]
    fn pending_alerts_vanish_and_for_zero_fires_at_once() {
        let mut state = AlertingState::default();
        let samples = run(&mut state, true, 0, 60, 0);
        assert!(samples.is_empty(), "no ALERTS series before restore");
        run(&mut state, false, 30, 60, 0);
        assert!(state.active.is_empty(), "a pending alert is simply dropped");
        run(&mut state, true, 40, 0, 0);
        assert_eq!(only(&state).state, AlertState::Firing);
    }

    #[test]
    fn keep_firing_for_holds_and_then_resolves() {
        let mut state = AlertingState {
            restored: true,
            ..AlertingState::default()
        };
        run(&mut state, true, 0, 0, 120);
        let samples = run(&mut state, false, 60, 0, 120);
        assert_eq!(only(&state).state, AlertState::Firing);
        assert_eq!(samples[0].0.get("alertstate"), Some("firing"));
        run(&mut state, false, 120, 0, 120);
        assert_eq!(only(&state).state, AlertState::Firing);
        run(&mut state, false, 180, 0, 120);
        assert_eq!(only(&state).state, AlertState::Inactive);
        // Back again: a resolved alert is replaced by a new pending/firing one.
        run(&mut state, true, 240, 0, 120);
        assert_eq!(only(&state).state, AlertState::Firing);
        assert_eq!(only(&state).active_at_ms, 240_000);
    }

    #[test]
    fn sending_rules() {
        let mut alert = Alert {
            labels: Labels::empty(),
            annotations: BTreeMap::new(),
            state: AlertState::Pending,
            value: 1.0,
            active_at_ms: 0,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_sent_at_ms: None,
            valid_until_ms: None,
            keep_firing_since_ms: None,
        };
        assert!(!alert.needs_sending(0, 60_000));
        alert.state = AlertState::Firing;
        assert!(alert.needs_sending(0, 60_000));
        alert.last_sent_at_ms = Some(0);
        assert!(!alert.needs_sending(60_000, 60_000));
        assert!(alert.needs_sending(60_001, 60_000));
        alert.state = AlertState::Inactive;
        alert.resolved_at_ms = Some(10_000);
        assert!(alert.needs_sending(10_000, 60_000));
    }
}
