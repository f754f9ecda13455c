//! The rule manager: loads rule files from globs, runs one scheduler thread per group on
//! the group's slot schedule, hands alerts to the Alertmanager notifier, reloads keeping
//! the state of unchanged rules, and renders the rule metrics under Prometheus' names.
//!
//! Threads, not async tasks: a group evaluation commits through a tokio `Handle` with
//! `block_on`, and the notifier sends with blocking HTTP, so neither may run on a runtime
//! worker. Every group thread sleeps on its own stop channel, so stopping is immediate.
//!
//! Relative globs in [`ManagerOptions::files`] are resolved against the process' working
//! directory (as `storage.data_dir` is). A glob that matches nothing is not an error; a file
//! that does not parse fails the whole load and the previous rules keep running.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use vigil_model::TenantId;
use vigil_storage::{Appendable, Queryable};

use crate::eval::QueryEvaluator;
use crate::file::{ParseOptions, QueryLanguage, parse_rule_file};
use crate::group::{Group, GroupEnv, OutgoingAlert};
use crate::notifier::{Notifier, NotifierOptions};

/// Batches of alerts waiting for the notifier thread; beyond this, batches are dropped and
/// counted (`prometheus_notifications_dropped_total`).
const NOTIFICATION_QUEUE_BATCHES: usize = 1024;

/// Settings of the manager (the server's `rules:` config section).
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// Globs of rule files.
    pub files: Vec<String>,
    /// Interval of groups that set none (ms).
    pub evaluation_interval_ms: i64,
    /// Query offset of groups that set none (ms).
    pub query_offset_ms: i64,
    /// Tenant the rules of [`ManagerOptions::files`] read and write.
    pub tenant: TenantId,
    /// Loki-ruler layout `<dir>/<tenant>/<namespace>.{yml,yaml}`: each file's groups run as
    /// the tenant its directory names. `None`: only [`ManagerOptions::files`].
    pub tenant_directory: Option<PathBuf>,
    /// Language of groups in the tenant directory that set no `language:` (LogQL, as
    /// Loki's ruler reads them unchanged).
    pub tenant_default_language: QueryLanguage,
    /// Alertmanagers, timeout, external labels and URL.
    pub notifier: NotifierOptions,
    /// Minimum time between two sends of an unchanged firing alert (ms).
    pub resend_delay_ms: i64,
    /// Rules with `for` shorter than this are not restored after a restart (ms).
    pub for_grace_period_ms: i64,
    /// How far back `ALERTS_FOR_STATE` is looked for after a restart (ms).
    pub outage_tolerance_ms: i64,
}

/// What the manager reads and writes through.
#[derive(Clone)]
pub struct ManagerDeps {
    /// Results go here (the durable write path).
    pub appendable: Arc<dyn Appendable>,
    /// `ALERTS_FOR_STATE` is read back from here.
    pub queryable: Arc<dyn Queryable>,
    /// Evaluates PromQL rule expressions.
    pub promql: Arc<dyn QueryEvaluator>,
    /// Evaluates LogQL rule groups (`language: logql`); `None` without a log store.
    pub logql: Option<Arc<dyn QueryEvaluator>>,
    /// Runtime the appends are committed on.
    pub runtime: tokio::runtime::Handle,
}

/// The clock: wall time in ms.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct RunningGroup {
    group: Arc<Mutex<Group>>,
    /// Slot of the last evaluation (ms), shared with the thread.
    last_ts: Arc<Mutex<Option<i64>>>,
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl RunningGroup {
    /// Stops the thread and returns the group with its state.
    fn stop(self) -> (Group, Option<i64>) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::error!("a rule group thread panicked");
        }
        let group = self.group.lock().clone();
        let last = *self.last_ts.lock();
        (group, last)
    }
}

/// Reload bookkeeping (`prometheus_rule_manager_*`-style gauges).
#[derive(Debug, Default)]
struct ReloadStatus {
    loaded_once: bool,
    last_successful: bool,
    last_success_timestamp_seconds: f64,
}

