//! Duration expressions: parsing a token run into a tiny AST and
//! evaluating it against the query's step and range.
//!
//! Semantics follow Prometheus' `promql-duration-expr` feature: every value
//! is a float number of **seconds** (a duration literal `1m30s` is 90, a
//! number literal is taken as seconds), `+ - * / % ^` are ordinary float
//! arithmetic (`%` is a truncated remainder like Go's `math.Mod`, `^` is
//! `powf`), `step()` is the query step, `range()` is end − start, and
//! `min_of(a, b)` / `max_of(a, b)` pick one operand. The final value is
//! converted to whole milliseconds by truncating toward zero (upstream
//! computes `time.Duration(seconds*1000) * time.Millisecond`).
//!
//! Precedence, loosest first: `+ -`, then `* / %`, then unary `+ -`, then
//! `^` (right-associative), so `-2^2` is −4 and `-2*3` is −6.

use super::ParseContext;
use super::lexer::{TokKind, Token};

/// A duration expression node; `start`/`end` are byte offsets in the query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DurExpr {
    pub(crate) node: Node,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A literal, already in seconds.
    Seconds(f64),
    Step,
    Range,
    MinOf(Box<DurExpr>, Box<DurExpr>),
    MaxOf(Box<DurExpr>, Box<DurExpr>),
    Neg(Box<DurExpr>),
    Binary(BinOp, Box<DurExpr>, Box<DurExpr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    fn from_text(text: &str) -> Option<BinOp> {
        Some(match text {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "^" => BinOp::Pow,
            _ => return None,
        })
    }

    /// Binding power; higher binds tighter.
    fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 2,
            BinOp::Pow => 4,
        }
    }
}

/// Precedence of unary `+`/`-`: between `* / %` and `^`.
const UNARY_PRECEDENCE: u8 = 3;

/// Why a duration expression could not be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalError {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) message: String,
}

/// Parses all of `toks` as one duration expression, or `None` if they are
/// not one (trailing tokens included).
pub(crate) fn parse_all(src: &str, toks: &[Token]) -> Option<DurExpr> {
    let mut p = Parser { src, toks, pos: 0 };
    let expr = p.expr(0)?;
    (p.pos == toks.len()).then_some(expr)
}

/// Parses the longest prefix of `toks` that is a duration expression and
/// returns it with the number of tokens used.
pub(crate) fn parse_prefix(src: &str, toks: &[Token]) -> Option<(DurExpr, usize)> {
    let mut p = Parser { src, toks, pos: 0 };
    let expr = p.expr(0)?;
    Some((expr, p.pos))
}

/// Parses a single primary at the start of `toks` (a literal, `step()`,
/// `range()`, `min_of(…)`, `max_of(…)` or a parenthesised expression)
/// and returns it with the number of tokens used.
pub(crate) fn parse_primary(src: &str, toks: &[Token]) -> Option<(DurExpr, usize)> {
    let mut p = Parser { src, toks, pos: 0 };
    let expr = p.primary()?;
    Some((expr, p.pos))
}

