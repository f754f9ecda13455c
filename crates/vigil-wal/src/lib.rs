//! vigil-wal (being written).
