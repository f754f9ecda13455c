//! Alertmanager v2 notifier: `POST <url>/api/v2/alerts` with a JSON array, in batches,
//! with a timeout per send, external labels added, and counters for sent, failed and
//! dropped alerts. Sends are blocking (`ureq`): call from a blocking thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::group::OutgoingAlert;

/// Prometheus sends at most this many alerts per request.
pub const MAX_BATCH_SIZE: usize = 256;

/// Notifier settings.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Alertmanager base URLs (`http://host:9093`); `/api/v2/alerts` is appended.
    pub alertmanager_urls: Vec<String>,
    /// Timeout of one send (default 10 s).
    pub timeout: Duration,
    /// External labels added to every alert that lacks them.
    pub external_labels: BTreeMap<String, String>,
    /// External URL, base of the generator URLs.
    pub external_url: String,
}

/// Counters under Prometheus' names (`prometheus_notifications_*`).
#[derive(Debug, Default)]
pub struct NotifierMetrics {
    /// `prometheus_notifications_sent_total`.
    pub sent_total: AtomicU64,
    /// `prometheus_notifications_errors_total`.
    pub errors_total: AtomicU64,
}

/// Sends alerts to every configured Alertmanager.
pub struct Notifier {
    options: NotifierOptions,
    agent: ureq::Agent,
    /// Counters.
    pub metrics: NotifierMetrics,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
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

/// The JSON body Alertmanager's v2 API takes for `alerts`.
pub fn payload(
    alerts: &[OutgoingAlert],
    external_labels: &BTreeMap<String, String>,
    external_url: &str,
) -> serde_json::Value {
    let items: Vec<serde_json::Value> = alerts
        .iter()
        .map(|alert| {
            let mut labels: BTreeMap<String, String> = alert
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for (k, v) in external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            json!({
                "labels": labels,
                "annotations": alert.annotations,
                "startsAt": rfc3339(alert.starts_at_ms),
                "endsAt": rfc3339(alert.ends_at_ms),
                "generatorURL": format!("{external_url}/graph?g0.expr={}&g0.tab=1", query_escape(&alert.expr)),
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

impl Notifier {
    /// A notifier with `options`.
    pub fn new(options: NotifierOptions) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            options,
            agent,
            metrics: NotifierMetrics::default(),
        }
    }

    /// Sends `alerts` in batches to every Alertmanager. A failed batch is counted and not
    /// retried: the next resend carries the state again, as in Prometheus.
    pub fn send(&self, alerts: &[OutgoingAlert]) {
        for batch in alerts.chunks(MAX_BATCH_SIZE) {
            let body = payload(
                batch,
                &self.options.external_labels,
                &self.options.external_url,
            );
            for base in &self.options.alertmanager_urls {
                let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
                let result = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("User-Agent", "Vigil")
                    .send_json(&body);
                match result {
                    Ok(response) if response.status().is_success() => {
                        self.metrics
                            .sent_total
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                    Ok(response) => {
                        self.metrics
                            .errors_total
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        tracing::warn!(url = %url, status = response.status().as_u16(), "alertmanager rejected alerts");
                    }
                    Err(err) => {
                        self.metrics
                            .errors_total
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        tracing::warn!(url = %url, error = %err, "cannot send alerts to alertmanager");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use vigil_model::Labels;

    use super::*;

    fn alert(ends_at_ms: i64) -> OutgoingAlert {
        OutgoingAlert {
            labels: Labels::from_static(&[("alertname", "Down"), ("job", "a")]),
            annotations: BTreeMap::from([("summary".to_string(), "a is down".to_string())]),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms,
            expr: "up == 0".into(),
        }
    }

    #[test]
    fn payload_has_alertmanager_shape_and_external_labels() {
        let ext = BTreeMap::from([
            ("cluster".to_string(), "eu".to_string()),
            ("job".to_string(), "ignored".to_string()),
        ]);
        let body = payload(&[alert(1_700_000_240_000)], &ext, "http://vigil:9009");
        assert_eq!(body[0]["labels"]["cluster"], "eu");
        assert_eq!(
            body[0]["labels"]["job"], "a",
            "alert labels win over external labels"
        );
        assert_eq!(body[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body[0]["endsAt"], "2023-11-14T22:17:20.000Z");
        assert_eq!(body[0]["annotations"]["summary"], "a is down");
        assert_eq!(
            body[0]["generatorURL"],
            "http://vigil:9009/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
    }

    #[test]
    fn sends_to_a_loopback_alertmanager_and_counts_failures() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for status in ["200 OK", "500 Internal Server Error"] {
                let (stream, _) = listener.accept().unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
                bodies.push((request_line, String::from_utf8(body).unwrap()));
            }
            bodies
        });
        let notifier = Notifier::new(NotifierOptions {
            alertmanager_urls: vec![format!("http://{addr}")],
            timeout: Duration::from_secs(10),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
        });
        notifier.send(&[alert(1)]);
        notifier.send(&[alert(2)]);
        let bodies = server.join().unwrap();
        assert!(
            bodies[0].0.starts_with("POST /api/v2/alerts "),
            "{}",
            bodies[0].0
        );
        let sent: serde_json::Value = serde_json::from_str(&bodies[0].1).unwrap();
        assert_eq!(sent[0]["labels"]["alertname"], "Down");
        assert_eq!(notifier.metrics.sent_total.load(Ordering::Relaxed), 1);
        assert_eq!(notifier.metrics.errors_total.load(Ordering::Relaxed), 1);
    }
}
