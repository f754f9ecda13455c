//! A subset of Go's `text/template`, enough for Prometheus alert labels and annotations:
//! text and actions (with `{{-`/`-}}` trimming and comments), pipelines, variables
//! (`:=`, `=`), `if`/`else if`/`else`, `range` (with `else`), `with`, parenthesised
//! pipelines, Go's builtin functions and the functions Prometheus documents.
//!
//! Error texts follow Go's (`template: NAME:LINE: ...` for parse errors,
//! `template: NAME:LINE:COL: executing "NAME" at <...>: ...` for execution errors), so a
//! failed expansion reads as it does in Prometheus.

pub(crate) mod format;
mod funcs;

use std::collections::BTreeMap;

pub use format::go_float;
pub use funcs::{QueryFn, QuerySamples};

/// A value flowing through a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's nil (a missing interface value).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer constant or result.
    Int(i64),
    /// A float64.
    Float(f64),
    /// A string.
    Str(String),
    /// A map; missing keys give `missing` (Go's zero value of the map's element type).
    Map(BTreeMap<String, Value>, Box<Value>),
    /// A slice.
    List(Vec<Value>),
    /// A query result sample: `.Labels` and `.Value`.
    Sample(BTreeMap<String, String>, f64),
    /// A point in time, nanoseconds since the epoch (`toTime`).
    Time(i128),
}

impl Value {
    /// A `map[string]string` value.
    pub fn string_map(map: &BTreeMap<String, String>) -> Value {
        Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect(),
            Box::new(Value::Str(String::new())),
        )
    }

    fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m, _) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample(..) | Value::Time(_) => true,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(..) => "map[string]string",
            Value::List(_) => "template.queryResult",
            Value::Sample(..) => "*template.sample",
            Value::Time(_) => "time.Time",
        }
    }
}

impl std::fmt::Display for Value {
    /// Go's `%v`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(v) => f.write_str(&go_float(*v, None)),
            Value::Str(s) => f.write_str(s),
            Value::Map(m, _) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Sample(labels, v) => {
                let labels = Value::string_map(labels);
                write!(f, "&{{{labels} {}}}", go_float(*v, None))
            }
            Value::Time(ns) => f.write_str(&format::go_time(*ns)),
        }
    }
}

/// A template parse error: `template: NAME:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {name}:{line}: {message}")]
pub struct ParseError {
    name: String,
    line: usize,
    message: String,
}

/// A template execution error, formatted as Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {name}:{line}:{col}: executing \"{name}\" at <{node}>: {message}")]
pub struct ExecError {
    name: String,
    line: usize,
    col: usize,
    node: String,
    message: String,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Arg>,
    pos: usize,
    text: String,
}

#[derive(Debug, Clone)]
enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    Pipe(Box<Pipe>, Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    source: String,
    nodes: Vec<Node>,
}

// ---------------------------------------------------------------------------------------
// Lexing and parsing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    Var(String, Vec<String>),
    Dot,
    Lit(Value),
    Pipe,
    LParen,
    RParen(Vec<String>),
    Declare,
    Assign,
    Comma,
}

struct Segment {
    /// Byte offset of the action's content in the source.
    pos: usize,
    /// `None` for text, `Some(tokens)` for an action.
    text: String,
    action: Option<Vec<(Tok, usize)>>,
}

fn line_of(source: &str, pos: usize) -> usize {
    1 + source[..pos.min(source.len())].matches('\n').count()
}

