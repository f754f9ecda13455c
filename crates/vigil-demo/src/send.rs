//! HTTP delivery: remote write 1.0 (snappy protobuf) and Loki push (snappy protobuf), with the
//! retry policy of Prometheus' and Promtail's senders (retry network errors, 429 and 5xx with
//! backoff, honouring `Retry-After`; give up on any other 4xx).

use std::time::Duration;

use prost::Message;
use vigil_ingest::loki::proto as loki;
use vigil_ingest::proto::v1 as pb;

/// Attempts per request before giving up.
const ATTEMPTS: u32 = 8;

/// Why a request was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server answered with a status that is not retried.
    #[error("{what} to {url} was rejected with HTTP {status}: {body}")]
    Rejected {
        /// Remote write or log push.
        what: &'static str,
        /// The endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        body: String,
    },
    /// Every attempt failed.
    #[error("{what} to {url} failed after {ATTEMPTS} attempts: {last}")]
    GaveUp {
        /// Remote write or log push.
        what: &'static str,
        /// The endpoint.
        url: String,
        /// The last failure.
        last: String,
    },
    /// Snappy compression failed.
    #[error("cannot compress the request: {0}")]
    Compress(String),
}

/// Sends to one Vigil.
#[derive(Debug)]
pub struct Sender {
    base: String,
    tenant: Option<String>,
    agent: ureq::Agent,
}

impl Sender {
    /// A sender to `base` (e.g. `http://127.0.0.1:9009`), as `tenant` when given.
    pub fn new(base: &str, tenant: Option<String>) -> Sender {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Sender {
            base: base.trim_end_matches('/').to_string(),
            tenant,
            agent,
        }
    }

    /// `POST /api/v1/write` with a remote write 1.0 request.
    pub fn remote_write(&self, request: &pb::WriteRequest) -> Result<(), SendError> {
        self.post(
            "remote write",
            "/api/v1/write",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ("User-Agent", "vigil-demo"),
            ],
            &request.encode_to_vec(),
        )
    }

    /// `POST /loki/api/v1/push` with a protobuf push request.
    pub fn push_logs(&self, request: &loki::PushRequest) -> Result<(), SendError> {
        self.post(
            "log push",
            "/loki/api/v1/push",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("User-Agent", "vigil-demo"),
            ],
            &request.encode_to_vec(),
        )
    }

    fn post(
        &self,
        what: &'static str,
        path: &str,
        headers: &[(&str, &str)],
        raw: &[u8],
    ) -> Result<(), SendError> {
        let body = snap::raw::Encoder::new()
            .compress_vec(raw)
            .map_err(|err| SendError::Compress(err.to_string()))?;
        let url = format!("{}{path}", self.base);
        let mut backoff = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut request = self.agent.post(&url);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(tenant) = &self.tenant {
                request = request.header("X-Scope-OrgID", tenant);
            }
            let mut wait = backoff;
            match request.send(&body[..]) {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let text = response
                        .body_mut()
                        .read_to_string()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    if status != 429 && status < 500 {
                        return Err(SendError::Rejected {
                            what,
                            url,
                            status,
                            body: text,
                        });
                    }
                    if let Some(seconds) = retry_after {
                        wait = Duration::from_secs(seconds.min(30));
                    }
                    last = format!("HTTP {status}: {text}");
                }
                Err(err) => last = err.to_string(),
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(wait);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        Err(SendError::GaveUp { what, url, last })
    }
}