/// Loads, runs and reloads rule groups.
pub struct Manager {
    options: ManagerOptions,
    deps: Mutex<Option<ManagerDeps>>,
    groups: Mutex<Vec<((String, String), RunningGroup)>>,
    reload_lock: Mutex<ReloadStatus>,
    notifier: Arc<Notifier>,
    notify_tx: Mutex<Option<SyncSender<Vec<OutgoingAlert>>>>,
    notifier_thread: Mutex<Option<JoinHandle<()>>>,
    dropped_total: Arc<AtomicU64>,
    self_ref: Weak<Manager>,
    spec_handler: Mutex<Option<SpecHandler>>,
}

/// Turns the SLO spec files the rule globs matched — `(file, text)` pairs, recognised by
/// [`is_slo_spec`] — into generated groups, `(file, groups)` per spec file, or the problems
/// found. Asked again at every load, so specs reload with the rule files. The groups run as
/// the manager's tenant; a rule-file group with the same name as a generated one is
/// skipped (the generated rules of a spec may also be checked in beside it, as
/// `vigil slo generate` writes them, and must not run twice).
pub type SpecHandler = Arc<
    dyn Fn(&[(String, String)]) -> Result<Vec<(String, Vec<crate::GroupSpec>)>, String>
        + Send
        + Sync,
>;

impl Manager {
    /// A manager with no groups yet; [`Manager::start`] gives it storage, [`Manager::reload`]
    /// loads the files.
    pub fn new(options: ManagerOptions) -> Arc<Self> {
        let notifier = Arc::new(Notifier::new(options.notifier.clone()));
        Arc::new_cyclic(|self_ref| Self {
            options,
            deps: Mutex::new(None),
            groups: Mutex::new(Vec::new()),
            reload_lock: Mutex::new(ReloadStatus::default()),
            notifier,
            notify_tx: Mutex::new(None),
            notifier_thread: Mutex::new(None),
            dropped_total: Arc::new(AtomicU64::new(0)),
            self_ref: self_ref.clone(),
            spec_handler: Mutex::new(None),
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> &ManagerOptions {
        &self.options
    }

    /// Connects storage and starts the notifier thread; groups start with the first reload.
    pub fn start(&self, deps: ManagerDeps) {
        *self.deps.lock() = Some(deps);
        let (tx, rx) = mpsc::sync_channel::<Vec<OutgoingAlert>>(NOTIFICATION_QUEUE_BATCHES);
        let notifier = self.notifier.clone();
        let thread = std::thread::Builder::new()
            .name("vigil-notifier".into())
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    notifier.send(&batch);
                }
            });
        match thread {
            Ok(thread) => {
                *self.notify_tx.lock() = Some(tx);
                *self.notifier_thread.lock() = Some(thread);
            }
            Err(err) => tracing::error!(error = %err, "cannot start the notifier thread"),
        }
    }

    /// The rule files the globs match now, sorted and without duplicates.
    pub fn matching_files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = Vec::new();
        for pattern in &self.options.files {
            let paths = glob::glob(pattern)
                .map_err(|err| format!("invalid rule glob {pattern:?}: {err}"))?;
            for path in paths {
                let path = path.map_err(|err| format!("rule glob {pattern:?}: {err}"))?;
                if path.is_file() {
                    files.push(path);
                }
            }
        }
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Handles SLO specs among the rule files from the next load on; without a handler
    /// they are skipped.
    pub fn set_spec_handler(&self, handler: SpecHandler) {
        *self.spec_handler.lock() = Some(handler);
    }

    /// The ruler API's store over the tenant directory, when one is configured.
    pub fn ruler_store(&self) -> Option<crate::RulerStore> {
        let root = self.options.tenant_directory.clone()?;
        Some(crate::RulerStore::new(
            root,
            ParseOptions {
                logql: Some(crate::logql::logql_validator()),
                default_language: self.options.tenant_default_language,
                ..ParseOptions::default()
            },
        ))
    }

