//! Line-level execution of a LogQL pipeline.

use std::borrow::Cow;
use std::sync::Arc;

use regex::Regex;
use vigil_model::{Label, Labels, Matcher};

use super::ip::IpMatcher;
use super::json::{PathSeg, parse_path};
use super::parsers::{self, RegexpParser};
use super::pattern::Pattern;
use super::template::{Template, TemplateData};
use crate::syntax::{
    CmpOp, FilterValue, LabelFilter, LabelFmt, LineFilterOp, LogExpr, NameMatcher, ParserStage,
    Stage, Unwrap, UnwrapConv,
    units::{parse_bytes, parse_duration_ns},
};

/// The label that carries a pipeline error.
pub const ERROR_LABEL: &str = "__error__";
/// The label that carries the error's details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// `__error__` when a label filter cannot convert a value.
pub const LABEL_FILTER_ERR: &str = "LabelFilterErr";
/// `__error__` when `unwrap` cannot convert a value.
pub const SAMPLE_EXTRACTION_ERR: &str = "SampleExtractionErr";
/// `__error__` when a `line_format`/`label_format` template fails.
pub const TEMPLATE_FORMAT_ERR: &str = "TemplateFormatErr";

/// Where a label of a processed entry comes from (Loki's `categorize-labels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Stream,
    Metadata,
    Parsed,
}

/// The mutable label set of one entry while it runs through the stages.
#[derive(Debug, Clone)]
pub struct LabelBuilder<'a> {
    base: &'a Labels,
    /// Stream and metadata labels borrow from the entry until a stage replaces them.
    items: Vec<(Cow<'a, str>, Cow<'a, str>, LabelKind)>,
    /// When set, parsers keep only these parsed labels (and `__error__`); see
    /// [`Pipeline::restrict_parsed_labels`].
    wanted: Option<&'a [String]>,
}

impl<'a> LabelBuilder<'a> {
    fn new(stream: &'a Labels, metadata: &'a Labels, wanted: Option<&'a [String]>) -> Self {
        let mut b = Self {
            base: stream,
            items: Vec::with_capacity(stream.len() + metadata.len() + 4),
            wanted,
        };
        for l in stream.iter() {
            b.items.push((
                Cow::Borrowed(l.name.as_str()),
                Cow::Borrowed(l.value.as_str()),
                LabelKind::Stream,
            ));
        }
        for l in metadata.iter() {
            b.set_cow(
                Cow::Borrowed(l.name.as_str()),
                Cow::Borrowed(l.value.as_str()),
                LabelKind::Metadata,
            );
        }
        b
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_ref())
    }

    /// False when the pipeline was told that the parsed label `name` cannot matter.
    pub fn wants_parsed(&self, name: &str) -> bool {
        self.wanted.is_none_or(|wanted| {
            name == ERROR_LABEL || name == ERROR_DETAILS_LABEL || wanted.iter().any(|w| w == name)
        })
    }

    /// False when a parser may skip a key that would become the label `name` (or
    /// `<name>_extracted`, should the stream have `name`): cheaper than
    /// [`LabelBuilder::wants_parsed`] after renaming, for the many keys a restricted
    /// pipeline does not want.
    pub fn may_want_parsed(&self, name: &str) -> bool {
        self.wanted.is_none_or(|wanted| {
            name == ERROR_LABEL
                || name == ERROR_DETAILS_LABEL
                || wanted.iter().any(|w| {
                    w == name
                        || w.strip_suffix("_extracted")
                            .is_some_and(|stem| stem == name)
                })
        })
    }

    /// True when the stream (not the parsers) has label `name`.
    pub fn base_has(&self, name: &str) -> bool {
        self.base.get(name).is_some()
    }

    /// Sets or replaces a label.
    pub fn set(&mut self, name: String, value: String, kind: LabelKind) {
        self.set_cow(Cow::Owned(name), Cow::Owned(value), kind);
    }

    fn set_cow(&mut self, name: Cow<'a, str>, value: Cow<'a, str>, kind: LabelKind) {
        if let Some(item) = self.items.iter_mut().find(|(n, _, _)| *n == name) {
            item.1 = value;
            item.2 = kind;
        } else {
            self.items.push((name, value, kind));
        }
    }

    /// Removes a label.
    pub fn del(&mut self, name: &str) {
        self.items.retain(|(n, _, _)| n != name);
    }

    /// Every label with its value, sorted by name (a template's `.` as a whole).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .items
            .iter()
            .map(|(n, v, _)| (n.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        pairs
    }

    /// True when `__error__` is set.
    pub fn has_error(&self) -> bool {
        self.get(ERROR_LABEL).is_some_and(|v| !v.is_empty())
    }

    /// Records an error unless one is already set (the first error wins).
    pub fn set_error(&mut self, err: &str, details: &str) {
        if self.has_error() {
            return;
        }
        self.set(ERROR_LABEL.to_string(), err.to_string(), LabelKind::Parsed);
        if !details.is_empty() {
            self.set(
                ERROR_DETAILS_LABEL.to_string(),
                details.to_string(),
                LabelKind::Parsed,
            );
        }
    }

    fn to_labels(&self, filter: impl Fn(LabelKind, &str) -> bool) -> Labels {
        let v: Vec<Label> = self
            .items
            .iter()
            .filter(|(n, v, k)| !v.is_empty() && filter(*k, n))
            .map(|(n, v, _)| Label::new(n.to_string(), v.to_string()))
            .collect();
        // Names are unique by construction.
        Labels::from_unsorted_unique(v).unwrap_or_default()
    }
}

