//! Line-level execution: the compiled [`Pipeline`] and its parsers, filters and templates.

mod hints;
pub(crate) mod ip;
pub(crate) mod json;
pub(crate) mod parsers;
pub(crate) mod pattern;
mod pipeline;
pub(crate) mod template;

pub use hints::{regex_literal_prefix, required_substrings};
pub use parsers::sanitize_label_name;
pub use parsers::{JSON_PARSER_ERR, LOGFMT_PARSER_ERR};
pub use pipeline::{
    ERROR_DETAILS_LABEL, ERROR_LABEL, KeepLabel, LABEL_FILTER_ERR, LabelBuilder, LabelKind,
    Pipeline, ProcessedLine, ProcessedSample, SAMPLE_EXTRACTION_ERR, TEMPLATE_FORMAT_ERR,
};
