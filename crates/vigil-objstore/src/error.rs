use std::path::PathBuf;

use thiserror::Error;

/// Failures while building the object store.
#[derive(Debug, Error)]
pub enum ObjStoreError {
    /// The filesystem backend's directory could not be created.
    #[error("cannot create object store directory {dir:?}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A required setting is missing.
    #[error("missing setting {key}")]
    MissingSetting {
        /// The config key.
        key: &'static str,
    },
    /// The backend rejected its configuration.
    #[error("cannot build {backend} object store: {source}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },
}
