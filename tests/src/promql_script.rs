//! A parser for Prometheus' PromQL test-script format (`*.test`, described in
//! `../shared/conformance/promql/FORMAT.md`): `clear`, `load`, `eval` commands, their
//! expectations and the series value notation. It parses only; the conformance runner of the
//! PromQL engine executes the parsed script. Native histogram values (`{{...}}`) are kept as
//! their source text for the runner to interpret.

use std::fmt;

use vigil_model::parse_duration_ms;

/// The staleness marker's bit pattern.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A script error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// Line of the offending text.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// One value position of a series line.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// No sample at this position (`_`).
    Omitted,
    /// A float sample (the stale marker is the NaN with bits `0x7ff0000000000002`).
    Float(f64),
    /// A native histogram, as written between `{{` and `}}` (expansions already applied by
    /// repeating the text; `+`/`-` expansions are kept as `Expansion`).
    Histogram(String),
    /// A histogram expansion `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN` left for the runner.
    HistogramExpansion {
        /// The base histogram text.
        base: String,
        /// The increment histogram text.
        step: String,
        /// True for `-`.
        subtract: bool,
        /// N (the expansion yields N+1 values).
        times: usize,
    },
}

/// A series written in selector style with its label pairs (unsorted, as written).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesLine {
    /// Label pairs including `__name__` when a metric name was written.
    pub labels: Vec<(String, String)>,
    /// Value positions.
    pub points: Vec<Point>,
    /// For `@st` lines: true (the points are start-timestamp offsets in ms as floats).
    pub start_timestamps: bool,
}

