//! SLO specs in the running server: specs found among the rule files are turned into rule
//! groups (`vigil-slo`) at every rule load, their metadata feeds `/api/v1/slos`, and an SLO
//! seen for the first time (or whose slice recordings changed) has its slice history
//! backfilled from the stored data, so its budget is right on day one.
//!
//! Backfill evaluates the SLO's slice groups — the groups whose interval is the slice — at
//! every slice slot of the period before the first live evaluation, oldest first, with the
//! same slotting as the live groups, so backfilled and live slices tile time without gap or
//! overlap. Its samples are appended through the normal durable path (skipping the
//! too-old check: they are history by design). Which SLOs were backfilled, with the slice
//! rules they were backfilled with, is kept in `<data_dir>/slo-backfill.json`; a changed
//! definition is backfilled again, which fills slots that hold no slice sample yet (stored
//! samples are immutable, so slices recorded by an older definition stay).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use vigil_model::TenantId;
use vigil_rules::{Group, GroupEnv, GroupSpec, Manager, SpecHandler};
use vigil_slo::SloMeta;
use vigil_storage::{AppendOptions, Appendable, Appender};

/// Loaded SLOs and their backfill bookkeeping.
pub(crate) struct SloRegistry {
    slos: RwLock<Vec<SloMeta>>,
    state_path: PathBuf,
    /// Backfill jobs not started yet.
    pending: Mutex<Vec<BackfillJob>>,
    backfill: bool,
}

impl vigil_api::slos::SloCatalog for SloRegistry {
    fn slos(&self) -> Vec<SloMeta> {
        self.slos.read().clone()
    }
}

/// One SLO to backfill: its metadata, spec file, slice groups and their fingerprint.
type BackfillJob = (SloMeta, String, Vec<GroupSpec>, String);

/// Prefixes of the generated groups that record per-slice counts.
const SLICE_GROUP_PREFIXES: [&str; 2] = ["sloth-slo-logql-slices-", "sloth-slo-sli-recordings-"];

impl SloRegistry {
    /// A registry keeping its backfill state under `data_dir`.
    pub(crate) fn new(data_dir: &std::path::Path, backfill: bool) -> Arc<Self> {
        Arc::new(Self {
            slos: RwLock::new(Vec::new()),
            state_path: data_dir.join("slo-backfill.json"),
            pending: Mutex::new(Vec::new()),
            backfill,
        })
    }

    fn read_state(&self) -> BTreeMap<String, String> {
        std::fs::read(&self.state_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn write_state(&self, state: &BTreeMap<String, String>) {
        let tmp = self.state_path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.state_path));
        if let Err(err) = result {
            tracing::warn!(error = %err, path = %self.state_path.display(), "cannot record SLO backfill state");
        }
    }

    /// The rule manager's handler for SLO specs among the rule files.
    pub(crate) fn spec_handler(self: &Arc<Self>) -> SpecHandler {
        let registry = self.clone();
        Arc::new(move |files: &[(String, String)]| registry.load(files))
    }

    fn load(&self, files: &[(String, String)]) -> Result<Vec<(String, Vec<GroupSpec>)>, String> {
        let loaded = vigil_slo::parse_specs(files).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        for warning in &loaded.warnings {
            tracing::warn!(warning = %warning, "SLO spec");
        }
        let generated = vigil_slo::generate_files(&loaded.slos);
        let mut out = Vec::new();
        let mut metas = Vec::new();
        let state = self.read_state();
        let mut jobs = Vec::new();
        for file in &generated {
            let groups = file.to_rule_groups().map_err(|errors| {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                format!(
                    "{}: the rules generated from this SLO spec do not load: {}",
                    file.file,
                    messages.join("; ")
                )
            })?;
            for meta in &file.slos {
                let slice_groups: Vec<GroupSpec> = groups
                    .iter()
                    .filter(|g| {
                        SLICE_GROUP_PREFIXES
                            .iter()
                            .any(|p| g.name == format!("{p}{}", meta.id))
                    })
                    .cloned()
                    .collect();
                let fingerprint = fingerprint(&slice_groups);
                if self.backfill
                    && !slice_groups.is_empty()
                    && state.get(&meta.id) != Some(&fingerprint)
                {
                    jobs.push((meta.clone(), file.file.clone(), slice_groups, fingerprint));
                }
            }
            metas.extend(file.slos.iter().cloned());
            out.push((file.file.clone(), groups));
        }
        *self.slos.write() = metas;
        *self.pending.lock() = jobs;
        Ok(out)
    }

