//! The configuration file: every key documented in `config/vigil.yaml`, unknown keys rejected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigil_model::{TenantId, parse_duration_ms};
use vigil_objstore::{Backend, S3Options};

/// A configuration problem, reported with the offending key; the CLI exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed, has unknown keys or wrongly typed values.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A value is syntactically fine but not allowed.
    #[error("invalid value for {key}: {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server settings.
    pub server: ServerConfig,
    /// Tenancy settings.
    pub tenancy: TenancyConfig,
    /// Storage settings.
    pub storage: StorageConfig,
    /// Ingest limits.
    pub ingest: IngestConfig,
    /// PromQL engine settings.
    pub query: QueryConfig,
    /// Logging.
    pub log: LogConfig,
    /// Recording and alerting rules, Alertmanager notifications.
    pub rules: RulesConfig,
    /// Log store and log push limits.
    pub logs: crate::logs_config::LogsConfig,
    /// SLOs (their specs are found among the rule files).
    pub slo: SloConfig,
}

/// `slo:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// Backfill a new SLO's slice history over its period from the stored data.
    pub backfill: bool,
}

impl Default for SloConfig {
    fn default() -> Self {
        Self { backfill: true }
    }
}

/// `rules:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Globs of rule files; relative ones are resolved against the working directory.
    pub files: Vec<String>,
    /// Loki-ruler directory `<dir>/<tenant>/<namespace>.yaml`; empty: none.
    pub tenant_directory: String,
    /// Language of tenant-directory groups without `language:` (`logql` or `promql`).
    pub tenant_default_language: String,
    /// Interval of groups that set none.
    pub evaluation_interval: String,
    /// Query offset of groups that set none.
    pub query_offset: String,
    /// Alertmanager base URLs (`http://host:9093`); alerts are posted to `/api/v2/alerts`.
    pub alertmanagers: Vec<String>,
    /// Minimum time between two sends of an unchanged firing alert.
    pub resend_delay: String,
    /// Timeout of one request to an Alertmanager.
    pub notification_timeout: String,
    /// Labels added to every alert sent (unless the alert has the label) and `$externalLabels`.
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Base of generator URLs and `$externalURL`; empty means `http://<server.listen>`.
    pub external_url: String,
    /// How far back `for` state is looked for after a restart.
    pub outage_tolerance: String,
    /// Alerts whose `for` is shorter than this are not restored after a restart.
    pub for_grace_period: String,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            files: vec!["rules/*.yml".into(), "rules/*.yaml".into()],
            tenant_directory: String::new(),
            tenant_default_language: "logql".into(),
            evaluation_interval: "1m".into(),
            query_offset: "0s".into(),
            alertmanagers: Vec::new(),
            resend_delay: "1m".into(),
            notification_timeout: "10s".into(),
            external_labels: std::collections::BTreeMap::new(),
            external_url: String::new(),
            outage_tolerance: "1h".into(),
            for_grace_period: "10m".into(),
        }
    }
}

/// `server:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted on write paths, as sent (bytes).
    pub max_request_body_bytes: usize,
    /// Write requests processed at once; more are answered 503 so senders back off and retry.
    pub max_inflight_write_requests: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9009".into(),
            max_request_body_bytes: 32 << 20,
            max_inflight_write_requests: 64,
        }
    }
}

/// `tenancy:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    /// Tenant of requests without `X-Scope-OrgID`.
    pub default_tenant: String,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            default_tenant: "fake".into(),
        }
    }
}

/// `storage:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Local directory for the WAL and caches.
    pub data_dir: PathBuf,
    /// Where blocks go.
    pub object_store: ObjectStoreConfig,
    /// WAL settings.
    pub wal: WalConfig,
    /// Metrics engine settings.
    pub tsdb: TsdbConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            object_store: ObjectStoreConfig::default(),
            wal: WalConfig::default(),
            tsdb: TsdbConfig::default(),
        }
    }
}

/// `storage.object_store:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectStoreConfig {
    /// `filesystem` (default) or `s3`.
    pub backend: Backend,
    /// Directory of the filesystem backend; default `<data_dir>/objects`.
    pub filesystem_dir: Option<PathBuf>,
    /// S3 settings.
    pub s3: S3Options,
}