/// What an eval expects besides its result lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// `expect fail` (with optional `msg:` or `regex:` text).
    pub fail: Option<Option<MessageMatch>>,
    /// `expect warn` lines (None = bare).
    pub warn: Vec<Option<MessageMatch>>,
    /// `expect no_warn`.
    pub no_warn: bool,
    /// `expect info` lines.
    pub info: Vec<Option<MessageMatch>>,
    /// `expect no_info`.
    pub no_info: bool,
    /// `expect ordered`.
    pub ordered: bool,
    /// `expect range vector from .. to .. step ..` in ms.
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string "..."`.
    pub string: Option<String>,
}

/// How an expected message is matched.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageMatch {
    /// `msg: <text>`: exact.
    Exact(String),
    /// `regex: <re>`: unanchored search.
    Regex(String),
}

/// The expected result of an eval.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A scalar value.
    Scalar(f64),
    /// Series (possibly none: the result must be empty).
    Series(Vec<SeriesLine>),
}

/// When an eval runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// `eval instant at <t>` (ms).
    Instant {
        /// Evaluation time, ms since the epoch.
        at_ms: i64,
    },
    /// `eval range from <start> to <end> step <step>` (ms).
    Range {
        /// Start, ms.
        start_ms: i64,
        /// End, ms.
        end_ms: i64,
        /// Step, ms.
        step_ms: i64,
    },
}

/// One eval command.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// Line of the header.
    pub line: usize,
    /// Instant or range.
    pub kind: EvalKind,
    /// The PromQL expression text.
    pub expr: String,
    /// Expectations.
    pub expect: Expectations,
    /// Expected result.
    pub expected: Expected,
}

/// One command of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Drop all data.
    Clear,
    /// Load series at `interval_ms` spacing; `with_nhcb` for `load_with_nhcb`.
    Load {
        /// Spacing of positions, ms.
        interval_ms: i64,
        /// `load_with_nhcb`.
        with_nhcb: bool,
        /// The series lines (including `@st` lines).
        series: Vec<SeriesLine>,
    },
    /// Evaluate and compare.
    Eval(Box<Eval>),
}

fn err(line: usize, message: impl Into<String>) -> ScriptError {
    ScriptError {
        line,
        message: message.into(),
    }
}

fn duration(line: usize, raw: &str) -> Result<i64, ScriptError> {
    parse_duration_ms(raw.trim()).map_err(|e| err(line, e.to_string()))
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<(usize, String)> = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            let trimmed = l.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
            (
                i + 1,
                if trimmed.starts_with('#') {
                    String::new()
                } else {
                    trimmed.to_string()
                },
            )
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].1.is_empty() {
            i += 1;
            continue;
        }
        // `clear` is a one-line command: the next line may start another command at once.
        if lines[i]
            .1
            .split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("clear"))
        {
            commands.push(Command::Clear);
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && !lines[i].1.is_empty() {
            i += 1;
        }
        commands.push(parse_command(&lines[start..i])?);
    }
    Ok(commands)
}

fn parse_command(block: &[(usize, String)]) -> Result<Command, ScriptError> {
    let (line, header) = (&block[0].0, block[0].1.as_str());
    let line = *line;
    let first = header
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    if first == "clear" {
        return Ok(Command::Clear);
    }
    if first.starts_with("load") {
        let with_nhcb = first == "load_with_nhcb";
        if first != "load" && !with_nhcb {
            return Err(err(line, format!("unknown command {first:?}")));
        }
        let interval = header[first.len()..].trim();
        let interval_ms = duration(line, interval)?;
        let series = block[1..]
            .iter()
            .map(|(l, text)| parse_series_line(*l, text))
            .collect::<Result<_, _>>()?;
        return Ok(Command::Load {
            interval_ms,
            with_nhcb,
            series,
        });
    }
    if first.starts_with("eval") {
        return parse_eval(block).map(|e| Command::Eval(Box::new(e)));
    }
    Err(err(line, format!("unknown command {first:?}")))
}

fn parse_eval(block: &[(usize, String)]) -> Result<Eval, ScriptError> {
    let (line, header) = (block[0].0, block[0].1.as_str());
    let (keyword, rest) = header
        .split_once(char::is_whitespace)
        .ok_or_else(|| err(line, "eval without arguments"))?;
    let mut expect = Expectations::default();
    match keyword {
        "eval" => {}
        "eval_fail" => expect.fail = Some(None),
        "eval_warn" => expect.warn.push(None),
        "eval_info" => expect.info.push(None),
        "eval_ordered" => expect.ordered = true,
        other => return Err(err(line, format!("unknown eval variant {other:?}"))),
    }
    let rest = rest.trim_start();
    let (kind, expr) = if let Some(after) = rest.strip_prefix("instant") {
        let after = after.trim_start();
        let after = after
            .strip_prefix("at")
            .ok_or_else(|| err(line, "eval instant needs `at <time>`"))?
            .trim_start();
        let (time, expr) = after
            .split_once(char::is_whitespace)
            .ok_or_else(|| err(line, "eval instant without expression"))?;
        (
            EvalKind::Instant {
                at_ms: duration(line, time)?,
            },
            expr.trim(),
        )
    } else if let Some(after) = rest.strip_prefix("range") {
        let words: Vec<&str> = after.split_whitespace().collect();
        if words.len() < 7 || words[0] != "from" || words[2] != "to" || words[4] != "step" {
            return Err(err(
                line,
                "eval range needs `from <start> to <end> step <step> <expr>`",
            ));
        }
        let (start_ms, end_ms, step_ms) = (
            duration(line, words[1])?,
            duration(line, words[3])?,
            duration(line, words[5])?,
        );
        if end_ms < start_ms {
            return Err(err(line, "eval range end before start"));
        }
        // Skip the six header words in order (a word may reappear inside an
        // earlier one, e.g. `30s` in `1m30s`).
        let mut expr_start = 0;
        for w in &words[..6] {
            expr_start = after[expr_start..]
                .find(w)
                .map_or(after.len(), |p| expr_start + p + w.len());
        }
        let expr = after[expr_start..].trim();
        (
            EvalKind::Range {
                start_ms,
                end_ms,
                step_ms,
            },
            expr,
        )
    } else {
        return Err(err(line, "eval must be `instant` or `range`"));
    };
    let mut series = Vec::new();
    let mut scalar = None;
    for (l, text) in &block[1..] {
        if let Some(directive) = text.strip_prefix("expect ") {
            parse_expect(*l, directive.trim(), &mut expect)?;
            continue;
        }
        if let Some(message) = text.strip_prefix("expected_fail_message ") {
            expect.fail = Some(Some(MessageMatch::Exact(message.trim().to_string())));
            continue;
        }
        if let Some(regex) = text.strip_prefix("expected_fail_regexp ") {
            expect.fail = Some(Some(MessageMatch::Regex(regex.trim().to_string())));
            continue;
        }
        if let Some(value) = parse_number(text) {
            scalar = Some(value);
            continue;
        }
        series.push(parse_series_line(*l, text)?);
    }
    let expected = match scalar {
        Some(value) if series.is_empty() => Expected::Scalar(value),
        Some(_) => return Err(err(line, "scalar and series results mixed")),
        None => Expected::Series(series),
    };
    Ok(Eval {
        line,
        kind,
        expr: expr.to_string(),
        expect,
        expected,
    })
}

fn parse_message(line: usize, rest: &str) -> Result<Option<MessageMatch>, ScriptError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(None);
    }
    if let Some(text) = rest.strip_prefix("msg:") {
        return Ok(Some(MessageMatch::Exact(text.trim().to_string())));
    }
    if let Some(text) = rest.strip_prefix("regex:") {
        return Ok(Some(MessageMatch::Regex(text.trim().to_string())));
    }
    Err(err(
        line,
        format!("expected `msg:` or `regex:`, found {rest:?}"),
    ))
}

fn parse_expect(
    line: usize,
    directive: &str,
    expect: &mut Expectations,
) -> Result<(), ScriptError> {
    let (kind, rest) = directive
        .split_once(char::is_whitespace)
        .unwrap_or((directive, ""));
    match kind {
        "fail" => expect.fail = Some(parse_message(line, rest)?),
        "warn" => expect.warn.push(parse_message(line, rest)?),
        "info" => expect.info.push(parse_message(line, rest)?),
        "no_warn" => expect.no_warn = true,
        "no_info" => expect.no_info = true,
        "ordered" => expect.ordered = true,
        "range" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() != 7
                || words[0] != "vector"
                || words[1] != "from"
                || words[3] != "to"
                || words[5] != "step"
            {
                return Err(err(
                    line,
                    "expected `expect range vector from <start> to <end> step <step>`",
                ));
            }
            expect.range_vector = Some((
                duration(line, words[2])?,
                duration(line, words[4])?,
                duration(line, words[6])?,
            ));
        }
        "string" => {
            let (value, tail) = parse_quoted(rest.trim())
                .ok_or_else(|| err(line, "expect string needs a quoted string"))?;
            if !tail.trim().is_empty() {
                return Err(err(line, "text after expected string"));
            }
            expect.string = Some(value);
        }
        other => return Err(err(line, format!("unknown expectation {other:?}"))),
    }
    if (expect.no_warn && !expect.warn.is_empty()) || (expect.no_info && !expect.info.is_empty()) {
        return Err(err(line, "warn and no_warn (or info and no_info) together"));
    }
    Ok(())
}

/// A single number as the scripts write them (`1`, `-Inf`, `NaN`, `0x1F`, `.8`, `1e100`).
pub fn parse_number(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    let (sign, body) = match raw.as_bytes().first() {
        Some(b'-') => (-1.0, &raw[1..]),
        Some(b'+') => (1.0, &raw[1..]),
        _ => (1.0, raw),
    };
    let lower = body.to_ascii_lowercase();
    let magnitude = match lower.as_str() {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if lower.starts_with("0x") => i64::from_str_radix(&lower[2..], 16).ok()? as f64,
        _ if lower.len() > 1
            && lower.starts_with('0')
            && lower.bytes().all(|b| b.is_ascii_digit()) =>
        {
            i64::from_str_radix(&lower[1..], 8).ok()? as f64
        }
        _ => {
            if !lower
                .bytes()
                .all(|b| b.is_ascii_digit() || b"e.+-".contains(&b))
                || lower.is_empty()
            {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    Some(sign * magnitude)
}

/// Parses a quoted string (`"..."`, `'...'` or backticks, Go-style escapes); returns it and
/// the rest of the input.
fn parse_quoted(input: &str) -> Option<(String, &str)> {
    let quote = input.chars().next()?;
    if !matches!(quote, '"' | '\'' | '`') {
        return None;
    }
    let mut out = String::new();
    let mut chars = input[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Some((out, &input[1 + i + c.len_utf8()..]));
        }
        if c == '\\' && quote != '`' {
            let (_, escaped) = chars.next()?;
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                'x' => {
                    let hex: String = (0..2)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
                }
                'u' => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Label pairs, whether the selector ended in `@st`, and the text after the selector.
type ParsedSelector = (Vec<(String, String)>, bool, String);

/// Parses `name{l="v", ...}` (or `name`, or `{...}`); returns labels and the rest.
fn parse_selector(line: usize, input: &str) -> Result<ParsedSelector, ScriptError> {
    let name_end = input
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(input.len());
    let mut labels = Vec::new();
    if name_end > 0 {
        labels.push(("__name__".to_string(), input[..name_end].to_string()));
    }
    let mut rest = &input[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut body = body.trim_start();
        loop {
            if let Some(after) = body.strip_prefix('}') {
                rest = after;
                break;
            }
            let label_end = body
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .ok_or_else(|| err(line, "unterminated label set"))?;
            let (label, after) = body.split_at(label_end);
            let after = after
                .trim_start()
                .strip_prefix('=')
                .ok_or_else(|| err(line, format!("expected `=` after label {label:?}")))?;
            let (value, after) = parse_quoted(after.trim_start())
                .ok_or_else(|| err(line, format!("bad value for label {label:?}")))?;
            if label == "__name__" {
                labels.retain(|(n, _)| n != "__name__");
            }
            labels.push((label.to_string(), value));
            body = after.trim_start();
            body = body.strip_prefix(',').unwrap_or(body).trim_start();
        }
    }
    let start_timestamps = rest.starts_with("@st");
    if start_timestamps {
        rest = &rest[3..];
    }
    Ok((labels, start_timestamps, rest.to_string()))
}

fn parse_series_line(line: usize, text: &str) -> Result<SeriesLine, ScriptError> {
    let (labels, start_timestamps, rest) = parse_selector(line, text)?;
    let points = parse_values(line, rest.trim(), start_timestamps)?;
    Ok(SeriesLine {
        labels,
        points,
        start_timestamps,
    })
}

/// Splits the value notation into items, keeping `{{ ... }}` (with spaces inside) whole.
fn tokens(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let bytes: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == '{' && bytes.get(i + 1) == Some(&'{') {
            depth += 1;
            current.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && bytes.get(i + 1) == Some(&'}') && depth > 0 {
            depth -= 1;
            current.push_str("}}");
            i += 2;
            continue;
        }
        if c.is_whitespace() && depth == 0 {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
        i += 1;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn scalar_item(line: usize, raw: &str, durations: bool) -> Result<f64, ScriptError> {
    if durations {
        let (sign, body) = match raw.strip_prefix('-') {
            Some(body) => (-1.0, body),
            None => (1.0, raw.strip_prefix('+').unwrap_or(raw)),
        };
        return Ok(sign * duration(line, body)? as f64);
    }
    parse_number(raw).ok_or_else(|| err(line, format!("invalid number {raw:?}")))
}

/// Splits `a+b` / `a-b` at the operator between two operands (signs of `a`, exponents and
/// duration units stay with their operand).
fn split_step(raw: &str) -> Option<(&str, char, &str)> {
    let bytes = raw.as_bytes();
    (1..bytes.len()).find_map(|i| {
        let c = bytes[i] as char;
        let prev = bytes[i - 1] as char;
        ((c == '+' || c == '-') && prev != 'e' && prev != 'E')
            .then(|| (&raw[..i], c, &raw[i + 1..]))
    })
}

fn parse_values(line: usize, input: &str, durations: bool) -> Result<Vec<Point>, ScriptError> {
    let mut points = Vec::new();
    for token in tokens(input) {
        // `0x59` is "0 repeated 59 times" (as upstream reads it); only a
        // token with hex letters after `0x` is a hexadecimal number.
        let is_hex = token
            .trim_start_matches(['-', '+'])
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().any(|b| b.is_ascii_alphabetic()));
        let (item, times) = match token.rsplit_once('x') {
            Some((item, n))
                if !is_hex
                    && !item.is_empty()
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let n: usize = n
                    .parse()
                    .map_err(|_| err(line, format!("bad repetition in {token:?}")))?;
                (item.to_string(), Some(n))
            }
            _ => (token.clone(), None),
        };
        if item == "_" {
            let count = times.unwrap_or(1);
            points.extend(std::iter::repeat_n(Point::Omitted, count));
            continue;
        }
        if item == "stale" {
            points.extend(std::iter::repeat_n(
                Point::Float(f64::from_bits(STALE_NAN_BITS)),
                times.map_or(1, |n| n + 1),
            ));
            continue;
        }
        if item.starts_with("{{") {
            match (item.find("}}+{{").or_else(|| item.find("}}-{{")), times) {
                (Some(split), Some(n)) => {
                    let base = item[2..split].to_string();
                    let subtract = item.as_bytes()[split + 2] == b'-';
                    let step = item[split + 5..item.len() - 2].to_string();
                    points.push(Point::HistogramExpansion {
                        base,
                        step,
                        subtract,
                        times: n,
                    });
                }
                _ => {
                    let body = item
                        .trim_start_matches("{{")
                        .trim_end_matches("}}")
                        .to_string();
                    points.extend(std::iter::repeat_n(
                        Point::Histogram(body),
                        times.map_or(1, |n| n + 1),
                    ));
                }
            }
            continue;
        }
        match (times, split_step(&item)) {
            (Some(n), Some((start, op, step))) => {
                let mut value = scalar_item(line, start, durations)?;
                let step = scalar_item(line, step, durations)? * if op == '-' { -1.0 } else { 1.0 };
                for _ in 0..=n {
                    points.push(Point::Float(value));
                    value += step;
                }
            }
            (Some(n), None) => {
                let value = scalar_item(line, &item, durations)?;
                points.extend(std::iter::repeat_n(Point::Float(value), n + 1));
            }
            (None, _) => points.push(Point::Float(scalar_item(line, &item, durations)?)),
        }
    }
    Ok(points)
}