    /// Starts the backfill of the SLOs the last load found new or changed, on a thread of
    /// its own; it waits for each SLO's first live slice evaluation and fills the period
    /// before it.
    pub(crate) fn spawn_backfill(self: &Arc<Self>, manager: Arc<Manager>, env: GroupEnv) {
        let jobs = std::mem::take(&mut *self.pending.lock());
        if jobs.is_empty() {
            return;
        }
        let registry = self.clone();
        let spawned = std::thread::Builder::new()
            .name("slo-backfill".into())
            .spawn(move || {
                for (meta, file, groups, fingerprint) in jobs {
                    match backfill_one(&meta, &file, &groups, &manager, &env) {
                        Ok(slots) => {
                            tracing::info!(slo = %meta.id, slots, "SLO history backfilled");
                            let mut state = registry.read_state();
                            state.insert(meta.id.clone(), fingerprint);
                            registry.write_state(&state);
                        }
                        Err(err) => {
                            tracing::warn!(slo = %meta.id, error = %err, "SLO backfill stopped")
                        }
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "cannot start the SLO backfill thread");
        }
    }
}

/// Starts the backfills each rule load leaves pending (the first load's, and those of
/// later reloads), checking every few seconds until shutdown.
pub(crate) fn spawn_backfills(
    registry: Arc<SloRegistry>,
    manager: Arc<Manager>,
    env: GroupEnv,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            registry.spawn_backfill(manager.clone(), env.clone());
        }
    });
}

/// The slice rules as text: a changed definition gets a new fingerprint.
fn fingerprint(groups: &[GroupSpec]) -> String {
    let mut text = String::new();
    for group in groups {
        text.push_str(&group.name);
        text.push('\n');
        for rule in &group.rules {
            text.push_str(rule.name());
            text.push('=');
            text.push_str(&rule.expr);
            text.push('\n');
        }
    }
    format!("{:016x}", xxhash_rust::xxh64::xxh64(text.as_bytes(), 0))
}

/// The first live evaluation of the SLO's slice groups (ms), waiting for it at most a few
/// intervals.
fn first_live_slot(groups: &[GroupSpec], manager: &Manager) -> Option<i64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while std::time::Instant::now() < deadline {
        let running = manager.groups();
        let slots: Vec<Option<i64>> = groups
            .iter()
            .map(|spec| {
                running
                    .iter()
                    .find(|g| g.name == spec.name)
                    .filter(|g| g.metrics.iterations_total > 0)
                    .and_then(|g| g.rules.first().and_then(|r| r.last_evaluation_ms))
            })
            .collect();
        if slots.iter().all(Option::is_some) {
            return slots.into_iter().flatten().min();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn backfill_one(
    meta: &SloMeta,
    file: &str,
    specs: &[GroupSpec],
    manager: &Manager,
    env: &GroupEnv,
) -> Result<usize, String> {
    let first_live =
        first_live_slot(specs, manager).ok_or("the SLO's slice groups never evaluated live")?;
    let options = manager.options();
    let mut groups: Vec<Group> = specs
        .iter()
        .map(|spec| {
            let mut group = Group::new(
                file,
                spec,
                options.evaluation_interval_ms,
                options.query_offset_ms,
            );
            group.mark_restored();
            group
        })
        .collect();
    let slice = meta.slice_ms.max(1);
    // Slots of the live schedule strictly before the first live one, back one period.
    let count = (meta.period.ms / slice).max(0);
    let mut slots = 0;
    for k in (1..=count).rev() {
        let t = first_live - k * slice;
        for group in &mut groups {
            group.eval(t, env);
        }
        slots += 1;
    }
    Ok(slots)
}

/// Appends through `inner` without the too-old check: backfilled history is old by design.
pub(crate) struct BackfillAppendable(pub(crate) Arc<dyn Appendable>);

impl Appendable for BackfillAppendable {
    fn appender(&self, tenant: &TenantId, _options: AppendOptions) -> Box<dyn Appender> {
        self.0.appender(
            tenant,
            AppendOptions {
                skip_time_checks: true,
            },
        )
    }
}