/// `storage.wal:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// `batch` (group commit, default), `always` or `none`.
    pub fsync: FsyncSetting,
    /// Segment size in bytes.
    pub segment_size_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncSetting::Batch,
            segment_size_bytes: 128 << 20,
        }
    }
}

/// WAL durability mode as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsyncSetting {
    /// Concurrent writes share one fsync; each is acknowledged after it.
    #[default]
    Batch,
    /// Each write is fsynced on its own.
    Always,
    /// Never fsync (data may be lost on power failure; survives a process crash).
    None,
}

/// `storage.tsdb:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    /// Span of one head block.
    pub block_range: String,
    /// Out-of-order acceptance window behind a series' newest sample, inside the head's
    /// writable range.
    pub out_of_order_window: String,
    /// Prometheus' `out_of_order_time_window`: how far behind the tenant's newest sample a
    /// sample is accepted even after its block range was cut (backfills while rules run).
    pub out_of_order_time_window: String,
    /// How far ahead of the wall clock a sample may be.
    pub max_future: String,
    /// Time-based retention.
    pub retention: String,
    /// Size-based retention per tenant in bytes (0 = off).
    pub retention_bytes: u64,
    /// Series limit per tenant (0 = unlimited).
    pub max_series_per_tenant: usize,
    /// How often block cutting, compaction and retention run.
    pub maintenance_interval: String,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        Self {
            block_range: "2h".into(),
            out_of_order_window: "10m".into(),
            out_of_order_time_window: "24h".into(),
            max_future: "10m".into(),
            retention: "15d".into(),
            retention_bytes: 0,
            max_series_per_tenant: 0,
            maintenance_interval: "1m".into(),
        }
    }
}

/// `ingest:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Remote write receiver limits.
    pub remote_write: RemoteWriteConfig,
}

/// `ingest.remote_write:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// Largest request after snappy decompression (bytes).
    pub max_decompressed_bytes: usize,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 32 << 20,
        }
    }
}

/// `query:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// How far back an instant selector looks for the latest sample.
    pub lookback_delta: String,
    /// Most samples one query may hold in memory at once.
    pub max_samples: usize,
    /// Longest a query may run; a request's `timeout` parameter can only shorten it.
    pub timeout: String,
    /// Step of subqueries written without one, such as `[1h:]`.
    pub default_subquery_step: String,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            lookback_delta: "5m".into(),
            max_samples: 50_000_000,
            timeout: "2m".into(),
            default_subquery_step: "1m".into(),
        }
    }
}

/// `log:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Durations and addresses of the config, parsed and checked.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Listen address.
    pub listen: SocketAddr,
    /// Default tenant.
    pub default_tenant: TenantId,
    /// Block range (ms).
    pub block_range_ms: i64,
    /// Out-of-order window (ms).
    pub out_of_order_window_ms: i64,
    /// Out-of-order time window (ms, 0 = off).
    pub out_of_order_time_window_ms: i64,
    /// Newest accepted sample time relative to the wall clock (ms).
    pub max_future_ms: i64,
    /// Retention (ms).
    pub retention_ms: i64,
    /// Maintenance interval (ms).
    pub maintenance_interval_ms: i64,
    /// PromQL engine options from `query:`.
    pub engine: vigil_promql::EngineOptions,
    /// Rule manager options from `rules:`.
    pub rules: vigil_rules::ManagerOptions,
}

fn duration(key: &'static str, raw: &str) -> Result<i64, ConfigError> {
    parse_duration_ms(raw).map_err(|err| ConfigError::Invalid {
        key,
        reason: err.to_string(),
    })
}

impl Config {
    /// Reads a config file. A missing file at the default path yields the defaults.
    pub fn load(path: &Path, must_exist: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Config::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses YAML text; an empty document yields the defaults.
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_norway::from_str(text).map_err(|err| err.to_string())
    }

