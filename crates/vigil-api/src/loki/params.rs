//! Loki's query parameters: timestamps (integer ns, ≤ 10 digits = seconds, float seconds,
//! RFC 3339), durations (`5m` or float seconds), `limit`, `direction`, and the default
//! time bounds (`end` = now, `start` = `end` − `since`, 1 h unless given).

use std::time::{SystemTime, UNIX_EPOCH};

use vigil_logql::Direction;
use vigil_logql::syntax::units::parse_duration_ns;

use super::LokiError;
use crate::params::Params;

/// Entries returned when `limit` is absent.
pub(super) const DEFAULT_LIMIT: usize = 100;
/// How far back `start` defaults to from `end`.
const DEFAULT_SINCE_NS: i64 = 3_600 * 1_000_000_000;

/// The current time in nanoseconds since the epoch.
pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a Loki timestamp into nanoseconds.
pub(super) fn parse_time_ns(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    if raw.contains('.')
        && let Ok(seconds) = raw.parse::<f64>()
    {
        if !seconds.is_finite() || seconds.abs() > (i64::MAX / 1_000_000_000) as f64 {
            return Err(format!("timestamp {raw:?} is out of range"));
        }
        let whole = seconds.trunc();
        // Like Loki, keep millisecond precision of the fraction.
        let millis = ((seconds - whole) * 1_000.0).round() as i64;
        return Ok(whole as i64 * 1_000_000_000 + millis * 1_000_000);
    }
    if let Ok(number) = raw.parse::<i64>() {
        let digits = raw.trim_start_matches(['-', '+']).len();
        if digits <= 10 {
            return Ok(number.saturating_mul(1_000_000_000));
        }
        return Ok(number);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            format!(
                "cannot parse {raw:?} as a timestamp: expected nanoseconds, seconds with a fraction, or RFC 3339"
            )
        })
}

/// Parses `5m`, `500ms` or float seconds into nanoseconds.
pub(super) fn parse_duration_param_ns(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<f64>() {
        let ns = seconds * 1e9;
        if !ns.is_finite() || ns.abs() >= i64::MAX as f64 {
            return Err(format!(
                "cannot parse {raw:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    parse_duration_ns(raw).map_err(|_| format!("cannot parse {raw:?} to a valid duration"))
}

/// Typed accessors over the request parameters, with Loki's defaults and messages.
pub(super) struct LokiParams<'a>(pub(super) &'a Params);

impl LokiParams<'_> {
    fn non_empty(&self, name: &str) -> Option<&str> {
        self.0.get(name).filter(|v| !v.is_empty())
    }

    /// The `query` parameter, required.
    pub(super) fn query(&self) -> Result<String, LokiError> {
        self.non_empty("query")
            .map(str::to_string)
            .ok_or_else(|| LokiError::bad_request("missing query parameter \"query\""))
    }

    /// An optional named timestamp.
    pub(super) fn time(&self, name: &str) -> Result<Option<i64>, LokiError> {
        self.non_empty(name)
            .map(|raw| {
                parse_time_ns(raw).map_err(|reason| {
                    LokiError::bad_request(format!("could not parse '{name}' parameter: {reason}"))
                })
            })
            .transpose()
    }

    /// `start`/`end` with Loki's defaults: `end` = now, `start` = min(end, now) − `since`.
    pub(super) fn bounds(&self) -> Result<(i64, i64), LokiError> {
        let now = now_ns();
        let since = match self.non_empty("since") {
            None => DEFAULT_SINCE_NS,
            Some(raw) => parse_duration_ns(raw).map_err(|reason| {
                LokiError::bad_request(format!("could not parse 'since' parameter: {reason}"))
            })?,
        };
        let end = self.time("end")?.unwrap_or(now);
        let start = match self.time("start")? {
            Some(start) => start,
            None => end.min(now).saturating_sub(since),
        };
        Ok((start, end))
    }

    /// A positive count parameter with a default (`limit`, `line_limit`).
    pub(super) fn positive(&self, name: &str, default: usize) -> Result<usize, LokiError> {
        match self.non_empty(name) {
            None => Ok(default),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                Ok(_) => Err(LokiError::bad_request(format!(
                    "{name} must be a positive value"
                ))),
                Err(_) => Err(LokiError::bad_request(format!(
                    "could not parse '{name}' parameter: {raw:?} is not an integer"
                ))),
            },
        }
    }

    /// `direction`, `backward` by default.
    pub(super) fn direction(&self) -> Result<Direction, LokiError> {
        match self.non_empty("direction") {
            None => Ok(Direction::Backward),
            Some(raw) if raw.eq_ignore_ascii_case("backward") => Ok(Direction::Backward),
            Some(raw) if raw.eq_ignore_ascii_case("forward") => Ok(Direction::Forward),
            Some(raw) => Err(LokiError::bad_request(format!("invalid direction '{raw}'"))),
        }
    }

    /// An optional duration parameter (`step`, `interval`).
    pub(super) fn duration(&self, name: &str) -> Result<Option<i64>, LokiError> {
        self.non_empty(name)
            .map(|raw| {
                parse_duration_param_ns(raw).map_err(|reason| {
                    LokiError::bad_request(format!("could not parse '{name}' parameter: {reason}"))
                })
            })
            .transpose()
    }

    /// `step`, defaulting like Loki to max(1 s, range / 250) in whole seconds.
    pub(super) fn step(&self, start_ns: i64, end_ns: i64) -> Result<i64, LokiError> {
        match self.duration("step")? {
            Some(step) => Ok(step),
            None => {
                let seconds = (end_ns.saturating_sub(start_ns) / 1_000_000_000 / 250).max(1);
                Ok(seconds * 1_000_000_000)
            }
        }
    }

    /// A raw optional string parameter.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.non_empty(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_loki_rules() {
        assert_eq!(parse_time_ns("4000000000"), Ok(4_000_000_000_000_000_000));
        assert_eq!(parse_time_ns("40000000000"), Ok(40_000_000_000));
        assert_eq!(
            parse_time_ns("1700000000123456789"),
            Ok(1_700_000_000_123_456_789)
        );
        assert_eq!(parse_time_ns("4.5"), Ok(4_500_000_000));
        assert_eq!(parse_time_ns("1.0001"), Ok(1_000_000_000));
        assert_eq!(
            parse_time_ns("2024-01-01T00:00:00.5Z"),
            Ok(1_704_067_200_500_000_000)
        );
        assert!(
            parse_time_ns("yesterday")
                .unwrap_err()
                .contains("yesterday")
        );
        assert!(parse_time_ns("1e400.0").is_err());
    }

    #[test]
    fn durations_accept_units_and_float_seconds() {
        assert_eq!(parse_duration_param_ns("15s"), Ok(15_000_000_000));
        assert_eq!(parse_duration_param_ns("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration_param_ns("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_duration_param_ns("60"), Ok(60_000_000_000));
        assert!(
            parse_duration_param_ns("fast")
                .unwrap_err()
                .contains("fast")
        );
        assert!(parse_duration_param_ns("1e300").is_err());
    }
}
