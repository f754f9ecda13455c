//! Recursive-descent parser producing [`Expr`].

use vigil_model::{MatchOp, Matcher};

use super::ParseError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};

/// Parses a LogQL query.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(query)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = p.parse_expr(0)?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected(&[]));
    }
    let expr = match expr {
        Node::Log(l, None) => Expr::Log(l),
        Node::Log(_, Some(_)) => {
            return Err(ParseError::bare(
                "invalid log query: unwrap is only allowed inside a range aggregation",
            ));
        }
        Node::Sample(s) => Expr::Sample(s),
        Node::LogRange(..) => {
            return Err(ParseError::bare(
                "invalid log query: a range vector must be the argument of a range aggregation \
                 such as count_over_time",
            ));
        }
    };
    validate(&expr)?;
    Ok(expr)
}

/// Parses a query that must be a log query.
pub fn parse_log_expr(query: &str) -> Result<LogExpr, ParseError> {
    match parse(query)? {
        Expr::Log(l) => Ok(l),
        Expr::Sample(_) => Err(ParseError::bare("expected a log query, got a metric query")),
    }
}

/// Parses a query that must be a metric query.
pub fn parse_sample_expr(query: &str) -> Result<SampleExpr, ParseError> {
    match parse(query)? {
        Expr::Sample(s) => Ok(s),
        Expr::Log(_) => Err(ParseError::bare("expected a metric query, got a log query")),
    }
}

enum Node {
    Log(LogExpr, Option<Unwrap>),
    /// A log expression followed by a range (only valid as a range aggregation argument).
    LogRange(LogExpr, Option<Unwrap>, i64, i64),
    Sample(SampleExpr),
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Nesting depth of expressions, bounded so hostile input cannot overflow the stack.
    depth: usize,
}

const MAX_DEPTH: usize = 200;

