//! A rule group: its rules in file order, their state, and one evaluation cycle with
//! Prometheus' semantics (each rule commits before the next runs, staleness markers for
//! vanished series, `for` state restore, slotted restart-stable timestamps).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use vigil_model::{
    Labels, METRIC_NAME, Matcher, Sample, TenantId, TimeRange, is_stale_nan, stale_nan,
};
use vigil_storage::{AppendOptions, Appendable, Queryable, SelectHints};

use crate::alert::{self, Alert, AlertEnv, AlertState, AlertingState};
use crate::eval::{EvalSample, QueryEvaluator};
use crate::file::{GroupSpec, QueryLanguage, RuleSpec};

/// Everything a group needs from its surroundings to evaluate.
#[derive(Clone)]
pub struct GroupEnv {
    /// Tenant the rules belong to.
    pub tenant: TenantId,
    /// Where results go (the durable write path).
    pub appendable: Arc<dyn Appendable>,
    /// Where `ALERTS_FOR_STATE` is read back from for restores.
    pub queryable: Arc<dyn Queryable>,
    /// PromQL evaluator.
    pub promql: Arc<dyn QueryEvaluator>,
    /// LogQL evaluator, once the LogQL engine is wired in.
    pub logql: Option<Arc<dyn QueryEvaluator>>,
    /// External labels (`$externalLabels`, and added to notifications).
    pub external_labels: BTreeMap<String, String>,
    /// External URL (`$externalURL`, generator URLs).
    pub external_url: String,
    /// Rules with `for` shorter than this are not restored (`--rules.alert.for-grace-period`).
    pub for_grace_period_ms: i64,
    /// How far back `ALERTS_FOR_STATE` is looked for (`--rules.alert.for-outage-tolerance`).
    pub outage_tolerance_ms: i64,
    /// Minimum time between two sends of a firing alert (`--rules.alert.resend-delay`).
    pub resend_delay_ms: i64,
    /// Runtime used to commit appends from the (blocking) evaluation thread.
    pub runtime: tokio::runtime::Handle,
}