/// The result of running one entry through a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedLine {
    /// The (possibly rewritten) line.
    pub line: String,
    /// All labels: stream, structured metadata and parsed (empty values dropped).
    pub labels: Labels,
    /// The stream labels alone (after `drop`/`keep`/`label_format`).
    pub stream: Labels,
    /// Structured metadata labels alone.
    pub metadata: Labels,
    /// Labels added by parsers and formatters alone (including `__error__`).
    pub parsed: Labels,
    /// The unwrapped sample value, when the pipeline has an `unwrap` stage.
    pub value: Option<f64>,
}

#[derive(Debug, Clone)]
enum LineMatcher {
    Contains(String),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
}

impl LineMatcher {
    fn matches(&self, line: &str) -> bool {
        match self {
            LineMatcher::Contains(s) => line.contains(s.as_str()),
            LineMatcher::Regex(r) => r.is_match(line),
            LineMatcher::Pattern(p) => p.captures(line, true).is_some(),
            LineMatcher::Ip(ip) => ip.matches_line(line),
        }
    }
}

#[derive(Debug, Clone)]
enum CFilter {
    And(Box<CFilter>, Box<CFilter>),
    Or(Box<CFilter>, Box<CFilter>),
    Str(Matcher),
    Ip {
        name: String,
        negate: bool,
        ip: IpMatcher,
    },
    Num {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Dur {
        name: String,
        op: CmpOp,
        ns: i64,
    },
    Bytes {
        name: String,
        op: CmpOp,
        bytes: u64,
    },
}

impl CFilter {
    fn compile(f: &LabelFilter) -> Result<Self, String> {
        Ok(match f {
            LabelFilter::And(a, b) => {
                CFilter::And(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::Or(a, b) => {
                CFilter::Or(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::String { name, op, value } => CFilter::Str(
                Matcher::new(*op, name.clone(), value.clone()).map_err(|e| e.to_string())?,
            ),
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            } => CFilter::Ip {
                name: name.clone(),
                negate: *negate,
                ip: IpMatcher::new(pattern)?,
            },
            LabelFilter::Number { name, op, value } => CFilter::Num {
                name: name.clone(),
                op: *op,
                value: *value,
            },
            LabelFilter::Duration { name, op, ns } => CFilter::Dur {
                name: name.clone(),
                op: *op,
                ns: *ns,
            },
            LabelFilter::Bytes { name, op, bytes } => CFilter::Bytes {
                name: name.clone(),
                op: *op,
                bytes: *bytes,
            },
        })
    }

    fn eval(&self, lb: &mut LabelBuilder) -> bool {
        match self {
            CFilter::And(a, b) => a.eval(lb) && b.eval(lb),
            CFilter::Or(a, b) => a.eval(lb) || b.eval(lb),
            CFilter::Str(m) => m.matches(lb.get(&m.name).unwrap_or("")),
            CFilter::Ip { name, negate, ip } => {
                let hit = ip.matches_value(lb.get(name).unwrap_or(""));
                hit != *negate
            }
            CFilter::Num { name, op, value } => typed_filter(lb, name, |v| {
                v.trim()
                    .parse::<f64>()
                    .map(|x| op.apply(x, *value))
                    .map_err(|_| format!("strconv.ParseFloat: parsing {v:?}: invalid syntax"))
            }),
            CFilter::Dur { name, op, ns } => typed_filter(lb, name, |v| {
                parse_duration_ns(v.trim())
                    .map(|x| op.apply(x, *ns))
                    .map_err(|_| format!("time: invalid duration {v:?}"))
            }),
            CFilter::Bytes { name, op, bytes } => typed_filter(lb, name, |v| {
                parse_bytes(v)
                    .map(|x| op.apply(x, *bytes))
                    .map_err(|_| format!("invalid byte size {v:?}"))
            }),
        }
    }
}

/// Numeric/duration/bytes filters: entries already in error pass untouched; a missing
/// label fails the filter; a value that does not convert keeps the entry with
/// `__error__="LabelFilterErr"`.
fn typed_filter(
    lb: &mut LabelBuilder,
    name: &str,
    cmp: impl Fn(&str) -> Result<bool, String>,
) -> bool {
    if lb.has_error() {
        return true;
    }
    let Some(v) = lb.get(name) else {
        return false;
    };
    match cmp(v) {
        Ok(b) => b,
        Err(e) => {
            lb.set_error(LABEL_FILTER_ERR, &e);
            true
        }
    }
}

#[derive(Debug, Clone)]
enum CFmt {
    Rename { dst: String, src: String },
    Template { dst: String, t: Template },
}

#[derive(Debug, Clone)]
enum CStage {
    Line {
        negative: bool,
        matchers: Vec<LineMatcher>,
    },
    JsonAll,
    JsonPaths(Vec<(String, Vec<PathSeg>)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        ex: Vec<(String, String)>,
    },
    Regexp(RegexpParser),
    Pattern(Pattern),
    Unpack,
    Filter(CFilter),
    LineFormat(Template),
    LabelFormat(Vec<CFmt>),
    Drop(Vec<(String, Option<Matcher>)>),
    Keep(Vec<(String, Option<Matcher>)>),
    Decolorize(Regex),
}

#[derive(Debug, Clone)]
struct CUnwrap {
    label: String,
    conv: UnwrapConv,
    post: Vec<CFilter>,
}

/// A compiled pipeline: runs one entry at a time, holds no per-entry state, and can be
/// shared between threads.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<CStage>,
    unwrap: Option<CUnwrap>,
    /// Parsed labels worth extracting; `None` means all.
    wanted: Option<Arc<[String]>>,
}

/// Which labels of a processed sample to build: `keep(name, has_error)` (see
/// [`Pipeline::process_sample_kept`]).
pub type KeepLabel<'k> = &'k dyn Fn(&str, bool) -> bool;

/// The labels and value of one entry for a metric query ([`Pipeline::process_sample`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedSample {
    /// All labels: stream, structured metadata and parsed (empty values dropped).
    pub labels: Labels,
    /// The unwrapped sample value, when the pipeline has an `unwrap` stage.
    pub value: Option<f64>,
    /// Length in bytes of the (possibly rewritten) line.
    pub line_len: usize,
}

fn compile_names(names: &[NameMatcher]) -> Result<Vec<(String, Option<Matcher>)>, String> {
    names
        .iter()
        .map(|n| {
            let m = match &n.matcher {
                Some((op, v)) => {
                    Some(Matcher::new(*op, n.name.clone(), v.clone()).map_err(|e| e.to_string())?)
                }
                None => None,
            };
            Ok((n.name.clone(), m))
        })
        .collect()
}

impl Pipeline {
    /// Compiles the stages of a log expression (log queries).
    pub fn new(log: &LogExpr) -> Result<Self, String> {
        Self::with_unwrap(log, None)
    }