    /// Checks values that serde cannot: durations, addresses, tenant ids, ranges.
    pub fn validate(&self) -> Result<Validated, ConfigError> {
        let listen =
            self.server
                .listen
                .parse::<SocketAddr>()
                .map_err(|err| ConfigError::Invalid {
                    key: "server.listen",
                    reason: format!(
                        "{:?} is not an address like 127.0.0.1:9009: {err}",
                        self.server.listen
                    ),
                })?;
        let default_tenant =
            TenantId::new(&self.tenancy.default_tenant).map_err(|err| ConfigError::Invalid {
                key: "tenancy.default_tenant",
                reason: err.to_string(),
            })?;
        let tsdb = &self.storage.tsdb;
        let block_range_ms = duration("storage.tsdb.block_range", &tsdb.block_range)?;
        if block_range_ms < 60_000 {
            return Err(ConfigError::Invalid {
                key: "storage.tsdb.block_range",
                reason: "must be at least 1m".into(),
            });
        }
        let out_of_order_window_ms = duration(
            "storage.tsdb.out_of_order_window",
            &tsdb.out_of_order_window,
        )?;
        if out_of_order_window_ms > block_range_ms / 2 {
            return Err(ConfigError::Invalid {
                key: "storage.tsdb.out_of_order_window",
                reason: "must not exceed half of storage.tsdb.block_range".into(),
            });
        }
        let max_future_ms = duration("storage.tsdb.max_future", &tsdb.max_future)?;
        let retention_ms = duration("storage.tsdb.retention", &tsdb.retention)?;
        if retention_ms < block_range_ms {
            return Err(ConfigError::Invalid {
                key: "storage.tsdb.retention",
                reason: "must be at least one block_range".into(),
            });
        }
        // Capped at the retention: older samples would be deleted right after their block cut.
        let out_of_order_time_window_ms = duration(
            "storage.tsdb.out_of_order_time_window",
            &tsdb.out_of_order_time_window,
        )?
        .min(retention_ms);
        let maintenance_interval_ms = duration(
            "storage.tsdb.maintenance_interval",
            &tsdb.maintenance_interval,
        )?;
        if maintenance_interval_ms < 100 {
            return Err(ConfigError::Invalid {
                key: "storage.tsdb.maintenance_interval",
                reason: "must be at least 100ms".into(),
            });
        }
        let engine = self.query.validate()?;
        if self.server.max_inflight_write_requests == 0 {
            return Err(ConfigError::Invalid {
                key: "server.max_inflight_write_requests",
                reason: "must be positive".into(),
            });
        }
        if self.server.max_request_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "server.max_request_body_bytes",
                reason: "must be positive".into(),
            });
        }
        if self.ingest.remote_write.max_decompressed_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "ingest.remote_write.max_decompressed_bytes",
                reason: "must be positive".into(),
            });
        }
        if self.storage.wal.segment_size_bytes < 1 << 16 {
            return Err(ConfigError::Invalid {
                key: "storage.wal.segment_size_bytes",
                reason: "must be at least 65536".into(),
            });
        }
        if self.storage.object_store.backend == Backend::S3
            && self.storage.object_store.s3.bucket.is_empty()
        {
            return Err(ConfigError::Invalid {
                key: "storage.object_store.s3.bucket",
                reason: "required for the s3 backend".into(),
            });
        }
        for (key, level) in [
            ("logs.compression_level", self.logs.compression_level),
            (
                "logs.compaction_compression_level",
                self.logs.compaction_compression_level,
            ),
        ] {
            if !(1..=22).contains(&level) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("zstd level {level} is not between 1 and 22"),
                });
            }
        }
        let rules = self.rules.validate(&listen, &default_tenant)?;
        Ok(Validated {
            rules,
            listen,
            default_tenant,
            block_range_ms,
            out_of_order_window_ms,
            out_of_order_time_window_ms,
            max_future_ms,
            retention_ms,
            maintenance_interval_ms,
            engine,
        })
    }
}

fn http_url(key: &'static str, raw: &str) -> Result<(), ConfigError> {
    let rest = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !host.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(ConfigError::Invalid {
            key,
            reason: format!("{raw:?} is not an http:// or https:// URL with a host"),
        }),
    }
}

