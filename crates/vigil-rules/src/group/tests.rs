#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::Arc;

use vigil_model::{Labels, Matcher, Sample, TenantId, TimeRange, is_stale_nan};
use vigil_promql::Engine;
use vigil_storage::memory::MemStorage;
use vigil_storage::{AppendOptions, Appendable, Queryable, SelectHints};

use super::*;
use crate::eval::PromqlEvaluator;
use crate::file::{ParseOptions, parse_rule_file};

struct Fixture {
    storage: MemStorage,
    env: GroupEnv,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let storage = MemStorage::new();
    let queryable: Arc<dyn Queryable> = Arc::new(storage.clone());
    let env = GroupEnv {
        tenant: TenantId::new("t").unwrap(),
        appendable: Arc::new(storage.clone()),
        queryable: queryable.clone(),
        promql: Arc::new(PromqlEvaluator::new(Engine::default(), queryable)),
        logql: None,
        external_labels: BTreeMap::new(),
        external_url: "http://vigil".into(),
        for_grace_period_ms: 10 * 60_000,
        outage_tolerance_ms: 60 * 60_000,
        resend_delay_ms: 60_000,
        runtime: runtime.handle().clone(),
    };
    Fixture {
        storage,
        env,
        runtime,
    }
}

impl Fixture {
    fn write(&self, labels: &[(&str, &str)], t_ms: i64, v: f64) {
        let mut app = self
            .storage
            .appender(&self.env.tenant, AppendOptions::default());
        app.append_sample(&Labels::from_static(labels), Sample::new(t_ms, v))
            .unwrap();
        self.runtime.block_on(app.commit()).unwrap();
    }

    fn series(&self, name: &str) -> Vec<(Labels, Vec<Sample>)> {
        let q = self
            .storage
            .querier(&self.env.tenant, TimeRange::ALL)
            .unwrap();
        q.select(&[Matcher::equal("__name__", name)], &SelectHints::default())
            .unwrap()
            .map(|s| {
                let s = s.unwrap();
                (s.labels, s.samples)
            })
            .collect()
    }
}

fn group(text: &str) -> Group {
    let file = parse_rule_file(text, &ParseOptions::default()).unwrap();
    Group::new("rules.yml", &file.groups[0], 60_000, 0)
}

const RULES: &str = "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - record: job:up:double\n    expr: job:up:sum * 2\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} is down ({{ $value }})'}\n";

#[test]
fn later_rules_see_earlier_output_of_the_same_cycle() {
    let f = fixture();
    f.write(
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        0,
        1.0,
    );
    f.write(
        &[("__name__", "up"), ("job", "a"), ("instance", "2")],
        0,
        1.0,
    );
    let mut g = group(RULES);
    g.eval(60_000, &f.env);
    let doubled = f.series("job:up:double");
    assert_eq!(doubled.len(), 1);
    assert_eq!(doubled[0].1, vec![Sample::new(60_000, 4.0)]);
    assert_eq!(
        g.rules.iter().map(|r| r.health).collect::<Vec<_>>(),
        vec![Health::Good; 3]
    );
}

#[test]
fn alert_state_machine_on_a_fixed_clock_with_alerts_series() {
    let f = fixture();
    let mut g = group(RULES);
    g.mark_restored();
    for minute in 0..=10 {
        let v = if (1..=5).contains(&minute) { 0.0 } else { 1.0 };
        f.write(
            &[("__name__", "up"), ("job", "a"), ("instance", "1")],
            minute * 60_000,
            v,
        );
    }
    let mut states = Vec::new();
    let mut sent = Vec::new();
    for minute in 0..=8 {
        let outcome = g.eval(minute * 60_000, &f.env);
        states.push(g.rules[2].state());
        for a in outcome.to_send {
            sent.push((minute, a.starts_at_ms, a.ends_at_ms));
        }
    }
    use AlertState::*;
    assert_eq!(
        states,
        vec![
            Inactive, Pending, Pending, Firing, Firing, Firing, Inactive, Inactive, Inactive
        ]
    );
    // Firing at 3m (sent, endsAt = ts + 4 × max(1m, 1m)); re-sent after the resend delay; resolved at 6m.
    assert_eq!(sent[0], (3, 180_000, 180_000 + 240_000));
    assert_eq!(sent[1], (5, 180_000, 300_000 + 240_000));
    assert_eq!(sent[2], (6, 180_000, 360_000));
    let alerts = f.series("ALERTS");
    let firing = alerts
        .iter()
        .find(|(l, _)| l.get("alertstate") == Some("firing"))
        .unwrap();
    assert_eq!(firing.0.get("severity"), Some("page"));
    let values: Vec<(i64, bool)> = firing
        .1
        .iter()
        .map(|s| (s.timestamp_ms, is_stale_nan(s.value)))
        .collect();
    assert_eq!(
        values,
        vec![
            (180_000, false),
            (240_000, false),
            (300_000, false),
            (360_000, true)
        ]
    );
    let pending = alerts
        .iter()
        .find(|(l, _)| l.get("alertstate") == Some("pending"))
        .unwrap();
    assert!(
        is_stale_nan(pending.1.last().unwrap().value),
        "pending series is stale-marked when the alert fires"
    );
    assert_eq!(pending.1.last().unwrap().timestamp_ms, 180_000);
    let for_state = f.series("ALERTS_FOR_STATE");
    assert_eq!(for_state[0].1[0].value, 60.0, "ActiveAt in seconds");
    let alert = &g.rules[2].alerts.active.values().next().unwrap();
    assert_eq!(alert.annotations["summary"], "1 is down (0)");
}

