//! A subset of Go's `text/template` for `line_format` and `label_format`.
//!
//! Supported: text, `{{ pipeline }}` actions with `{{-`/`-}}` trimming and comments,
//! field access `.name` (labels; missing labels are empty), literals, function calls with
//! `|` pipelines and parenthesised sub-pipelines, `if`/`else if`/`else`/`end`,
//! `with`/`else with`/`else`, `range` (over the label map `.`, in key order as Go ranges
//! over maps, and over integers) with `$k, $v :=` variables, `break` and `continue`,
//! variables (`$x := ...`, `$x = ...`, `$`, `$x.field`), and the functions listed in
//! [`FUNCTIONS`]. `define`, `template` and `block` are not: a line template has no
//! other templates to call. Loops are bounded ([`MAX_ITERATIONS`]) so no template hangs a query.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use regex::Regex;

/// Function names the templates accept.
pub(crate) const FUNCTIONS: &[&str] = &[
    "ToUpper",
    "ToLower",
    "upper",
    "lower",
    "Title",
    "title",
    "trunc",
    "substr",
    "replace",
    "Replace",
    "trim",
    "Trim",
    "trimAll",
    "TrimSpace",
    "trimPrefix",
    "trimSuffix",
    "TrimPrefix",
    "TrimSuffix",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "default",
    "printf",
    "print",
    "len",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "repeat",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "toDateInZone",
    "toDate",
    "date",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "count",
    "alignLeft",
    "alignRight",
    "__line__",
    "__timestamp__",
];