fn split_fields(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex_action(body: &str, base: usize) -> Result<Vec<(Tok, usize)>, (usize, String)> {
    let chars: Vec<(usize, char)> = body.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    let off = |i: usize| base + chars.get(i).map(|(o, _)| *o).unwrap_or(body.len());
    while i < chars.len() {
        let c = chars[i].1;
        let start = off(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '|' => {
                out.push((Tok::Pipe, start));
                i += 1;
            }
            '(' => {
                out.push((Tok::LParen, start));
                i += 1;
            }
            ')' => {
                i += 1;
                let mut chain = String::new();
                while at(i) == Some('.') || at(i).is_some_and(is_ident_char) && !chain.is_empty() {
                    chain.push(chars[i].1);
                    i += 1;
                }
                out.push((Tok::RParen(split_fields(&chain)), start));
            }
            ',' => {
                out.push((Tok::Comma, start));
                i += 1;
            }
            ':' if at(i + 1) == Some('=') => {
                out.push((Tok::Declare, start));
                i += 2;
            }
            '=' => {
                out.push((Tok::Assign, start));
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None | Some('\n') => {
                            return Err((start, "unterminated quoted string".into()));
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let escaped = match at(i + 1) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('r') => '\r',
                                Some('\\') => '\\',
                                Some('"') => '"',
                                Some('\'') => '\'',
                                Some('0') => '\0',
                                other => {
                                    return Err((
                                        start,
                                        format!(
                                            "invalid syntax: escape \\{}",
                                            other.unwrap_or(' ')
                                        ),
                                    ));
                                }
                            };
                            s.push(escaped);
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Lit(Value::Str(s)), start));
            }
            '`' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => return Err((start, "unterminated raw quoted string".into())),
                        Some('`') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Lit(Value::Str(s)), start));
            }
            '.' if !at(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let mut chain = String::new();
                while at(i) == Some('.') || at(i).is_some_and(is_ident_char) {
                    chain.push(chars[i].1);
                    i += 1;
                }
                if chain == "." {
                    out.push((Tok::Dot, start));
                } else {
                    out.push((Tok::Field(split_fields(&chain)), start));
                }
            }
            '$' => {
                let mut name = String::from("$");
                i += 1;
                while at(i).is_some_and(is_ident_char) {
                    name.push(chars[i].1);
                    i += 1;
                }
                let mut chain = String::new();
                while at(i) == Some('.') || (!chain.is_empty() && at(i).is_some_and(is_ident_char))
                {
                    chain.push(chars[i].1);
                    i += 1;
                }
                out.push((Tok::Var(name, split_fields(&chain)), start));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let mut s = String::new();
                while at(i).is_some_and(|d| d.is_ascii_alphanumeric() || "+-._".contains(d)) {
                    s.push(chars[i].1);
                    i += 1;
                }
                let clean = s.replace('_', "");
                let value = if let Ok(n) = clean.parse::<i64>() {
                    Value::Int(n)
                } else if let Some(hex) = clean.strip_prefix("0x") {
                    match i64::from_str_radix(hex, 16) {
                        Ok(n) => Value::Int(n),
                        Err(_) => return Err((start, format!("bad number syntax: {s:?}"))),
                    }
                } else if let Ok(f) = clean.parse::<f64>() {
                    Value::Float(f)
                } else {
                    return Err((start, format!("bad number syntax: {s:?}")));
                };
                out.push((Tok::Lit(value), start));
            }
            '\'' => {
                let ch = at(i + 1).unwrap_or(' ');
                if at(i + 2) != Some('\'') {
                    return Err((start, "unterminated character constant".into()));
                }
                out.push((Tok::Lit(Value::Int(ch as i64)), start));
                i += 3;
            }
            c if is_ident_char(c) => {
                let mut s = String::new();
                while at(i).is_some_and(is_ident_char) {
                    s.push(chars[i].1);
                    i += 1;
                }
                let tok = match s.as_str() {
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "nil" => Tok::Lit(Value::Nil),
                    _ => Tok::Ident(s),
                };
                out.push((tok, start));
            }
            other => return Err((start, format!("unexpected {other:?} in command"))),
        }
    }
    Ok(out)
}