impl RulesConfig {
    fn validate(
        &self,
        listen: &SocketAddr,
        tenant: &TenantId,
    ) -> Result<vigil_rules::ManagerOptions, ConfigError> {
        let positive = |key: &'static str, raw: &str| {
            let ms = duration(key, raw)?;
            if ms <= 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be positive".into(),
                });
            }
            Ok(ms)
        };
        for pattern in &self.files {
            glob::Pattern::new(pattern).map_err(|err| ConfigError::Invalid {
                key: "rules.files",
                reason: format!("{pattern:?} is not a valid glob: {err}"),
            })?;
        }
        let evaluation_interval_ms =
            positive("rules.evaluation_interval", &self.evaluation_interval)?;
        let query_offset_ms = duration("rules.query_offset", &self.query_offset)?;
        if query_offset_ms < 0 {
            return Err(ConfigError::Invalid {
                key: "rules.query_offset",
                reason: "must not be negative".into(),
            });
        }
        let resend_delay_ms = positive("rules.resend_delay", &self.resend_delay)?;
        let timeout_ms = positive("rules.notification_timeout", &self.notification_timeout)?;
        let outage_tolerance_ms = positive("rules.outage_tolerance", &self.outage_tolerance)?;
        let for_grace_period_ms = duration("rules.for_grace_period", &self.for_grace_period)?;
        if for_grace_period_ms < 0 {
            return Err(ConfigError::Invalid {
                key: "rules.for_grace_period",
                reason: "must not be negative".into(),
            });
        }
        for url in &self.alertmanagers {
            http_url("rules.alertmanagers", url)?;
        }
        for name in self.external_labels.keys() {
            if !vigil_model::is_valid_label_name(name) || name.starts_with("__") {
                return Err(ConfigError::Invalid {
                    key: "rules.external_labels",
                    reason: format!("{name:?} is not a valid label name"),
                });
            }
        }
        let external_url = if self.external_url.is_empty() {
            format!("http://{listen}")
        } else {
            http_url("rules.external_url", &self.external_url)?;
            self.external_url.trim_end_matches('/').to_string()
        };
        let tenant_default_language = match self.tenant_default_language.as_str() {
            "logql" => vigil_rules::QueryLanguage::LogQL,
            "promql" => vigil_rules::QueryLanguage::PromQL,
            other => {
                return Err(ConfigError::Invalid {
                    key: "rules.tenant_default_language",
                    reason: format!("{other:?}: use logql or promql"),
                });
            }
        };
        Ok(vigil_rules::ManagerOptions {
            files: self.files.clone(),
            tenant_directory: (!self.tenant_directory.is_empty())
                .then(|| std::path::PathBuf::from(&self.tenant_directory)),
            tenant_default_language,
            evaluation_interval_ms,
            query_offset_ms,
            tenant: tenant.clone(),
            notifier: vigil_rules::notifier::NotifierOptions {
                alertmanager_urls: self.alertmanagers.clone(),
                timeout: std::time::Duration::from_millis(timeout_ms.unsigned_abs()),
                external_labels: self.external_labels.clone(),
                external_url,
            },
            resend_delay_ms,
            for_grace_period_ms,
            outage_tolerance_ms,
        })
    }
}