fn binop_of(tok: &Tok) -> Option<BinOp> {
    Some(match tok {
        Tok::Punct("+") => BinOp::Add,
        Tok::Punct("-") => BinOp::Sub,
        Tok::Punct("*") => BinOp::Mul,
        Tok::Punct("/") => BinOp::Div,
        Tok::Punct("%") => BinOp::Mod,
        Tok::Punct("^") => BinOp::Pow,
        Tok::Punct("==") => BinOp::Cmp(CmpOp::Eq),
        Tok::Punct("!=") => BinOp::Cmp(CmpOp::Ne),
        Tok::Punct(">") => BinOp::Cmp(CmpOp::Gt),
        Tok::Punct(">=") => BinOp::Cmp(CmpOp::Ge),
        Tok::Punct("<") => BinOp::Cmp(CmpOp::Lt),
        Tok::Punct("<=") => BinOp::Cmp(CmpOp::Le),
        Tok::Ident(s) if s == "and" => BinOp::And,
        Tok::Ident(s) if s == "or" => BinOp::Or,
        Tok::Ident(s) if s == "unless" => BinOp::Unless,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }
    fn token(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }
    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == name)
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_ident(&mut self, name: &str) -> bool {
        if self.is_ident(name) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// "syntax error: unexpected X[, expecting A or B]" at the current token.
    fn unexpected(&self, expecting: &[&str]) -> ParseError {
        let t = self.token();
        let mut msg = format!("syntax error: unexpected {}", t.tok.describe());
        if !expecting.is_empty() {
            msg.push_str(", expecting ");
            msg.push_str(&expecting.join(" or "));
        }
        ParseError::at(t.line, t.col, msg)
    }
    fn error_here(&self, msg: impl Into<String>) -> ParseError {
        let t = self.token();
        ParseError::at(t.line, t.col, msg.into())
    }
    fn expect_punct(&mut self, p: &'static str) -> Result<(), ParseError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.unexpected(&[p]))
        }
    }
    fn expect_ident(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(&["IDENTIFIER"])),
        }
    }
    fn expect_string(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(&["STRING"])),
        }
    }
    fn expect_number(&mut self) -> Result<f64, ParseError> {
        let neg = if self.eat_punct("-") {
            true
        } else {
            self.eat_punct("+");
            false
        };
        match self.peek() {
            Tok::Number(n) => {
                let n = *n;
                self.pos += 1;
                Ok(if neg { -n } else { n })
            }
            _ => Err(self.unexpected(&["NUMBER"])),
        }
    }

    // ---- expressions ----

    fn parse_expr(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("syntax error: expression nested too deeply"));
        }
        let result = self.parse_expr_inner(min_prec);
        self.depth -= 1;
        result
    }

    fn parse_expr_inner(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        let mut lhs = self.parse_unary()?;
        while let Some(op) = binop_of(self.peek()) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_tok = self.token().clone();
            self.next();
            let return_bool = self.eat_ident("bool");
            if return_bool && !matches!(op, BinOp::Cmp(_)) {
                return Err(ParseError::at(
                    op_tok.line,
                    op_tok.col,
                    "bool modifier can only be used on comparison operators".to_string(),
                ));
            }
            let matching = self.parse_vector_matching()?;
            // `^` is right-associative, everything else left-associative.
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.parse_expr(next_min)?;
            let lhs_s = self.to_sample(lhs, &op_tok)?;
            let rhs_s = self.to_sample(rhs, &op_tok)?;
            if op.is_set() && (lhs_s.is_scalar() || rhs_s.is_scalar()) {
                return Err(ParseError::at(
                    op_tok.line,
                    op_tok.col,
                    format!(
                        "set operator {} not allowed in binary scalar expression",
                        op.as_str()
                    ),
                ));
            }
            if matches!(op, BinOp::Cmp(_)) && !return_bool && lhs_s.is_scalar() && rhs_s.is_scalar()
            {
                return Err(ParseError::at(
                    op_tok.line,
                    op_tok.col,
                    "comparisons between scalars must use BOOL modifier".to_string(),
                ));
            }
            lhs = Node::Sample(SampleExpr::Binary {
                op,
                return_bool,
                matching,
                lhs: Box::new(lhs_s),
                rhs: Box::new(rhs_s),
            });
        }
        Ok(lhs)
    }

    fn to_sample(&self, node: Node, op: &Token) -> Result<SampleExpr, ParseError> {
        match node {
            Node::Sample(s) => Ok(s),
            Node::Log(..) | Node::LogRange(..) => Err(ParseError::at(
                op.line,
                op.col,
                "unexpected type for left leg of binary operation (log query): binary operations \
                 need metric queries on both sides"
                    .to_string(),
            )),
        }
    }

    fn parse_vector_matching(&mut self) -> Result<Option<VectorMatching>, ParseError> {
        let on = if self.is_ident("on") {
            true
        } else if self.is_ident("ignoring") {
            false
        } else {
            return Ok(None);
        };
        self.next();
        let labels = self.parse_label_list()?;
        let group = if self.eat_ident("group_left") {
            Some(GroupSide::Left(self.parse_optional_label_list()?))
        } else if self.eat_ident("group_right") {
            Some(GroupSide::Right(self.parse_optional_label_list()?))
        } else {
            None
        };
        Ok(Some(VectorMatching { on, labels, group }))
    }

    fn parse_optional_label_list(&mut self) -> Result<Vec<String>, ParseError> {
        if self.is_punct("(") {
            self.parse_label_list()
        } else {
            Ok(Vec::new())
        }
    }

    fn parse_label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_punct("(")?;
        let mut labels = Vec::new();
        if self.eat_punct(")") {
            return Ok(labels);
        }
        loop {
            match self.peek() {
                Tok::Ident(s) => {
                    labels.push(s.clone());
                    self.next();
                }
                _ => return Err(self.unexpected(&["IDENTIFIER"])),
            }
            if self.eat_punct(")") {
                return Ok(labels);
            }
            if !self.eat_punct(",") {
                return Err(self.unexpected(&[",", ")"]));
            }
        }
    }

    fn parse_unary(&mut self) -> Result<Node, ParseError> {
        match self.peek().clone() {
            Tok::Punct("{") => {
                let (log, unwrap) = self.parse_log_expr()?;
                self.maybe_range(log, unwrap)
            }
            Tok::Punct("(") => {
                self.next();
                let inner = self.parse_expr(0)?;
                self.expect_punct(")")
                    .map_err(|_| self.unexpected(&[")"]))?;
                match inner {
                    Node::Log(log, unwrap) => self.maybe_range(log, unwrap),
                    other => Ok(other),
                }
            }
            Tok::Number(_) | Tok::Punct("-") | Tok::Punct("+") => {
                Ok(Node::Sample(SampleExpr::Literal(self.expect_number()?)))
            }
            Tok::Ident(name) => {
                if let Some(op) = RangeOp::from_name(&name) {
                    self.next();
                    return self.parse_range_agg(op).map(Node::Sample);
                }
                if let Some(op) = VectorOp::from_name(&name) {
                    self.next();
                    return self.parse_vector_agg(op).map(Node::Sample);
                }
                match name.as_str() {
                    "vector" => {
                        self.next();
                        self.expect_punct("(")?;
                        let v = self.expect_number()?;
                        self.expect_punct(")")?;
                        Ok(Node::Sample(SampleExpr::VectorLit(v)))
                    }
                    "label_replace" => {
                        self.next();
                        self.parse_label_replace().map(Node::Sample)
                    }
                    _ => Err(self.unexpected(&[])),
                }
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    /// After a log expression: `[range] [| unwrap ...] [offset d]`.
    fn maybe_range(
        &mut self,
        mut log: LogExpr,
        mut unwrap: Option<Unwrap>,
    ) -> Result<Node, ParseError> {
        let Tok::Range(range) = *self.peek() else {
            return Ok(Node::Log(log, unwrap));
        };
        self.next();
        // `{sel}[5m] | json` form: the pipeline may follow the range.
        if log.stages.is_empty() && unwrap.is_none() {
            unwrap = self.parse_stages(&mut log.stages)?;
        }
        let offset = self.parse_offset()?;
        Ok(Node::LogRange(log, unwrap, range, offset))
    }

    fn parse_offset(&mut self) -> Result<i64, ParseError> {
        if !self.eat_ident("offset") {
            return Ok(0);
        }
        match self.next() {
            Tok::Duration(d) => Ok(d),
            Tok::Punct("-") => match self.next() {
                Tok::Duration(d) => Ok(-d),
                _ => {
                    self.pos -= 1;
                    Err(self.unexpected(&["DURATION"]))
                }
            },
            _ => {
                self.pos -= 1;
                Err(self.unexpected(&["DURATION"]))
            }
        }
    }

    fn parse_grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = if self.is_ident("by") {
            false
        } else if self.is_ident("without") {
            true
        } else {
            return Ok(None);
        };
        self.next();
        let labels = self.parse_label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    fn parse_range_agg(&mut self, op: RangeOp) -> Result<SampleExpr, ParseError> {
        let open = self.tokens[self.pos.saturating_sub(1)].clone();
        self.expect_punct("(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let v = self.expect_number()?;
            self.expect_punct(",")?;
            Some(v)
        } else {
            None
        };
        let start = self.token().clone();
        let node = self.parse_expr(0)?;
        let (log, unwrap, range_ns, offset_ns) = match node {
            Node::LogRange(log, unwrap, range, offset) => (log, unwrap, range, offset),
            Node::Log(..) => {
                return Err(self.unexpected(&["RANGE"]));
            }
            Node::Sample(_) => {
                return Err(ParseError::at(
                    start.line,
                    start.col,
                    format!(
                        "syntax error: {} expects a log range such as {{app=\"x\"}}[5m]",
                        op.as_str()
                    ),
                ));
            }
        };
        self.expect_punct(")")?;
        let grouping = self.parse_grouping()?;
        let range = LogRange {
            log,
            unwrap,
            range_ns,
            offset_ns,
        };
        let expr = SampleExpr::Range {
            op,
            param,
            range: Box::new(range),
            grouping,
        };
        check_range_agg(&expr, &open)?;
        Ok(expr)
    }

    fn parse_vector_agg(&mut self, op: VectorOp) -> Result<SampleExpr, ParseError> {
        let open = self.tokens[self.pos.saturating_sub(1)].clone();
        let mut grouping = self.parse_grouping()?;
        self.expect_punct("(")?;
        let param = if matches!(op, VectorOp::Topk | VectorOp::Bottomk) {
            let v = self.expect_number()?;
            self.expect_punct(",")?;
            Some(v)
        } else {
            None
        };
        let inner = self.parse_expr(0)?;
        let inner_tok = self.token().clone();
        let inner = match inner {
            Node::Sample(s) => s,
            Node::Log(..) | Node::LogRange(..) => {
                return Err(ParseError::at(
                    inner_tok.line,
                    inner_tok.col,
                    format!(
                        "syntax error: {} expects a metric query such as count_over_time({{app=\"x\"}}[5m])",
                        op.as_str()
                    ),
                ));
            }
        };
        self.expect_punct(")")?;
        if grouping.is_none() {
            grouping = self.parse_grouping()?;
        }
        if let Some(k) = param
            && (k < 1.0 || k.fract() != 0.0 || k > i32::MAX as f64)
        {
            return Err(ParseError::at(
                open.line,
                open.col,
                format!(
                    "invalid parameter {k} for {}: must be a positive integer",
                    op.as_str()
                ),
            ));
        }
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && grouping.is_some() {
            return Err(ParseError::at(
                open.line,
                open.col,
                format!("grouping not allowed for {} aggregation", op.as_str()),
            ));
        }
        Ok(SampleExpr::Vector {
            op,
            param,
            grouping,
            expr: Box::new(inner),
        })
    }

    fn parse_label_replace(&mut self) -> Result<SampleExpr, ParseError> {
        self.expect_punct("(")?;
        let inner = match self.parse_expr(0)? {
            Node::Sample(s) => s,
            _ => return Err(self.error_here("syntax error: label_replace expects a metric query")),
        };
        self.expect_punct(",")?;
        let dst = self.expect_string()?;
        self.expect_punct(",")?;
        let replacement = self.expect_string()?;
        self.expect_punct(",")?;
        let src = self.expect_string()?;
        self.expect_punct(",")?;
        let regex_tok = self.token().clone();
        let regex = self.expect_string()?;
        self.expect_punct(")")?;
        if let Err(e) = regex::Regex::new(&format!("^(?s:{regex})$")) {
            return Err(ParseError::at(
                regex_tok.line,
                regex_tok.col,
                format!("invalid regex in label_replace: {e}"),
            ));
        }
        if !vigil_model::is_valid_label_name(&dst) {
            return Err(ParseError::at(
                regex_tok.line,
                regex_tok.col,
                format!("invalid destination label name in label_replace: {dst}"),
            ));
        }
        Ok(SampleExpr::LabelReplace {
            expr: Box::new(inner),
            dst,
            replacement,
            src,
            regex,
        })
    }

    // ---- log expressions ----

    fn parse_log_expr(&mut self) -> Result<(LogExpr, Option<Unwrap>), ParseError> {
        let matchers = self.parse_selector()?;
        let mut log = LogExpr {
            matchers,
            stages: Vec::new(),
        };
        let unwrap = self.parse_stages(&mut log.stages)?;
        Ok((log, unwrap))
    }

    fn parse_selector(&mut self) -> Result<Vec<LabelMatcher>, ParseError> {
        self.expect_punct("{")?;
        let mut matchers = Vec::new();
        if self.eat_punct("}") {
            return Ok(matchers);
        }
        loop {
            let name = self.expect_ident()?;
            let op = match self.peek() {
                Tok::Punct("=") => MatchOp::Equal,
                Tok::Punct("!=") => MatchOp::NotEqual,
                Tok::Punct("=~") => MatchOp::Regex,
                Tok::Punct("!~") => MatchOp::NotRegex,
                _ => return Err(self.unexpected(&["=", "!=", "=~", "!~"])),
            };
            self.next();
            let value_tok = self.token().clone();
            let value = self.expect_string()?;
            if let Err(e) = Matcher::new(op, name.clone(), value.clone()) {
                return Err(ParseError::at(value_tok.line, value_tok.col, e.to_string()));
            }
            matchers.push(LabelMatcher { name, op, value });
            if self.eat_punct("}") {
                return Ok(matchers);
            }
            if !self.eat_punct(",") {
                return Err(self.unexpected(&[",", "}"]));
            }
        }
    }
}

const STAGE_KEYWORDS: [&str; 11] = [
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
];

/// After a stage keyword, an operator that makes it a label filter on a label of that name
/// (`| json="x"`). `!=` and `!~` are not included: after a keyword they start a line filter.
fn is_keyword_filter_op(tok: &Tok) -> bool {
    matches!(tok, Tok::Punct("=" | "=~" | ">" | ">=" | "<" | "<=" | "=="))
}

fn is_filter_op(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Punct("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")
    )
}

impl Parser {
    /// Parses pipeline stages until none follows; returns the `unwrap` stage if one was met
    /// (it must be the last non-filter stage).
    fn parse_stages(&mut self, stages: &mut Vec<Stage>) -> Result<Option<Unwrap>, ParseError> {
        loop {
            match self.peek().clone() {
                Tok::Punct(p @ ("|=" | "!=" | "|~" | "!~" | "|>" | "!>")) => {
                    self.next();
                    let op = match p {
                        "|=" => LineFilterOp::Contains,
                        "!=" => LineFilterOp::NotContains,
                        "|~" => LineFilterOp::Regex,
                        "!~" => LineFilterOp::NotRegex,
                        "|>" => LineFilterOp::Pattern,
                        _ => LineFilterOp::NotPattern,
                    };
                    stages.push(Stage::LineFilter(self.parse_line_filter(op)?));
                }
                Tok::Punct("|") => {
                    let next = self.peek_at(1).clone();
                    match next {
                        Tok::Ident(ref kw)
                            if STAGE_KEYWORDS.contains(&kw.as_str())
                                && !is_keyword_filter_op(self.peek_at(2)) =>
                        {
                            self.next();
                            self.next();
                            if kw == "unwrap" {
                                return self.parse_unwrap().map(Some);
                            }
                            stages.push(self.parse_keyword_stage(kw)?);
                        }
                        Tok::Ident(_) | Tok::Punct("(") => {
                            self.next();
                            stages.push(Stage::LabelFilter(self.parse_label_filter()?));
                        }
                        _ => {
                            self.next();
                            return Err(self.unexpected(&[]));
                        }
                    }
                }
                _ => return Ok(None),
            }
        }
    }

    fn parse_line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter, ParseError> {
        let mut values = vec![self.parse_filter_value(op)?];
        while self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_) | Tok::Ident(_)) {
            if let Tok::Ident(s) = self.peek_at(1)
                && s != "ip"
            {
                break;
            }
            self.next();
            values.push(self.parse_filter_value(op)?);
        }
        Ok(LineFilter { op, values })
    }

    fn parse_filter_value(&mut self, op: LineFilterOp) -> Result<FilterValue, ParseError> {
        let tok = self.token().clone();
        if self.is_ident("ip") {
            if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                return Err(ParseError::at(
                    tok.line,
                    tok.col,
                    format!(
                        "ip() is only allowed with |= and != line filters, not {}",
                        op.as_str()
                    ),
                ));
            }
            self.next();
            self.expect_punct("(")?;
            let s_tok = self.token().clone();
            let s = self.expect_string()?;
            self.expect_punct(")")?;
            if let Err(e) = crate::log::ip::IpMatcher::new(&s) {
                return Err(ParseError::at(s_tok.line, s_tok.col, e));
            }
            return Ok(FilterValue::Ip(s));
        }
        let s = match self.peek() {
            Tok::Str(s) => s.clone(),
            _ => return Err(self.unexpected(&["STRING", "ip"])),
        };
        self.next();
        match op {
            LineFilterOp::Regex | LineFilterOp::NotRegex => {
                if let Err(e) = regex::Regex::new(&s) {
                    return Err(ParseError::at(
                        tok.line,
                        tok.col,
                        format!("invalid regex {s:?}: {e}"),
                    ));
                }
            }
            LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                if let Err(e) = crate::log::pattern::Pattern::parse(&s, false) {
                    return Err(ParseError::at(tok.line, tok.col, e));
                }
            }
            _ => {}
        }
        Ok(FilterValue::Text(s))
    }

    fn parse_extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut out = Vec::new();
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Ok(out);
        }
        loop {
            let label = self.expect_ident()?;
            let path = if self.eat_punct("=") {
                Some(self.expect_string()?)
            } else {
                None
            };
            out.push(Extraction { label, path });
            if !self.eat_punct(",") {
                return Ok(out);
            }
        }
    }

    fn parse_keyword_stage(&mut self, kw: &str) -> Result<Stage, ParseError> {
        let tok = self.token().clone();
        let at = |msg: String| ParseError::at(tok.line, tok.col, msg);
        Ok(match kw {
            "json" => {
                let ex = self.parse_extractions()?;
                for e in &ex {
                    if let Some(path) = &e.path
                        && let Err(err) = crate::log::json::parse_path(path)
                    {
                        return Err(at(format!("invalid json path {path:?}: {err}")));
                    }
                }
                Stage::Parser(ParserStage::Json(ex))
            }
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        _ => return Err(self.error_here(format!("invalid logfmt flag --{f}"))),
                    }
                    self.next();
                }
                let extractions = self.parse_extractions()?;
                Stage::Parser(ParserStage::Logfmt {
                    strict,
                    keep_empty,
                    extractions,
                })
            }
            "regexp" => {
                let s = self.expect_string()?;
                if let Err(e) = crate::log::parsers::RegexpParser::new(&s) {
                    return Err(at(e));
                }
                Stage::Parser(ParserStage::Regexp(s))
            }
            "pattern" => {
                let s = self.expect_string()?;
                if let Err(e) = crate::log::pattern::Pattern::parse(&s, true) {
                    return Err(at(e));
                }
                Stage::Parser(ParserStage::Pattern(s))
            }
            "unpack" => Stage::Parser(ParserStage::Unpack),
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let s = self.expect_string()?;
                if let Err(e) = crate::log::template::Template::parse(&s) {
                    return Err(at(format!("invalid line_format template: {e}")));
                }
                Stage::LineFormat(s)
            }
            "label_format" => {
                let mut fmts: Vec<LabelFmt> = Vec::new();
                loop {
                    let dst_tok = self.token().clone();
                    let dst = self.expect_ident()?;
                    self.expect_punct("=")?;
                    let f = match self.peek().clone() {
                        Tok::Str(template) => {
                            self.next();
                            if let Err(e) = crate::log::template::Template::parse(&template) {
                                return Err(at(format!("invalid label_format template: {e}")));
                            }
                            LabelFmt::Template {
                                dst: dst.clone(),
                                template,
                            }
                        }
                        Tok::Ident(src) => {
                            self.next();
                            LabelFmt::Rename {
                                dst: dst.clone(),
                                src,
                            }
                        }
                        _ => return Err(self.unexpected(&["STRING", "IDENTIFIER"])),
                    };
                    let dup = fmts.iter().any(|f| match f {
                        LabelFmt::Rename { dst: d, .. } | LabelFmt::Template { dst: d, .. } => {
                            *d == dst
                        }
                    });
                    if dup {
                        return Err(ParseError::at(
                            dst_tok.line,
                            dst_tok.col,
                            format!(
                                "multiple label name '{dst}' not allowed in a single format operation"
                            ),
                        ));
                    }
                    fmts.push(f);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                Stage::LabelFormat(fmts)
            }
            "drop" | "keep" => {
                let mut names = Vec::new();
                loop {
                    let name = self.expect_ident()?;
                    let op = match self.peek() {
                        Tok::Punct("=") => Some(MatchOp::Equal),
                        Tok::Punct("!=") => Some(MatchOp::NotEqual),
                        Tok::Punct("=~") => Some(MatchOp::Regex),
                        Tok::Punct("!~") => Some(MatchOp::NotRegex),
                        _ => None,
                    };
                    let matcher = match op {
                        Some(op) => {
                            self.next();
                            let vt = self.token().clone();
                            let v = self.expect_string()?;
                            if let Err(e) = Matcher::new(op, name.clone(), v.clone()) {
                                return Err(ParseError::at(vt.line, vt.col, e.to_string()));
                            }
                            Some((op, v))
                        }
                        None => None,
                    };
                    names.push(NameMatcher { name, matcher });
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                if kw == "drop" {
                    Stage::Drop(names)
                } else {
                    Stage::Keep(names)
                }
            }
            _ => return Err(at(format!("syntax error: unexpected {kw}"))),
        })
    }

    fn parse_unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let name = self.expect_ident()?;
        let (label, conv, conv_name) = if self.is_punct("(")
            && matches!(name.as_str(), "duration" | "duration_seconds" | "bytes")
        {
            self.next();
            let label = self.expect_ident()?;
            self.expect_punct(")")?;
            match name.as_str() {
                "duration" => (label, UnwrapConv::Duration, "duration"),
                "duration_seconds" => (label, UnwrapConv::Duration, "duration_seconds"),
                _ => (label, UnwrapConv::Bytes, "bytes"),
            }
        } else {
            (name, UnwrapConv::None, "")
        };
        let mut post_filters = Vec::new();
        while self.is_punct("|") {
            match self.peek_at(1) {
                Tok::Ident(kw)
                    if STAGE_KEYWORDS.contains(&kw.as_str())
                        && !is_keyword_filter_op(self.peek_at(2)) =>
                {
                    let kw = kw.clone();
                    self.next();
                    return Err(self.error_here(format!(
                        "syntax error: unexpected {kw}, expecting IDENTIFIER or ("
                    )));
                }
                Tok::Ident(_) | Tok::Punct("(") => {
                    self.next();
                    post_filters.push(self.parse_label_filter()?);
                }
                _ => {
                    self.next();
                    return Err(self.unexpected(&["IDENTIFIER", "("]));
                }
            }
        }
        if matches!(
            self.peek(),
            Tok::Punct("|=" | "!=" | "|~" | "!~" | "|>" | "!>")
        ) {
            return Err(self.unexpected(&["|", "RANGE"]));
        }
        Ok(Unwrap {
            label,
            conv,
            conv_name,
            post_filters,
        })
    }

    fn parse_label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("syntax error: label filter nested too deeply"));
        }
        let result = self.parse_label_filter_inner();
        self.depth -= 1;
        result
    }

    fn parse_label_filter_inner(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.parse_label_filter_and()?;
        while self.is_ident("or") {
            self.next();
            let rhs = self.parse_label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn parse_label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.parse_label_filter_primary()?;
        loop {
            let explicit = self.is_ident("and") || self.is_punct(",");
            let implicit = matches!(self.peek(), Tok::Ident(s) if s != "or" && s != "and" && s != "offset")
                && is_filter_op(self.peek_at(1));
            if explicit {
                self.next();
            } else if !implicit {
                return Ok(lhs);
            }
            let rhs = self.parse_label_filter_primary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
    }

    fn parse_label_filter_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.eat_punct("(") {
            let inner = self.parse_label_filter()?;
            self.expect_punct(")")?;
            return Ok(inner);
        }
        let name = self.expect_ident()?;
        let op_tok = self.next();
        let cmp = match op_tok {
            Tok::Punct("=") => CmpOp::Eq,
            Tok::Punct("!=") => CmpOp::Ne,
            Tok::Punct("==") => CmpOp::Eq,
            Tok::Punct(">") => CmpOp::Gt,
            Tok::Punct(">=") => CmpOp::Ge,
            Tok::Punct("<") => CmpOp::Lt,
            Tok::Punct("<=") => CmpOp::Le,
            Tok::Punct("=~") | Tok::Punct("!~") => {
                let op = if op_tok == Tok::Punct("=~") {
                    MatchOp::Regex
                } else {
                    MatchOp::NotRegex
                };
                let vt = self.token().clone();
                let value = self.expect_string()?;
                if let Err(e) = Matcher::new(op, name.clone(), value.clone()) {
                    return Err(ParseError::at(vt.line, vt.col, e.to_string()));
                }
                return Ok(LabelFilter::String { name, op, value });
            }
            _ => {
                self.pos -= 1;
                return Err(self.unexpected(&["=", "!=", "=~", "!~", ">", ">=", "<", "<=", "=="]));
            }
        };
        let string_op = matches!(op_tok, Tok::Punct("=" | "!="));
        let neg = self.is_punct("-");
        if neg {
            self.next();
        }
        let value_tok = self.token().clone();
        let sign = if neg { -1.0 } else { 1.0 };
        let filter = match self.peek().clone() {
            Tok::Str(value) if string_op && !neg => LabelFilter::String {
                name,
                op: if cmp == CmpOp::Eq {
                    MatchOp::Equal
                } else {
                    MatchOp::NotEqual
                },
                value,
            },
            Tok::Ident(ip) if ip == "ip" && string_op && !neg => {
                self.next();
                self.expect_punct("(")?;
                let st = self.token().clone();
                let pattern = self.expect_string()?;
                if let Err(e) = crate::log::ip::IpMatcher::new(&pattern) {
                    return Err(ParseError::at(st.line, st.col, e));
                }
                self.expect_punct(")")?;
                return Ok(LabelFilter::Ip {
                    name,
                    negate: cmp == CmpOp::Ne,
                    pattern,
                });
            }
            Tok::Number(v) => LabelFilter::Number {
                name,
                op: cmp,
                value: sign * v,
            },
            Tok::Duration(ns) => LabelFilter::Duration {
                name,
                op: cmp,
                ns: if neg { -ns } else { ns },
            },
            Tok::Bytes(bytes) if !neg => LabelFilter::Bytes {
                name,
                op: cmp,
                bytes,
            },
            _ => {
                let _ = value_tok;
                return Err(if string_op {
                    self.unexpected(&["STRING", "NUMBER", "DURATION", "BYTES"])
                } else {
                    self.unexpected(&["NUMBER", "DURATION", "BYTES"])
                });
            }
        };
        self.next();
        Ok(filter)
    }
}