/// Splits the source into text and action segments, applying trim markers and dropping comments.
fn segments(source: &str) -> Result<Vec<Segment>, (usize, String)> {
    let mut out: Vec<Segment> = Vec::new();
    let mut rest = 0;
    let mut trim_next_text = false;
    while rest <= source.len() {
        let Some(open_rel) = source[rest..].find("{{") else {
            let mut text = &source[rest..];
            if trim_next_text {
                text = text.trim_start();
            }
            if !text.is_empty() {
                out.push(Segment {
                    pos: rest,
                    text: text.to_string(),
                    action: None,
                });
            }
            break;
        };
        let open = rest + open_rel;
        let mut inner_start = open + 2;
        let trim_left = source[inner_start..].starts_with("- ")
            || source[inner_start..].starts_with("-\t")
            || source[inner_start..].starts_with("-\n");
        let mut text = &source[rest..open];
        if trim_next_text {
            text = text.trim_start();
        }
        if trim_left {
            text = text.trim_end();
            inner_start += 1;
        }
        if !text.is_empty() {
            out.push(Segment {
                pos: rest,
                text: text.to_string(),
                action: None,
            });
        }
        // Find the closing braces outside of quoted strings.
        let bytes = source.as_bytes();
        let mut j = inner_start;
        let mut close = None;
        let comment = source[inner_start..].trim_start().starts_with("/*");
        if comment {
            if let Some(end) = source[inner_start..].find("*/") {
                let after = inner_start + end + 2;
                let tail = &source[after..];
                let trimmed = tail.trim_start();
                if let Some(stripped) = trimmed.strip_prefix("-}}") {
                    let _ = stripped;
                    close = Some((after + (tail.len() - trimmed.len()), true));
                } else if trimmed.starts_with("}}") {
                    close = Some((after + (tail.len() - trimmed.len()), false));
                }
            }
            let Some((at, trim_right)) = close else {
                return Err((open, "unclosed comment".into()));
            };
            trim_next_text = trim_right;
            rest = at + if trim_right { 3 } else { 2 };
            continue;
        }
        let mut quote: Option<u8> = None;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(q) => {
                    if b == b'\\' && q == b'"' {
                        j += 2;
                        continue;
                    }
                    if b == q {
                        quote = None;
                    } else if b == b'\n' && q == b'"' {
                        return Err((open, "unterminated quoted string".into()));
                    }
                }
                None => {
                    if b == b'"' || b == b'`' {
                        quote = Some(b);
                    } else if source[j..].starts_with(" -}}")
                        || source[j..].starts_with("\t-}}")
                        || source[j..].starts_with("\n-}}")
                    {
                        close = Some((j, true));
                        break;
                    } else if source[j..].starts_with("}}") {
                        close = Some((j, false));
                        break;
                    }
                }
            }
            j += 1;
        }
        let Some((end, trim_right)) = close else {
            return Err((open, "unclosed action".into()));
        };
        let body = &source[inner_start..end];
        let tokens = lex_action(body, inner_start)?;
        out.push(Segment {
            pos: inner_start,
            text: body.to_string(),
            action: Some(tokens),
        });
        trim_next_text = trim_right;
        rest = end + if trim_right { 4 } else { 2 };
    }
    Ok(out)
}

struct Parser<'a> {
    source: &'a str,
    segments: Vec<Segment>,
    index: usize,
    vars: Vec<String>,
    range_depth: usize,
}

enum Stop {
    End,
    Else(Vec<(Tok, usize)>, usize),
    Eof,
}