#[test]
fn vanished_series_get_staleness_markers() {
    let f = fixture();
    f.write(
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        0,
        1.0,
    );
    f.write(
        &[("__name__", "up"), ("job", "b"), ("instance", "1")],
        0,
        1.0,
    );
    f.write(
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        60_000,
        1.0,
    );
    let mut g = group(
        "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n",
    );
    // At 0 both jobs have data; at 6m only a has a sample within the 5m lookback.
    f.write(
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        360_000,
        1.0,
    );
    g.eval(0, &f.env);
    g.eval(360_000, &f.env);
    let series = f.series("job:up:sum");
    let b = series
        .iter()
        .find(|(l, _)| l.get("job") == Some("b"))
        .unwrap();
    assert_eq!(b.1.len(), 2);
    assert!(is_stale_nan(b.1[1].value));
    assert_eq!(b.1[1].timestamp_ms, 360_000);
    let a = series
        .iter()
        .find(|(l, _)| l.get("job") == Some("a"))
        .unwrap();
    assert!(a.1.iter().all(|s| !is_stale_nan(s.value)));
}

#[test]
fn failed_rules_report_errors_and_limits_drop_all_output() {
    let f = fixture();
    f.write(&[("__name__", "up"), ("job", "a")], 0, 1.0);
    f.write(&[("__name__", "up"), ("job", "b")], 0, 1.0);
    let mut g = group(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: up\n  - record: dup\n    expr: up\n    labels: {job: same}\n",
    );
    g.eval(0, &f.env);
    assert_eq!(g.rules[0].health, Health::Bad);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("exceeded limit 1 with 2 series")
    );
    assert_eq!(
        g.rules[1].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    assert!(f.series("r").is_empty());
    assert_eq!(g.metrics.evaluation_failures_total, 2);
}

#[test]
fn query_offset_shifts_query_and_output_time() {
    let f = fixture();
    f.write(&[("__name__", "up"), ("job", "a")], 0, 5.0);
    f.write(&[("__name__", "up"), ("job", "a")], 60_000, 7.0);
    let mut g =
        group("groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - record: r\n    expr: up\n");
    g.eval(60_000, &f.env);
    assert_eq!(f.series("r")[0].1, vec![Sample::new(0, 5.0)]);
}

