//! vigil-ingest (being written).
