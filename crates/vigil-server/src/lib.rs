//! Vigil's composition root.
//!
//! Owns the configuration file (`config.rs`), builds the object store, the metrics storage
//! engine and the HTTP API from it, and runs the process: listener first (so `/-/healthy`
//! answers during WAL replay), then replay, then readiness, the maintenance loop (block
//! cuts, compaction, retention), the rule manager (started once storage is ready, reloaded on
//! SIGHUP and `POST /-/reload`, stopped before storage closes) and graceful shutdown. The only crate that names
//! `vigil-tsdb`; nothing depends on it but the binary and tests.

pub mod config;
mod deferred;
mod logs;
pub mod logs_config;
mod slo;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use vigil_api::{ApiOptions, ApiState, BuildInfo};
use vigil_objstore::ObjStoreOptions;
use vigil_tsdb::{FsyncMode, Tsdb, TsdbOptions};

pub use config::{Config, ConfigError, LogFormat, Validated};
use deferred::DeferredStorage;

/// Installs the global tracing subscriber as the config asks.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config.log.level.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn tsdb_options(config: &Config, validated: &Validated) -> TsdbOptions {
    TsdbOptions {
        data_dir: config.storage.data_dir.clone(),
        wal_fsync: match config.storage.wal.fsync {
            config::FsyncSetting::Batch => FsyncMode::Batch,
            config::FsyncSetting::Always => FsyncMode::Always,
            config::FsyncSetting::None => FsyncMode::None,
        },
        wal_segment_size_bytes: config.storage.wal.segment_size_bytes,
        block_range_ms: validated.block_range_ms,
        out_of_order_window_ms: validated.out_of_order_window_ms,
        out_of_order_time_window_ms: validated.out_of_order_time_window_ms,
        max_future_ms: validated.max_future_ms,
        retention_ms: validated.retention_ms,
        retention_bytes: config.storage.tsdb.retention_bytes,
        max_series_per_tenant: config.storage.tsdb.max_series_per_tenant,
        ..TsdbOptions::default()
    }
}

fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        revision: option_env!("VIGIL_REVISION")
            .unwrap_or("unknown")
            .to_string(),
        branch: option_env!("VIGIL_BRANCH").unwrap_or("main").to_string(),
        build_date: option_env!("VIGIL_BUILD_DATE")
            .unwrap_or("unknown")
            .to_string(),
        rustc_version: "rust".to_string(),
    }
}

