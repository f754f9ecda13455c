//! Numeric kernels shared by functions and aggregations, with Prometheus'
//! exact floating-point behaviour (Kahan summation, quantile interpolation,
//! linear regression, bucket interpolation).

use crate::value::Point;

/// Kahan-compensated running sum (Prometheus' `kahanSumInc`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KahanSum {
    pub(crate) sum: f64,
    pub(crate) c: f64,
}

impl KahanSum {
    pub(crate) fn new(first: f64) -> Self {
        KahanSum { sum: first, c: 0.0 }
    }

    pub(crate) fn add(&mut self, inc: f64) {
        let t = self.sum + inc;
        if t.is_infinite() {
            self.c = 0.0;
        } else if self.sum.abs() >= inc.abs() {
            self.c += (self.sum - t) + inc;
        } else {
            self.c += (inc - t) + self.sum;
        }
        self.sum = t;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.c
    }
}

/// The φ-quantile of `values` (sorted in place), interpolating between
/// neighbours like Prometheus' `quantile`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| {
        // NaN sorts first, as in Go's sort of float heaps with NaN "less".
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Least-squares fit of `points`, x in seconds relative to `intercept_ms`;
/// returns (slope, intercept).
pub(crate) fn linear_regression(points: &[Point], intercept_ms: i64) -> (f64, f64) {
    let Some(first) = points.first() else {
        return (f64::NAN, f64::NAN);
    };
    let init_y = first.v;
    let mut const_y = true;
    let (mut n, mut sx, mut sy, mut sxy, mut sx2) = (
        0.0,
        KahanSum::default(),
        KahanSum::default(),
        KahanSum::default(),
        KahanSum::default(),
    );
    for (i, p) in points.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t_ms - intercept_ms) as f64 / 1e3;
        sx.add(x);
        sy.add(p.v);
        sxy.add(x * p.v);
        sx2.add(x * x);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sx.value(), sy.value(), sxy.value(), sx2.value());
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// One classic histogram bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) upper: f64,
    pub(crate) count: f64,
}

fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    *buckets = out;
}

/// Relative float equality as Prometheus' `almost.Equal`.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Result of [`bucket_quantile`]: the value and whether the buckets had to
/// be forced monotonic.
pub(crate) struct BucketQuantile {
    pub(crate) value: f64,
    pub(crate) forced_monotonic: bool,
}

/// Quantile over classic buckets (Prometheus' `BucketQuantile`).
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    let done = |value| BucketQuantile {
        value,
        forced_monotonic: false,
    };
    if q.is_nan() {
        return done(f64::NAN);
    }
    if q < 0.0 {
        return done(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return done(f64::INFINITY);
    }
    if buckets.is_empty() {
        return done(f64::NAN);
    }
    sort_and_coalesce(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return done(f64::NAN);
    }
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    let result = |value| BucketQuantile {
        value,
        forced_monotonic: forced,
    };
    if buckets.len() < 2 {
        return result(f64::NAN);
    }
    let n = buckets.len();
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return result(f64::NAN);
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|b| b.count < rank);
    if b == n - 1 {
        return result(buckets[n - 2].upper);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return result(buckets[0].upper);
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    result(start + (end - start) * (rank / count))
}

/// Fraction of observations between `lower` and `upper` (Prometheus'
/// `BucketFraction`).
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if buckets.is_empty() {
        return f64::NAN;
    }
    sort_and_coalesce(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper;
        }
        let upper_bound = b.upper;
        let interpolate = |v: f64| -> f64 {
            if lower_bound == f64::NEG_INFINITY {
                return b.count;
            }
            rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Formats a float like Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f == f64::INFINITY {
        "+Inf".to_string()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{f}")
    }
}

/// Quotes a string like Go's `%q` (for error messages).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_beats_naive_summation() {
        let mut k = KahanSum::new(1.0);
        for _ in 0..10 {
            k.add(1e-16);
        }
        assert!(k.value() > 1.0);
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(-1.0, &mut v), f64::NEG_INFINITY);
    }

    #[test]
    fn bucket_quantile_matches_hand_computation() {
        let mut b = vec![
            Bucket {
                upper: 0.1,
                count: 10.0,
            },
            Bucket {
                upper: 0.5,
                count: 30.0,
            },
            Bucket {
                upper: f64::INFINITY,
                count: 40.0,
            },
        ];
        // rank 20 falls in (0.1, 0.5]: 0.1 + 0.4 * (10/20) = 0.3
        let q = bucket_quantile(0.5, &mut b);
        assert!((q.value - 0.3).abs() < 1e-12);
        assert!(!q.forced_monotonic);
        let mut b = vec![
            Bucket {
                upper: 1.0,
                count: 5.0,
            },
            Bucket {
                upper: f64::INFINITY,
                count: 3.0,
            },
        ];
        assert!(bucket_quantile(0.5, &mut b).forced_monotonic);
    }

    #[test]
    fn regression_of_a_line() {
        let pts: Vec<Point> = (0..10)
            .map(|i| Point {
                t_ms: i * 1000,
                v: 2.0 * i as f64 + 1.0,
            })
            .collect();
        let (slope, intercept) = linear_regression(&pts, 0);
        assert!((slope - 2.0).abs() < 1e-12);
        assert!((intercept - 1.0).abs() < 1e-12);
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(format_go_float(1.0), "1");
        assert_eq!(format_go_float(0.5), "0.5");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
        assert_eq!(format_go_float(f64::NAN), "NaN");
    }
}