/// Most loop iterations one execution may run (over all `range`s).
pub(crate) const MAX_ITERATIONS: usize = 10_000;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        value: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        /// `$v` or `$k, $v` declared by the range (empty: none).
        vars: Vec<String>,
        over: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ $x := pipeline }}` (declare) or `{{ $x = pipeline }}` (assign); prints nothing.
    Set {
        name: String,
        value: Pipeline,
        declare: bool,
    },
    Break,
    Continue,
}

type Pipeline = Vec<Command>;

#[derive(Debug, Clone)]
struct Command {
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    Dot,
    Field(String),
    /// `$name` (or `$` alone) with field accesses after it.
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Pipeline),
}

/// A value during template execution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TVal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(DateTime<FixedOffset>),
    /// The label map (`.` at the top level), sorted by name.
    Map(Vec<(String, String)>),
    Nil,
}

impl TVal {
    fn render(&self) -> String {
        match self {
            TVal::Str(s) => s.clone(),
            TVal::Int(i) => i.to_string(),
            TVal::Float(f) => go_float(*f),
            TVal::Bool(b) => b.to_string(),
            TVal::Time(t) => t.format("%Y-%m-%d %H:%M:%S%.f %z").to_string(),
            TVal::Map(pairs) => {
                // Go's %v of a map: map[k1:v1 k2:v2].
                let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", inner.join(" "))
            }
            TVal::Nil => "<no value>".to_string(),
        }
    }
    fn truthy(&self) -> bool {
        match self {
            TVal::Str(s) => !s.is_empty(),
            TVal::Int(i) => *i != 0,
            TVal::Float(f) => *f != 0.0,
            TVal::Bool(b) => *b,
            TVal::Time(_) => true,
            TVal::Map(pairs) => !pairs.is_empty(),
            TVal::Nil => false,
        }
    }
    fn type_name(&self) -> &'static str {
        match self {
            TVal::Str(_) => "string",
            TVal::Int(_) => "int",
            TVal::Float(_) => "float64",
            TVal::Bool(_) => "bool",
            TVal::Time(_) => "time.Time",
            TVal::Map(_) => "map[string]string",
            TVal::Nil => "nil",
        }
    }
    fn as_str(&self) -> String {
        match self {
            TVal::Nil => String::new(),
            other => other.render(),
        }
    }
    fn as_int(&self) -> Result<i64, String> {
        match self {
            TVal::Int(i) => Ok(*i),
            TVal::Float(f) => Ok(*f as i64),
            TVal::Bool(b) => Ok(*b as i64),
            TVal::Str(s) => {
                let t = s.trim();
                t.parse::<i64>()
                    .or_else(|_| t.parse::<f64>().map(|f| f as i64))
                    .map_err(|_| format!("cannot convert {s:?} to int"))
            }
            TVal::Time(t) => Ok(t.timestamp()),
            TVal::Map(_) => Err("cannot convert a map to int".to_string()),
            TVal::Nil => Ok(0),
        }
    }
    fn as_float(&self) -> Result<f64, String> {
        match self {
            TVal::Int(i) => Ok(*i as f64),
            TVal::Float(f) => Ok(*f),
            TVal::Bool(b) => Ok(*b as i64 as f64),
            TVal::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("cannot convert {s:?} to float")),
            TVal::Time(t) => Ok(t.timestamp() as f64),
            TVal::Map(_) => Err("cannot convert a map to float".to_string()),
            TVal::Nil => Ok(0.0),
        }
    }
}

/// Go's `%v` for floats: shortest representation, exponent form for large/small magnitudes.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust: 1e21 / 1.5e-5; Go: 1e+21 / 1.5e-05
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{f}")
}

/// What a template can read: labels, the current line and timestamp.
pub(crate) struct TemplateData<'a> {
    pub(crate) get: &'a dyn Fn(&str) -> Option<String>,
    /// Every label, sorted by name (only called when a template uses `.` as a whole).
    pub(crate) labels: &'a dyn Fn() -> Vec<(String, String)>,
    pub(crate) line: &'a str,
    pub(crate) ts_ns: i64,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
    /// True when the template has no actions (plain text).
    literal: Option<String>,
}

impl Template {
    /// Compiles a template; unknown functions and malformed actions are errors.
    pub(crate) fn parse(src: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        split_actions(src, &mut items)?;
        let mut pos = 0;
        let (nodes, end) = build(&items, &mut pos)?;
        if let Some(end) = end {
            return Err(format!("unexpected {{{{{end}}}}}"));
        }
        let literal = match nodes.as_slice() {
            [] => Some(String::new()),
            [Node::Text(t)] => Some(t.clone()),
            _ => None,
        };
        Ok(Self { nodes, literal })
    }

    pub(crate) fn execute(&self, data: &TemplateData<'_>) -> Result<String, String> {
        if let Some(l) = &self.literal {
            return Ok(l.clone());
        }
        let mut out = String::new();
        let mut ctx = Ctx {
            data,
            vars: Vec::new(),
            iterations: 0,
        };
        exec_nodes(&self.nodes, &mut ctx, &Dot::Root, &mut out)?;
        Ok(out)
    }
}

enum Item {
    Text(String),
    Action(String),
}

fn split_actions(src: &str, out: &mut Vec<Item>) -> Result<(), String> {
    let mut rest = src;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end().to_string();
        }
        if !text.is_empty() {
            out.push(Item::Text(text));
        }
        let body_start = if trim_left { 1 } else { 0 };
        let end = find_action_end(after).ok_or_else(|| "unclosed action".to_string())?;
        let mut body = &after[body_start..end];
        trim_next_text = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next_text = true;
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            out.push(Item::Action(body.to_string()));
        }
        rest = &after[end + 2..];
    }
    let mut text = rest.to_string();
    if trim_next_text {
        text = text.trim_start().to_string();
    }
    if !text.is_empty() {
        out.push(Item::Text(text));
    }
    Ok(())
}

/// Finds the `}}` closing an action, skipping string literals.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Builds nodes until `end`/`else`; returns the terminating keyword text if any.
fn build(items: &[Item], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let item = &items[*pos];
        *pos += 1;
        match item {
            Item::Text(t) => nodes.push(Node::Text(t.clone())),
            Item::Action(a) => {
                let word = a.split_whitespace().next().unwrap_or("");
                match word {
                    "end" => return Ok((nodes, Some("end".to_string()))),
                    "else" => return Ok((nodes, Some(a.clone()))),
                    "if" => nodes.push(build_if(&a[2..], items, pos)?),
                    "with" => nodes.push(build_with(&a[4..], items, pos)?),
                    "range" => nodes.push(build_range(&a[5..], items, pos)?),
                    "break" | "continue" if a.trim() == word => {
                        nodes.push(if word == "break" {
                            Node::Break
                        } else {
                            Node::Continue
                        });
                    }
                    "define" | "template" | "block" => {
                        return Err(format!("{word} is not supported"));
                    }
                    _ => nodes.push(match split_declaration(a)? {
                        Some((mut names, declare, rest)) => {
                            if names.len() != 1 {
                                return Err("too many declarations in action".to_string());
                            }
                            Node::Set {
                                name: names.remove(0),
                                value: parse_pipeline(rest)?,
                                declare,
                            }
                        }
                        None => Node::Action(parse_pipeline(a)?),
                    }),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn build_if(cond: &str, items: &[Item], pos: &mut usize) -> Result<Node, String> {
    let cond = parse_pipeline(cond)?;
    let (then, end) = build(items, pos)?;
    let otherwise = build_else(end, "if", items, pos, build_if)?;
    Ok(Node::If {
        cond,
        then,
        otherwise,
    })
}

/// Variables declared (`:=`, `declare` true) or assigned (`=`) by an action, and the
/// pipeline text after the operator.
type Declaration<'a> = (Vec<String>, bool, &'a str);

/// Splits `$a, $b := rest` / `$a = rest` off an action; `None` when it declares nothing.
fn split_declaration(src: &str) -> Result<Option<Declaration<'_>>, String> {
    let trimmed = src.trim_start();
    if !trimmed.starts_with('$') {
        return Ok(None);
    }
    let (head, rest, declare) = if let Some(i) = trimmed.find(":=") {
        (&trimmed[..i], &trimmed[i + 2..], true)
    } else if let Some(i) = trimmed.find('=') {
        // `=` inside a later string literal is not an assignment, but then the head is
        // not a plain list of variables either and is rejected as a declaration below.
        (&trimmed[..i], &trimmed[i + 1..], false)
    } else {
        return Ok(None);
    };
    let names: Vec<&str> = head.split(',').map(str::trim).collect();
    let plain = names.iter().all(|n| {
        n.len() > 1 && n.starts_with('$') && n[1..].chars().all(|c| c.is_alphanumeric() || c == '_')
    });
    if !plain {
        return Ok(None);
    }
    if names.len() > 2 {
        return Err("too many declarations in range".to_string());
    }
    Ok(Some((
        names.into_iter().map(str::to_string).collect(),
        declare,
        rest,
    )))
}

/// The branch after `{{else ...}}` of `if`/`with`/`range`: `else` alone, or a chained
/// `else <keyword> ...` built by `chain`.
fn build_else(
    end: Option<String>,
    keyword: &str,
    items: &[Item],
    pos: &mut usize,
    chain: fn(&str, &[Item], &mut usize) -> Result<Node, String>,
) -> Result<Vec<Node>, String> {
    match end.as_deref() {
        Some("end") => Ok(Vec::new()),
        Some(e) if e.starts_with("else") => {
            let rest = e["else".len()..].trim();
            if let Some(c) = rest.strip_prefix(keyword).filter(|_| !keyword.is_empty()) {
                Ok(vec![chain(c, items, pos)?])
            } else if rest.is_empty() {
                let (other, end) = build(items, pos)?;
                if end.as_deref() != Some("end") {
                    return Err("missing {{end}}".to_string());
                }
                Ok(other)
            } else {
                Err(format!("unexpected {e:?}"))
            }
        }
        _ => Err("missing {{end}}".to_string()),
    }
}

fn build_with(value: &str, items: &[Item], pos: &mut usize) -> Result<Node, String> {
    if split_declaration(value)?.is_some() {
        return Err("variable declarations in with are not supported".to_string());
    }
    let value = parse_pipeline(value)?;
    let (then, end) = build(items, pos)?;
    let otherwise = build_else(end, "with", items, pos, build_with)?;
    Ok(Node::With {
        value,
        then,
        otherwise,
    })
}

fn build_range(src: &str, items: &[Item], pos: &mut usize) -> Result<Node, String> {
    let (vars, over) = match split_declaration(src)? {
        Some((_, false, _)) => return Err("range can only declare variables with :=".to_string()),
        Some((vars, true, rest)) => (vars, parse_pipeline(rest)?),
        None => (Vec::new(), parse_pipeline(src)?),
    };
    let (body, end) = build(items, pos)?;
    let otherwise = build_else(end, "", items, pos, build_range)?;
    Ok(Node::Range {
        vars,
        over,
        body,
        otherwise,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum TTok {
    Pipe,
    Open,
    Close,
    Word(String),
    Str(String),
    Num(String),
}

fn lex_action(s: &str) -> Result<Vec<TTok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(TTok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(TTok::Open);
                i += 1;
            }
            ')' => {
                out.push(TTok::Close);
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("unterminated quoted string".to_string());
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().ok_or("unterminated quoted string")?;
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                other => return Err(format!("invalid escape \\{other}")),
                            });
                        }
                        c => v.push(c),
                    }
                }
                out.push(TTok::Str(v));
            }
            '`' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("unterminated raw quoted string".to_string());
                    };
                    i += 1;
                    if c == '`' {
                        break;
                    }
                    v.push(c);
                }
                out.push(TTok::Str(v));
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
                {
                    i += 1;
                }
                out.push(TTok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '$' => {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                {
                    i += 1;
                }
                out.push(TTok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(out)
}

fn parse_pipeline(src: &str) -> Result<Pipeline, String> {
    let toks = lex_action(src)?;
    if toks.iter().filter(|t| **t == TTok::Open).count() > 64 {
        return Err("action nested too deeply".to_string());
    }
    let mut pos = 0;
    let p = parse_pipe_toks(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(format!("unexpected {:?} in action", toks[pos]));
    }
    Ok(p)
}

fn parse_pipe_toks(toks: &[TTok], pos: &mut usize) -> Result<Pipeline, String> {
    let mut cmds = Vec::new();
    loop {
        let mut args = Vec::new();
        while let Some(t) = toks.get(*pos) {
            match t {
                TTok::Pipe | TTok::Close => break,
                TTok::Open => {
                    *pos += 1;
                    let sub = parse_pipe_toks(toks, pos)?;
                    if toks.get(*pos) != Some(&TTok::Close) {
                        return Err("unclosed left paren".to_string());
                    }
                    *pos += 1;
                    args.push(Arg::Sub(sub));
                }
                TTok::Str(s) => {
                    args.push(Arg::Str(s.clone()));
                    *pos += 1;
                }
                TTok::Num(n) => {
                    args.push(if let Ok(i) = n.parse::<i64>() {
                        Arg::Int(i)
                    } else {
                        Arg::Float(
                            n.parse::<f64>()
                                .map_err(|_| format!("bad number syntax: {n:?}"))?,
                        )
                    });
                    *pos += 1;
                }
                TTok::Word(w) => {
                    *pos += 1;
                    args.push(match w.as_str() {
                        "." => Arg::Dot,
                        "true" => Arg::Bool(true),
                        "false" => Arg::Bool(false),
                        "nil" => Arg::Nil,
                        w if w.starts_with('.') => {
                            let name = &w[1..];
                            if name.contains('.') {
                                return Err(format!("nested field access {w} is not supported"));
                            }
                            Arg::Field(name.to_string())
                        }
                        w if w.starts_with('$') => {
                            let mut parts = w.split('.');
                            let name = parts.next().unwrap_or("$").to_string();
                            let fields: Vec<String> = parts.map(str::to_string).collect();
                            if fields.iter().any(String::is_empty) {
                                return Err(format!("bad field access {w}"));
                            }
                            if name.len() > 1
                                && !name[1..].chars().all(|c| c.is_alphanumeric() || c == '_')
                            {
                                return Err(format!("bad variable name {name}"));
                            }
                            Arg::Var(name, fields)
                        }
                        w if FUNCTIONS.contains(&w) => Arg::Func(w.to_string()),
                        w => return Err(format!("function {w:?} not defined")),
                    });
                }
            }
        }
        if args.is_empty() {
            return Err("missing value for command".to_string());
        }
        cmds.push(Command { args });
        if toks.get(*pos) == Some(&TTok::Pipe) {
            *pos += 1;
        } else {
            return Ok(cmds);
        }
    }
}

/// The value of `.`: the entry's labels at the top level (read lazily, one label at a
/// time), or a value set by `with`/`range`.
#[derive(Debug, Clone)]
enum Dot {
    Root,
    Val(TVal),
}

/// Execution state: the data, variables in scope (innermost last), the loop budget.
struct Ctx<'a, 'b> {
    data: &'b TemplateData<'a>,
    vars: Vec<(String, Dot)>,
    iterations: usize,
}

/// How a node list ended: normally, or by `break`/`continue` inside a `range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

fn exec_nodes(
    nodes: &[Node],
    ctx: &mut Ctx<'_, '_>,
    dot: &Dot,
    out: &mut String,
) -> Result<Flow, String> {
    for n in nodes {
        let flow = match n {
            Node::Text(t) => {
                out.push_str(t);
                Flow::Normal
            }
            Node::Action(p) => {
                let v = exec_pipeline(p, ctx, dot)?;
                out.push_str(&v.render());
                Flow::Normal
            }
            Node::Set {
                name,
                value,
                declare,
            } => {
                let v = Dot::Val(exec_pipeline(value, ctx, dot)?);
                if *declare {
                    ctx.vars.push((name.clone(), v));
                } else {
                    let Some(slot) = ctx.vars.iter_mut().rev().find(|(n, _)| n == name) else {
                        return Err(format!("undefined variable: {name}"));
                    };
                    slot.1 = v;
                }
                Flow::Normal
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if exec_pipeline(cond, ctx, dot)?.truthy() {
                    then
                } else {
                    otherwise
                };
                scoped(ctx, |ctx| exec_nodes(branch, ctx, dot, out))?
            }
            Node::With {
                value,
                then,
                otherwise,
            } => {
                let v = exec_pipeline(value, ctx, dot)?;
                if v.truthy() {
                    let inner = Dot::Val(v);
                    scoped(ctx, |ctx| exec_nodes(then, ctx, &inner, out))?
                } else {
                    scoped(ctx, |ctx| exec_nodes(otherwise, ctx, dot, out))?
                }
            }
            Node::Range {
                vars,
                over,
                body,
                otherwise,
            } => exec_range(vars, over, body, otherwise, ctx, dot, out)?,
            Node::Break => Flow::Break,
            Node::Continue => Flow::Continue,
        };
        if flow != Flow::Normal {
            return Ok(flow);
        }
    }
    Ok(Flow::Normal)
}

/// Runs `f` with the variables declared inside it dropped afterwards (Go scopes them to
/// the enclosing control structure).
fn scoped<T>(ctx: &mut Ctx<'_, '_>, f: impl FnOnce(&mut Ctx<'_, '_>) -> T) -> T {
    let depth = ctx.vars.len();
    let result = f(ctx);
    ctx.vars.truncate(depth);
    result
}

fn exec_range(
    vars: &[String],
    over: &Pipeline,
    body: &[Node],
    otherwise: &[Node],
    ctx: &mut Ctx<'_, '_>,
    dot: &Dot,
    out: &mut String,
) -> Result<Flow, String> {
    // (key, element) pairs: map entries in key order, or 0..n for an integer.
    let elements: Vec<(TVal, TVal)> = match exec_pipeline(over, ctx, dot)? {
        TVal::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| (TVal::Str(k), TVal::Str(v)))
            .collect(),
        TVal::Int(n) => {
            let n = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
            if n > MAX_ITERATIONS {
                return Err(format!(
                    "range over {n} exceeds the limit of {MAX_ITERATIONS} iterations"
                ));
            }
            (0..n as i64)
                .map(|i| (TVal::Int(i), TVal::Int(i)))
                .collect()
        }
        TVal::Nil => Vec::new(),
        other => {
            return Err(format!(
                "range can't iterate over {} (type {})",
                other.render(),
                other.type_name()
            ));
        }
    };
    if elements.is_empty() {
        return scoped(ctx, |ctx| exec_nodes(otherwise, ctx, dot, out)).map(|_| Flow::Normal);
    }
    for (key, element) in elements {
        ctx.iterations += 1;
        if ctx.iterations > MAX_ITERATIONS {
            return Err(format!(
                "templates may run at most {MAX_ITERATIONS} loop iterations"
            ));
        }
        let flow = scoped(ctx, |ctx| {
            match vars {
                [v] => ctx.vars.push((v.clone(), Dot::Val(element.clone()))),
                [k, v] => {
                    ctx.vars.push((k.clone(), Dot::Val(key)));
                    ctx.vars.push((v.clone(), Dot::Val(element.clone())));
                }
                _ => {}
            }
            exec_nodes(body, ctx, &Dot::Val(element), out)
        })?;
        if flow == Flow::Break {
            break;
        }
    }
    Ok(Flow::Normal)
}

fn exec_pipeline(p: &Pipeline, ctx: &mut Ctx<'_, '_>, dot: &Dot) -> Result<TVal, String> {
    let mut prev: Option<TVal> = None;
    for cmd in p {
        prev = Some(exec_command(cmd, ctx, dot, prev.take())?);
    }
    Ok(prev.unwrap_or(TVal::Nil))
}

/// The whole value of `dot`.
fn dot_value(dot: &Dot, data: &TemplateData<'_>) -> TVal {
    match dot {
        Dot::Root => TVal::Map((data.labels)()),
        Dot::Val(v) => v.clone(),
    }
}

/// `.name` on `dot`: a label at the top level, a map entry, or an error for other types.
fn field(dot: &Dot, name: &str, data: &TemplateData<'_>) -> Result<TVal, String> {
    match dot {
        Dot::Root => Ok(TVal::Str((data.get)(name).unwrap_or_default())),
        Dot::Val(TVal::Map(pairs)) => Ok(TVal::Str(
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        )),
        Dot::Val(TVal::Nil) => Ok(TVal::Nil),
        Dot::Val(other) => Err(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        )),
    }
}