/// An alert handed to the notifier (Prometheus' `notifier.Alert` before external labels).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingAlert {
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt` (ms): when it started firing.
    pub starts_at_ms: i64,
    /// `endsAt` (ms): the resolution time, or `ts + 4 × max(interval, resend delay)`.
    pub ends_at_ms: i64,
    /// The rule expression, for the generator URL.
    pub expr: String,
}

/// Health of a rule after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Good,
    /// Last evaluation failed.
    Bad,
}

impl Health {
    /// Prometheus' API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// One rule with its evaluation state.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written (group labels already merged in).
    pub spec: RuleSpec,
    /// Alert state (alerting rules).
    pub alerts: AlertingState,
    /// Series written by the previous evaluation, for staleness markers.
    pub series_in_previous_eval: HashSet<Labels>,
    /// Health of the last evaluation.
    pub health: Health,
    /// Error of the last evaluation.
    pub last_error: Option<String>,
    /// Time of the last evaluation (ms).
    pub last_evaluation_ms: Option<i64>,
    /// Duration of the last evaluation (seconds).
    pub evaluation_seconds: f64,
}

impl Rule {
    fn new(spec: RuleSpec) -> Self {
        Self {
            spec,
            alerts: AlertingState::default(),
            series_in_previous_eval: HashSet::new(),
            health: Health::Unknown,
            last_error: None,
            last_evaluation_ms: None,
            evaluation_seconds: 0.0,
        }
    }

    /// Alerts sorted by labels.
    pub fn active_alerts(&self) -> Vec<&Alert> {
        let mut alerts: Vec<&Alert> = self
            .alerts
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alerts
    }

    /// The rule's overall alert state (the most severe of its alerts).
    pub fn state(&self) -> AlertState {
        let mut state = AlertState::Inactive;
        for alert in self.alerts.active.values() {
            match alert.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => state = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        state
    }

    /// Same rule text (used to carry state over a reload).
    fn same_definition(&self, other: &RuleSpec) -> bool {
        let a = &self.spec;
        a.record == other.record
            && a.alert == other.alert
            && a.expr == other.expr
            && a.for_ms == other.for_ms
            && a.keep_firing_for_ms == other.keep_firing_for_ms
            && a.labels == other.labels
            && a.annotations == other.annotations
    }
}

/// Counters and gauges of one group, exposed under Prometheus' metric names.
#[derive(Debug, Clone, Default)]
pub struct GroupMetrics {
    /// `prometheus_rule_evaluations_total`.
    pub evaluations_total: u64,
    /// `prometheus_rule_evaluation_failures_total`.
    pub evaluation_failures_total: u64,
    /// `prometheus_rule_group_iterations_total`.
    pub iterations_total: u64,
    /// `prometheus_rule_group_iterations_missed_total`.
    pub iterations_missed_total: u64,
    /// `prometheus_rule_group_last_duration_seconds`.
    pub last_duration_seconds: f64,
    /// `prometheus_rule_group_last_evaluation_timestamp_seconds`.
    pub last_evaluation_timestamp_seconds: f64,
    /// `prometheus_rule_group_last_restore_duration_seconds`.
    pub last_restore_duration_seconds: f64,
    /// Samples appended by the last evaluation (`prometheus_rule_group_last_evaluation_samples`).
    pub last_evaluation_samples: u64,
}

/// A rule group with state.
#[derive(Debug, Clone)]
pub struct Group {
    /// Name.
    pub name: String,
    /// File it was loaded from (its namespace, for groups of a tenant directory).
    pub file: String,
    /// Tenant it reads and writes as; `None` means the manager's tenant.
    pub tenant: Option<TenantId>,
    /// Evaluation interval (ms).
    pub interval_ms: i64,
    /// Query offset (ms).
    pub query_offset_ms: i64,
    /// Series/alert limit per rule (0 = unlimited).
    pub limit: usize,
    /// Query language.
    pub language: QueryLanguage,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Series of rules removed by a reload, marked stale on the next evaluation.
    pub stale_series: Vec<Labels>,
    /// Metrics.
    pub metrics: GroupMetrics,
}

fn merge_group_labels(spec: &GroupSpec, rule: &RuleSpec) -> RuleSpec {
    let mut rule = rule.clone();
    for (k, v) in &spec.labels {
        rule.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    rule
}

/// The outcome of one evaluation cycle, for the notifier.
#[derive(Debug, Default)]
pub struct CycleOutcome {
    /// Alerts that need sending after this cycle.
    pub to_send: Vec<OutgoingAlert>,
}

impl Group {
    /// Builds a group from its spec; `default_interval_ms` and `default_query_offset_ms` apply
    /// when the spec has none.
    pub fn new(
        file: &str,
        spec: &GroupSpec,
        default_interval_ms: i64,
        default_query_offset_ms: i64,
    ) -> Self {
        Self {
            name: spec.name.clone(),
            file: file.to_string(),
            tenant: None,
            interval_ms: spec.interval_ms.unwrap_or(default_interval_ms).max(1),
            query_offset_ms: spec.query_offset_ms.unwrap_or(default_query_offset_ms),
            limit: spec.limit,
            language: spec.language,
            rules: spec
                .rules
                .iter()
                .map(|r| Rule::new(merge_group_labels(spec, r)))
                .collect(),
            stale_series: Vec::new(),
            metrics: GroupMetrics::default(),
        }
    }

    /// The group runs as `tenant` (a Loki-ruler tenant directory) instead of the manager's.
    pub fn with_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Marks every alerting rule as restored (promtool does this, so `ALERTS` exists at once).
    pub fn mark_restored(&mut self) {
        for rule in &mut self.rules {
            rule.alerts.restored = true;
        }
    }

    /// The group's hash-based offset within its interval (ms), stable across restarts: a
    /// hash of file and name, as Prometheus computes it.
    fn offset_ms(&self) -> i64 {
        let mut key = Vec::new();
        for (name, value) in [("file", self.file.as_str()), ("name", self.name.as_str())] {
            key.extend_from_slice(name.as_bytes());
            key.push(0xff);
            key.extend_from_slice(value.as_bytes());
            key.push(0xff);
        }
        let hash = xxhash_rust::xxh64::xxh64(&key, 0);
        (hash % self.interval_ms as u64) as i64
    }

    /// The latest slot `k × interval + offset` at or before `now_ms` (Prometheus' `EvalTimestamp`).
    pub fn eval_timestamp_ms(&self, now_ms: i64) -> i64 {
        let offset = self.offset_ms();
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(self.interval_ms) + offset
    }

    /// After a run that evaluated `last_ts_ms`, the next slot to evaluate at `now_ms` and how
    /// many slots were missed in between (skipped, not queued).
    pub fn next_slot(&self, last_ts_ms: i64, now_ms: i64) -> (i64, u64) {
        let elapsed = now_ms - last_ts_ms;
        let slots = (elapsed / self.interval_ms).max(1);
        ((last_ts_ms + slots * self.interval_ms), (slots - 1) as u64)
    }

    /// Carries state of unchanged rules over from `old` (reload); series of rules that no
    /// longer exist will be marked stale on the next evaluation.
    pub fn copy_state_from(&mut self, old: &Group) {
        let mut taken = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            if let Some(index) = old
                .rules
                .iter()
                .enumerate()
                .position(|(i, o)| !taken[i] && o.same_definition(&rule.spec))
            {
                taken[index] = true;
                let previous = &old.rules[index];
                rule.alerts = previous.alerts.clone();
                rule.series_in_previous_eval = previous.series_in_previous_eval.clone();
                rule.health = previous.health;
                rule.last_error = previous.last_error.clone();
                rule.last_evaluation_ms = previous.last_evaluation_ms;
                rule.evaluation_seconds = previous.evaluation_seconds;
            }
        }
        self.stale_series = old.stale_series.clone();
        for (index, previous) in old.rules.iter().enumerate() {
            if !taken[index] {
                self.stale_series
                    .extend(previous.series_in_previous_eval.iter().cloned());
            }
        }
        self.metrics = old.metrics.clone();
    }

    fn append(&self, env: &GroupEnv, samples: &[(Labels, f64)], t_ms: i64) -> Result<(), String> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut appender = env
            .appendable
            .appender(&env.tenant, AppendOptions::default());
        for (labels, value) in samples {
            if let Err(err) = appender.append_sample(labels, Sample::new(t_ms, *value)) {
                tracing::warn!(group = %self.name, error = %err, "rule evaluation result not appended");
            }
        }
        env.runtime
            .block_on(appender.commit())
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    /// Writes staleness markers at `t_ms` for every series the group wrote last (shutdown,
    /// or the group was removed by a reload).
    pub fn mark_all_stale(&mut self, env: &GroupEnv, t_ms: i64) {
        let mut series: Vec<(Labels, f64)> = Vec::new();
        for rule in &mut self.rules {
            series.extend(
                rule.series_in_previous_eval
                    .drain()
                    .map(|l| (l, stale_nan())),
            );
        }
        series.extend(self.stale_series.drain(..).map(|l| (l, stale_nan())));
        if let Err(err) = self.append(env, &series, t_ms) {
            tracing::warn!(group = %self.name, error = %err, "staleness markers not written");
        }
    }

    /// One evaluation cycle at slot `ts_ms`: every rule in order, each committed before the
    /// next, so later rules see earlier rules' output.
    pub fn eval(&mut self, ts_ms: i64, env: &GroupEnv) -> CycleOutcome {
        let started = Instant::now();
        let mut outcome = CycleOutcome::default();
        let query_ts = ts_ms - self.query_offset_ms;
        let evaluator: Option<Arc<dyn QueryEvaluator>> = match self.language {
            QueryLanguage::PromQL => Some(env.promql.clone()),
            QueryLanguage::LogQL => env.logql.clone(),
        };
        let mut samples_total = 0u64;
        for index in 0..self.rules.len() {
            let rule_started = Instant::now();
            self.metrics.evaluations_total += 1;
            let result = match &evaluator {
                Some(evaluator) => self.eval_rule(index, ts_ms, env, evaluator.as_ref()),
                None => Err("LogQL rule groups are not supported yet".to_string()),
            };
            let rule = &mut self.rules[index];
            rule.last_evaluation_ms = Some(ts_ms);
            let samples = match result {
                Ok(samples) => {
                    rule.health = Health::Good;
                    rule.last_error = None;
                    samples
                }
                Err(err) => {
                    rule.health = Health::Bad;
                    rule.last_error = Some(err);
                    rule.evaluation_seconds = rule_started.elapsed().as_secs_f64();
                    self.metrics.evaluation_failures_total += 1;
                    continue;
                }
            };
            if rule.spec.is_alert() {
                let interval = self.interval_ms;
                let resend = env.resend_delay_ms;
                let expr = rule.spec.expr.clone();
                for alert in rule.alerts.active.values_mut() {
                    if alert.needs_sending(ts_ms, resend) {
                        alert.last_sent_at_ms = Some(ts_ms);
                        let valid_until = ts_ms + 4 * interval.max(resend);
                        alert.valid_until_ms = Some(valid_until);
                        outcome.to_send.push(OutgoingAlert {
                            labels: alert.labels.clone(),
                            annotations: alert.annotations.clone(),
                            starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
                            ends_at_ms: alert.resolved_at_ms.unwrap_or(valid_until),
                            expr: expr.clone(),
                        });
                    }
                }
            }
            let mut returned = HashSet::with_capacity(samples.len());
            let mut to_write = Vec::with_capacity(samples.len());
            for (labels, value) in samples {
                returned.insert(labels.clone());
                to_write.push((labels, value));
            }
            for previous in &rule.series_in_previous_eval {
                if !returned.contains(previous) {
                    to_write.push((previous.clone(), stale_nan()));
                }
            }
            rule.series_in_previous_eval = returned;
            samples_total += to_write.len() as u64;
            rule.evaluation_seconds = rule_started.elapsed().as_secs_f64();
            if let Err(err) = self.append(env, &to_write, query_ts) {
                tracing::warn!(group = %self.name, error = %err, "rule results not committed");
            }
        }
        if !self.stale_series.is_empty() {
            let stale: Vec<(Labels, f64)> = self
                .stale_series
                .drain(..)
                .map(|l| (l, stale_nan()))
                .collect();
            if let Err(err) = self.append(env, &stale, query_ts) {
                tracing::warn!(group = %self.name, error = %err, "staleness markers not written");
            }
        }
        self.metrics.iterations_total += 1;
        self.metrics.last_evaluation_samples = samples_total;
        self.metrics.last_duration_seconds = started.elapsed().as_secs_f64();
        self.metrics.last_evaluation_timestamp_seconds = ts_ms as f64 / 1000.0;
        outcome
    }

    fn eval_rule(
        &mut self,
        index: usize,
        ts_ms: i64,
        env: &GroupEnv,
        evaluator: &dyn QueryEvaluator,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let query_ts = ts_ms - self.query_offset_ms;
        let limit = self.limit;
        let rule = &mut self.rules[index];
        let result = evaluator.instant(&env.tenant, &rule.spec.expr, query_ts)?;
        match rule.spec.record.clone() {
            Some(record) => recording_output(&record, &rule.spec.labels, result, limit),
            None => {
                let tenant = env.tenant.clone();
                let query = |q: &str| -> Result<crate::template::QuerySamples, String> {
                    let samples = evaluator.instant(&tenant, q, ts_ms)?;
                    Ok(samples
                        .into_iter()
                        .map(|s| {
                            (
                                s.labels
                                    .iter()
                                    .map(|l| (l.name.clone(), l.value.clone()))
                                    .collect(),
                                s.value,
                            )
                        })
                        .collect())
                };
                let alert_env = AlertEnv {
                    external_labels: &env.external_labels,
                    external_url: &env.external_url,
                    query: &query,
                };
                let name = rule.spec.name().to_string();
                let output = alert::eval_alerting(
                    &mut rule.alerts,
                    &name,
                    rule.spec.for_ms,
                    rule.spec.keep_firing_for_ms,
                    &rule.spec.labels,
                    &rule.spec.annotations,
                    result,
                    ts_ms,
                    limit,
                    &alert_env,
                )?;
                Ok(output.samples)
            }
        }
    }

    /// Restores `for` state of pending/firing alerts from `ALERTS_FOR_STATE` after a restart
    /// (Prometheus' `RestoreForState`), then marks every alerting rule restored.
    pub fn restore_for_state(&mut self, now_ms: i64, env: &GroupEnv) {
        let started = Instant::now();
        let range = TimeRange::new(now_ms - env.outage_tolerance_ms, now_ms);
        let querier = match env.queryable.querier(&env.tenant, range) {
            Ok(q) => Some(q),
            Err(err) => {
                tracing::error!(group = %self.name, error = %err, "cannot read ALERTS_FOR_STATE for restore");
                None
            }
        };
        for rule in &mut self.rules {
            if !rule.spec.is_alert() {
                continue;
            }
            let hold = rule.spec.for_ms;
            if hold < env.for_grace_period_ms {
                rule.alerts.restored = true;
                continue;
            }
            let Some(querier) = &querier else {
                rule.alerts.restored = true;
                continue;
            };
            for alert in rule.alerts.active.values_mut() {
                let wanted =
                    alert::with_labels(&alert.labels, &[(METRIC_NAME, "ALERTS_FOR_STATE")]);
                let mut matchers: Vec<Matcher> = wanted
                    .iter()
                    .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
                    .collect();
                matchers.sort_by_key(|m| m.name != METRIC_NAME);
                let Ok(set) = querier.select(&matchers, &SelectHints::default()) else {
                    continue;
                };
                let Some(series) = set.filter_map(Result::ok).find(|s| s.labels == wanted) else {
                    continue;
                };
                let Some(last) = series.samples.last() else {
                    continue;
                };
                if is_stale_nan(last.value) {
                    continue;
                }
                let down_at_ms = last.timestamp_ms.div_euclid(1000) * 1000;
                let mut restored_active_at_ms = (last.value as i64) * 1000;
                let spent_pending = down_at_ms - restored_active_at_ms;
                let remaining = hold - spent_pending;
                if remaining <= 0 {
                    // It was firing when we went down; the next evaluation keeps it firing.
                } else if remaining < env.for_grace_period_ms {
                    restored_active_at_ms = now_ms + env.for_grace_period_ms - hold;
                } else {
                    restored_active_at_ms += now_ms - down_at_ms;
                }
                alert.active_at_ms = restored_active_at_ms;
            }
            rule.alerts.restored = true;
        }
        self.metrics.last_restore_duration_seconds = started.elapsed().as_secs_f64();
    }
}

/// A recording rule's output: `__name__` set to `record`, rule labels applied, duplicates
/// and the limit checked (Prometheus' `RecordingRule.Eval`).
fn recording_output(
    record: &str,
    rule_labels: &BTreeMap<String, String>,
    result: Vec<EvalSample>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut out = Vec::with_capacity(result.len());
    let mut seen = HashSet::with_capacity(result.len());
    for sample in result {
        let mut pairs: Vec<(&str, &str)> = vec![(METRIC_NAME, record)];
        for (k, v) in rule_labels {
            pairs.push((k, v));
        }
        let labels = alert::with_labels(&sample.labels, &pairs);
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((labels, sample.value));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit {limit} with {} series", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
