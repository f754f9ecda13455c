//! Exact decimals for objectives, budgets and thresholds, so `1 - 99.9 %` is written as
//! `0.001` and not as Sloth's `0.0009999999999999432`.

use std::cmp::Ordering;
use std::fmt;

/// A decimal number `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

const MAX_SCALE: u32 = 30;

impl Decimal {
    /// Parses plain decimal text (`99.9`, `0.999`, `-1`, `14.4`); no exponents.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() as u32 > MAX_SCALE
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        if negative {
            mantissa = -mantissa;
        }
        Some(
            Decimal {
                mantissa,
                scale: frac.len() as u32,
            }
            .normalized(),
        )
    }

    /// A decimal from an `f64`, through its shortest round-trip text.
    pub fn from_f64(v: f64) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        Decimal::parse(&format!("{v}"))
    }

    /// An integer.
    pub fn from_int(v: i64) -> Decimal {
        Decimal {
            mantissa: i128::from(v),
            scale: 0,
        }
    }

    fn normalized(mut self) -> Decimal {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    fn rescaled(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    /// `self - other`.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        Some(
            Decimal {
                mantissa: self.rescaled(scale)?.checked_sub(other.rescaled(scale)?)?,
                scale,
            }
            .normalized(),
        )
    }

    /// `self × other`.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale + other.scale;
        if scale > 2 * MAX_SCALE {
            return None;
        }
        Some(
            Decimal {
                mantissa: self.mantissa.checked_mul(other.mantissa)?,
                scale,
            }
            .normalized(),
        )
    }

    /// `self / 10^n`.
    pub fn shift_down(self, n: u32) -> Decimal {
        Decimal {
            mantissa: self.mantissa,
            scale: self.scale + n,
        }
        .normalized()
    }

    /// `self × 10^n`.
    pub fn shift_up(self, n: u32) -> Option<Decimal> {
        let mut d = self;
        for _ in 0..n {
            if d.scale > 0 {
                d.scale -= 1;
            } else {
                d.mantissa = d.mantissa.checked_mul(10)?;
            }
        }
        Some(d.normalized())
    }

    /// The nearest `f64`.
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// True for values > 0.
    pub fn is_positive(self) -> bool {
        self.mantissa > 0
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescaled(scale), other.rescaled(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negative = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let text = if scale == 0 {
            digits
        } else if digits.len() > scale {
            format!(
                "{}.{}",
                &digits[..digits.len() - scale],
                &digits[digits.len() - scale..]
            )
        } else {
            format!("0.{}{digits}", "0".repeat(scale - digits.len()))
        };
        if negative {
            write!(f, "-{text}")
        } else {
            f.write_str(&text)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exact_budget_arithmetic() {
        let hundred = Decimal::from_int(100);
        let budget = hundred
            .checked_sub(Decimal::parse("99.9").unwrap())
            .unwrap()
            .shift_down(2);
        assert_eq!(budget.to_string(), "0.001");
        let threshold = Decimal::parse("14.4").unwrap().checked_mul(budget).unwrap();
        assert_eq!(threshold.to_string(), "0.0144");
        assert_eq!(
            Decimal::parse("0.999")
                .unwrap()
                .shift_up(2)
                .unwrap()
                .to_string(),
            "99.9"
        );
        assert_eq!(Decimal::parse("-0.50").unwrap().to_string(), "-0.5");
        assert!(Decimal::parse("1e3").is_none());
        assert!(Decimal::parse("").is_none());
        assert!(Decimal::parse("99.90").unwrap() == Decimal::parse("99.9").unwrap());
        assert!(Decimal::parse("100").unwrap() > Decimal::parse("99.999").unwrap());
        assert_eq!(Decimal::from_f64(0.1).unwrap().to_string(), "0.1");
    }
}
