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
    /// Logging.
    pub log: LogConfig,
    /// Log store and log push limits.
    pub logs: crate::logs_config::LogsConfig,
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
    /// Out-of-order acceptance window.
    pub out_of_order_window: String,
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
    /// Newest accepted sample time relative to the wall clock (ms).
    pub max_future_ms: i64,
    /// Retention (ms).
    pub retention_ms: i64,
    /// Maintenance interval (ms).
    pub maintenance_interval_ms: i64,
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
        Ok(Validated {
            listen,
            default_tenant,
            block_range_ms,
            out_of_order_window_ms,
            max_future_ms,
            retention_ms,
            maintenance_interval_ms,
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
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = Config::parse("storage:\n  tsdb:\n    retension: 1d\n").unwrap_err();
        assert!(err.contains("retension"), "{err}");
        let bad = Config::parse("storage:\n  tsdb:\n    retention: 1x\n").unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("storage.tsdb.retention"), "{err}");
        let bad = Config::parse("storage:\n  wal:\n    fsync: sometimes\n").unwrap_err();
        assert!(bad.contains("sometimes") || bad.contains("fsync"), "{bad}");
    }
}
