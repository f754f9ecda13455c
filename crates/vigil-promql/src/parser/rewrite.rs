//! The pre-pass: walks the token stream once and turns the Prometheus
//! extensions promql-parser lacks into text it accepts.

use super::duration::{self, DurExpr, EvalError, format_duration_ms};
use super::lexer::{TokKind, Token, tokenize};
use super::{INFO_MATCH_ALL_LABEL, ParseContext, RANGE_MODIFIER_LABEL};

/// Duration expressions longer than this many tokens are left alone (and
/// so rejected by promql-parser); it bounds the evaluator's recursion.
const MAX_DURATION_TOKENS: usize = 512;

/// Words after which an identifier starts an operand rather than following
/// one (binary operators spelled as words, modifiers taking a list).
const OPERATOR_WORDS: [&str; 11] = [
    "and",
    "or",
    "unless",
    "atan2",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
];

/// A textual replacement of `start..end` by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// A vector selector seen in the query, with where a matcher can go.
#[derive(Debug, Default)]
struct Selector {
    /// End of the metric name (for `name` without braces).
    name_end: usize,
    /// Byte offset just after `{`, and whether the braces are empty.
    brace: Option<(usize, bool)>,
    /// Byte span of the selector's text.
    span: (usize, usize),
    /// Pseudo matchers to add, as `name="value"` text.
    markers: Vec<String>,
}

/// An open parenthesis: whether it opens an `info(` call, and which
/// argument we are in.
#[derive(Debug, Clone, Copy)]
struct Paren {
    info: bool,
    arg: usize,
}

/// What the rewriter produced: the query to hand to promql-parser.
pub(crate) fn rewrite(query: &str, ctx: &ParseContext) -> Result<String, EvalError> {
    let toks = tokenize(query);
    let mut rw = Rewriter {
        src: query,
        toks: &toks,
        ctx,
        edits: Vec::new(),
        selectors: Vec::new(),
        info_candidates: Vec::new(),
    };
    rw.run()?;
    Ok(rw.finish())
}

struct Rewriter<'a> {
    src: &'a str,
    toks: &'a [Token],
    ctx: &'a ParseContext,
    edits: Vec<Edit>,
    selectors: Vec<Selector>,
    /// Selectors that are the whole second argument of `info(…)`.
    info_candidates: Vec<usize>,
}

