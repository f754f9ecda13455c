//! Helpers for black-box tests of the `vigil` binary: start it on `127.0.0.1:0` with its own
//! data directory, speak HTTP to it like Prometheus and Grafana do, kill it with SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;
use vigil_ingest::proto::v1 as pb1;
use vigil_ingest::proto::v2 as pb2;

/// Path of the `vigil` binary: `$VIGIL_BIN`, else next to the test executable's `deps/`.
pub fn vigil_binary() -> PathBuf {
    if let Ok(path) = std::env::var("VIGIL_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let candidate = profile_dir.join("vigil");
    assert!(
        candidate.exists(),
        "vigil binary not found at {}: build it first (cargo build -p vigil) or set VIGIL_BIN",
        candidate.display()
    );
    candidate
}

/// A running `vigil serve` process.
pub struct Vigil {
    child: Option<Child>,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its config file.
    pub config_path: PathBuf,
    agent: ureq::Agent,
}

/// An HTTP answer: status, headers of interest, body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response body as text.
    pub body: String,
    /// Response headers (lowercase names).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// Body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP client that reports 4xx/5xx as replies, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.unwrap_or_else(|err| panic!("http request failed: {err}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status,
        body,
        headers,
    }
}

impl Vigil {
    /// Starts vigil with `config_yaml` (merged into a file in `data_dir`'s parent) and waits
    /// until it is ready (at most 60 s).
    pub fn start(data_dir: &Path, config_yaml: &str) -> Vigil {
        let config_path = data_dir.with_extension("yaml");
        std::fs::create_dir_all(data_dir).unwrap();
        std::fs::write(&config_path, config_yaml).unwrap();
        Self::start_with_config(data_dir, &config_path)
    }

    /// Starts vigil with an existing config file.
    pub fn start_with_config(data_dir: &Path, config_path: &Path) -> Vigil {
        let mut child = Command::new(vigil_binary())
            .arg("serve")
            .arg("--config")
            .arg(config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env(
                "RUST_LOG",
                std::env::var("VIGIL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn vigil");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr: SocketAddr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                panic!("vigil did not report its listen address within 60 s");
            }
        };
        let vigil = Vigil {
            child: Some(child),
            addr,
            data_dir: data_dir.to_path_buf(),
            config_path: config_path.to_path_buf(),
            agent: agent(),
        };
        vigil.wait_ready(Duration::from_secs(60));
        vigil
    }

    fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(response) = self.agent.get(self.url("/-/ready")).call()
                && response.status().as_u16() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vigil at {} not ready within {limit:?}", self.addr);
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET `path` (with query string) as `tenant`.
    pub fn get(&self, path: &str, tenant: Option<&str>) -> Reply {
        let mut request = self.agent.get(self.url(path));
        if let Some(tenant) = tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        reply(request.call())
    }

    /// GET `path` (with query string) with extra request headers.
    pub fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.call())
    }

    /// POST a form-encoded body to `path` as Grafana does.
    pub fn post_form(&self, path: &str, form: &[(&str, &str)], tenant: Option<&str>) -> Reply {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(tenant) = tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        reply(request.send(body))
    }

    /// POST raw bytes with headers.
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut request = self.agent.post(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send(body))
    }

    /// Pushes `lines` JSON log lines `level=error line <i>` for stream `{app="<app>"}`, the
    /// newest a millisecond ago, as `tenant` (default tenant when `None`); asserts the 204.
    pub fn push_error_lines(&self, tenant: Option<&str>, app: &str, lines: usize) {
        let now_ns = now_ms() as i128 * 1_000_000;
        let values: Vec<String> = (0..lines)
            .map(|i| {
                format!(
                    "[\"{}\", \"level=error line {i}\"]",
                    now_ns - (lines - i) as i128 * 1_000_000
                )
            })
            .collect();
        let body = format!(
            "{{\"streams\":[{{\"stream\":{{\"app\":\"{app}\"}},\"values\":[{}]}}]}}",
            values.join(",")
        );
        let mut headers = vec![("content-type", "application/json")];
        if let Some(tenant) = tenant {
            headers.push(("X-Scope-OrgID", tenant));
        }
        let reply = self.post_raw("/loki/api/v1/push", &headers, body.into_bytes());
        assert_eq!(reply.status, 204, "push failed: {}", reply.body);
    }

    /// DELETE `path` with headers.
    pub fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.delete(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.call())
    }

    /// Sends a remote write 1.0 request.
    pub fn write_v1(&self, request: &pb1::WriteRequest, tenant: Option<&str>) -> Reply {
        let mut headers = vec![
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ];
        if let Some(tenant) = tenant {
            headers.push(("X-Scope-OrgID", tenant));
        }
        self.post_raw("/api/v1/write", &headers, snappy(&request.encode_to_vec()))
    }

    /// Sends a remote write 2.0 request.
    pub fn write_v2(&self, request: &pb2::Request, tenant: Option<&str>) -> Reply {
        let mut headers = vec![
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ];
        if let Some(tenant) = tenant {
            headers.push(("X-Scope-OrgID", tenant));
        }
        self.post_raw("/api/v1/write", &headers, snappy(&request.encode_to_vec()))
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (at most 30 s, then SIGKILL); returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Percent-encodes a form value.
pub fn encode(raw: &str) -> String {
    let mut out = String::new();
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Snappy block compression, as remote write uses.
pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).expect("snappy")
}

/// A 1.0 time series from label pairs and (ms, value) samples.
pub fn series_v1(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> pb1::TimeSeries {
    pb1::TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| pb1::Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|(t, v)| pb1::Sample {
                value: *v,
                timestamp: *t,
            })
            .collect(),
        ..Default::default()
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The `data` array of a successful `/api/v1/series` reply, as sorted label maps.
pub fn series_data(reply: &Reply) -> Vec<serde_json::Map<String, Value>> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["status"], "success", "{}", reply.body);
    json["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|v| v.as_object().expect("object").clone())
        .collect()
}

pub mod logs;
pub mod promql_conformance;
pub mod promql_script;

/// Kills and reaps a child process (a Prometheus, a helper server) when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of an interop binary from Debian's packages (`prometheus`, `promtool`): `$env_var`,
/// else `default`. When it is missing the test prints a skip message and gets `None`, unless
/// `VIGIL_REQUIRE_INTEROP=1` (set by CI), where a missing binary fails the test.
pub fn interop_binary(env_var: &str, default: &str, test: &str) -> Option<String> {
    let path = std::env::var(env_var).unwrap_or_else(|_| default.to_string());
    if std::path::Path::new(&path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var("VIGIL_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "{path} not found; run scripts/install-test-deps.sh"
    );
    eprintln!("SKIPPED {test}: {path} not found (run scripts/install-test-deps.sh)");
    None
}

/// A free TCP port on the loopback interface (for servers that need one on their command line).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|err| panic!("no free loopback port: {err}"))
}