    /// Compiles the stages plus an `unwrap` (metric queries over unwrapped values).
    pub fn with_unwrap(log: &LogExpr, unwrap: Option<&Unwrap>) -> Result<Self, String> {
        let mut stages = Vec::with_capacity(log.stages.len());
        let ansi = Regex::new(r"\x1b\[[0-9;:?]*[ -/]*[@-~]").map_err(|e| e.to_string())?;
        for s in &log.stages {
            stages.push(match s {
                Stage::LineFilter(lf) => {
                    let mut matchers = Vec::new();
                    for v in &lf.values {
                        matchers.push(match (v, lf.op) {
                            (FilterValue::Ip(p), _) => LineMatcher::Ip(IpMatcher::new(p)?),
                            (
                                FilterValue::Text(t),
                                LineFilterOp::Contains | LineFilterOp::NotContains,
                            ) => LineMatcher::Contains(t.clone()),
                            (
                                FilterValue::Text(t),
                                LineFilterOp::Regex | LineFilterOp::NotRegex,
                            ) => LineMatcher::Regex(Regex::new(t).map_err(|e| e.to_string())?),
                            (FilterValue::Text(t), _) => {
                                LineMatcher::Pattern(Pattern::parse(t, false)?)
                            }
                        });
                    }
                    CStage::Line {
                        negative: lf.op.is_negative(),
                        matchers,
                    }
                }
                Stage::Parser(p) => match p {
                    ParserStage::Json(ex) if ex.is_empty() => CStage::JsonAll,
                    ParserStage::Json(ex) => CStage::JsonPaths(
                        ex.iter()
                            .map(|e| {
                                let path = e.path.as_deref().unwrap_or(&e.label);
                                Ok((e.label.clone(), parse_path(path)?))
                            })
                            .collect::<Result<_, String>>()?,
                    ),
                    ParserStage::Logfmt {
                        strict,
                        keep_empty,
                        extractions,
                    } => CStage::Logfmt {
                        strict: *strict,
                        keep_empty: *keep_empty,
                        ex: extractions
                            .iter()
                            .map(|e| {
                                (
                                    e.label.clone(),
                                    e.path.clone().unwrap_or_else(|| e.label.clone()),
                                )
                            })
                            .collect(),
                    },
                    ParserStage::Regexp(r) => CStage::Regexp(RegexpParser::new(r)?),
                    ParserStage::Pattern(p) => CStage::Pattern(Pattern::parse(p, true)?),
                    ParserStage::Unpack => CStage::Unpack,
                },
                Stage::LabelFilter(f) => CStage::Filter(CFilter::compile(f)?),
                Stage::LineFormat(t) => CStage::LineFormat(Template::parse(t)?),
                Stage::LabelFormat(fmts) => CStage::LabelFormat(
                    fmts.iter()
                        .map(|f| {
                            Ok(match f {
                                LabelFmt::Rename { dst, src } => CFmt::Rename {
                                    dst: dst.clone(),
                                    src: src.clone(),
                                },
                                LabelFmt::Template { dst, template } => CFmt::Template {
                                    dst: dst.clone(),
                                    t: Template::parse(template)?,
                                },
                            })
                        })
                        .collect::<Result<_, String>>()?,
                ),
                Stage::Drop(n) => CStage::Drop(compile_names(n)?),
                Stage::Keep(n) => CStage::Keep(compile_names(n)?),
                Stage::Decolorize => CStage::Decolorize(ansi.clone()),
            });
        }
        let unwrap = match unwrap {
            Some(u) => Some(CUnwrap {
                label: u.label.clone(),
                conv: u.conv,
                post: u
                    .post_filters
                    .iter()
                    .map(CFilter::compile)
                    .collect::<Result<_, _>>()?,
            }),
            None => None,
        };
        Ok(Self {
            stages,
            unwrap,
            wanted: None,
        })
    }