    /// Reads and validates every rule file into groups (no state yet): the globbed files
    /// (and the groups generated from SLO specs among them) for the default tenant, then
    /// each tenant directory's namespaces.
    pub fn load_groups(&self) -> Result<Vec<Group>, String> {
        let options = ParseOptions {
            logql: Some(crate::logql::logql_validator()),
            ..ParseOptions::default()
        };
        let mut groups = Vec::new();
        let mut problems = Vec::new();
        let mut specs = Vec::new();
        for path in self.matching_files()? {
            let name = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) if is_slo_spec(&text) => specs.push((name, text)),
                Ok(text) => {
                    self.load_text(&name, &text, &options, None, &mut groups, &mut problems)
                }
                Err(err) => problems.push(format!("{name}: {err}")),
            }
        }
        let handler = self.spec_handler.lock().clone();
        if let (Some(handler), false) = (handler, specs.is_empty()) {
            match handler(&specs) {
                Ok(files) => {
                    let generated: Vec<Group> = files
                        .iter()
                        .flat_map(|(file, specs)| {
                            specs.iter().map(|spec| {
                                Group::new(
                                    file,
                                    spec,
                                    self.options.evaluation_interval_ms,
                                    self.options.query_offset_ms,
                                )
                            })
                        })
                        .collect();
                    let names: std::collections::HashSet<&str> =
                        generated.iter().map(|g| g.name.as_str()).collect();
                    groups.retain(|g: &Group| {
                        let replaced = names.contains(g.name.as_str());
                        if replaced {
                            tracing::info!(group = %g.name, file = %g.file, "skipping a rule group that an SLO spec generates");
                        }
                        !replaced
                    });
                    groups.extend(generated);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let tenant_options = ParseOptions {
            default_language: self.options.tenant_default_language,
            ..options
        };
        for (tenant, path) in self.tenant_files()? {
            let name = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => self.load_text(
                    &name,
                    &text,
                    &tenant_options,
                    Some(tenant),
                    &mut groups,
                    &mut problems,
                ),
                Err(err) => problems.push(format!("{name}: {err}")),
            }
        }
        if problems.is_empty() {
            Ok(groups)
        } else {
            Err(problems.join("\n"))
        }
    }

    fn load_text(
        &self,
        name: &str,
        text: &str,
        options: &ParseOptions,
        tenant: Option<TenantId>,
        groups: &mut Vec<Group>,
        problems: &mut Vec<String>,
    ) {
        match parse_rule_file(text, options) {
            Ok(file) => {
                for spec in &file.groups {
                    let group = Group::new(
                        name,
                        spec,
                        self.options.evaluation_interval_ms,
                        self.options.query_offset_ms,
                    );
                    groups.push(match &tenant {
                        Some(tenant) => group.with_tenant(tenant.clone()),
                        None => group,
                    });
                }
            }
            Err(errors) => problems.extend(errors.iter().map(|e| format!("{name}: {e}"))),
        }
    }

    /// The namespace files of the tenant directory with their tenants, sorted. A missing
    /// directory holds no rules; a subdirectory whose name is not a valid tenant id fails
    /// the load.
    pub fn tenant_files(&self) -> Result<Vec<(TenantId, PathBuf)>, String> {
        let Some(root) = &self.options.tenant_directory else {
            return Ok(Vec::new());
        };
        let read_dir = |dir: &Path| -> Result<Vec<PathBuf>, String> {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut paths = Vec::new();
                    for entry in entries {
                        let entry = entry.map_err(|err| format!("{}: {err}", dir.display()))?;
                        paths.push(entry.path());
                    }
                    paths.sort();
                    Ok(paths)
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(err) => Err(format!("{}: {err}", dir.display())),
            }
        };
        let mut files = Vec::new();
        for tenant_dir in read_dir(root)? {
            if !tenant_dir.is_dir() {
                continue;
            }
            let dir_name = tenant_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if dir_name.starts_with('.') {
                continue;
            }
            let tenant = TenantId::new(&dir_name)
                .map_err(|err| format!("{}: not a tenant id: {err}", tenant_dir.display()))?;
            for path in read_dir(&tenant_dir)? {
                let is_rule_file = path
                    .extension()
                    .is_some_and(|ext| ext == "yml" || ext == "yaml");
                if is_rule_file && path.is_file() {
                    files.push((tenant.clone(), path));
                }
            }
        }
        Ok(files)
    }

    /// Loads the rule files again. Groups keyed by (file, name) that exist before and after
    /// keep their rules' state (alerts, staleness tracking) where a rule is unchanged; removed
    /// groups write staleness markers for their series. On any file error nothing changes.
    /// Blocking: call from a blocking thread.
    pub fn reload(&self) -> Result<(), String> {
        let mut status = self.reload_lock.lock();
        let result = self.reload_locked(status.loaded_once);
        status.last_successful = result.is_ok();
        if result.is_ok() {
            status.loaded_once = true;
            status.last_success_timestamp_seconds = now_ms() as f64 / 1000.0;
        }
        result
    }

    fn reload_locked(&self, loaded_once: bool) -> Result<(), String> {
        let Some(deps) = self.deps.lock().clone() else {
            return Err("the rule manager is not started".into());
        };
        let new_groups = self.load_groups()?;
        let env = self.env(&deps);
        let mut old: HashMap<(String, String), RunningGroup> =
            std::mem::take(&mut *self.groups.lock())
                .into_iter()
                .collect();
        let mut running = Vec::with_capacity(new_groups.len());
        for mut group in new_groups {
            let key = (group.file.clone(), group.name.clone());
            let mut last_ts = None;
            let mut restore = !loaded_once;
            if let Some(previous) = old.remove(&key) {
                let (previous, previous_last) = previous.stop();
                group.copy_state_from(&previous);
                if previous.interval_ms == group.interval_ms {
                    last_ts = previous_last;
                }
                restore = false;
            }
            if !restore {
                group.mark_restored();
            }
            let group_env = env_for(&env, &group);
            match self.spawn_group(group, last_ts, restore, group_env) {
                Ok(handle) => running.push((key, handle)),
                Err(err) => tracing::error!(error = %err, "cannot start a rule group thread"),
            }
        }
        let now = now_ms();
        for (_, removed) in old {
            let (mut group, _) = removed.stop();
            let ts = group.eval_timestamp_ms(now);
            group.mark_all_stale(&env_for(&env, &group), ts);
        }
        tracing::info!(groups = running.len(), "rules loaded");
        *self.groups.lock() = running;
        Ok(())
    }

    fn env(&self, deps: &ManagerDeps) -> GroupEnv {
        GroupEnv {
            tenant: self.options.tenant.clone(),
            appendable: deps.appendable.clone(),
            queryable: deps.queryable.clone(),
            promql: deps.promql.clone(),
            logql: deps.logql.clone(),
            external_labels: self.options.notifier.external_labels.clone(),
            external_url: self.options.notifier.external_url.clone(),
            for_grace_period_ms: self.options.for_grace_period_ms,
            outage_tolerance_ms: self.options.outage_tolerance_ms,
            resend_delay_ms: self.options.resend_delay_ms,
            runtime: deps.runtime.clone(),
        }
    }

    fn spawn_group(
        &self,
        group: Group,
        last_ts: Option<i64>,
        restore: bool,
        env: GroupEnv,
    ) -> std::io::Result<RunningGroup> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let name = group.name.clone();
        let group = Arc::new(Mutex::new(group));
        let last = Arc::new(Mutex::new(last_ts));
        let runner = GroupRunner {
            group: group.clone(),
            last_ts: last.clone(),
            stop: stop_rx,
            env,
            restore,
            manager: self.self_ref.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("rules-{}", truncate(&name, 8)))
            .spawn(move || runner.run())?;
        Ok(RunningGroup {
            group,
            last_ts: last,
            stop: stop_tx,
            thread,
        })
    }

    fn notify(&self, alerts: Vec<OutgoingAlert>) {
        if alerts.is_empty() || self.options.notifier.alertmanager_urls.is_empty() {
            return;
        }
        let count = alerts.len() as u64;
        let guard = self.notify_tx.lock();
        let Some(tx) = guard.as_ref() else {
            self.dropped_total.fetch_add(count, Ordering::Relaxed);
            return;
        };
        match tx.try_send(alerts) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped_total.fetch_add(count, Ordering::Relaxed);
                tracing::warn!(alerts = count, "notification queue full; alerts dropped");
            }
        }
    }

    /// A snapshot of every group with its rules' state, in load order.
    pub fn groups(&self) -> Vec<Group> {
        let running = self.groups.lock();
        running
            .iter()
            .map(|(_, g)| g.group.lock().clone())
            .collect()
    }

    /// Stops every group thread and the notifier (after it sent what was queued). Blocking.
    pub fn stop(&self) {
        let running = std::mem::take(&mut *self.groups.lock());
        for (_, group) in running {
            group.stop();
        }
        self.notify_tx.lock().take();
        if let Some(thread) = self.notifier_thread.lock().take()
            && thread.join().is_err()
        {
            tracing::error!("the notifier thread panicked");
        }
    }

    /// The rule and notification metrics in Prometheus' text exposition format, under
    /// Prometheus' names; groups are labelled `rule_group="<file>;<name>"`.
    pub fn metrics_text(&self) -> String {
        let groups = self.groups();
        let mut out = String::new();
        let per_group: [GroupMetricSpec; 8] = [
            (
                "prometheus_rule_evaluations_total",
                "counter",
                "The total number of rule evaluations.",
                |g| g.metrics.evaluations_total as f64,
            ),
            (
                "prometheus_rule_evaluation_failures_total",
                "counter",
                "The total number of rule evaluation failures.",
                |g| g.metrics.evaluation_failures_total as f64,
            ),
            (
                "prometheus_rule_group_iterations_total",
                "counter",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
                |g| (g.metrics.iterations_total + g.metrics.iterations_missed_total) as f64,
            ),
            (
                "prometheus_rule_group_iterations_missed_total",
                "counter",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
                |g| g.metrics.iterations_missed_total as f64,
            ),
            (
                "prometheus_rule_group_last_duration_seconds",
                "gauge",
                "The duration of the last rule group evaluation.",
                |g| g.metrics.last_duration_seconds,
            ),
            (
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "gauge",
                "The timestamp of the last rule group evaluation in seconds.",
                |g| g.metrics.last_evaluation_timestamp_seconds,
            ),
            (
                "prometheus_rule_group_last_evaluation_samples",
                "gauge",
                "The number of samples returned during the last rule group evaluation.",
                |g| g.metrics.last_evaluation_samples as f64,
            ),
            (
                "prometheus_rule_group_interval_seconds",
                "gauge",
                "The interval of a rule group.",
                |g| g.interval_ms as f64 / 1000.0,
            ),
        ];
        for (name, kind, help, value) in per_group {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for group in &groups {
                let label = escape_label(&format!("{};{}", group.file, group.name));
                let _ = writeln!(out, "{name}{{rule_group=\"{label}\"}} {}", value(group));
            }
        }
        let _ = writeln!(
            out,
            "# HELP prometheus_rule_group_rules The number of rules.\n# TYPE prometheus_rule_group_rules gauge"
        );
        for group in &groups {
            let label = escape_label(&format!("{};{}", group.file, group.name));
            let _ = writeln!(
                out,
                "prometheus_rule_group_rules{{rule_group=\"{label}\"}} {}",
                group.rules.len()
            );
        }
        let status = self.reload_lock.lock();
        let scalars: [(&str, &str, &str, f64); 6] = [
            (
                "prometheus_notifications_sent_total",
                "counter",
                "Total number of alerts sent.",
                self.notifier.metrics.sent_total.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_notifications_errors_total",
                "counter",
                "Total number of sent alerts affected by errors.",
                self.notifier.metrics.errors_total.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_notifications_dropped_total",
                "counter",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
                self.dropped_total.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_notifications_alertmanagers_discovered",
                "gauge",
                "The number of alertmanagers discovered and active.",
                self.options.notifier.alertmanager_urls.len() as f64,
            ),
            (
                "prometheus_config_last_reload_successful",
                "gauge",
                "Whether the last rule reload attempt was successful.",
                if status.last_successful { 1.0 } else { 0.0 },
            ),
            (
                "prometheus_config_last_reload_success_timestamp_seconds",
                "gauge",
                "Timestamp of the last successful rule reload.",
                status.last_success_timestamp_seconds,
            ),
        ];
        for (name, kind, help, value) in scalars {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// Name, type, help text and value of one per-group metric.
type GroupMetricSpec = (&'static str, &'static str, &'static str, fn(&Group) -> f64);

/// The environment of one group: the manager's, with the group's own tenant if it has one.
fn env_for(env: &GroupEnv, group: &Group) -> GroupEnv {
    let mut env = env.clone();
    if let Some(tenant) = &group.tenant {
        env.tenant = tenant.clone();
    }
    env
}

/// True when a YAML file is an SLO spec (its first top-level key is `version:` or
/// `apiVersion:`: `vigil/v1`, Sloth's `prometheus/v1`, OpenSLO), not a rule file.
pub fn is_slo_spec(text: &str) -> bool {
    text.lines()
        .map(str::trim_end)
        .find(|l| {
            !l.is_empty() && !l.starts_with('#') && !l.starts_with("---") && !l.starts_with(' ')
        })
        .is_some_and(|l| l.starts_with("version:") || l.starts_with("apiVersion:"))
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The loop of one group's thread.
struct GroupRunner {
    group: Arc<Mutex<Group>>,
    last_ts: Arc<Mutex<Option<i64>>>,
    stop: Receiver<()>,
    env: GroupEnv,
    restore: bool,
    manager: Weak<Manager>,
}

impl GroupRunner {
    /// Sleeps until `target_ms`; false when asked to stop.
    fn sleep_until(&self, target_ms: i64) -> bool {
        loop {
            let wait = target_ms - now_ms();
            if wait <= 0 {
                return true;
            }
            match self
                .stop
                .recv_timeout(Duration::from_millis(wait.unsigned_abs()))
            {
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn run(mut self) {
        let (interval, first_last) = {
            let group = self.group.lock();
            let last = self
                .last_ts
                .lock()
                .unwrap_or_else(|| group.eval_timestamp_ms(now_ms()));
            (group.interval_ms, last)
        };
        let mut last = first_last;
        loop {
            if !self.sleep_until(last + interval) {
                return;
            }
            let outcome = {
                let mut group = self.group.lock();
                let (ts, missed) = group.next_slot(last, now_ms());
                group.metrics.iterations_missed_total += missed;
                if missed > 0 {
                    tracing::warn!(group = %group.name, missed, "rule group evaluation slower than its interval; iterations skipped");
                }
                let outcome = group.eval(ts, &self.env);
                if self.restore {
                    group.restore_for_state(now_ms(), &self.env);
                    self.restore = false;
                }
                last = ts;
                *self.last_ts.lock() = Some(ts);
                outcome
            };
            if let Some(manager) = self.manager.upgrade() {
                manager.notify(outcome.to_send);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_slo_spec;

    #[test]
    fn slo_specs_are_told_from_rule_files() {
        assert!(is_slo_spec("# SLOs\nversion: vigil/v1\nservice: a\n"));
        assert!(is_slo_spec("---\nversion: \"prometheus/v1\"\n"));
        assert!(is_slo_spec("apiVersion: openslo/v1\nkind: SLO\n"));
        assert!(!is_slo_spec("groups:\n- name: g\n  rules: []\n"));
        assert!(!is_slo_spec("# version: vigil/v1\ngroups: []\n"));
        assert!(!is_slo_spec(""));
    }
}