impl QueryConfig {
    fn validate(&self) -> Result<vigil_promql::EngineOptions, ConfigError> {
        let positive = |key: &'static str, raw: &str| {
            let ms = duration(key, raw)?;
            if ms <= 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be positive".into(),
                });
            }
            Ok(ms)
        };
        let lookback_delta_ms = positive("query.lookback_delta", &self.lookback_delta)?;
        let timeout_ms = positive("query.timeout", &self.timeout)?;
        let default_subquery_step_ms =
            positive("query.default_subquery_step", &self.default_subquery_step)?;
        if self.max_samples == 0 {
            return Err(ConfigError::Invalid {
                key: "query.max_samples",
                reason: "must be positive".into(),
            });
        }
        Ok(vigil_promql::EngineOptions {
            lookback_delta_ms,
            max_samples: self.max_samples,
            timeout: std::time::Duration::from_millis(timeout_ms.unsigned_abs()),
            default_subquery_step_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_is_valid_and_matches_defaults() {
        let text = include_str!("../../../config/vigil.yaml");
        let config = Config::parse(text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.server.listen, ServerConfig::default().listen);
        assert_eq!(
            config.storage.tsdb.retention,
            TsdbConfig::default().retention
        );
        assert_eq!(
            config.validate().unwrap().out_of_order_time_window_ms,
            24 * 3_600_000
        );
        assert_eq!(
            Config::default()
                .validate()
                .unwrap()
                .out_of_order_time_window_ms,
            24 * 3_600_000
        );
        let rules = config.validate().unwrap().rules;
        let defaults_rules = Config::default().validate().unwrap().rules;
        assert_eq!(rules.files, defaults_rules.files);
        assert_eq!(rules.evaluation_interval_ms, 60_000);
        assert_eq!(rules.resend_delay_ms, defaults_rules.resend_delay_ms);
        assert_eq!(rules.notifier.timeout, defaults_rules.notifier.timeout);
        assert_eq!(
            rules.outage_tolerance_ms,
            defaults_rules.outage_tolerance_ms
        );
        assert_eq!(
            rules.for_grace_period_ms,
            defaults_rules.for_grace_period_ms
        );
        let engine = config.validate().unwrap().engine;
        let defaults = vigil_promql::EngineOptions::default();
        assert_eq!(engine.lookback_delta_ms, defaults.lookback_delta_ms);
        assert_eq!(engine.max_samples, defaults.max_samples);
        assert_eq!(engine.timeout, defaults.timeout);
        assert_eq!(
            engine.default_subquery_step_ms,
            defaults.default_subquery_step_ms
        );
    }

    #[test]
    fn out_of_order_time_window_is_checked() {
        let off = Config::parse("storage:\n  tsdb:\n    out_of_order_time_window: 0\n").unwrap();
        assert_eq!(off.validate().unwrap().out_of_order_time_window_ms, 0);
        let long = Config::parse(
            "storage:\n  tsdb:\n    out_of_order_time_window: 30d\n    retention: 15d\n",
        )
        .unwrap();
        assert_eq!(
            long.validate().unwrap().out_of_order_time_window_ms,
            15 * 24 * 3_600_000,
            "capped at the retention"
        );
        let bad = Config::parse("storage:\n  tsdb:\n    out_of_order_time_window: 1x\n").unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.contains("storage.tsdb.out_of_order_time_window"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = Config::parse("storage:\n  tsdb:\n    retension: 1d\n").unwrap_err();
        assert!(err.contains("retension"), "{err}");
        let bad = Config::parse("storage:\n  tsdb:\n    retention: 1x\n").unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("storage.tsdb.retention"), "{err}");
        let bad = Config::parse("query:\n  timeout: 0s\n").unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("query.timeout"), "{err}");
        for yaml in [
            "logs:\n  compression_level: 0\n",
            "logs:\n  compaction_compression_level: 23\n",
        ] {
            let err = Config::parse(yaml)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("compression_level") && err.contains("zstd level"),
                "{err}"
            );
        }
        let good = Config::parse("logs:\n  compaction_compression_level: 19\n").unwrap();
        assert!(good.validate().is_ok());
        let err = Config::parse("query:\n  max_sample: 5\n").unwrap_err();
        assert!(err.contains("max_sample"), "{err}");
        let err = Config::parse("rules:\n  evaluation_intervall: 1m\n").unwrap_err();
        assert!(err.contains("evaluation_intervall"), "{err}");
        for (yaml, key) in [
            (
                "rules:\n  evaluation_interval: 0s\n",
                "rules.evaluation_interval",
            ),
            (
                "rules:\n  alertmanagers: [\"am:9093\"]\n",
                "rules.alertmanagers",
            ),
            ("rules:\n  files: [\"rules/[*.yml\"]\n", "rules.files"),
            (
                "rules:\n  external_labels: {\"a-b\": x}\n",
                "rules.external_labels",
            ),
            ("rules:\n  resend_delay: soon\n", "rules.resend_delay"),
        ] {
            let bad = Config::parse(yaml).unwrap();
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
        let bad = Config::parse("storage:\n  wal:\n    fsync: sometimes\n").unwrap_err();
        assert!(bad.contains("sometimes") || bad.contains("fsync"), "{bad}");
    }
}