    /// Tells the parsers that of the labels they extract only `names` can matter, as for
    /// `sum by (names) (count_over_time(... | logfmt [5m]))`; they then skip the others,
    /// as Loki's parser hints do. Applies only when no stage after the parsers reads labels
    /// (line filters and `json`/`logfmt`/`regexp`/`pattern` parsers alone, no `unwrap`), so
    /// the labels in `names` and `__error__` come out exactly as without it. Returns
    /// whether it applied.
    pub fn restrict_parsed_labels(&mut self, names: &[String]) -> bool {
        let only_parsers = self.unwrap.is_none()
            && self.stages.iter().all(|stage| {
                matches!(
                    stage,
                    CStage::Line { .. }
                        | CStage::JsonAll
                        | CStage::JsonPaths(_)
                        | CStage::Logfmt { .. }
                        | CStage::Regexp(_)
                        | CStage::Pattern(_)
                )
            });
        if only_parsers {
            self.wanted = Some(names.iter().cloned().collect());
        }
        only_parsers
    }

    /// True when the pipeline has no stage at all (entries pass unchanged).
    pub fn is_noop(&self) -> bool {
        self.stages.is_empty() && self.unwrap.is_none()
    }

    /// True when every stage is a line filter and there is no `unwrap`: such a pipeline
    /// keeps or drops a line but never changes it nor its labels, so
    /// [`Pipeline::line_passes`] decides it and the labels depend on the stream and the
    /// structured metadata alone.
    pub fn filters_lines_only(&self) -> bool {
        self.unwrap.is_none()
            && self
                .stages
                .iter()
                .all(|stage| matches!(stage, CStage::Line { .. }))
    }