fn eval_arg(a: &Arg, ctx: &mut Ctx<'_, '_>, dot: &Dot) -> Result<TVal, String> {
    Ok(match a {
        Arg::Dot => dot_value(dot, ctx.data),
        Arg::Field(f) => field(dot, f, ctx.data)?,
        Arg::Var(name, fields) => {
            let base = if name == "$" {
                Dot::Root
            } else {
                ctx.vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: {name}"))?
            };
            let mut current = base;
            for f in fields {
                current = Dot::Val(field(&current, f, ctx.data)?);
            }
            dot_value(&current, ctx.data)
        }
        Arg::Str(s) => TVal::Str(s.clone()),
        Arg::Int(i) => TVal::Int(*i),
        Arg::Float(f) => TVal::Float(*f),
        Arg::Bool(b) => TVal::Bool(*b),
        Arg::Nil => TVal::Nil,
        Arg::Func(name) => call(name, Vec::new(), ctx.data)?,
        Arg::Sub(p) => exec_pipeline(p, ctx, dot)?,
    })
}

fn exec_command(
    cmd: &Command,
    ctx: &mut Ctx<'_, '_>,
    dot: &Dot,
    piped: Option<TVal>,
) -> Result<TVal, String> {
    match &cmd.args[0] {
        Arg::Func(name) => {
            let mut args = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                args.push(eval_arg(a, ctx, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            call(name, args, ctx.data)
        }
        other => {
            if cmd.args.len() > 1 || piped.is_some() {
                return Err("can't give argument to non-function".to_string());
            }
            eval_arg(other, ctx, dot)
        }
    }
}

fn want(name: &str, args: &[TVal], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn substr(s: &str, start: i64, end: i64) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    // sprig: start < 0 → 0; end < 0 or beyond → len.
    let start = start.clamp(0, len);
    let end = if end < 0 || end > len { len } else { end };
    if start >= end {
        return String::new();
    }
    chars[start as usize..end as usize].iter().collect()
}

fn to_time(v: &TVal) -> Result<DateTime<FixedOffset>, String> {
    match v {
        TVal::Time(t) => Ok(*t),
        TVal::Int(i) => Ok(Utc
            .timestamp_opt(*i, 0)
            .single()
            .ok_or("timestamp out of range")?
            .fixed_offset()),
        other => Err(format!("expected a time, got {}", other.render())),
    }
}

/// Converts a Go reference layout (`2006-01-02T15:04:05Z07:00`) to a chrono format string.
fn go_layout(layout: &str) -> String {
    const MAP: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Monday", "%A"),
        ("Z07:00", "%:z"),
        (".000000000", "%.9f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("2006", "%Y"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("PM", "%p"),
        ("pm", "%P"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, ch) in MAP {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(ch);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn format_time(layout: &str, t: &DateTime<FixedOffset>) -> String {
    let fmt = go_layout(layout);
    let mut out = String::new();
    // chrono reports unsupported specifiers as a fmt error; fall back to the raw layout.
    if write!(out, "{}", t.format(&fmt)).is_err() {
        return layout.to_string();
    }
    out
}

fn parse_time(layout: &str, zone: &str, value: &str) -> Result<DateTime<FixedOffset>, String> {
    let fmt = go_layout(layout);
    if let Ok(t) = DateTime::parse_from_str(value, &fmt) {
        return Ok(t);
    }
    let offset = match zone {
        "" | "UTC" | "Local" => FixedOffset::east_opt(0),
        z => {
            let probe = format!("2000-01-01T00:00:00{z}");
            DateTime::parse_from_rfc3339(&probe)
                .ok()
                .map(|d| *d.offset())
        }
    }
    .ok_or_else(|| format!("unknown time zone {zone:?}"))?;
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(value, &fmt) {
        return offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| "ambiguous time".to_string());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(value, &fmt) {
        let naive = date.and_hms_opt(0, 0, 0).ok_or("invalid date")?;
        return offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| "ambiguous time".to_string());
    }
    Err(format!(
        "parsing time {value:?} as {layout:?}: cannot parse"
    ))
}

/// `printf` with Go's common verbs (%s %d %v %f %q %x %t %%), width, precision and `-`/`0` flags.
fn go_printf(fmt: &str, args: &[TVal]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = match verb {
            'd' => match arg.as_int() {
                Ok(i) if !matches!(arg, TVal::Str(_)) => i.to_string(),
                _ => format!("%!d({})", arg.render()),
            },
            'f' | 'F' | 'e' | 'g' => match arg {
                TVal::Int(_) | TVal::Float(_) => {
                    let f = arg.as_float().unwrap_or(0.0);
                    match verb {
                        'e' => format!("{:.*e}", prec.unwrap_or(6), f),
                        'g' => go_float(f),
                        _ => format!("{:.*}", prec.unwrap_or(6), f),
                    }
                }
                _ => format!("%!{verb}({})", arg.render()),
            },
            'q' => format!("{:?}", arg.as_str()),
            'x' => match arg {
                TVal::Int(i) => format!("{i:x}"),
                other => other.as_str().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            't' => arg.render(),
            _ => {
                let s = arg.as_str();
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if left {
                out.push_str(&body);
                out.extend(std::iter::repeat_n(' ', pad));
            } else if zero && matches!(verb, 'd' | 'f') {
                let (sign, digits) = body
                    .strip_prefix('-')
                    .map_or(("", body.as_str()), |d| ("-", d));
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', pad));
                out.push_str(digits);
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    let extra: Vec<String> = args.map(|a| a.render()).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn compare(a: &TVal, b: &TVal) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (TVal::Str(x), TVal::Str(y)) => Ok(x.cmp(y)),
        (TVal::Int(x), TVal::Int(y)) => Ok(x.cmp(y)),
        (TVal::Bool(x), TVal::Bool(y)) => Ok(x.cmp(y)),
        (TVal::Int(_) | TVal::Float(_), TVal::Int(_) | TVal::Float(_)) => a
            .as_float()?
            .partial_cmp(&b.as_float()?)
            .ok_or_else(|| "cannot compare NaN".to_string()),
        _ => Err("incompatible types for comparison".to_string()),
    }
}

fn call(name: &str, args: Vec<TVal>, data: &TemplateData<'_>) -> Result<TVal, String> {
    let s = |i: usize| args.get(i).map(|v| v.as_str()).unwrap_or_default();
    let v = match name {
        "__line__" => TVal::Str(data.line.to_string()),
        "__timestamp__" => {
            let secs = data.ts_ns.div_euclid(1_000_000_000);
            let nanos = data.ts_ns.rem_euclid(1_000_000_000) as u32;
            TVal::Time(
                Utc.timestamp_opt(secs, nanos)
                    .single()
                    .ok_or("timestamp out of range")?
                    .fixed_offset(),
            )
        }
        "ToUpper" | "upper" => {
            want(name, &args, 1)?;
            TVal::Str(s(0).to_uppercase())
        }
        "ToLower" | "lower" => {
            want(name, &args, 1)?;
            TVal::Str(s(0).to_lowercase())
        }
        "Title" | "title" => {
            want(name, &args, 1)?;
            TVal::Str(title(&s(0)))
        }
        "TrimSpace" | "trim" => {
            want(name, &args, 1)?;
            TVal::Str(s(0).trim().to_string())
        }
        "Trim" => {
            want(name, &args, 2)?;
            let cut = s(1);
            TVal::Str(s(0).trim_matches(|c| cut.contains(c)).to_string())
        }
        "trimAll" => {
            want(name, &args, 2)?;
            let cut = s(0);
            TVal::Str(s(1).trim_matches(|c| cut.contains(c)).to_string())
        }
        "trimPrefix" => {
            want(name, &args, 2)?;
            let (p, v) = (s(0), s(1));
            TVal::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trimSuffix" => {
            want(name, &args, 2)?;
            let (p, v) = (s(0), s(1));
            TVal::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "TrimPrefix" => {
            want(name, &args, 2)?;
            let (v, p) = (s(0), s(1));
            TVal::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "TrimSuffix" => {
            want(name, &args, 2)?;
            let (v, p) = (s(0), s(1));
            TVal::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trunc" => {
            want(name, &args, 2)?;
            let n = args[0].as_int()?;
            let v: Vec<char> = s(1).chars().collect();
            let len = v.len() as i64;
            TVal::Str(if n >= 0 {
                v[..n.min(len) as usize].iter().collect()
            } else {
                v[(len + n).max(0) as usize..].iter().collect()
            })
        }
        "substr" => {
            want(name, &args, 3)?;
            TVal::Str(substr(&s(2), args[0].as_int()?, args[1].as_int()?))
        }
        "replace" => {
            want(name, &args, 3)?;
            TVal::Str(s(2).replace(&s(0), &s(1)))
        }
        "Replace" => {
            want(name, &args, 4)?;
            let n = args[3].as_int()?;
            let (v, old, new) = (s(0), s(1), s(2));
            TVal::Str(if n < 0 {
                v.replace(&old, &new)
            } else {
                v.replacen(&old, &new, n as usize)
            })
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(name, &args, 3)?;
            let re = Regex::new(&s(0)).map_err(|e| format!("{name}: {e}"))?;
            let (v, repl) = (s(1), s(2));
            TVal::Str(if name == "regexReplaceAll" {
                re.replace_all(&v, repl.as_str()).into_owned()
            } else {
                re.replace_all(&v, regex::NoExpand(&repl)).into_owned()
            })
        }
        "default" => {
            want(name, &args, 2)?;
            if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf".to_string());
            }
            TVal::Str(go_printf(&s(0), &args[1..]))
        }
        "print" => TVal::Str(args.iter().map(|a| a.render()).collect::<Vec<_>>().join("")),
        "len" => {
            want(name, &args, 1)?;
            TVal::Int(s(0).len() as i64)
        }
        "count" => {
            want(name, &args, 2)?;
            let re = Regex::new(&s(0)).map_err(|e| format!("count: {e}"))?;
            TVal::Int(re.find_iter(&s(1)).count() as i64)
        }
        "contains" => {
            want(name, &args, 2)?;
            TVal::Bool(s(1).contains(&s(0)))
        }
        "hasPrefix" => {
            want(name, &args, 2)?;
            TVal::Bool(s(1).starts_with(&s(0)))
        }
        "hasSuffix" => {
            want(name, &args, 2)?;
            TVal::Bool(s(1).ends_with(&s(0)))
        }
        "indent" | "nindent" => {
            want(name, &args, 2)?;
            let n = args[0].as_int()?.clamp(0, 1 << 16) as usize;
            let pad = " ".repeat(n);
            let body = s(1)
                .split('\n')
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            TVal::Str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "repeat" => {
            want(name, &args, 2)?;
            let n = args[0].as_int()?;
            let v = s(1);
            if n < 0 || (n as u128) * (v.len() as u128) > 1 << 20 {
                return Err("repeat: count out of range".to_string());
            }
            TVal::Str(v.repeat(n as usize))
        }
        "alignLeft" | "alignRight" => {
            want(name, &args, 2)?;
            let n = args[0].as_int()?.clamp(0, 1 << 16) as usize;
            let v: Vec<char> = s(1).chars().collect();
            let out: String = if v.len() >= n {
                v[..n].iter().collect()
            } else if name == "alignLeft" {
                format!(
                    "{}{}",
                    v.iter().collect::<String>(),
                    " ".repeat(n - v.len())
                )
            } else {
                format!(
                    "{}{}",
                    " ".repeat(n - v.len()),
                    v.iter().collect::<String>()
                )
            };
            TVal::Str(out)
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            want(name, &args, 1)?;
            let t = to_time(&args[0])?;
            TVal::Int(match name {
                "unixEpoch" => t.timestamp(),
                "unixEpochMillis" => t.timestamp_millis(),
                _ => t.timestamp_nanos_opt().ok_or("time out of range")?,
            })
        }
        "toDate" => {
            want(name, &args, 2)?;
            TVal::Time(parse_time(&s(0), "", &s(1))?)
        }
        "toDateInZone" => {
            want(name, &args, 3)?;
            TVal::Time(parse_time(&s(0), &s(1), &s(2))?)
        }
        "date" => {
            want(name, &args, 2)?;
            TVal::Str(format_time(&s(0), &to_time(&args[1])?))
        }
        "int" => {
            want(name, &args, 1)?;
            TVal::Int(args[0].as_int().unwrap_or(0))
        }
        "float64" => {
            want(name, &args, 1)?;
            TVal::Float(args[0].as_float().unwrap_or(0.0))
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            want(name, &args, 2)?;
            let (a, b) = (args[0].as_int()?, args[1].as_int()?);
            TVal::Int(match name {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                "div" => a.checked_div(b).ok_or("integer divide by zero")?,
                _ => a.checked_rem(b).ok_or("integer divide by zero")?,
            })
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let ord = compare(&args[0], &args[1])?;
            use std::cmp::Ordering::*;
            TVal::Bool(match name {
                "eq" => ord == Equal,
                "ne" => ord != Equal,
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            })
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil),
        "not" => {
            want(name, &args, 1)?;
            TVal::Bool(!args[0].truthy())
        }
        other => return Err(format!("function {other:?} not defined")),
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, labels: &[(&str, &str)]) -> Result<String, String> {
        let get = |n: &str| {
            labels
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        };
        let all = || {
            let mut pairs: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            pairs.sort();
            pairs
        };
        let tpl = Template::parse(t)?;
        tpl.execute(&TemplateData {
            get: &get,
            labels: &all,
            line: "the line",
            ts_ns: 1_700_000_000_123_000_000,
        })
    }

    #[test]
    fn basics() {
        let l = [("a", "hello world"), ("n", "42")];
        assert_eq!(run("{{.a | ToUpper}}!", &l).unwrap(), "HELLO WORLD!");
        assert_eq!(run("{{ trunc 5 .a }}", &l).unwrap(), "hello");
        assert_eq!(
            run(r#"{{ .missing | default "none" }}"#, &l).unwrap(),
            "none"
        );
        assert_eq!(
            run(r#"{{ printf "%05d|%-4s|" 42 "x" }}"#, &l).unwrap(),
            "00042|x   |"
        );
        assert_eq!(
            run(r#"{{ if eq .n "42" }}yes{{ else }}no{{ end }}"#, &l).unwrap(),
            "yes"
        );
        assert_eq!(
            run(r#"{{ regexReplaceAll "o(\\w)" .a "0$1" }}"#, &l).unwrap(),
            "hello w0rld"
        );
        assert_eq!(run("{{ __line__ }}", &l).unwrap(), "the line");
        assert_eq!(
            run(r#"{{ __timestamp__ | date "2006-01-02 15:04:05" }}"#, &l).unwrap(),
            "2023-11-14 22:13:20"
        );
        assert_eq!(
            run("{{ __timestamp__ | unixEpoch }}", &l).unwrap(),
            "1700000000"
        );
        assert_eq!(run("a {{- \"b\" -}} c", &l).unwrap(), "abc");
        assert!(Template::parse("{{ nope .a }}").is_err());
        assert!(Template::parse("{{ if .a }}x").is_err());
        assert!(run("{{ .a 1 }}", &l).is_err());
    }

    #[test]
    fn range_with_and_variables() {
        let l = [("app", "api"), ("level", "warn"), ("empty", "")];
        // range over the label map, in key order, with key and value variables.
        assert_eq!(
            run("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", &l).unwrap(),
            "app=api;empty=;level=warn;"
        );
        // range with one variable binds the element; `.` is the element too.
        assert_eq!(
            run("{{ range $v := . }}[{{ $v }}|{{ . }}]{{ end }}", &l).unwrap(),
            "[api|api][|][warn|warn]"
        );
        // break, continue, and `$` reaching the labels from inside the loop.
        assert_eq!(
            run(
                "{{ range $k, $v := . }}{{ if eq $k \"empty\" }}{{ continue }}{{ end }}{{ $k }}:{{ $.app }} {{ if eq $k \"level\" }}{{ break }}{{ end }}{{ end }}",
                &l
            )
            .unwrap(),
            "app:api level:api "
        );
        // range over an integer; else for empty ranges.
        assert_eq!(
            run("{{ range $i := 3 }}{{ $i }}{{ end }}", &l).unwrap(),
            "012"
        );
        assert_eq!(
            run("{{ range 0 }}x{{ else }}none{{ end }}", &l).unwrap(),
            "none"
        );
        // with sets dot when the value is non-empty; else with / else otherwise.
        assert_eq!(
            run("{{ with .level }}<{{ . }}>{{ end }}", &l).unwrap(),
            "<warn>"
        );
        assert_eq!(
            run(
                "{{ with .empty }}a{{ else with .app }}b={{ . }}{{ else }}c{{ end }}",
                &l
            )
            .unwrap(),
            "b=api"
        );
        assert_eq!(
            run("{{ with .missing }}a{{ else }}c{{ end }}", &l).unwrap(),
            "c"
        );
        // variables: declare, assign, scope ends with the control structure.
        assert_eq!(
            run("{{ $x := .app }}{{ if true }}{{ $x = \"web\" }}{{ $y := 1 }}{{ end }}{{ $x | ToUpper }}", &l).unwrap(),
            "WEB"
        );
        assert!(
            run("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", &l)
                .unwrap_err()
                .contains("undefined variable: $y")
        );
        assert_eq!(run("{{ $.level }}", &l).unwrap(), "warn");
        // The whole map prints as Go prints a map.
        assert_eq!(
            run("{{ . }}", &[("a", "1"), ("b", "2")]).unwrap(),
            "map[a:1 b:2]"
        );
        // Errors, not hangs or panics.
        assert!(
            run("{{ range 100000000 }}x{{ end }}", &l)
                .unwrap_err()
                .contains("limit")
        );
        assert!(
            run("{{ range .app }}x{{ end }}", &l)
                .unwrap_err()
                .contains("can't iterate")
        );
        assert!(
            run("{{ with .app }}{{ .x }}{{ end }}", &l)
                .unwrap_err()
                .contains("can't evaluate field x in type string")
        );
        assert!(Template::parse("{{ range $a, $b, $c := . }}{{ end }}").is_err());
        assert!(Template::parse("{{ range . }}x").is_err());
        assert!(Template::parse("{{ with }}x{{ end }}").is_err());
        assert!(Template::parse("{{ define \"x\" }}{{ end }}").is_err());
    }
}