fn check_range_agg(expr: &SampleExpr, at: &Token) -> Result<(), ParseError> {
    let SampleExpr::Range {
        op,
        range,
        grouping,
        ..
    } = expr
    else {
        return Ok(());
    };
    let err = |msg: String| ParseError::at(at.line, at.col, msg);
    match (op.unwrap_mode(), &range.unwrap) {
        (Some(true), None) => {
            return Err(err(format!(
                "invalid aggregation {} without unwrap",
                op.as_str()
            )));
        }
        (Some(false), Some(_)) => {
            return Err(err(format!(
                "invalid aggregation {} with unwrap",
                op.as_str()
            )));
        }
        _ => {}
    }
    if grouping.is_some() && range.unwrap.is_none() {
        return Err(err(format!(
            "grouping not allowed for {} aggregation",
            op.as_str()
        )));
    }
    if range.range_ns <= 0 {
        return Err(err("range must be positive".to_string()));
    }
    Ok(())
}

const EMPTY_SELECTOR: &str = "queries require at least one regexp or equality matcher that does not have an \
empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

fn validate_selector(matchers: &[LabelMatcher]) -> Result<(), ParseError> {
    let ok = matchers.iter().any(|m| {
        matches!(m.op, MatchOp::Equal | MatchOp::Regex)
            && Matcher::new(m.op, m.name.clone(), m.value.clone()).is_ok_and(|m| !m.matches_empty())
    });
    if ok {
        Ok(())
    } else {
        Err(ParseError::bare(EMPTY_SELECTOR))
    }
}

fn validate_sample(expr: &SampleExpr) -> Result<(), ParseError> {
    match expr {
        SampleExpr::Range { range, .. } => validate_selector(&range.log.matchers),
        SampleExpr::Vector { expr, .. } | SampleExpr::LabelReplace { expr, .. } => {
            validate_sample(expr)
        }
        SampleExpr::Binary { lhs, rhs, .. } => {
            validate_sample(lhs)?;
            validate_sample(rhs)
        }
        SampleExpr::Literal(_) | SampleExpr::VectorLit(_) => Ok(()),
    }
}

fn validate(expr: &Expr) -> Result<(), ParseError> {
    match expr {
        Expr::Log(l) => validate_selector(&l.matchers),
        Expr::Sample(s) => validate_sample(s),
    }
}
