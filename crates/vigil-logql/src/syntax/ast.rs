//! The typed LogQL syntax tree.
//!
//! Durations are kept in nanoseconds, byte sizes in bytes; regexes are kept as written
//! and compiled when a [`crate::Pipeline`] is built (the parser validates them).

use vigil_model::MatchOp;

/// A parsed query: either a log query or a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Returns log lines.
    Log(LogExpr),
    /// Returns samples (instant vector or scalar).
    Sample(SampleExpr),
}

/// A stream matcher inside `{...}` (kept as plain data so the AST is comparable).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// `{selector} stage stage ...`
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub matchers: Vec<LabelMatcher>,
    pub stages: Vec<Stage>,
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    LineFilter(LineFilter),
    Parser(ParserStage),
    LabelFilter(LabelFilter),
    LineFormat(String),
    LabelFormat(Vec<LabelFmt>),
    Drop(Vec<NameMatcher>),
    Keep(Vec<NameMatcher>),
    Decolorize,
}

/// Line filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }
    /// True for the negative operators.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        )
    }
}

/// One operand of a line filter.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// A string, regex or pattern, depending on the operator.
    Text(String),
    /// `ip("cidr or range")`, only with `|=` / `!=`.
    Ip(String),
}

/// `op value [or value ...]`: a positive filter matches when any value matches, a negative
/// one when none does.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub values: Vec<FilterValue>,
}

/// `name` or `name="path"`: which label a parser extracts, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    pub label: String,
    pub path: Option<String>,
}

/// A parser stage.
#[derive(Debug, Clone, PartialEq)]
pub enum ParserStage {
    Json(Vec<Extraction>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<Extraction>,
    },
    Regexp(String),
    Pattern(String),
    Unpack,
}

/// Numeric comparison operators of label filters and binary expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    /// The operator as written (`==` for equality).
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
    /// Applies the comparison.
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    String {
        name: String,
        op: MatchOp,
        value: String,
    },
    /// `name = ip("...")` / `name != ip("...")`.
    Ip {
        name: String,
        negate: bool,
        pattern: String,
    },
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Duration {
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

/// One `label_format` assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFmt {
    /// `dst=src`: rename.
    Rename { dst: String, src: String },
    /// `dst="{{template}}"`.
    Template { dst: String, template: String },
}

/// `name` or `name op "value"` in `drop` / `keep`.
#[derive(Debug, Clone, PartialEq)]
pub struct NameMatcher {
    pub name: String,
    pub matcher: Option<(MatchOp, String)>,
}

/// How `unwrap` converts the label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConv {
    /// Plain float.
    None,
    /// `duration(x)` / `duration_seconds(x)`: Go duration to seconds.
    Duration,
    /// `bytes(x)`: human byte size to bytes.
    Bytes,
}

/// `| unwrap [conv(]label[)]` plus the label filters that follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conv: UnwrapConv,
    /// Spelling of the duration conversion (`duration` or `duration_seconds`).
    pub conv_name: &'static str,
    pub post_filters: Vec<LabelFilter>,
}

/// `{selector} pipeline [| unwrap ...] [range] [offset d]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    pub log: LogExpr,
    pub unwrap: Option<Unwrap>,
    pub range_ns: i64,
    pub offset_ns: i64,
}

/// Range aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Rate,
    RateCounter,
    CountOverTime,
    BytesRate,
    BytesOverTime,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
}

impl RangeOp {
    /// All range operations with their names.
    pub const ALL: [(RangeOp, &'static str); 15] = [
        (RangeOp::Rate, "rate"),
        (RangeOp::RateCounter, "rate_counter"),
        (RangeOp::CountOverTime, "count_over_time"),
        (RangeOp::BytesRate, "bytes_rate"),
        (RangeOp::BytesOverTime, "bytes_over_time"),
        (RangeOp::AbsentOverTime, "absent_over_time"),
        (RangeOp::SumOverTime, "sum_over_time"),
        (RangeOp::AvgOverTime, "avg_over_time"),
        (RangeOp::MinOverTime, "min_over_time"),
        (RangeOp::MaxOverTime, "max_over_time"),
        (RangeOp::StddevOverTime, "stddev_over_time"),
        (RangeOp::StdvarOverTime, "stdvar_over_time"),
        (RangeOp::QuantileOverTime, "quantile_over_time"),
        (RangeOp::FirstOverTime, "first_over_time"),
        (RangeOp::LastOverTime, "last_over_time"),
    ];

    /// The function name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(op, _)| *op == self)
            .map(|(_, n)| *n)
            .unwrap_or("rate")
    }

    /// Looks a function name up.
    pub fn from_name(name: &str) -> Option<RangeOp> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(op, _)| *op)
    }

    /// Whether the operation works on unwrapped values: `Some(true)` requires unwrap,
    /// `Some(false)` forbids it, `None` (rate) accepts both.
    pub fn unwrap_mode(self) -> Option<bool> {
        match self {
            RangeOp::Rate => None,
            RangeOp::CountOverTime
            | RangeOp::BytesRate
            | RangeOp::BytesOverTime
            | RangeOp::AbsentOverTime => Some(false),
            _ => Some(true),
        }
    }
}

/// Vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl VectorOp {
    /// All vector operations with their names.
    pub const ALL: [(VectorOp, &'static str); 11] = [
        (VectorOp::Sum, "sum"),
        (VectorOp::Avg, "avg"),
        (VectorOp::Min, "min"),
        (VectorOp::Max, "max"),
        (VectorOp::Count, "count"),
        (VectorOp::Stddev, "stddev"),
        (VectorOp::Stdvar, "stdvar"),
        (VectorOp::Topk, "topk"),
        (VectorOp::Bottomk, "bottomk"),
        (VectorOp::Sort, "sort"),
        (VectorOp::SortDesc, "sort_desc"),
    ];

    /// The operator name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(op, _)| *op == self)
            .map(|(_, n)| *n)
            .unwrap_or("sum")
    }

    /// Looks an operator name up.
    pub fn from_name(name: &str) -> Option<VectorOp> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(op, _)| *op)
    }
}

/// `by (...)` or `without (...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Cmp(CmpOp),
    And,
    Or,
    Unless,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Cmp(c) => c.as_str(),
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }
    /// Binding strength, higher binds tighter (PromQL's table).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Cmp(_) => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }
    /// True for `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

/// `group_left` / `group_right`.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupSide {
    Left(Vec<String>),
    Right(Vec<String>),
}

/// `on(...)` / `ignoring(...)` with optional grouping side.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub on: bool,
    pub labels: Vec<String>,
    pub group: Option<GroupSide>,
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    Range {
        op: RangeOp,
        param: Option<f64>,
        range: Box<LogRange>,
        grouping: Option<Grouping>,
    },
    Vector {
        op: VectorOp,
        param: Option<f64>,
        grouping: Option<Grouping>,
        expr: Box<SampleExpr>,
    },
    Binary {
        op: BinOp,
        return_bool: bool,
        matching: Option<VectorMatching>,
        lhs: Box<SampleExpr>,
        rhs: Box<SampleExpr>,
    },
    Literal(f64),
    /// `vector(x)`.
    VectorLit(f64),
    LabelReplace {
        expr: Box<SampleExpr>,
        dst: String,
        replacement: String,
        src: String,
        regex: String,
    },
}

impl SampleExpr {
    /// True when the expression evaluates to a scalar.
    pub fn is_scalar(&self) -> bool {
        match self {
            SampleExpr::Literal(_) => true,
            SampleExpr::Binary { lhs, rhs, .. } => lhs.is_scalar() && rhs.is_scalar(),
            _ => false,
        }
    }
}
