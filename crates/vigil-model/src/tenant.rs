use std::fmt;
use std::sync::Arc;

use crate::ModelError;

/// A tenant: the unit of isolation for data, limits and object-store prefixes.
///
/// Ids follow Cortex/Mimir/Loki rules: 1–150 bytes of `[a-zA-Z0-9!-_.*'()]`, and not `.` or `..`,
/// so an id is always safe to use as one path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Longest accepted tenant id, in bytes.
    pub const MAX_LEN: usize = 150;

    /// Validates and wraps a tenant id.
    pub fn new(id: &str) -> Result<Self, ModelError> {
        let invalid = |reason| ModelError::InvalidTenant {
            tenant: id.to_string(),
            reason,
        };
        if id.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if id.len() > Self::MAX_LEN {
            return Err(invalid("longer than 150 bytes"));
        }
        if id == "." || id == ".." {
            return Err(invalid("must not be '.' or '..'"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
        if !id.chars().all(allowed) {
            return Err(invalid("only [a-zA-Z0-9!-_.*'()] are allowed"));
        }
        Ok(Self(Arc::from(id)))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_ids_and_rejects_path_tricks() {
        assert!(TenantId::new("team-a").is_ok());
        assert!(TenantId::new("fake").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ä"] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(TenantId::new(&"x".repeat(151)).is_err());
    }
}
