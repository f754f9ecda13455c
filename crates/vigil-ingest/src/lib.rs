//! Wire decoding and validation for Vigil's ingest paths.
//!
//! Owns everything between an ingest request's bytes and the storage traits: content
//! negotiation, decompression, protobuf decoding, label validation and appending through
//! [`vigil_storage::Appendable`]/[`vigil_storage::Appender`], with the sender-visible outcome
//! ([`WriteOutcome`], [`IngestError`] and its [`IngestErrorKind`]). Today that is Prometheus
//! remote write 1.0 and 2.0 ([`remote_write`], messages in [`proto`]), Loki push
//! ([`loki`]) and OTLP/HTTP logs ([`otlp`]), both through the shared log pipeline in
//! [`logs`] (validation with Loki's limits, per-tenant rate limiting, partial success).
//!
//! This crate must not depend on any storage engine (it sees storage only through
//! `vigil-storage`'s traits), any API framework (the HTTP handler lives in the API crate and
//! calls in here with headers and body bytes) or any query engine.

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod error;
pub mod logs;
pub mod loki;
pub mod otlp;
pub mod proto;
pub mod remote_write;

#[cfg(test)]
mod test_support;

pub use error::{IngestError, IngestErrorKind};
pub use remote_write::{
    PreparedWrite, RemoteWriteOptions, RemoteWriteVersion, WriteOutcome, decompress, ingest,
    negotiate, prepare,
};