impl Parser<'_> {
    fn fail<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, (usize, String)> {
        let _ = self.source;
        Err((pos, message.into()))
    }

    fn list(&mut self) -> Result<(Vec<Node>, Stop), (usize, String)> {
        let mut nodes = Vec::new();
        while self.index < self.segments.len() {
            let seg_index = self.index;
            self.index += 1;
            let pos = self.segments[seg_index].pos;
            let Some(tokens) = self.segments[seg_index].action.clone() else {
                nodes.push(Node::Text(self.segments[seg_index].text.clone()));
                continue;
            };
            let keyword = match tokens.first() {
                Some((Tok::Ident(k), _)) => k.clone(),
                None => return self.fail(pos, "missing value for command"),
                _ => String::new(),
            };
            let rest = tokens[1.min(tokens.len())..].to_vec();
            match keyword.as_str() {
                "end" => return Ok((nodes, Stop::End)),
                "else" => return Ok((nodes, Stop::Else(rest, pos))),
                "if" | "range" | "with" => {
                    let node = self.control(&keyword, rest, pos)?;
                    nodes.push(node);
                }
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return self.fail(pos, format!("{{{{{keyword}}}}} outside {{{{range}}}}"));
                    }
                    nodes.push(if keyword == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return self.fail(pos, format!("{keyword} is not supported"));
                }
                _ => {
                    let pipe = self.pipeline(tokens, pos, true)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn control(
        &mut self,
        keyword: &str,
        tokens: Vec<(Tok, usize)>,
        pos: usize,
    ) -> Result<Node, (usize, String)> {
        let mark = self.vars.len();
        let pipe = self.pipeline(tokens, pos, true)?;
        if keyword == "range" {
            self.range_depth += 1;
        }
        let (body, stop) = self.list()?;
        if keyword == "range" {
            self.range_depth -= 1;
        }
        let else_branch = match stop {
            Stop::End => Vec::new(),
            Stop::Eof => return self.fail(self.source.len(), "unexpected EOF"),
            Stop::Else(rest, else_pos) => {
                self.vars.truncate(mark);
                match rest.first() {
                    Some((Tok::Ident(k), _))
                        if (k == "if" || k == "with") && keyword != "range" =>
                    {
                        let k = k.clone();
                        // `else if` / `else with` chain: the nested node consumes the shared `end`.
                        let nested = self.control(&k, rest[1..].to_vec(), else_pos)?;
                        vec![nested]
                    }
                    Some(_) => return self.fail(else_pos, "unexpected token in else"),
                    None => {
                        let (nodes, stop) = self.list()?;
                        match stop {
                            Stop::End => nodes,
                            Stop::Else(..) => {
                                return self.fail(else_pos, "expected end; found {{else}}");
                            }
                            Stop::Eof => return self.fail(self.source.len(), "unexpected EOF"),
                        }
                    }
                }
            }
        };
        self.vars.truncate(mark);
        Ok(match keyword {
            "if" => Node::If(pipe, body, else_branch),
            "range" => Node::Range(pipe, body, else_branch),
            _ => Node::With(pipe, body, else_branch),
        })
    }

    fn pipeline(
        &mut self,
        tokens: Vec<(Tok, usize)>,
        pos: usize,
        allow_decl: bool,
    ) -> Result<Pipe, (usize, String)> {
        let mut tokens = tokens.as_slice();
        let mut decl = Vec::new();
        let mut assign = false;
        if allow_decl {
            // `$x :=`, `$x =`, `$i, $e :=`
            let mut k = 0;
            let mut names = Vec::new();
            while let Some((Tok::Var(name, chain), _)) = tokens.get(k) {
                if !chain.is_empty() {
                    break;
                }
                names.push(name.clone());
                match tokens.get(k + 1) {
                    Some((Tok::Comma, _)) => k += 2,
                    Some((Tok::Declare, _)) => {
                        decl = names.clone();
                        tokens = &tokens[k + 2..];
                        break;
                    }
                    Some((Tok::Assign, _)) => {
                        decl = names.clone();
                        assign = true;
                        tokens = &tokens[k + 2..];
                        break;
                    }
                    _ => break,
                }
            }
            if decl.len() > 2 {
                return self.fail(pos, "too many declarations in command");
            }
            for name in &decl {
                if assign {
                    if !self.vars.contains(name) {
                        return self.fail(pos, format!("undefined variable {name:?}"));
                    }
                } else {
                    self.vars.push(name.clone());
                }
            }
        }
        let mut cmds = Vec::new();
        let mut current: Vec<Arg> = Vec::new();
        let mut cmd_pos = tokens.first().map(|(_, p)| *p).unwrap_or(pos);
        let mut i = 0;
        while i < tokens.len() {
            let (tok, tpos) = &tokens[i];
            i += 1;
            let arg = match tok {
                Tok::Pipe => {
                    if current.is_empty() {
                        return self.fail(*tpos, "missing command");
                    }
                    cmds.push(self.cmd(std::mem::take(&mut current), cmd_pos));
                    cmd_pos = tokens.get(i).map(|(_, p)| *p).unwrap_or(*tpos);
                    continue;
                }
                Tok::Dot => Arg::Dot,
                Tok::Field(chain) => Arg::Field(chain.clone()),
                Tok::Var(name, chain) => {
                    if !self.vars.contains(name) {
                        return self.fail(*tpos, format!("undefined variable {name:?}"));
                    }
                    Arg::Var(name.clone(), chain.clone())
                }
                Tok::Lit(v) => Arg::Lit(v.clone()),
                Tok::Ident(name) => {
                    if !funcs::exists(name) {
                        return self.fail(*tpos, format!("function {name:?} not defined"));
                    }
                    Arg::Func(name.clone())
                }
                Tok::LParen => {
                    let mut depth = 1;
                    let start = i;
                    let mut chain = Vec::new();
                    while i < tokens.len() {
                        match &tokens[i].0 {
                            Tok::LParen => depth += 1,
                            Tok::RParen(c) => {
                                depth -= 1;
                                if depth == 0 {
                                    chain = c.clone();
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    if depth != 0 {
                        return self.fail(*tpos, "unclosed left paren");
                    }
                    let inner = tokens[start..i].to_vec();
                    i += 1;
                    let inner_pipe = self.pipeline(inner, *tpos, false)?;
                    Arg::Pipe(Box::new(inner_pipe), chain)
                }
                Tok::RParen(_) => return self.fail(*tpos, "unexpected right paren"),
                Tok::Declare | Tok::Assign | Tok::Comma => {
                    return self.fail(*tpos, "unexpected token in operand");
                }
            };
            current.push(arg);
        }
        if current.is_empty() {
            if cmds.is_empty() {
                return self.fail(pos, "missing value for command");
            }
            return self.fail(pos, "missing command");
        }
        cmds.push(self.cmd(current, cmd_pos));
        for cmd in &cmds {
            if cmd.args.len() > 1 && !matches!(cmd.args[0], Arg::Func(_)) {
                return self.fail(
                    cmd.pos,
                    format!("can't give argument to non-function {}", cmd.text),
                );
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn cmd(&self, args: Vec<Arg>, pos: usize) -> Cmd {
        let text = command_text(&args);
        Cmd { args, pos, text }
    }
}

fn chain_text(chain: &[String]) -> String {
    chain.iter().map(|c| format!(".{c}")).collect()
}

fn arg_text(arg: &Arg) -> String {
    match arg {
        Arg::Dot => ".".into(),
        Arg::Field(chain) => chain_text(chain),
        Arg::Var(name, chain) => format!("{name}{}", chain_text(chain)),
        Arg::Func(name) => name.clone(),
        Arg::Lit(Value::Str(s)) => format!("{s:?}"),
        Arg::Lit(Value::Nil) => "nil".into(),
        Arg::Lit(v) => v.to_string(),
        Arg::Pipe(pipe, chain) => {
            let inner: Vec<String> = pipe.cmds.iter().map(|c| c.text.clone()).collect();
            format!("({}){}", inner.join(" | "), chain_text(chain))
        }
    }
}

fn command_text(args: &[Arg]) -> String {
    args.iter().map(arg_text).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Execution

/// What an expansion can see besides its data: the query function and the evaluation time.
pub struct Context<'a> {
    /// Runs `query "..."`; `None` makes `query` fail.
    pub query: Option<&'a QueryFn<'a>>,
    /// The evaluation time in milliseconds (for `now`).
    pub now_ms: i64,
    /// The external URL (`externalURL`, `pathPrefix`, `graphLink`).
    pub external_url: &'a str,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a, 'c> {
    template: &'a Template,
    ctx: &'a Context<'c>,
    vars: Vec<(String, Value)>,
    out: String,
}

type ExecResult<T> = Result<T, ExecError>;

impl Exec<'_, '_> {
    fn error(&self, pos: usize, node: &str, message: impl Into<String>) -> ExecError {
        let source = &self.template.source;
        let pos = pos.min(source.len());
        let line_start = source[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
        ExecError {
            name: self.template.name.clone(),
            line: line_of(source, pos),
            col: pos - line_start,
            node: node.to_string(),
            message: message.into(),
        }
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> ExecResult<Flow> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipe(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        self.print(&value);
                    }
                }
                Node::If(pipe, then, otherwise) | Node::With(pipe, then, otherwise) => {
                    let mark = self.vars.len();
                    let value = self.pipe(pipe, dot)?;
                    let flow = if value.truth() {
                        let inner_dot = if matches!(node, Node::With(..)) {
                            value
                        } else {
                            dot.clone()
                        };
                        self.walk(then, &inner_dot)?
                    } else {
                        self.walk(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(pipe, body, otherwise) => {
                    let mark = self.vars.len();
                    let decl = pipe.decl.clone();
                    let plain = Pipe {
                        decl: Vec::new(),
                        assign: false,
                        cmds: pipe.cmds.clone(),
                    };
                    let value = self.pipe(&plain, dot)?;
                    let items: Vec<(Value, Value)> = match value {
                        Value::List(items) => items
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (Value::Int(i as i64), v))
                            .collect(),
                        Value::Map(map, _) => {
                            map.into_iter().map(|(k, v)| (Value::Str(k), v)).collect()
                        }
                        Value::Int(n) => (0..n.max(0))
                            .map(|i| (Value::Int(i), Value::Int(i)))
                            .collect(),
                        Value::Nil => Vec::new(),
                        other => {
                            let at = pipe
                                .cmds
                                .first()
                                .map(|c| (c.pos, c.text.clone()))
                                .unwrap_or_default();
                            return Err(self.error(
                                at.0,
                                &at.1,
                                format!("range can't iterate over {other}"),
                            ));
                        }
                    };
                    if items.is_empty() {
                        self.walk(otherwise, dot)?;
                    }
                    for (key, elem) in items {
                        let inner = self.vars.len();
                        match decl.len() {
                            1 => self.vars.push((decl[0].clone(), elem.clone())),
                            2 => {
                                self.vars.push((decl[0].clone(), key));
                                self.vars.push((decl[1].clone(), elem.clone()));
                            }
                            _ => {}
                        }
                        let flow = self.walk(body, &elem)?;
                        self.vars.truncate(inner);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, value: &Value) {
        match value {
            Value::Nil => self.out.push_str("<no value>"),
            other => self.out.push_str(&other.to_string()),
        }
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> ExecResult<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        if pipe.assign {
            for name in &pipe.decl {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            }
        } else {
            for name in &pipe.decl {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn var(&self, name: &str) -> Value {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Nil)
    }

    fn field(&self, base: Value, chain: &[String], cmd: &Cmd) -> ExecResult<Value> {
        let mut value = base;
        for name in chain {
            value = match value {
                Value::Map(map, missing) => map.get(name).cloned().unwrap_or(*missing),
                Value::Sample(labels, v) => match name.as_str() {
                    "Labels" => Value::string_map(&labels),
                    "Value" => Value::Float(v),
                    _ => {
                        return Err(self.error(
                            cmd.pos,
                            &cmd.text,
                            format!("can't evaluate field {name} in type *template.sample"),
                        ));
                    }
                },
                Value::Nil => {
                    return Err(self.error(
                        cmd.pos,
                        &cmd.text,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    return Err(self.error(
                        cmd.pos,
                        &cmd.text,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(value)
    }

    fn arg(&mut self, arg: &Arg, dot: &Value, cmd: &Cmd) -> ExecResult<Value> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Field(chain) => self.field(dot.clone(), chain, cmd),
            Arg::Var(name, chain) => {
                let base = self.var(name);
                self.field(base, chain, cmd)
            }
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Func(name) => self.call(name, Vec::new(), cmd),
            Arg::Pipe(pipe, chain) => {
                let value = self.pipe(pipe, dot)?;
                self.field(value, chain, cmd)
            }
        }
    }

    fn command(&mut self, cmd: &Cmd, dot: &Value, previous: Option<Value>) -> ExecResult<Value> {
        if let Some(Arg::Func(name)) = cmd.args.first() {
            if name == "and" || name == "or" {
                return self.and_or(name == "and", cmd, dot, previous);
            }
            let mut args = Vec::with_capacity(cmd.args.len());
            for arg in &cmd.args[1..] {
                args.push(self.arg(arg, dot, cmd)?);
            }
            if let Some(prev) = previous {
                args.push(prev);
            }
            return self.call(name, args, cmd);
        }
        if previous.is_some() {
            return Err(self.error(
                cmd.pos,
                &cmd.text,
                format!("can't give argument to non-function {}", cmd.text),
            ));
        }
        match cmd.args.first() {
            Some(arg) => self.arg(arg, dot, cmd),
            None => Ok(Value::Nil),
        }
    }

    fn and_or(
        &mut self,
        is_and: bool,
        cmd: &Cmd,
        dot: &Value,
        previous: Option<Value>,
    ) -> ExecResult<Value> {
        let name = if is_and { "and" } else { "or" };
        let count = cmd.args.len() - 1 + usize::from(previous.is_some());
        if count == 0 {
            return Err(self.error(
                cmd.pos,
                &cmd.text,
                format!("wrong number of args for {name}: want at least 1 got 0"),
            ));
        }
        let mut last = Value::Nil;
        for arg in &cmd.args[1..] {
            last = self.arg(arg, dot, cmd)?;
            if last.truth() != is_and {
                return Ok(last);
            }
        }
        if let Some(prev) = previous {
            last = prev;
        }
        Ok(last)
    }

    fn call(&mut self, name: &str, args: Vec<Value>, cmd: &Cmd) -> ExecResult<Value> {
        funcs::call(name, args, self.ctx).map_err(|message| {
            let message = match message {
                funcs::CallError::Plain(m) => m,
                funcs::CallError::Calling(m) => format!("error calling {name}: {m}"),
            };
            self.error(cmd.pos, &cmd.text, message)
        })
    }
}

impl Template {
    /// Parses `source` under `name` (the name appears in error messages).
    pub fn parse(name: &str, source: &str) -> Result<Template, ParseError> {
        let to_error = |(pos, message): (usize, String)| ParseError {
            name: name.to_string(),
            line: line_of(source, pos),
            message,
        };
        let segments = segments(source).map_err(to_error)?;
        let mut parser = Parser {
            source,
            segments,
            index: 0,
            vars: vec!["$".to_string()],
            range_depth: 0,
        };
        let (nodes, stop) = parser.list().map_err(to_error)?;
        match stop {
            Stop::Eof => {}
            Stop::End => {
                return Err(to_error((source.len(), "unexpected {{end}}".into())));
            }
            Stop::Else(_, pos) => return Err(to_error((pos, "unexpected {{else}}".into()))),
        }
        Ok(Template {
            name: name.to_string(),
            source: source.to_string(),
            nodes,
        })
    }

    /// Executes the template with `data` as dot and `$`.
    pub fn execute(&self, data: &Value, ctx: &Context<'_>) -> Result<String, ExecError> {
        let mut exec = Exec {
            template: self,
            ctx,
            vars: vec![("$".to_string(), data.clone())],
            out: String::new(),
        };
        exec.walk(&self.nodes, data)?;
        Ok(exec.out)
    }
}

/// What an alert template sees (Prometheus' prelude defines `$labels`, `$externalLabels`,
/// `$externalURL` and `$value` from these).
pub struct AlertData<'a> {
    /// The alert's labels.
    pub labels: &'a BTreeMap<String, String>,
    /// External labels of this server.
    pub external_labels: &'a BTreeMap<String, String>,
    /// External URL of this server.
    pub external_url: &'a str,
    /// The alert's sample value.
    pub value: f64,
}

/// The variable definitions Prometheus puts in front of every alert template.
pub const ALERT_PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Parses an alert label or annotation template as Prometheus does (with its prelude).
pub fn parse_alert_template(rule_name: &str, text: &str) -> Result<Template, ParseError> {
    Template::parse(
        &format!("__alert_{rule_name}"),
        &format!("{ALERT_PRELUDE}{text}"),
    )
}

/// Expands an alert label or annotation; errors become Prometheus' `<error expanding template: ...>` text.
pub fn expand_alert_template(
    rule_name: &str,
    text: &str,
    data: &AlertData<'_>,
    ctx: &Context<'_>,
) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    let name = format!("__alert_{rule_name}");
    let template = match parse_alert_template(rule_name, text) {
        Ok(t) => t,
        Err(err) => {
            return format!("<error expanding template: error parsing template {name}: {err}>");
        }
    };
    let mut root = BTreeMap::new();
    root.insert("Labels".to_string(), Value::string_map(data.labels));
    root.insert(
        "ExternalLabels".to_string(),
        Value::string_map(data.external_labels),
    );
    root.insert(
        "ExternalURL".to_string(),
        Value::Str(data.external_url.to_string()),
    );
    root.insert("Value".to_string(), Value::Float(data.value));
    let root = Value::Map(root, Box::new(Value::Nil));
    match template.execute(&root, ctx) {
        Ok(text) => text,
        Err(err) => format!("<error expanding template: error executing template {name}: {err}>"),
    }
}

#[cfg(test)]
mod tests;
