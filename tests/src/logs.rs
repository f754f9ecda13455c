//! Helpers for the log ingestion tests: the object store backend a test runs against (the
//! local filesystem, or a real S3 API server, moto, started on loopback), pushing in every
//! encoding, and reading entries back through the Loki query API.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{KillOnDrop, Reply, Vigil, encode, free_port};

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}

/// The Python of the test venv that `scripts/install-test-deps.sh` fills (moto, the Loki
/// handler, the OpenTelemetry SDK): `$VIGIL_PYTHON`, else `~/.cache/vigil-venv/bin/python`.
/// `None` (with a skip message) when it or `module` is missing, unless
/// `VIGIL_REQUIRE_INTEROP=1`, where that fails the test.
pub fn interop_python(module: &str, test: &str) -> Option<PathBuf> {
    let python = std::env::var("VIGIL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/vigil-venv/bin/python")
        });
    let has_module = python.exists()
        && Command::new(&python)
            .arg("-c")
            .arg(format!("import {module}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if has_module {
        return Some(python);
    }
    assert!(
        std::env::var("VIGIL_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "python module {module} not available in {} (run scripts/install-test-deps.sh)",
        python.display()
    );
    eprintln!(
        "SKIPPED {test}: python module {module} not available in {} (run scripts/install-test-deps.sh)",
        python.display()
    );
    None
}

/// An `Authorization` header naming the test credential Vigil is configured with.
const MOTO_OWNER_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

/// A moto S3 server on a free loopback port; killed when dropped.
pub struct Moto {
    _process: KillOnDrop,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    agent: ureq::Agent,
}

impl Moto {
    /// Starts moto's S3 server with the venv's python; `None` with a skip message when moto
    /// is not installed (a failure under `VIGIL_REQUIRE_INTEROP=1`).
    pub fn start(test: &str) -> Option<Moto> {
        let python = interop_python("moto.server", test)?;
        let port = free_port();
        let process = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let process = KillOnDrop(process);
        let endpoint = format!("http://127.0.0.1:{port}");
        let agent = crate::agent();
        // Importing moto takes seconds, more on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = agent.get(format!("{endpoint}/")).call()
                && response.status().as_u16() < 500
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {endpoint} within 120 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto {
            _process: process,
            endpoint,
            agent,
        })
    }

    /// Creates `bucket` (a plain `PUT /<bucket>`).
    pub fn create_bucket(&self, bucket: &str) {
        let response = self
            .agent
            .put(format!("{}/{bucket}", self.endpoint))
            .send(Vec::<u8>::new())
            .expect("create bucket");
        assert_eq!(response.status().as_u16(), 200, "creating bucket {bucket}");
    }

    /// Every key under `prefix` in `bucket` (ListObjectsV2, following continuation tokens).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/{}?list-type=2&prefix={}",
                self.endpoint,
                bucket,
                encode(prefix)
            );
            if let Some(token) = &token {
                url.push_str(&format!("&continuation-token={}", encode(token)));
            }
            let mut response = self.agent.get(url).call().expect("list objects");
            assert_eq!(response.status().as_u16(), 200);
            let body = response.body_mut().read_to_string().unwrap();
            keys.extend(xml_values(&body, "Key"));
            token = xml_values(&body, "NextContinuationToken")
                .into_iter()
                .next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// The bytes of one object of `bucket`, read as the owner (moto answers anonymous reads
    /// of private objects with 403, and does not verify signatures, only the credential).
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let mut response = self
            .agent
            .get(format!("{}/{bucket}/{key}", self.endpoint))
            .header("Authorization", MOTO_OWNER_AUTH)
            .call()
            .expect("get object");
        assert_eq!(response.status().as_u16(), 200, "GET {key}");
        response.body_mut().read_to_vec().unwrap()
    }
}

fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .map(|v| {
            v.replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
        })
        .collect()
}

/// Where a test's Vigil keeps its objects.
pub enum Backend {
    /// `storage.object_store.backend: filesystem` with the given directory (kept apart from
    /// the data directory so a test can start a fresh node on the same objects).
    Filesystem(PathBuf),
    /// `storage.object_store.backend: s3` against a moto server, in one of its buckets.
    S3(Arc<Moto>, String),
}

impl Backend {
    /// The filesystem backend under `root/objects`.
    pub fn filesystem(root: &Path) -> Backend {
        Backend::Filesystem(root.join("objects"))
    }

    /// The S3 backend in a new bucket of `moto` (named after `test`).
    pub fn s3(moto: &Arc<Moto>, test: &str) -> Backend {
        let bucket: String = format!("vigil-{}", test.replace('_', "-"))
            .chars()
            .take(63)
            .collect();
        let bucket = bucket.trim_end_matches('-').to_string();
        moto.create_bucket(&bucket);
        Backend::S3(moto.clone(), bucket)
    }

