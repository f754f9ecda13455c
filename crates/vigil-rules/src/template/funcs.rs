//! Template functions: Go's builtins and the ones Prometheus documents for alert templates.

use std::collections::BTreeMap;

use regex::Regex;

use super::format::{go_float, go_time, sprintf};
use super::{Context, Value};

/// Samples of a template query: (labels, value).
pub type QuerySamples = Vec<(BTreeMap<String, String>, f64)>;

/// Runs an instant query at the evaluation time for `query "..."`.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<QuerySamples, String> + 'a;

/// Why a call failed: Go reports argument-count problems plainly and function errors as
/// `error calling NAME: ...`.
pub(crate) enum CallError {
    Plain(String),
    Calling(String),
}

const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
    "now",
];

pub(crate) fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), CallError> {
    if args.len() != n {
        return Err(CallError::Plain(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn string_arg(value: &Value) -> Result<String, CallError> {
    match value {
        Value::Str(s) => Ok(s.clone()),
        other => Err(CallError::Plain(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

/// Prometheus' `convertToFloat`.
fn to_float(value: &Value) -> Result<f64, CallError> {
    match value {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => parse_go_float(s).ok_or_else(|| {
            CallError::Calling(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
        }),
        other => Err(CallError::Calling(format!(
            "can't convert {} to float",
            other.type_name()
        ))),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

fn sample_of(value: &Value, name: &str) -> Result<(BTreeMap<String, String>, f64), CallError> {
    match value {
        Value::Sample(labels, v) => Ok((labels.clone(), *v)),
        other => Err(CallError::Plain(format!(
            "wrong type for value; expected *template.sample; got {} (in {name})",
            other.type_name()
        ))),
    }
}

fn si_scale(mut v: f64, prefixes_up: &[&str], base: f64, prefixes_down: &[&str]) -> String {
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in prefixes_up {
            if v.abs() < base {
                break;
            }
            prefix = p;
            v /= base;
        }
        return format!("{}{prefix}", go_float(v, Some(4)));
    }
    let mut prefix = "";
    for p in prefixes_down {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", go_float(v, Some(4)))
}

const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_float(v, Some(4));
    }
    si_scale(v, &["k", "M", "G", "T", "P", "E", "Z", "Y"], 1000.0, &SMALL)
}

fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_float(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_float(v, Some(4)))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_float(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_float(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let total = v as i64;
        let seconds = total % 60;
        let minutes = (total / 60) % 60;
        let hours = (total / 3600) % 24;
        let days = total / 86400;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", go_float(v, Some(4)));
    }
    let mut v = v;
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_float(v, Some(4)))
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_is_sep = true;
    for c in s.chars() {
        if prev_is_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_is_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

/// Go's `net.SplitHostPort` host part, or the input when it has no port.
fn strip_port(host_port: &str) -> String {
    if let Some(rest) = host_port.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
        && tail.starts_with(':')
    {
        return host.to_string();
    }
    match host_port.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_string(),
        _ => host_port.to_string(),
    }
}

fn strip_domain(host_port: &str) -> String {
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && !h.starts_with('[') => (h, Some(p)),
        _ => (host_port, None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host_port.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

fn compare(name: &str, a: &Value, b: &Value) -> Result<std::cmp::Ordering, CallError> {
    use std::cmp::Ordering;
    let incompatible = || CallError::Calling("incompatible types for comparison".into());
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if name == "eq" || name == "ne" => Ok(x.cmp(y)),
        (Value::Bool(_), Value::Bool(_)) => {
            Err(CallError::Calling("invalid type for comparison".into()))
        }
        (Value::Nil, _) | (_, Value::Nil) if name == "eq" || name == "ne" => {
            Err(CallError::Calling("invalid type for comparison".into()))
        }
        _ => Err(incompatible()),
    }
}

fn parse_prom_duration_secs(s: &str) -> Result<f64, CallError> {
    vigil_model::parse_duration_ms(s)
        .map(|ms| ms as f64 / 1000.0)
        .map_err(|_| CallError::Calling(format!("not a valid duration string: {s:?}")))
}

pub(crate) fn call(name: &str, args: Vec<Value>, ctx: &Context<'_>) -> Result<Value, CallError> {
    let calling = CallError::Calling;
    match name {
        "not" => {
            want(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "len" => {
            want(name, &args, 1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m, _) => Ok(Value::Int(m.len() as i64)),
                other => Err(calling(format!("len of type {}", other.type_name()))),
            }
        }
        "index" => {
            let mut iter = args.into_iter();
            let mut value = iter.next().unwrap_or(Value::Nil);
            for key in iter {
                value = match (value, key) {
                    (Value::Map(m, missing), Value::Str(k)) => {
                        m.get(&k).cloned().unwrap_or(*missing)
                    }
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(i).unwrap_or(usize::MAX))
                        .cloned()
                        .ok_or_else(|| {
                            calling(format!("error calling index: index out of range: {i}"))
                        })?,
                    (v, _) => {
                        return Err(calling(format!(
                            "can't index item of type {}",
                            v.type_name()
                        )));
                    }
                };
            }
            Ok(value)
        }
        "print" | "println" => {
            let mut out = String::new();
            for (i, arg) in args.iter().enumerate() {
                let text = match arg {
                    Value::Nil => "<nil>".to_string(),
                    other => other.to_string(),
                };
                if i > 0
                    && (name == "println"
                        || !(matches!(arg, Value::Str(_)) || matches!(args[i - 1], Value::Str(_))))
                {
                    out.push(' ');
                }
                out.push_str(&text);
            }
            if name == "println" {
                out.push('\n');
            }
            Ok(Value::Str(out))
        }
        "printf" => {
            let Some(format) = args.first() else {
                return Err(CallError::Plain(
                    "wrong number of args for printf: want at least 1 got 0".into(),
                ));
            };
            let format = string_arg(format)?;
            Ok(Value::Str(sprintf(&format, &args[1..])))
        }
        "eq" => {
            if args.len() < 2 {
                return Err(calling("missing argument for comparison".into()));
            }
            for other in &args[1..] {
                if compare(name, &args[0], other)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let ord = compare(name, &args[0], &args[1])?;
            let nan = matches!((&args[0], &args[1]), (Value::Float(a), Value::Float(b)) if a.is_nan() || b.is_nan());
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => ord != Equal || nan,
                _ if nan => false,
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            }))
        }
        "html" | "js" | "urlquery" => {
            let text: String = args.iter().map(ToString::to_string).collect();
            Ok(Value::Str(match name {
                "html" => html_escape(&text),
                "js" => js_escape(&text),
                _ => query_escape(&text),
            }))
        }
        "query" => {
            want(name, &args, 1)?;
            let q = string_arg(&args[0])?;
            let Some(run) = ctx.query else {
                return Err(calling("queries are not available here".into()));
            };
            let samples = run(&q).map_err(calling)?;
            Ok(Value::List(
                samples
                    .into_iter()
                    .map(|(labels, v)| Value::Sample(labels, v))
                    .collect(),
            ))
        }
        "first" => {
            want(name, &args, 1)?;
            match &args[0] {
                Value::List(items) => items
                    .first()
                    .cloned()
                    .ok_or_else(|| calling("first() called on vector with no elements".into())),
                other => Err(CallError::Plain(format!(
                    "wrong type for value; expected template.queryResult; got {}",
                    other.type_name()
                ))),
            }
        }
        "label" => {
            want(name, &args, 2)?;
            let label = string_arg(&args[0])?;
            let (labels, _) = sample_of(&args[1], name)?;
            Ok(Value::Str(labels.get(&label).cloned().unwrap_or_default()))
        }
        "value" => {
            want(name, &args, 1)?;
            Ok(Value::Float(sample_of(&args[0], name)?.1))
        }
        "strvalue" => {
            want(name, &args, 1)?;
            let (labels, _) = sample_of(&args[0], name)?;
            Ok(Value::Str(
                labels.get("__value__").cloned().unwrap_or_default(),
            ))
        }
        "sortByLabel" => {
            want(name, &args, 2)?;
            let label = string_arg(&args[0])?;
            let Value::List(mut items) = args[1].clone() else {
                return Err(CallError::Plain(format!(
                    "wrong type for value; expected template.queryResult; got {}",
                    args[1].type_name()
                )));
            };
            items.sort_by(|a, b| {
                let key = |v: &Value| match v {
                    Value::Sample(l, _) => l.get(&label).cloned().unwrap_or_default(),
                    _ => String::new(),
                };
                key(a).cmp(&key(b))
            });
            Ok(Value::List(items))
        }
        "args" => Ok(Value::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect(),
            Box::new(Value::Nil),
        )),
        "reReplaceAll" => {
            want(name, &args, 3)?;
            let pattern = string_arg(&args[0])?;
            let replacement = string_arg(&args[1])?;
            let text = string_arg(&args[2])?;
            let re = Regex::new(&pattern)
                .map_err(|err| calling(format!("regexp: Compile({pattern:?}): {err}")))?;
            Ok(Value::Str(
                re.replace_all(&text, replacement.as_str()).into_owned(),
            ))
        }
        "match" => {
            want(name, &args, 2)?;
            let pattern = string_arg(&args[0])?;
            let text = string_arg(&args[1])?;
            let re = Regex::new(&pattern)
                .map_err(|err| calling(format!("error parsing regexp: {err}")))?;
            Ok(Value::Bool(re.is_match(&text)))
        }
        "safeHtml" | "toUpper" | "toLower" | "title" | "stripPort" | "stripDomain"
        | "graphLink" | "tableLink" | "parseDuration" => {
            want(name, &args, 1)?;
            let text = string_arg(&args[0])?;
            Ok(match name {
                "safeHtml" => Value::Str(text),
                "toUpper" => Value::Str(text.to_uppercase()),
                "toLower" => Value::Str(text.to_lowercase()),
                "title" => Value::Str(title(&text)),
                "stripPort" => Value::Str(strip_port(&text)),
                "stripDomain" => Value::Str(strip_domain(&text)),
                "graphLink" => Value::Str(format!(
                    "{}/graph?g0.expr={}&g0.tab=0",
                    ctx.external_url,
                    query_escape(&text)
                )),
                "tableLink" => Value::Str(format!(
                    "{}/graph?g0.expr={}&g0.tab=1",
                    ctx.external_url,
                    query_escape(&text)
                )),
                _ => Value::Float(parse_prom_duration_secs(&text)?),
            })
        }
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" => {
            want(name, &args, 1)?;
            let v = to_float(&args[0])?;
            Ok(match name {
                "humanize" => Value::Str(humanize(v)),
                "humanize1024" => Value::Str(humanize_1024(v)),
                "humanizeDuration" => Value::Str(humanize_duration(v)),
                "humanizePercentage" => Value::Str(format!("{}%", go_float(v * 100.0, Some(4)))),
                "humanizeTimestamp" => {
                    if !v.is_finite() {
                        Value::Str(go_float(v, Some(4)))
                    } else {
                        // Prometheus goes through model.Time, i.e. millisecond precision.
                        let ms = (v * 1e9) as i128 / 1_000_000;
                        Value::Str(go_time(ms * 1_000_000))
                    }
                }
                _ => {
                    if !v.is_finite() {
                        return Err(calling(format!(
                            "cannot convert {} to time.Time",
                            go_float(v, None)
                        )));
                    }
                    Value::Time((v * 1e9) as i128)
                }
            })
        }
        "pathPrefix" => {
            want(name, &args, 0)?;
            let path = ctx
                .external_url
                .split_once("://")
                .map(|(_, rest)| rest.find('/').map(|i| &rest[i..]).unwrap_or(""))
                .unwrap_or("");
            Ok(Value::Str(path.to_string()))
        }
        "externalURL" => {
            want(name, &args, 0)?;
            Ok(Value::Str(ctx.external_url.to_string()))
        }
        "now" => {
            want(name, &args, 0)?;
            Ok(Value::Float(ctx.now_ms as f64 / 1000.0))
        }
        other => Err(CallError::Plain(format!("function {other:?} not defined"))),
    }
}
