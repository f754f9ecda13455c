//! Go's number and time formatting (`%v`, `%g`, `%.4g`, `printf`, `time.Time.String`), so
//! expanded templates print values exactly as Prometheus does.

use super::Value;

/// Decimal digits (no leading zeros, no trailing zeros) and the exponent of the first digit.
fn digits(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exp)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn exp_suffix(exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("e{sign}{:02}", exp.abs())
}

/// Go's `%g` (`prec = None` is `%v`'s shortest form, `Some(p)` is `%.pg`).
pub fn go_float(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let prec = prec.map(|p| p.max(1));
    let negative = v.is_sign_negative() && v != 0.0 || (v == 0.0 && v.is_sign_negative());
    let (digits, exp) = if v == 0.0 {
        ("0".to_string(), 0)
    } else {
        digits(v, prec)
    };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = match prec {
        None => 6,
        Some(p) => {
            let p = p as i32;
            if p > nd && nd >= dp { nd } else { p }
        }
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&exp_suffix(exp));
        return out;
    }
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)` (promtool prints sample values so).
pub(crate) fn go_float_e(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (digits, exp) = if v == 0.0 {
        ("0".to_string(), 0)
    } else {
        digits(v, None)
    };
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push_str(&exp_suffix(exp).to_uppercase());
    out
}

/// Go's `%e` with `prec` digits after the point.
fn go_exp(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let s = format!("{:.*e}", prec, v);
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    format!("{mantissa}{}", exp_suffix(exp.parse().unwrap_or(0)))
}

/// `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn go_time(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let Some(time) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return format!("{ns}ns");
    };
    let mut frac = String::new();
    if nanos > 0 {
        frac = format!(".{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    format!("{}{frac} +0000 UTC", time.format("%Y-%m-%d %H:%M:%S"))
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use (`%v %s %d %f %g %e %q %t %x %%`).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut minus = false;
        let mut plus = false;
        let mut zero = false;
        let mut space = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
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
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let number = match arg {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        };
        let mut text = match (verb, arg) {
            ('v' | 's', Value::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('v', Value::Float(f)) => go_float(*f, prec),
            ('v' | 's', other)
                if verb == 'v' || !matches!(other, Value::Int(_) | Value::Float(_)) =>
            {
                other.to_string()
            }
            ('q', Value::Str(s)) => quote(s),
            ('t', Value::Bool(b)) => b.to_string(),
            ('d', Value::Int(i)) => i.to_string(),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', _) if number.is_some() => {
                let f = number.unwrap_or_default();
                special(f).unwrap_or_else(|| format!("{:.*}", prec.unwrap_or(6), f))
            }
            ('g' | 'G', _) if number.is_some() => go_float(number.unwrap_or_default(), prec),
            ('e' | 'E', _) if number.is_some() => {
                go_exp(number.unwrap_or_default(), prec.unwrap_or(6))
            }
            (v, other) => format!("%!{v}({}={other})", other.type_name()),
        };
        if (plus || space) && number.is_some_and(|n| n >= 0.0) && "dfgFeEGv".contains(verb) {
            text.insert(0, if plus { '+' } else { ' ' });
        }
        let width: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len < width {
            let pad = width - len;
            if minus {
                text.push_str(&" ".repeat(pad));
            } else if zero && number.is_some() {
                let (sign, rest) = match text.strip_prefix(['-', '+']) {
                    Some(rest) => (text[..1].to_string(), rest.to_string()),
                    None => (String::new(), text.clone()),
                };
                text = format!("{sign}{}{rest}", "0".repeat(pad));
            } else {
                text.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&text);
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={a}", a.type_name()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(1.0, None), "1");
        assert_eq!(go_float(0.5, None), "0.5");
        assert_eq!(go_float(123456.0, None), "123456");
        assert_eq!(go_float(1234567.0, None), "1.234567e+06");
        assert_eq!(go_float(1e21, None), "1e+21");
        assert_eq!(go_float(0.0001, None), "0.0001");
        assert_eq!(go_float(0.00001, None), "1e-05");
        assert_eq!(go_float(-2.5, None), "-2.5");
        assert_eq!(go_float(f64::INFINITY, None), "+Inf");
        assert_eq!(go_float(1.0, Some(4)), "1");
        assert_eq!(go_float(1234.0, Some(4)), "1234");
        assert_eq!(go_float(12345.0, Some(4)), "1.234e+04");
        assert_eq!(go_float(100000.0, Some(4)), "1e+05");
        assert_eq!(go_float(0.12345, Some(4)), "0.1235");
        assert_eq!(go_float(0.0, Some(4)), "0");
        assert_eq!(go_float_e(1.0), "1E+00");
        assert_eq!(go_float_e(0.5), "5E-01");
        assert_eq!(go_float_e(-1234.5), "-1.2345E+03");
    }

    #[test]
    fn printf_and_time() {
        let args = [Value::Float(2.71925), Value::Str("x".into()), Value::Int(7)];
        assert_eq!(sprintf("%.2f %s %d%%", &args), "2.72 x 7%");
        assert_eq!(
            sprintf(
                "%5.1f|%-3d|%q",
                &[Value::Float(2.0), Value::Int(1), Value::Str("a\"b".into())]
            ),
            "  2.0|1  |\"a\\\"b\""
        );
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
        assert_eq!(
            go_time(1_500_000_000_000_000_000),
            "2017-07-14 02:40:00 +0000 UTC"
        );
        assert_eq!(
            go_time(1_500_000_000_500_000_000),
            "2017-07-14 02:40:00.5 +0000 UTC"
        );
    }
}
