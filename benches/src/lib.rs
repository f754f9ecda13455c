//! Shared helpers for Vigil benchmarks and load generators.