    /// Runs the line filters at the start of the pipeline (all of them when
    /// [`Pipeline::filters_lines_only`]); false when one drops `line`.
    pub fn line_passes(&self, line: &str) -> bool {
        for stage in &self.stages {
            let CStage::Line { negative, matchers } = stage else {
                break;
            };
            let any = matchers.iter().any(|m| m.matches(line));
            if any == *negative {
                return false;
            }
        }
        true
    }

    /// Runs one entry. `None` means a stage filtered it out (or, with `unwrap`, that the
    /// line has no value to extract).
    pub fn process(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &Labels,
    ) -> Option<ProcessedLine> {
        self.run(ts_ns, line, stream, metadata, true, None)
            .map(|(processed, _)| processed)
    }

    /// [`Pipeline::process`] for metric queries, which need the labels, the value and the
    /// line's length only.
    pub fn process_sample(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &Labels,
    ) -> Option<ProcessedSample> {
        self.process_sample_kept(ts_ns, line, stream, metadata, None)
    }

    /// [`Pipeline::process_sample`] keeping only the labels for which `keep(name,
    /// has_error)` holds, as a grouping would: the labels it drops are never built.
    pub fn process_sample_kept(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &Labels,
        keep: Option<KeepLabel<'_>>,
    ) -> Option<ProcessedSample> {
        self.run(ts_ns, line, stream, metadata, false, keep)
            .map(|(processed, line_len)| ProcessedSample {
                labels: processed.labels,
                value: processed.value,
                line_len,
            })
    }

