use thiserror::Error;

/// Errors raised while building model values from untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}")]
    InvalidLabelName {
        /// The offending name.
        name: String,
    },
    /// The same label name appears twice in one label set.
    #[error("duplicate label name {name:?}")]
    DuplicateLabelName {
        /// The repeated name.
        name: String,
    },
    /// A label value is not valid UTF-8 or otherwise unusable.
    #[error("invalid label value for {name:?}: {reason}")]
    InvalidLabelValue {
        /// The label whose value is invalid.
        name: String,
        /// Why the value was rejected.
        reason: String,
    },
    /// A regular expression in a matcher failed to compile.
    #[error("invalid regular expression {pattern:?} for label {name:?}: {reason}")]
    InvalidRegex {
        /// The label the matcher applies to.
        name: String,
        /// The pattern as given.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// A tenant id is empty, too long or holds forbidden characters.
    #[error("invalid tenant id {tenant:?}: {reason}")]
    InvalidTenant {
        /// The tenant id as given.
        tenant: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A duration string could not be parsed.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// The duration as given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}