#[test]
fn slots_are_stable_and_missed_iterations_are_skipped() {
    let g = group(RULES);
    let t1 = g.eval_timestamp_ms(1_000_000_000);
    let t2 = g.eval_timestamp_ms(1_000_000_000 + 17_000);
    assert!(t1 <= 1_000_000_000 && 1_000_000_000 - t1 < 60_000);
    assert!(t2 == t1 || t2 == t1 + 60_000);
    assert_eq!(
        g.eval_timestamp_ms(t1 + 120_000),
        t1 + 120_000,
        "same slots after a restart"
    );
    assert_eq!(g.eval_timestamp_ms(t1 + 119_999), t1 + 60_000);
    let other = Group::new(
        "other.yml",
        &parse_rule_file(RULES, &ParseOptions::default())
            .unwrap()
            .groups[0],
        60_000,
        0,
    );
    assert_ne!(
        other.eval_timestamp_ms(1_000_000_000),
        t1,
        "groups are spread over the interval"
    );
    assert_eq!(g.next_slot(t1, t1 + 60_500), (t1 + 60_000, 0));
    assert_eq!(g.next_slot(t1, t1 + 200_000), (t1 + 180_000, 2));
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let f = fixture();
    let text = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 30m\n";
    for minute in 0..=80 {
        f.write(&[("__name__", "up"), ("job", "a")], minute * 60_000, 0.0);
    }
    // First life: pending since 0, evaluated until 10m, then "crashes".
    let mut g = group(text);
    g.mark_restored();
    for minute in 0..=10 {
        g.eval(minute * 60_000, &f.env);
    }
    assert_eq!(g.rules[0].state(), AlertState::Pending);
    // Second life starts at 20m: the first eval sees a fresh alert, then restore shifts
    // ActiveAt by the 10 minutes of downtime (20 minutes of `for` left).
    let mut g = group(text);
    g.eval(20 * 60_000, &f.env);
    assert!(
        f.series("ALERTS")
            .iter()
            .all(|(_, s)| s.iter().all(|x| x.timestamp_ms <= 600_000)),
        "no ALERTS before restore"
    );
    g.restore_for_state(20 * 60_000, &f.env);
    let alert = g.rules[0].alerts.active.values().next().unwrap();
    assert_eq!(alert.active_at_ms, 10 * 60_000);
    g.eval(39 * 60_000, &f.env);
    assert_eq!(g.rules[0].state(), AlertState::Pending);
    g.eval(40 * 60_000, &f.env);
    assert_eq!(g.rules[0].state(), AlertState::Firing);
}

#[test]
fn restore_keeps_the_grace_period_and_skips_short_for() {
    let f = fixture();
    let text = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 15m\n  - alert: Quick\n    expr: up == 0\n    for: 5m\n";
    for minute in 0..=40 {
        f.write(&[("__name__", "up"), ("job", "a")], minute * 60_000, 0.0);
    }
    let mut g = group(text);
    g.mark_restored();
    for minute in 0..=10 {
        g.eval(minute * 60_000, &f.env);
    }
    let mut g = group(text);
    g.eval(12 * 60_000, &f.env);
    g.restore_for_state(12 * 60_000, &f.env);
    // 5 minutes of `for` were left, less than the 10m grace period: fire no sooner than 22m.
    let down = g.rules[0].alerts.active.values().next().unwrap();
    assert_eq!(down.active_at_ms, 12 * 60_000 + 10 * 60_000 - 15 * 60_000);
    // `for` below the grace period is not restored.
    let quick = g.rules[1].alerts.active.values().next().unwrap();
    assert_eq!(quick.active_at_ms, 12 * 60_000);
}

#[test]
fn reload_keeps_state_of_unchanged_rules_and_stales_removed_ones() {
    let f = fixture();
    f.write(&[("__name__", "up"), ("job", "a")], 0, 0.0);
    let mut old = group(RULES);
    old.mark_restored();
    old.eval(0, &f.env);
    old.eval(60_000, &f.env);
    let changed = "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} is down ({{ $value }})'}\n";
    let mut new = group(changed);
    new.copy_state_from(&old);
    assert_eq!(
        new.rules[1]
            .alerts
            .active
            .values()
            .next()
            .unwrap()
            .active_at_ms,
        0,
        "alert keeps ActiveAt"
    );
    assert_eq!(new.stale_series.len(), 1, "the removed rule's series");
    new.eval(120_000, &f.env);
    assert_eq!(
        new.rules[1].state(),
        AlertState::Firing,
        "for counted from before the reload"
    );
    let doubled = f.series("job:up:double");
    assert!(is_stale_nan(doubled[0].1.last().unwrap().value));
}

#[test]
fn logql_groups_fail_clearly_until_an_evaluator_is_plugged_in() {
    let f = fixture();
    let spec = GroupSpec {
        name: "logs".into(),
        interval_ms: None,
        query_offset_ms: None,
        limit: 0,
        labels: BTreeMap::new(),
        language: QueryLanguage::LogQL,
        rules: group(RULES)
            .rules
            .iter()
            .map(|r| r.spec.clone())
            .take(1)
            .collect(),
        pos: crate::Pos::default(),
    };
    let mut g = Group::new("logs.yml", &spec, 60_000, 0);
    g.eval(0, &f.env);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("LogQL rule groups are not supported yet")
    );
}