    /// A name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Filesystem(_) => "filesystem",
            Backend::S3(..) => "s3",
        }
    }

    /// The `storage:` section selecting this backend (and `extra`, indented YAML lines
    /// under `storage:`, e.g. `  tsdb:\n    maintenance_interval: 100ms\n`).
    pub fn storage_yaml(&self, extra: &str) -> String {
        let object_store = match self {
            Backend::Filesystem(dir) => format!(
                "  object_store:\n    backend: filesystem\n    filesystem_dir: {:?}\n",
                dir.display().to_string()
            ),
            Backend::S3(moto, bucket) => format!(
                "  object_store:\n    backend: s3\n    s3:\n      bucket: {}\n      region: us-east-1\n      endpoint: {}\n      access_key_id: testing\n      secret_access_key: testing\n      allow_http: true\n      force_path_style: true\n",
                bucket, moto.endpoint
            ),
        };
        format!("storage:\n{object_store}{extra}")
    }

    /// Every object key under `prefix` (`/`-separated, relative to the store's root).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        match self {
            Backend::S3(moto, bucket) => moto.keys(bucket, prefix),
            Backend::Filesystem(root) => {
                let mut keys = Vec::new();
                walk(root, root, &mut keys);
                keys.retain(|k| k.starts_with(prefix));
                keys.sort();
                keys
            }
        }
    }

    /// The bytes of one object.
    pub fn get(&self, key: &str) -> Vec<u8> {
        match self {
            Backend::S3(moto, bucket) => moto.get(bucket, key),
            Backend::Filesystem(root) => std::fs::read(root.join(key)).unwrap(),
        }
    }

    /// The log segments of `tenant` on the object store: segment id → its files.
    pub fn log_segments(&self, tenant: &str) -> BTreeMap<String, Vec<String>> {
        let prefix = format!("logs/{tenant}/segments/");
        let mut segments: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in self.keys(&prefix) {
            let rest = &key[prefix.len()..];
            if let Some((id, file)) = rest.split_once('/') {
                segments
                    .entry(id.to_string())
                    .or_default()
                    .push(file.to_string());
            }
        }
        segments
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Starts Vigil on `data_dir` with `backend`, `storage_extra` under `storage:` and the rest
/// of the config (`logs:` etc.) from `other_yaml`.
pub fn start_on(
    backend: &Backend,
    data_dir: &Path,
    storage_extra: &str,
    other_yaml: &str,
) -> Vigil {
    let yaml = format!("{}{other_yaml}", backend.storage_yaml(storage_extra));
    Vigil::start(data_dir, &yaml)
}

/// gzip of `raw`.
pub fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(raw).unwrap();
    encoder.finish().unwrap()
}

/// zlib (`Content-Encoding: deflate`) of `raw`.
pub fn deflate(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(raw).unwrap();
    encoder.finish().unwrap()
}

/// POSTs a push body with a Content-Type, an optional Content-Encoding and tenant.
pub fn post_push(
    vigil: &Vigil,
    path: &str,
    content_type: &str,
    content_encoding: Option<&str>,
    tenant: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(encoding) = content_encoding {
        headers.push(("Content-Encoding", encoding));
    }
    if let Some(tenant) = tenant {
        headers.push(("X-Scope-OrgID", tenant));
    }
    vigil.post_raw(path, &headers, body)
}

/// One entry read back: time, line, structured metadata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReadEntry {
    /// Nanoseconds.
    pub ts_ns: i64,
    /// The line.
    pub line: String,
    /// Structured metadata (name → value).
    pub metadata: BTreeMap<String, String>,
}

/// One stream of a `streams` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStream {
    /// The indexed stream labels.
    pub labels: BTreeMap<String, String>,
    /// Entries in the order the API returned them.
    pub entries: Vec<ReadEntry>,
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /loki/api/v1/query_range` with the `categorize-labels` encoding (stream labels
/// apart from structured metadata); panics unless the answer is a `streams` result.
pub fn query_streams(
    vigil: &Vigil,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    direction: &str,
    limit: usize,
    tenant: Option<&str>,
) -> Vec<ReadStream> {
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}&direction={direction}&limit={limit}",
        encode(query)
    );
    let mut headers = vec![("X-Loki-Response-Encoding-Flags", "categorize-labels")];
    if let Some(tenant) = tenant {
        headers.push(("X-Scope-OrgID", tenant));
    }
    let reply = vigil.get_with_headers(&path, &headers);
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    let json = reply.json();
    assert_eq!(json["data"]["resultType"], "streams", "{}", reply.body);
    json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| ReadStream {
            labels: string_map(&stream["stream"]),
            entries: stream["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|value| ReadEntry {
                    ts_ns: value[0].as_str().unwrap().parse().unwrap(),
                    line: value[1].as_str().unwrap().to_string(),
                    metadata: string_map(&value[2]["structuredMetadata"]),
                })
                .collect(),
        })
        .collect()
}

/// Every entry matching `query` in [start, end], paging forward past the API's 5 000-entry
/// limit (entries must have distinct timestamps for the paging to be exact), with labels.
pub fn query_all(
    vigil: &Vigil,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    tenant: Option<&str>,
) -> Vec<(BTreeMap<String, String>, ReadEntry)> {
    const PAGE: usize = 5_000;
    let mut out = Vec::new();
    let mut cursor = start_ns;
    loop {
        let streams = query_streams(vigil, query, cursor, end_ns, "forward", PAGE, tenant);
        let mut page: Vec<(BTreeMap<String, String>, ReadEntry)> = streams
            .into_iter()
            .flat_map(|s| {
                let labels = s.labels;
                s.entries.into_iter().map(move |e| (labels.clone(), e))
            })
            .collect();
        page.sort_by_key(|a| a.1.ts_ns);
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            cursor = last.1.ts_ns + 1;
        }
        out.extend(page);
        if !full {
            return out;
        }
    }
}

/// `POST /flush`: every log head to the object store now; panics unless 204.
pub fn flush(vigil: &Vigil) {
    let reply = vigil.post_raw("/flush", &[], Vec::new());
    assert_eq!(reply.status, 204, "flush: {}", reply.body);
}