/// Runs Vigil until `shutdown` resolves. Prints `listening on ADDR` to stdout once bound.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let validated = config.validate()?;
    let data_dir = config.storage.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    // One process per data directory: two WAL writers on the same files would corrupt them.
    let lock_path = data_dir.join("LOCK");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    if lock_file.try_lock().is_err() {
        anyhow::bail!(
            "data dir {} is in use by another vigil process (lock on {})",
            data_dir.display(),
            lock_path.display()
        );
    }
    let object_store = vigil_objstore::build(&ObjStoreOptions {
        backend: config.storage.object_store.backend.clone(),
        filesystem_dir: config
            .storage
            .object_store
            .filesystem_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("objects")),
        s3: config.storage.object_store.s3.clone(),
    })?;

    let (log_store, log_routes) = logs::open(&config, &validated, object_store.clone()).await?;
    let storage = Arc::new(DeferredStorage::default());
    let ready = Arc::new(AtomicBool::new(false));
    // The log store serves the push routes, the Loki read API and LogQL rules alike.
    let logs: Arc<dyn vigil_storage::LogQueryable> = Arc::new(log_store.clone());
    let state = Arc::new(ApiState {
        appendable: storage.clone(),
        queryable: storage.clone(),
        options: ApiOptions {
            default_tenant: validated.default_tenant.clone(),
            max_request_body_bytes: config.server.max_request_body_bytes,
            max_decompressed_bytes: config.ingest.remote_write.max_decompressed_bytes,
        },
        write_permits: tokio::sync::Semaphore::new(config.server.max_inflight_write_requests),
        build_info: build_info(),
        ready: ready.clone(),
        engine: vigil_promql::Engine::new(validated.engine.clone()),
        logs: Some(logs.clone()),
    });
    let rules = vigil_rules::Manager::new(validated.rules.clone());
    // SLO specs among the rule files become generated groups; their state is on /api/v1/slos.
    let slos = slo::SloRegistry::new(&data_dir, config.slo.backfill);
    rules.set_spec_handler(slos.spec_handler());
    let slo_api = vigil_api::slos::SloApi {
        catalog: slos.clone(),
        state: state.clone(),
        rules: rules.clone(),
    };
    let listener = tokio::net::TcpListener::bind(validated.listen)
        .await
        .with_context(|| format!("cannot listen on {}", validated.listen))?;
    let local: SocketAddr = listener.local_addr()?;
    println!("listening on {local}");
    tracing::info!(address = %local, "listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let app = vigil_api::router(state)
        .merge(vigil_api::rules::router(rules.clone()))
        .merge(vigil_api::slos::router(slo_api));
    let server = tokio::spawn(async move {
        axum::serve(listener, app.merge(log_routes))
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .await
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let started = std::time::Instant::now();
    let (tsdb, report) = Tsdb::open(tsdb_options(&config, &validated), object_store).await?;
    tracing::info!(
        blocks = report.blocks_loaded,
        records = report.records_replayed,
        late_samples = report.late_samples,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "storage ready"
    );
    if let Some(repair) = &report.wal_repair {
        tracing::warn!(repair = %repair, "wal was repaired on open");
    }
    storage.set(tsdb.clone());
    rules.start(vigil_rules::ManagerDeps {
        appendable: storage.clone(),
        queryable: storage.clone(),
        promql: Arc::new(vigil_rules::PromqlEvaluator::new(
            vigil_promql::Engine::new(validated.engine.clone()),
            storage.clone(),
        )),
        logql: Some(Arc::new(vigil_rules::LogqlEvaluator::new(logs.clone()))),
        runtime: tokio::runtime::Handle::current(),
    });
    let first_load = rules.clone();
    tokio::task::spawn_blocking(move || first_load.reload())
        .await
        .context("rule loading task")?
        .map_err(|err| anyhow::anyhow!("cannot load rule files: {err}"))?;
    spawn_reload_on_sighup(rules.clone(), stop_rx.clone());
    slo::spawn_backfills(
        slos.clone(),
        rules.clone(),
        vigil_rules::GroupEnv {
            tenant: validated.rules.tenant.clone(),
            appendable: Arc::new(slo::BackfillAppendable(storage.clone())),
            queryable: storage.clone(),
            promql: Arc::new(vigil_rules::PromqlEvaluator::new(
                vigil_promql::Engine::new(validated.engine.clone()),
                storage.clone(),
            )),
            logql: Some(Arc::new(vigil_rules::LogqlEvaluator::new(logs.clone()))),
            external_labels: validated.rules.notifier.external_labels.clone(),
            external_url: validated.rules.notifier.external_url.clone(),
            for_grace_period_ms: validated.rules.for_grace_period_ms,
            outage_tolerance_ms: validated.rules.outage_tolerance_ms,
            resend_delay_ms: validated.rules.resend_delay_ms,
            runtime: tokio::runtime::Handle::current(),
        },
        stop_rx.clone(),
    );
    ready.store(true, Ordering::Release);

    let maintenance_tsdb = tsdb.clone();
    let interval = Duration::from_millis(validated.maintenance_interval_ms as u64);
    let mut maintenance_stop = stop_rx.clone();
    let maintenance = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = maintenance_stop.wait_for(|stop| *stop) => return,
            }
            match maintenance_tsdb.run_maintenance().await {
                Ok(report) if report != vigil_tsdb::MaintenanceReport::default() => {
                    tracing::info!(?report, "maintenance done")
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "maintenance failed; will retry"),
            }
        }
    });

    let log_maintenance = logs::spawn_maintenance(log_store.clone(), interval, stop_rx.clone());
    let served = server.await.context("http server task")?;
    let _ = log_maintenance.await;
    log_store.close();
    ready.store(false, Ordering::Release);
    let _ = maintenance.await;
    let stopping = rules.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.stop()).await;
    tsdb.close();
    drop(lock_file);
    tracing::info!("stopped");
    served.context("http server")
}

/// Reloads the rule files on every SIGHUP until shutdown.
fn spawn_reload_on_sighup(
    rules: Arc<vigil_rules::Manager>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload rules with POST /-/reload");
            return;
        };
        loop {
            tokio::select! {
                _ = hangup.recv() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            let manager = rules.clone();
            match tokio::task::spawn_blocking(move || manager.reload()).await {
                Ok(Ok(())) => tracing::info!("rules reloaded on SIGHUP"),
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "rule reload on SIGHUP failed; previous rules kept")
                }
                Err(err) => tracing::error!(error = %err, "rule reload task failed"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (rules, stop);
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}
