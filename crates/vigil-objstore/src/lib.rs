//! vigil-objstore (being written).
