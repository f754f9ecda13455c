//! Builds the log store and the log ingestion routes from the config, and runs the log
//! store's maintenance loop (chunk flushes, retention, compaction, deletion of replaced
//! segments), and `POST /flush`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use vigil_api::LogsApiState;
use vigil_ingest::logs::{LogPushLimits, RateLimiter};
use vigil_logstore::{FsyncMode, LogStore, LogStoreOptions};
use vigil_model::parse_duration_ms;
use vigil_objstore::object_store::ObjectStore;

use crate::config::{Config, FsyncSetting, Validated};

fn duration_ns(key: &str, raw: &str) -> anyhow::Result<i64> {
    let ms =
        parse_duration_ms(raw).map_err(|err| anyhow::anyhow!("invalid value for {key}: {err}"))?;
    Ok(ms.saturating_mul(1_000_000))
}

/// Opens the log store (replaying its WAL) and builds the routes writing into it.
pub(crate) async fn open(
    config: &Config,
    validated: &Validated,
    object_store: Arc<dyn ObjectStore>,
) -> anyhow::Result<(LogStore, axum::Router)> {
    let logs = &config.logs;
    let max_chunk_age_ns = duration_ns("logs.max_chunk_age", &logs.max_chunk_age)?;
    let options = LogStoreOptions {
        data_dir: config.storage.data_dir.join("logs"),
        wal_fsync: match config.storage.wal.fsync {
            FsyncSetting::Batch => FsyncMode::Batch,
            FsyncSetting::Always => FsyncMode::Always,
            FsyncSetting::None => FsyncMode::None,
        },
        chunk_target_bytes: logs.chunk_target_bytes,
        max_chunk_age_ns,
        unordered_window_ns: max_chunk_age_ns / 2,
        max_streams_per_tenant: logs.max_streams_per_tenant,
        retention_ns: duration_ns("logs.retention", &logs.retention)?,
        compaction_target_bytes: logs.compaction_target_bytes,
        compaction_max_span_ns: duration_ns("logs.compaction_max_span", &logs.compaction_max_span)?,
        compaction_delete_delay_ns: duration_ns(
            "logs.compaction_delete_delay",
            &logs.compaction_delete_delay,
        )?,
        // Both checked by `Config::validate`.
        flush_zstd_level: logs.compression_level,
        compaction_zstd_level: logs.compaction_compression_level,
        ..LogStoreOptions::default()
    };
    let (store, report) = LogStore::open(options, object_store)
        .await
        .context("opening the log store")?;
    tracing::info!(
        records = report.records_replayed,
        segments = report.segments_loaded,
        "log store ready"
    );
    let limits = LogPushLimits {
        max_line_size_bytes: logs.max_line_size_bytes,
        max_line_size_truncate: logs.max_line_size_truncate,
        ingestion_rate_bytes: logs.ingestion_rate_bytes,
        ingestion_burst_bytes: logs.ingestion_burst_bytes,
        reject_older_than_ns: Some(duration_ns(
            "logs.reject_older_than",
            &logs.reject_older_than,
        )?),
        ..LogPushLimits::default()
    };
    let state = Arc::new(LogsApiState {
        appendable: Arc::new(store.clone()),
        default_tenant: validated.default_tenant.clone(),
        rate_limiter: RateLimiter::new(limits.ingestion_rate_bytes, limits.ingestion_burst_bytes),
        limits,
        max_request_body_bytes: config.server.max_request_body_bytes,
        max_decompressed_bytes: config.ingest.remote_write.max_decompressed_bytes,
        ready: Arc::new(AtomicBool::new(true)),
    });
    let flush_routes = axum::Router::new()
        .route("/flush", axum::routing::post(flush_all))
        .with_state(store.clone());
    Ok((store, vigil_api::logs_router(state).merge(flush_routes)))
}

/// `POST /flush`, as Loki's ingester: cuts every log head into segments on the object store
/// now (204), instead of waiting for `logs.chunk_target_bytes` or `logs.max_chunk_age`.
/// Used before a planned shutdown of a node whose disk will not come back, and by tests.
async fn flush_all(
    axum::extract::State(store): axum::extract::State<LogStore>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match store.flush(true).await {
        Ok(report) => {
            tracing::info!(?report, "log heads flushed on request");
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "log flush on request failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("flush failed: {err}\n"),
            )
                .into_response()
        }
    }
}

/// Flushes due chunks, applies retention, compacts small segments and deletes replaced ones
/// every `interval` until `stop` turns true.
pub(crate) fn spawn_maintenance(
    store: LogStore,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            match store.run_maintenance().await {
                Ok(report) if report != vigil_logstore::MaintenanceReport::default() => {
                    tracing::info!(?report, "log maintenance done")
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "log maintenance failed; will retry"),
            }
        }
    })
}