struct Parser<'a> {
    src: &'a str,
    toks: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, kind: TokKind) -> Option<Token> {
        let tok = *self.peek()?;
        (tok.kind == kind).then(|| {
            self.pos += 1;
            tok
        })
    }

    /// Precedence climbing: parses operators binding at least `min_prec`.
    /// Recursion depth is bounded by the nesting of the input, which the
    /// caller limits (see `rewrite::MAX_DURATION_TOKENS`).
    fn expr(&mut self, min_prec: u8) -> Option<DurExpr> {
        let mut lhs = self.unary()?;
        while let Some(tok) = self.peek().copied() {
            if tok.kind != TokKind::Op {
                break;
            }
            let Some(op) = BinOp::from_text(tok.text(self.src)) else {
                break;
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            // `^` is right-associative, the rest left-associative.
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            let (start, end) = (lhs.start, rhs.end);
            lhs = DurExpr {
                node: Node::Binary(op, Box::new(lhs), Box::new(rhs)),
                start,
                end,
            };
        }
        Some(lhs)
    }

    fn unary(&mut self) -> Option<DurExpr> {
        let tok = *self.peek()?;
        if tok.kind == TokKind::Op {
            let negate = match tok.text(self.src) {
                "-" => true,
                "+" => false,
                _ => return None,
            };
            self.pos += 1;
            let inner = self.expr(UNARY_PRECEDENCE)?;
            let end = inner.end;
            let node = if negate {
                Node::Neg(Box::new(inner))
            } else {
                inner.node
            };
            return Some(DurExpr {
                node,
                start: tok.start,
                end,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Option<DurExpr> {
        let tok = *self.peek()?;
        let text = tok.text(self.src);
        let node = match tok.kind {
            TokKind::Number => {
                self.pos += 1;
                Node::Seconds(parse_number(text)?)
            }
            TokKind::Duration => {
                self.pos += 1;
                Node::Seconds(duration_literal_ms(text)? as f64 / 1000.0)
            }
            TokKind::LParen => {
                self.pos += 1;
                let inner = self.expr(0)?;
                let close = self.eat(TokKind::RParen)?;
                return Some(DurExpr {
                    node: inner.node,
                    start: tok.start,
                    end: close.end,
                });
            }
            TokKind::Ident => {
                self.pos += 1;
                let lower = text.to_ascii_lowercase();
                self.eat(TokKind::LParen)?;
                let node = match lower.as_str() {
                    "step" => Node::Step,
                    "range" => Node::Range,
                    "min_of" | "max_of" => {
                        let a = self.expr(0)?;
                        self.eat(TokKind::Comma)?;
                        let b = self.expr(0)?;
                        if lower == "min_of" {
                            Node::MinOf(Box::new(a), Box::new(b))
                        } else {
                            Node::MaxOf(Box::new(a), Box::new(b))
                        }
                    }
                    _ => return None,
                };
                let close = self.eat(TokKind::RParen)?;
                return Some(DurExpr {
                    node,
                    start: tok.start,
                    end: close.end,
                });
            }
            _ => return None,
        };
        Some(DurExpr {
            node,
            start: tok.start,
            end: tok.end,
        })
    }
}

/// Parses a number literal (decimal, exponent or hex) as seconds.
fn parse_number(text: &str) -> Option<f64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Milliseconds of a duration literal like `1h30m` (units in descending
/// order, each at most once), `None` if malformed or overflowing.
pub(crate) fn duration_literal_ms(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            rest.get(..1)?
        };
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if idx < next_unit {
            return None;
        }
        next_unit = idx + 1;
        total = total.checked_add(value.checked_mul(UNITS[idx].1)?)?;
        rest = rest.get(unit.len()..)?;
    }
    Some(total)
}

impl DurExpr {
    /// Evaluates to seconds.
    pub(crate) fn eval_seconds(&self, ctx: &ParseContext) -> Result<f64, EvalError> {
        let err = |message: &str| EvalError {
            start: self.start,
            end: self.end,
            message: message.to_string(),
        };
        Ok(match &self.node {
            Node::Seconds(v) => *v,
            Node::Step => ctx.step_ms as f64 / 1000.0,
            Node::Range => (ctx.end_ms as f64 - ctx.start_ms as f64) / 1000.0,
            Node::MinOf(a, b) => a.eval_seconds(ctx)?.min(b.eval_seconds(ctx)?),
            Node::MaxOf(a, b) => a.eval_seconds(ctx)?.max(b.eval_seconds(ctx)?),
            Node::Neg(a) => -a.eval_seconds(ctx)?,
            Node::Binary(op, a, b) => {
                let (l, r) = (a.eval_seconds(ctx)?, b.eval_seconds(ctx)?);
                match op {
                    BinOp::Add => l + r,
                    BinOp::Sub => l - r,
                    BinOp::Mul => l * r,
                    BinOp::Div if r == 0.0 => return Err(err("division by zero")),
                    BinOp::Div => l / r,
                    BinOp::Mod if r == 0.0 => return Err(err("modulo by zero")),
                    BinOp::Mod => l % r,
                    BinOp::Pow => l.powf(r),
                }
            }
        })
    }

    /// Evaluates to whole milliseconds (truncating toward zero). With
    /// `positive`, results ≤ 0 are rejected as Prometheus rejects them for
    /// ranges and subquery steps.
    pub(crate) fn eval_ms(&self, ctx: &ParseContext, positive: bool) -> Result<i64, EvalError> {
        let secs = self.eval_seconds(ctx)?;
        let err = |message: &str| EvalError {
            start: self.start,
            end: self.end,
            message: message.to_string(),
        };
        let ms = secs * 1000.0;
        if ms.is_nan() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            return Err(err("duration is out of range"));
        }
        let ms = ms.trunc() as i64;
        if positive && ms <= 0 {
            return Err(err("duration must be greater than 0"));
        }
        Ok(ms)
    }
}

/// Prometheus' duration spelling: `0s`, `1h30m`, `10s500ms`, `1y2w`.
/// Negative values get a leading `-`.
pub(crate) fn format_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, size) in [
        ("y", 365 * 86_400_000u64),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        let n = rest / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::lexer::tokenize;

    fn ctx() -> ParseContext {
        ParseContext {
            start_ms: 50_000,
            end_ms: 60_000,
            step_ms: 5_000,
        }
    }

    fn eval(src: &str) -> Result<i64, EvalError> {
        let toks = tokenize(src);
        let expr = parse_all(src, &toks).unwrap_or_else(|| panic!("no parse: {src}"));
        expr.eval_ms(&ctx(), false)
    }

    #[test]
    fn arithmetic_in_seconds() {
        let cases = [
            ("26m+4m", 1_800_000),
            ("60*30", 1_800_000),
            ("2m*(10+5)", 1_800_000),
            ("24m+((1.5*2m)+2m)", 1_740_000),
            ("-5m+35m", 1_800_000),
            ("1h/2", 1_800_000),
            ("1h30m % 1h", 1_800_000),
            ("30m1s-30m1s % 1m", 1_800_000),
            ("(9m30s+30s)*3", 1_800_000),
            ("((((8 - 2) / 3) * 7s) % 4) + 8000ms", 10_000),
            ("-2 ^ 2", -4_000),
            ("-2 * 2", -4_000),
            ("2 ^ 3 ^ 2", 512_000),
            ("2 * -3", -6_000),
            ("1+(STep()-5)*2", 1_000),
            ("max_of(min_of((step()+1),((1h))),1ms)", 6_000),
            ("range()", 10_000),
            ("-(min_of(step(), 2s)-5)", 3_000),
            ("1h/7", 514_285),
            ("-1h/7", -514_285),
        ];
        for (src, want) in cases {
            assert_eq!(eval(src), Ok(want), "{src}");
        }
    }

    #[test]
    fn evaluation_errors() {
        let msg = |src: &str| eval(src).map_err(|e| e.message);
        assert_eq!(msg("1m/0"), Err("division by zero".into()));
        assert_eq!(msg("1m%(2-2)"), Err("modulo by zero".into()));
        assert_eq!(msg("10^400"), Err("duration is out of range".into()));
        let toks = tokenize("5m-10m");
        let e = parse_all("5m-10m", &toks).unwrap();
        assert_eq!(
            e.eval_ms(&ctx(), true)
                .map_err(|e| (e.start, e.end, e.message)),
            Err((0, 6, "duration must be greater than 0".into()))
        );
    }

    #[test]
    fn rejects_non_duration_syntax() {
        for src in [
            "",
            "5m +",
            "foo",
            "(5m",
            "min_of(1)",
            "step",
            "5m 5m",
            "sum(5m)",
        ] {
            assert!(parse_all(src, &tokenize(src)).is_none(), "{src}");
        }
    }

    #[test]
    fn literals_and_formatting() {
        assert_eq!(duration_literal_ms("1h30m"), Some(5_400_000));
        assert_eq!(duration_literal_ms("1m1ms"), Some(60_001));
        assert_eq!(duration_literal_ms("1m1h"), None);
        assert_eq!(duration_literal_ms("1y"), Some(31_536_000_000));
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_duration_ms(1_800_000), "30m");
        assert_eq!(format_duration_ms(5_400_000), "1h30m");
        assert_eq!(format_duration_ms(-10_500), "-10s500ms");
        assert!(format_duration_ms(i64::MIN).starts_with("-292471208y"));
        for ms in [1, 999, 60_001, 31_536_000_001, 123_456_789_012] {
            assert_eq!(duration_literal_ms(&format_duration_ms(ms)), Some(ms));
        }
    }
}
