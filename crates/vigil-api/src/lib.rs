//! vigil-api (being written).
