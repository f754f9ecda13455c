//! Builds Vigil's object store from options.
//!
//! Owns the choice of backend (the local filesystem under the data directory by default, S3
//! or an S3-compatible server when configured) and the decorators around it. Storage engines
//! receive an `Arc<dyn ObjectStore>` from here and never construct one themselves. Depends on
//! `vigil-model` only among Vigil crates and must not know about blocks, chunks or tenants'
//! data layout.

mod error;

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use serde::Deserialize;

pub use error::ObjStoreError;
pub use object_store;

/// Which backend holds Vigil's durable objects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory on the local filesystem (the embedded default).
    #[default]
    Filesystem,
    /// Amazon S3 or an S3-compatible API (MinIO, moto, Ceph).
    S3,
}

/// S3 settings; unset credentials fall back to the standard `AWS_*` environment variables,
/// web identity (IRSA) and instance metadata, as the AWS SDKs do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// Bucket name (required for the S3 backend).
    pub bucket: String,
    /// Region, e.g. `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint URL for S3-compatible servers, e.g. `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id; prefer the environment.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key; prefer the environment.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints (test servers).
    #[serde(default)]
    pub allow_http: bool,
    /// Use path-style addressing (`endpoint/bucket/key`) instead of virtual hosts.
    #[serde(default)]
    pub force_path_style: bool,
}

/// Everything needed to build the object store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjStoreOptions {
    /// The backend.
    pub backend: Backend,
    /// Root directory for the filesystem backend.
    pub filesystem_dir: PathBuf,
    /// Settings for the S3 backend.
    pub s3: S3Options,
}

/// Builds the configured object store.
pub fn build(options: &ObjStoreOptions) -> Result<Arc<dyn ObjectStore>, ObjStoreError> {
    match options.backend {
        Backend::Filesystem => {
            std::fs::create_dir_all(&options.filesystem_dir).map_err(|source| {
                ObjStoreError::CreateDir {
                    dir: options.filesystem_dir.clone(),
                    source,
                }
            })?;
            // Automatic cleanup removes directories emptied by deletes (retention, compaction),
            // which would otherwise be listed as prefixes forever, as on S3 they never exist.
            let store = LocalFileSystem::new_with_prefix(&options.filesystem_dir)
                .map_err(|source| ObjStoreError::Backend {
                    backend: "filesystem",
                    source,
                })?
                .with_automatic_cleanup(true);
            Ok(Arc::new(store))
        }
        Backend::S3 => {
            let s3 = &options.s3;
            if s3.bucket.is_empty() {
                return Err(ObjStoreError::MissingSetting {
                    key: "storage.object_store.s3.bucket",
                });
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(&s3.bucket);
            if let Some(region) = &s3.region {
                builder = builder.with_region(region);
            }
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(key) = &s3.access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            builder = builder
                .with_allow_http(s3.allow_http)
                .with_virtual_hosted_style_request(!s3.force_path_style);
            let store = builder.build().map_err(|source| ObjStoreError::Backend {
                backend: "s3",
                source,
            })?;
            Ok(Arc::new(store))
        }
    }
}

#[cfg(test)]
mod tests {
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    #[tokio::test]
    async fn filesystem_backend_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let options = ObjStoreOptions {
            filesystem_dir: dir.path().join("objects"),
            ..Default::default()
        };
        let store = build(&options).unwrap();
        let path = Path::from("metrics/t/blocks/x/meta.json");
        store
            .put(&path, PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&bytes[..], b"{}");
        assert!(
            dir.path()
                .join("objects/metrics/t/blocks/x/meta.json")
                .exists()
        );
    }

    #[test]
    fn s3_without_bucket_is_a_clear_error() {
        let options = ObjStoreOptions {
            backend: Backend::S3,
            ..Default::default()
        };
        let err = build(&options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("s3.bucket"), "{err}");
    }
}
