//! Black-box tests of `vigil-wal` through its public API.

// Helpers outside `#[test]` functions panic on failure too; that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod compat;
mod group_commit;
mod properties;
mod repair;
mod round_trip;
mod support;
