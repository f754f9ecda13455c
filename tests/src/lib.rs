//! Helpers for black-box tests of the vigil binary.