    /// Runs one entry; without `full` only `labels` and `value` of the result are filled.
    fn run(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &Labels,
        full: bool,
        keep: Option<KeepLabel<'_>>,
    ) -> Option<(ProcessedLine, usize)> {
        // Line filters ahead of any other stage see the stored line and no labels: run them
        // before building the label set, which most lines of a filtered query never need.
        if !self.line_passes(line) {
            return None;
        }
        let leading_filters = self
            .stages
            .iter()
            .take_while(|stage| matches!(stage, CStage::Line { .. }))
            .count();
        let mut lb = LabelBuilder::new(stream, metadata, self.wanted.as_deref());
        let mut cur: std::borrow::Cow<'_, str> = std::borrow::Cow::Borrowed(line);
        for stage in &self.stages[leading_filters..] {
            match stage {
                CStage::Line { negative, matchers } => {
                    let any = matchers.iter().any(|m| m.matches(&cur));
                    if any == *negative {
                        return None;
                    }
                }
                CStage::JsonAll => parsers::json_all(&cur, &mut lb),
                CStage::JsonPaths(p) => parsers::json_paths(&cur, p, &mut lb),
                CStage::Logfmt {
                    strict,
                    keep_empty,
                    ex,
                } => parsers::logfmt(&cur, *strict, *keep_empty, ex, &mut lb),
                CStage::Regexp(r) => r.apply(&cur, &mut lb),
                CStage::Pattern(p) => parsers::pattern(p, &cur, &mut lb),
                CStage::Unpack => {
                    if let Some(entry) = parsers::unpack(&cur, &mut lb) {
                        cur = std::borrow::Cow::Owned(entry);
                    }
                }
                CStage::Filter(f) => {
                    if !f.eval(&mut lb) {
                        return None;
                    }
                }
                CStage::LineFormat(t) => {
                    let result = {
                        let get = |n: &str| lb.get(n).map(str::to_string);
                        let all = || lb.pairs();
                        t.execute(&TemplateData {
                            get: &get,
                            labels: &all,
                            line: &cur,
                            ts_ns,
                        })
                    };
                    match result {
                        Ok(s) => cur = std::borrow::Cow::Owned(s),
                        Err(e) => lb.set_error(TEMPLATE_FORMAT_ERR, &e),
                    }
                }
                CStage::LabelFormat(fmts) => {
                    let snapshot = lb.clone();
                    for f in fmts {
                        match f {
                            CFmt::Rename { dst, src } => {
                                if let Some(v) = snapshot.get(src) {
                                    let v = v.to_string();
                                    if src != dst {
                                        lb.del(src);
                                    }
                                    lb.set(dst.clone(), v, LabelKind::Parsed);
                                }
                            }
                            CFmt::Template { dst, t } => {
                                let result = {
                                    let get = |n: &str| snapshot.get(n).map(str::to_string);
                                    let all = || snapshot.pairs();
                                    t.execute(&TemplateData {
                                        get: &get,
                                        labels: &all,
                                        line: &cur,
                                        ts_ns,
                                    })
                                };
                                match result {
                                    Ok(v) => lb.set(dst.clone(), v, LabelKind::Parsed),
                                    Err(e) => lb.set_error(TEMPLATE_FORMAT_ERR, &e),
                                }
                            }
                        }
                    }
                }
                CStage::Drop(names) => {
                    for (name, m) in names {
                        let hit = match m {
                            None => true,
                            Some(m) => lb.get(name).is_some_and(|v| m.matches(v)),
                        };
                        if hit {
                            lb.del(name);
                        }
                    }
                }
                CStage::Keep(names) => {
                    lb.items.retain(|(n, v, _)| {
                        n == ERROR_LABEL
                            || n == ERROR_DETAILS_LABEL
                            || names.iter().any(|(name, m)| {
                                name == n && m.as_ref().is_none_or(|m| m.matches(v))
                            })
                    });
                }
                CStage::Decolorize(re) => {
                    if re.is_match(&cur) {
                        cur = std::borrow::Cow::Owned(re.replace_all(&cur, "").into_owned());
                    }
                }
            }
        }
        let mut value = None;
        if let Some(u) = &self.unwrap {
            let raw = lb.get(&u.label).unwrap_or("").to_string();
            if raw.is_empty() {
                return None;
            }
            let converted = match u.conv {
                UnwrapConv::None => raw
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("strconv.ParseFloat: parsing {raw:?}: invalid syntax")),
                UnwrapConv::Duration => parse_duration_ns(raw.trim())
                    .map(|ns| ns as f64 / 1e9)
                    .map_err(|_| format!("time: invalid duration {raw:?}")),
                UnwrapConv::Bytes => parse_bytes(&raw)
                    .map(|b| b as f64)
                    .map_err(|_| format!("invalid byte size {raw:?}")),
            };
            let v = match converted {
                Ok(v) => v,
                Err(e) => {
                    lb.set_error(SAMPLE_EXTRACTION_ERR, &e);
                    0.0
                }
            };
            lb.del(&u.label);
            for f in &u.post {
                if !f.eval(&mut lb) {
                    return None;
                }
            }
            value = Some(v);
        }
        let line_len = cur.len();
        if !full {
            return Some((
                ProcessedLine {
                    line: String::new(),
                    labels: match keep {
                        Some(keep) => {
                            let error = lb.has_error();
                            lb.to_labels(|_, name| keep(name, error))
                        }
                        None => lb.to_labels(|_, _| true),
                    },
                    stream: Labels::empty(),
                    metadata: Labels::empty(),
                    parsed: Labels::empty(),
                    value,
                },
                line_len,
            ));
        }
        Some((
            ProcessedLine {
                line: cur.into_owned(),
                labels: lb.to_labels(|_, _| true),
                stream: lb.to_labels(|k, _| k == LabelKind::Stream),
                metadata: lb.to_labels(|k, _| k == LabelKind::Metadata),
                parsed: lb.to_labels(|k, _| k == LabelKind::Parsed),
                value,
            },
            line_len,
        ))
    }
}
