//! Canonical text form of the AST (what `/loki/api/v1/format_query` returns).
//!
//! The output always parses back to an equal AST.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use super::lexer::quote;
use super::units::{format_bytes, format_duration_ns};

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Sample(s) => s.fmt(f),
        }
    }
}

impl Display for LabelMatcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), quote(&self.value))
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            m.fmt(f)?;
        }
        f.write_char('}')?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

fn join_extractions(ex: &[Extraction]) -> String {
    ex.iter()
        .map(|e| match &e.path {
            Some(p) => format!("{}={}", e.label, quote(p)),
            None => e.label.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_names(names: &[NameMatcher]) -> String {
    names
        .iter()
        .map(|n| match &n.matcher {
            Some((op, v)) => format!("{}{}{}", n.name, op.as_str(), quote(v)),
            None => n.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => {
                f.write_str(lf.op.as_str())?;
                for (i, v) in lf.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or")?;
                    }
                    match v {
                        FilterValue::Text(s) => write!(f, " {}", quote(s))?,
                        FilterValue::Ip(s) => write!(f, " ip({})", quote(s))?,
                    }
                }
                Ok(())
            }
            Stage::Parser(p) => match p {
                ParserStage::Json(ex) if ex.is_empty() => f.write_str("| json"),
                ParserStage::Json(ex) => write!(f, "| json {}", join_extractions(ex)),
                ParserStage::Logfmt {
                    strict,
                    keep_empty,
                    extractions,
                } => {
                    f.write_str("| logfmt")?;
                    if *strict {
                        f.write_str(" --strict")?;
                    }
                    if *keep_empty {
                        f.write_str(" --keep-empty")?;
                    }
                    if !extractions.is_empty() {
                        write!(f, " {}", join_extractions(extractions))?;
                    }
                    Ok(())
                }
                ParserStage::Regexp(r) => write!(f, "| regexp {}", quote(r)),
                ParserStage::Pattern(p) => write!(f, "| pattern {}", quote(p)),
                ParserStage::Unpack => f.write_str("| unpack"),
            },
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t)),
            Stage::LabelFormat(fmts) => {
                let parts: Vec<String> = fmts
                    .iter()
                    .map(|l| match l {
                        LabelFmt::Rename { dst, src } => format!("{dst}={src}"),
                        LabelFmt::Template { dst, template } => {
                            format!("{dst}={}", quote(template))
                        }
                    })
                    .collect();
                write!(f, "| label_format {}", parts.join(", "))
            }
            Stage::Drop(n) => write!(f, "| drop {}", join_names(n)),
            Stage::Keep(n) => write!(f, "| keep {}", join_names(n)),
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl LabelFilter {
    fn fmt_prec(&self, f: &mut Formatter<'_>, parent_and: bool) -> fmt::Result {
        match self {
            LabelFilter::Or(a, b) => {
                if parent_and {
                    f.write_char('(')?;
                }
                a.fmt_prec(f, false)?;
                f.write_str(" or ")?;
                // `or` is left-associative: a right child `or` needs parentheses.
                if matches!(**b, LabelFilter::Or(..)) {
                    f.write_char('(')?;
                    b.fmt_prec(f, false)?;
                    f.write_char(')')?;
                } else {
                    b.fmt_prec(f, false)?;
                }
                if parent_and {
                    f.write_char(')')?;
                }
                Ok(())
            }
            LabelFilter::And(a, b) => {
                a.fmt_prec(f, true)?;
                f.write_str(", ")?;
                if matches!(**b, LabelFilter::And(..)) {
                    f.write_char('(')?;
                    b.fmt_prec(f, true)?;
                    f.write_char(')')?;
                } else {
                    b.fmt_prec(f, true)?;
                }
                Ok(())
            }
            LabelFilter::String { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), quote(value))
            }
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            } => write!(
                f,
                "{name}{}ip({})",
                if *negate { "!=" } else { "=" },
                quote(pattern)
            ),
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), fmt_num(*value))
            }
            LabelFilter::Duration { name, op, ns } => {
                write!(f, "{name}{}{}", op.as_str(), format_duration_ns(*ns))
            }
            LabelFilter::Bytes { name, op, bytes } => {
                write!(f, "{name}{}{}", op.as_str(), format_bytes(*bytes))
            }
        }
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.fmt_prec(f, false)
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            match u.conv {
                UnwrapConv::None => write!(f, " | unwrap {}", u.label)?,
                _ => write!(f, " | unwrap {}({})", u.conv_name, u.label)?,
            }
            for pf in &u.post_filters {
                write!(f, " | {pf}")?;
            }
        }
        write!(f, " [{}]", format_duration_ns(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", format_duration_ns(self.offset_ns))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            if self.without { "without" } else { "by" },
            self.labels.join(", ")
        )
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::Range {
                op,
                param,
                range,
                grouping,
            } => {
                write!(f, "{}(", op.as_str())?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_num(*p))?;
                }
                write!(f, "{range})")?;
                if let Some(g) = grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            SampleExpr::Vector {
                op,
                param,
                grouping,
                expr,
            } => {
                f.write_str(op.as_str())?;
                if let Some(g) = grouping {
                    write!(f, " {g} ")?;
                }
                f.write_char('(')?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_num(*p))?;
                }
                write!(f, "{expr})")
            }
            SampleExpr::Binary {
                op,
                return_bool,
                matching,
                lhs,
                rhs,
            } => {
                let side = |e: &SampleExpr| match e {
                    SampleExpr::Binary { .. } => format!("({e})"),
                    _ => e.to_string(),
                };
                write!(f, "{} {}", side(lhs), op.as_str())?;
                if *return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = matching {
                    write!(
                        f,
                        " {}({})",
                        if m.on { "on" } else { "ignoring" },
                        m.labels.join(", ")
                    )?;
                    match &m.group {
                        Some(GroupSide::Left(l)) => write!(f, " group_left({})", l.join(", "))?,
                        Some(GroupSide::Right(l)) => write!(f, " group_right({})", l.join(", "))?,
                        None => {}
                    }
                }
                write!(f, " {}", side(rhs))
            }
            SampleExpr::Literal(v) => f.write_str(&fmt_num(*v)),
            SampleExpr::VectorLit(v) => write!(f, "vector({})", fmt_num(*v)),
            SampleExpr::LabelReplace {
                expr,
                dst,
                replacement,
                src,
                regex,
            } => write!(
                f,
                "label_replace({expr}, {}, {}, {}, {})",
                quote(dst),
                quote(replacement),
                quote(src),
                quote(regex)
            ),
        }
    }
}
