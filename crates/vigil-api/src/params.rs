//! Request parameters as Prometheus reads them: from the query string and, for POST, from a
//! form-encoded body; timestamps, selectors, limits and the tenant header.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use promql_parser::label::MatchOp as PromMatchOp;
use promql_parser::parser::Expr;
use vigil_model::{MatchOp, Matcher, TenantId, TimeRange};

use crate::ApiError;

/// Prometheus' textual minimum and maximum time, accepted as `start`/`end` values.
const PROMETHEUS_MIN_TIME: &str = "-292273086-05-16T16:47:06Z";
const PROMETHEUS_MAX_TIME: &str = "292277025-08-18T07:12:54.999999999Z";

/// All request parameters: a POST form body first, then the query string.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `start`/`end` as an inclusive range in ms, defaulting to all time.
    pub(crate) fn time_range(&self) -> Result<TimeRange, ApiError> {
        let start = self
            .get("start")
            .filter(|s| !s.is_empty())
            .map(|s| parse_time_param("start", s))
            .transpose()?;
        let end = self
            .get("end")
            .filter(|s| !s.is_empty())
            .map(|s| parse_time_param("end", s))
            .transpose()?;
        let range = TimeRange::new(start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
        if range.max_ms < range.min_ms {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        Ok(range)
    }

    /// `limit` (0 or absent = unlimited).
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit").filter(|s| !s.is_empty()) {
            None => Ok(0),
            Some(raw) => raw.parse::<usize>().map_err(|_| {
                ApiError::bad_data(format!(
                    "invalid parameter \"limit\": cannot parse {raw:?} to a non-negative integer"
                ))
            }),
        }
    }

    /// Every `match[]` selector, each as its alternatives of matcher lists.
    pub(crate) fn selectors(&self) -> Result<Vec<Vec<Vec<Matcher>>>, ApiError> {
        self.get_all("match[]")
            .into_iter()
            .map(parse_selector)
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut pairs: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|err| ApiError::bad_data(format!("cannot read form body: {err}")))?;
            // Like Go's Request.FormValue, body values take precedence over the query string.
            let mut form: Vec<(String, String)> =
                form_urlencoded::parse(&body).into_owned().collect();
            form.append(&mut pairs);
            pairs = form;
        }
        Ok(Params(pairs))
    }
}

fn parse_time_param(name: &str, raw: &str) -> Result<i64, ApiError> {
    parse_time_ms(raw)
        .map_err(|reason| ApiError::bad_data(format!("invalid parameter \"{name}\": {reason}")))
}

/// Parses a Prometheus API timestamp (unix seconds with optional fraction, or RFC 3339)
/// into milliseconds, rounding fractions to the millisecond as Prometheus does.
pub fn parse_time_ms(raw: &str) -> Result<i64, String> {
    if let Ok(seconds) = raw.parse::<f64>() {
        if !seconds.is_finite() {
            return Err(format!("cannot parse {raw:?} to a valid timestamp"));
        }
        let ms = (seconds * 1000.0).round();
        if ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
            return Err(format!(
                "cannot parse {raw:?} to a valid timestamp: out of range"
            ));
        }
        return Ok(ms as i64);
    }
    if raw == PROMETHEUS_MIN_TIME {
        return Ok(i64::MIN);
    }
    if raw == PROMETHEUS_MAX_TIME {
        return Ok(i64::MAX);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {raw:?} to a valid timestamp"))
}

fn convert_matchers(list: &[promql_parser::label::Matcher]) -> Result<Vec<Matcher>, ApiError> {
    list.iter()
        .map(|m| {
            let op = match m.op {
                PromMatchOp::Equal => MatchOp::Equal,
                PromMatchOp::NotEqual => MatchOp::NotEqual,
                PromMatchOp::Re(_) => MatchOp::Regex,
                PromMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|err| ApiError::bad_data(err.to_string()))
        })
        .collect()
}

/// Parses a series selector (`up{job="api"}`, `{__name__=~"a|b"}`) into its alternatives
/// (`or` inside braces gives several), each a list of matchers of which at least one does not
/// match the empty string.
pub fn parse_selector(raw: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let bad = |msg: String| ApiError::bad_data(format!("invalid parameter \"match[]\": {msg}"));
    let expr =
        promql_parser::parser::parse(raw).map_err(|err| bad(format!("1:1: parse error: {err}")))?;
    let Expr::VectorSelector(selector) = expr else {
        return Err(bad(format!("{raw:?} is not a series selector")));
    };
    let name_matcher = selector
        .name
        .as_ref()
        .map(|name| Matcher::equal(vigil_model::METRIC_NAME, name.clone()));
    let mut groups: Vec<Vec<Matcher>> = Vec::new();
    if !selector.matchers.matchers.is_empty() || selector.matchers.or_matchers.is_empty() {
        groups.push(convert_matchers(&selector.matchers.matchers)?);
    }
    for alternative in &selector.matchers.or_matchers {
        groups.push(convert_matchers(alternative)?);
    }
    for group in &mut groups {
        if let Some(name) = &name_matcher
            && !group.iter().any(|m| m.name == vigil_model::METRIC_NAME)
        {
            group.push(name.clone());
        }
        if group.iter().all(Matcher::matches_empty) {
            return Err(bad(
                "match[] must contain at least one non-empty matcher".to_string()
            ));
        }
    }
    Ok(groups)
}

/// The tenant of a request: `X-Scope-OrgID`, else the configured default.
pub(crate) fn tenant(headers: &HeaderMap, default: &TenantId) -> Result<TenantId, ApiError> {
    match headers.get("x-scope-orgid") {
        None => Ok(default.clone()),
        Some(value) => {
            let raw = value
                .to_str()
                .map_err(|_| ApiError::bad_data("X-Scope-OrgID is not valid ASCII"))?;
            TenantId::new(raw.trim())
                .map_err(|err| ApiError::bad_data(format!("X-Scope-OrgID: {err}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_timestamps() {
        assert_eq!(parse_time_ms("1735689600").unwrap(), 1_735_689_600_000);
        assert_eq!(parse_time_ms("1735689600.123").unwrap(), 1_735_689_600_123);
        assert_eq!(
            parse_time_ms("2025-01-01T00:00:00Z").unwrap(),
            1_735_689_600_000
        );
        assert_eq!(
            parse_time_ms("2025-01-01T01:00:00.5+01:00").unwrap(),
            1_735_689_600_500
        );
        assert_eq!(parse_time_ms(PROMETHEUS_MIN_TIME).unwrap(), i64::MIN);
        assert!(parse_time_ms("yesterday").is_err());
        assert!(parse_time_ms("NaN").is_err());
    }

    #[test]
    fn parses_selectors() {
        let groups = parse_selector(r#"up{job=~"a|b", env!=""}"#).unwrap();
        assert_eq!(groups.len(), 1);
        assert!(
            groups[0]
                .iter()
                .any(|m| m.name == "__name__" && m.value == "up")
        );
        assert!(
            groups[0]
                .iter()
                .any(|m| m.name == "job" && m.op == MatchOp::Regex)
        );
        assert!(parse_selector(r#"{job=""}"#).is_err());
        assert!(parse_selector("sum(up)").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
