//! Number and timestamp formatting exactly as Prometheus' JSON encoder writes it, and the query
//! result envelope built on it.
//!
//! Prometheus writes sample values as strings in Go's shortest round-trip form: fixed notation
//! for magnitudes in `[1e-6, 1e21)` (and zero), exponent notation outside it with a signed,
//! at least two-digit exponent (`1e+21`, `1.5e-07`), and `NaN`, `+Inf`, `-Inf`. Timestamps are
//! milliseconds written as seconds with exactly three decimals when the millisecond part is not
//! zero (`1435781451.781`, `1.500`, `4`).

use std::fmt::Write;

use vigil_model::Labels;
use vigil_promql::{QueryStats, Value};

/// Appends `v` as Go's `strconv.FormatFloat` with Prometheus' choice of format (see module doc).
pub(crate) fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // Rust's Display is the shortest round-trip decimal without exponent, like Go's 'f', -1.
        let _ = write!(out, "{v}");
        return;
    }
    // Rust's LowerExp gives the shortest mantissa too, but writes `1e21` / `1.5e-7`;
    // Go writes `1e+21` / `1.5e-07`.
    let formatted = format!("{v:e}");
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    out.push_str(mantissa);
    out.push('e');
    out.push(sign);
    if digits.len() < 2 {
        out.push('0');
    }
    out.push_str(digits);
}

/// Appends a millisecond timestamp as Prometheus does: seconds, then `.mmm` unless whole.
pub(crate) fn push_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let abs = t_ms.unsigned_abs();
    let _ = write!(out, "{}", abs / 1000);
    let fraction = abs % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, &label.name);
        out.push(':');
        push_json_string(out, &label.value);
    }
    out.push('}');
}

/// `[<seconds>,"<value>"]`
fn push_point(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    push_timestamp(out, t_ms);
    out.push_str(",\"");
    push_float(out, v);
    out.push_str("\"]");
}

/// Appends the `result` of a query value.
pub(crate) fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Scalar { t_ms, v } => push_point(out, *t_ms, *v),
        Value::String { t_ms, s } => {
            out.push('[');
            push_timestamp(out, *t_ms);
            out.push(',');
            push_json_string(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, &sample.labels);
                out.push_str(",\"value\":");
                push_point(out, sample.t_ms, sample.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, one) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, &one.labels);
                out.push_str(",\"values\":[");
                for (j, point) in one.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(out, point.t_ms, point.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
}

/// Wall-clock phases of a query measured by the API layer, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timings {
    /// From accepting the request until a blocking thread picked the query up.
    pub(crate) queue_ns: u64,
    /// From accepting the request until the engine returned.
    pub(crate) total_ns: u64,
}

fn push_seconds(out: &mut String, ns: u64) {
    push_float(out, ns as f64 / 1e9);
}

/// Appends Prometheus' `stats` object (2.x shape): `timings` in seconds and `samples` counters,
/// with `totalQueryableSamplesPerStep` only when per-step statistics were collected.
pub(crate) fn push_stats(out: &mut String, stats: &QueryStats, timings: Timings) {
    out.push_str("{\"timings\":{\"evalTotalTime\":");
    push_seconds(out, stats.eval_ns);
    out.push_str(",\"resultSortTime\":0,\"queryPreparationTime\":");
    push_seconds(out, stats.prepare_ns);
    out.push_str(",\"innerEvalTime\":");
    push_seconds(out, stats.eval_ns);
    out.push_str(",\"execQueueTime\":");
    push_seconds(out, timings.queue_ns);
    out.push_str(",\"execTotalTime\":");
    push_seconds(out, timings.total_ns);
    out.push_str("},\"samples\":{");
    if !stats.samples_per_step.is_empty() {
        out.push_str("\"totalQueryableSamplesPerStep\":[");
        for (i, (t_ms, n)) in stats.samples_per_step.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            // Prometheus writes the step time as a JSON number of seconds (float64(t)/1000).
            push_float(out, *t_ms as f64 / 1000.0);
            let _ = write!(out, ",{n}]");
        }
        out.push_str("],");
    }
    let _ = write!(
        out,
        "\"totalQueryableSamples\":{},\"peakSamples\":{}}}}}",
        stats.total_queryable_samples, stats.peak_samples
    );
}

/// Appends `,"<key>":[...]` for a non-empty list of annotation strings.
pub(crate) fn push_annotations(out: &mut String, key: &str, list: &[String]) {
    if list.is_empty() {
        return;
    }
    out.push(',');
    push_json_string(out, key);
    out.push_str(":[");
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, item);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        let mut out = String::new();
        push_float(&mut out, v);
        out
    }

    fn ts(t: i64) -> String {
        let mut out = String::new();
        push_timestamp(&mut out, t);
        out
    }

    #[test]
    fn floats_are_written_like_prometheus() {
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(-2.25), "-2.25");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(-0.0), "-0");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(123456789.125), "123456789.125");
        assert_eq!(float(1e20), "100000000000000000000");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(1.5e300), "1.5e+300");
        assert_eq!(float(-2.5e22), "-2.5e+22");
        assert_eq!(float(1e-6), "0.000001");
        assert_eq!(float(1e-7), "1e-07");
        assert_eq!(float(1.5e-7), "1.5e-07");
        assert_eq!(float(5e-324), "5e-324");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn timestamps_keep_three_decimals_like_prometheus() {
        assert_eq!(ts(4000), "4");
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1500), "1.500");
        assert_eq!(ts(1050), "1.050");
        assert_eq!(ts(1005), "1.005");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(-1500), "-1.500");
        assert_eq!(ts(-500), "-0.500");
    }

    #[test]
    fn stats_render_in_prometheus_shape() {
        let mut stats = QueryStats {
            total_queryable_samples: 10,
            peak_samples: 4,
            prepare_ns: 1_500,
            eval_ns: 2_000_000,
            samples_per_step: Vec::new(),
        };
        let timings = Timings {
            queue_ns: 0,
            total_ns: 3_000_000_000,
        };
        let mut out = String::new();
        push_stats(&mut out, &stats, timings);
        assert_eq!(
            out,
            concat!(
                r#"{"timings":{"evalTotalTime":0.002,"resultSortTime":0,"queryPreparationTime":0.0000015,"#,
                r#""innerEvalTime":0.002,"execQueueTime":0,"execTotalTime":3},"#,
                r#""samples":{"totalQueryableSamples":10,"peakSamples":4}}"#
            )
        );
        stats.samples_per_step = vec![(20_001, 5), (21_001, 0)];
        let mut out = String::new();
        push_stats(&mut out, &stats, timings);
        assert!(
            out.ends_with(
                r#""samples":{"totalQueryableSamplesPerStep":[[20.001,5],[21.001,0]],"totalQueryableSamples":10,"peakSamples":4}}"#
            ),
            "{out}"
        );
    }

    #[test]
    fn strings_are_valid_json() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