impl Rewriter<'_> {
    fn tok(&self, i: usize) -> Option<&Token> {
        self.toks.get(i)
    }

    fn text(&self, i: usize) -> &str {
        self.tok(i).map_or("", |t| t.text(self.src))
    }

    fn kind(&self, i: usize) -> Option<TokKind> {
        self.tok(i).map(|t| t.kind)
    }

    /// Whether token `i` directly follows something that ends an operand,
    /// i.e. a keyword at `i` would be a postfix modifier.
    fn after_operand(&self, i: usize) -> bool {
        let Some(prev) = i.checked_sub(1).and_then(|p| self.tok(p)) else {
            return false;
        };
        match prev.kind {
            TokKind::RBracket
            | TokKind::RBrace
            | TokKind::RParen
            | TokKind::Number
            | TokKind::Duration
            | TokKind::Str => true,
            TokKind::Ident => {
                let word = prev.text(self.src);
                !OPERATOR_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
                    && !word.eq_ignore_ascii_case("offset")
            }
            _ => false,
        }
    }

    fn run(&mut self) -> Result<(), EvalError> {
        let mut parens: Vec<Paren> = Vec::new();
        // The selector the postfix modifiers seen so far belong to.
        let mut current: Option<usize> = None;
        let mut i = 0;
        while let Some(&tok) = self.tok(i) {
            if tok.in_braces {
                i += 1;
                continue;
            }
            match tok.kind {
                TokKind::LBracket => {
                    let (next, subquery) = self.bracket(i)?;
                    if subquery {
                        current = None;
                    }
                    i = next;
                }
                TokKind::At => {
                    i = self.skip_at(i + 1);
                }
                TokKind::Ident if self.after_operand(i) && tok.is_word(self.src, "offset") => {
                    i = self.offset(i)?;
                }
                TokKind::Ident
                    if self.after_operand(i)
                        && (tok.is_word(self.src, "anchored")
                            || tok.is_word(self.src, "smoothed")) =>
                {
                    if let Some(sel) = current.and_then(|s| self.selectors.get_mut(s)) {
                        let word = tok.text(self.src).to_ascii_lowercase();
                        sel.markers
                            .push(format!("{RANGE_MODIFIER_LABEL}=\"{word}\""));
                        self.edits.push(Edit {
                            start: tok.start,
                            end: tok.end,
                            text: String::new(),
                        });
                    }
                    i += 1;
                }
                TokKind::Ident if self.kind(i + 1) == Some(TokKind::LParen) => {
                    current = None;
                    i += 1;
                }
                TokKind::Ident | TokKind::LBrace => {
                    let is_operator_word = tok.kind == TokKind::Ident
                        && OPERATOR_WORDS.iter().any(|w| tok.is_word(self.src, w));
                    if is_operator_word {
                        current = None;
                        i += 1;
                        continue;
                    }
                    let (sel, next) = self.selector(i);
                    let info_arg = parens.last().is_some_and(|p| p.info && p.arg == 1)
                        && i.checked_sub(1).and_then(|p| self.kind(p)) == Some(TokKind::Comma)
                        && self.kind(next) == Some(TokKind::RParen);
                    self.selectors.push(sel);
                    let idx = self.selectors.len() - 1;
                    if info_arg {
                        self.info_candidates.push(idx);
                    }
                    current = Some(idx);
                    i = next;
                }
                TokKind::LParen => {
                    let info = i
                        .checked_sub(1)
                        .and_then(|p| self.tok(p))
                        .is_some_and(|p| p.kind == TokKind::Ident && p.text(self.src) == "info");
                    parens.push(Paren { info, arg: 0 });
                    current = None;
                    i += 1;
                }
                TokKind::RParen => {
                    parens.pop();
                    current = None;
                    i += 1;
                }
                TokKind::Comma => {
                    if let Some(p) = parens.last_mut() {
                        p.arg += 1;
                    }
                    current = None;
                    i += 1;
                }
                _ => {
                    current = None;
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Reads the selector starting at token `i` (a name, optionally
    /// followed by `{…}`, or a bare `{…}`); returns it and the next index.
    fn selector(&self, i: usize) -> (Selector, usize) {
        let mut sel = Selector::default();
        let mut j = i;
        let start = self.tok(i).map_or(0, |t| t.start);
        let mut end = start;
        if let Some(t) = self.tok(j).filter(|t| t.kind == TokKind::Ident) {
            sel.name_end = t.end;
            end = t.end;
            j += 1;
        }
        if let Some(open) = self.tok(j).filter(|t| t.kind == TokKind::LBrace) {
            let open_end = open.end;
            let mut k = j + 1;
            while self
                .tok(k)
                .is_some_and(|t| t.in_braces && t.kind != TokKind::RBrace)
            {
                k += 1;
            }
            if let Some(close) = self.tok(k).filter(|t| t.kind == TokKind::RBrace) {
                sel.brace = Some((open_end, k == j + 1));
                end = close.end;
                j = k + 1;
            } else {
                // Unterminated: leave it to promql-parser, add nothing.
                sel.name_end = usize::MAX;
                j = k;
                end = self.src.len();
            }
        }
        sel.span = (start, end);
        (sel, j)
    }

    /// Skips the operand of `@` starting at `i`: a signed number or
    /// `start()`/`end()`.
    fn skip_at(&self, mut i: usize) -> usize {
        if self
            .tok(i)
            .is_some_and(|t| t.is_op(self.src, "+") || t.is_op(self.src, "-"))
        {
            i += 1;
        }
        match self.kind(i) {
            Some(TokKind::Number) => i + 1,
            Some(TokKind::Ident)
                if self.kind(i + 1) == Some(TokKind::LParen)
                    && self.kind(i + 2) == Some(TokKind::RParen) =>
            {
                i + 3
            }
            _ => i,
        }
    }

    /// Handles `[…]` starting at token `i`; returns the index after `]`
    /// and whether it was a subquery (`[range:step]`).
    fn bracket(&mut self, i: usize) -> Result<(usize, bool), EvalError> {
        let mut close = i + 1;
        let mut colon = None;
        while let Some(t) = self.tok(close) {
            match t.kind {
                TokKind::RBracket => break,
                TokKind::LBracket => return Ok((close, false)),
                TokKind::Colon if colon.is_none() => colon = Some(close),
                _ => {}
            }
            close += 1;
        }
        if self.tok(close).is_none() {
            return Ok((close, false));
        }
        let parts = match colon {
            Some(c) => vec![(i + 1, c), (c + 1, close)],
            None => vec![(i + 1, close)],
        };
        let mut pending = Vec::new();
        for (from, to) in parts {
            let toks = self.toks.get(from..to).unwrap_or(&[]);
            // Empty (a subquery's default step) or a single literal:
            // promql-parser's own business.
            if toks.len() <= 1 || toks.len() > MAX_DURATION_TOKENS {
                continue;
            }
            let Some(expr) = duration::parse_all(self.src, toks) else {
                return Ok((close + 1, colon.is_some()));
            };
            pending.push(expr);
        }
        for expr in pending {
            let ms = expr.eval_ms(self.ctx, true)?;
            self.edits.push(Edit {
                start: expr.start,
                end: expr.end,
                text: format_duration_ms(ms),
            });
        }
        Ok((close + 1, colon.is_some()))
    }

    /// Handles `offset` at token `i`; returns the index after its
    /// duration.
    ///
    /// Upstream's grammar gives a *bare* literal, `step()`, `range()`,
    /// `min_of(…)`/`max_of(…)` (each optionally signed) or a signed
    /// parenthesised expression to the offset and stops there, so
    /// `x offset 2 ^ 2` is `(x offset 2) ^ 2`. Only an unsigned `(…)`
    /// continues as an arithmetic duration expression (`offset (1m) * 2`).
    fn offset(&mut self, i: usize) -> Result<usize, EvalError> {
        let kw = self.toks[i];
        let first = i + 1;
        let mut j = first;
        let signed = self
            .tok(j)
            .is_some_and(|t| t.is_op(self.src, "+") || t.is_op(self.src, "-"));
        if signed {
            j += 1;
        }
        let rest = self
            .toks
            .get(j..(j + MAX_DURATION_TOKENS).min(self.toks.len()))
            .unwrap_or(&[]);
        let parsed = match self.kind(j) {
            // promql-parser reads a (signed) literal itself.
            Some(TokKind::Number | TokKind::Duration) | None => return Ok(j + 1),
            Some(TokKind::LParen) if !signed => {
                let longest = duration::parse_prefix(self.src, rest).filter(|(_, used)| *used > 0);
                match longest {
                    Some(found) => Some(found),
                    None => duration::parse_primary(self.src, rest),
                }
            }
            _ => duration::parse_primary(self.src, rest),
        };
        let Some((expr, used)) = parsed else {
            return Ok(j);
        };
        let expr = if signed && self.text(first) == "-" {
            let start = self.toks[first].start;
            let end = expr.end;
            DurExpr {
                node: duration::Node::Neg(Box::new(expr)),
                start,
                end,
            }
        } else {
            expr
        };
        let ms = expr.eval_ms(self.ctx, false)?;
        let end = self.toks.get(j + used - 1).map_or(expr.end, |t| t.end);
        if ms == 0 {
            // `offset 0` is no offset; promql-parser rejects a zero duration.
            self.edits.push(Edit {
                start: kw.start,
                end,
                text: String::new(),
            });
        } else {
            self.edits.push(Edit {
                start: self.toks[first].start,
                end,
                text: format_duration_ms(ms),
            });
        }
        Ok(j + used)
    }

    /// Adds the info() markers where needed and applies all edits.
    fn finish(mut self) -> String {
        for &idx in &self.info_candidates {
            let Some(sel) = self.selectors.get_mut(idx) else {
                continue;
            };
            let text = self.src.get(sel.span.0..sel.span.1).unwrap_or("");
            if let Err(err) = promql_parser::parser::parse(text)
                && err.contains("non-empty matcher")
            {
                sel.markers.push(format!("{INFO_MATCH_ALL_LABEL}=\"true\""));
            }
        }
        for sel in &self.selectors {
            if sel.markers.is_empty() || sel.name_end == usize::MAX {
                continue;
            }
            let list = sel.markers.join(",");
            let edit = match sel.brace {
                Some((after_open, true)) => Edit {
                    start: after_open,
                    end: after_open,
                    text: list,
                },
                Some((after_open, false)) => Edit {
                    start: after_open,
                    end: after_open,
                    text: format!("{list},"),
                },
                None => Edit {
                    start: sel.name_end,
                    end: sel.name_end,
                    text: format!("{{{list}}}"),
                },
            };
            self.edits.push(edit);
        }
        apply(self.src, self.edits)
    }
}

/// Applies non-overlapping edits (sorted here); an edit overlapping an
/// earlier one is dropped rather than corrupting the text.
fn apply(src: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(src.len() + 64);
    let mut pos = 0;
    for e in edits {
        if e.start < pos || e.end < e.start {
            continue;
        }
        out.push_str(src.get(pos..e.start).unwrap_or(""));
        // Keep tokens apart: `x offset(1m)` must not become `x offset1m`.
        let needs_space = out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && e.text
                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-');
        if needs_space {
            out.push(' ');
        }
        out.push_str(&e.text);
        pos = e.end;
    }
    out.push_str(src.get(pos..).unwrap_or(""));
    out
}
