//! Running the real `vigil` binary as a black box: start it on `127.0.0.1:0` with its own
//! data dir and config, wait until it is ready, read its CPU time from `/proc`, and kill it
//! when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running `vigil serve`, killed when dropped (its temporary directory removed with it).
pub struct VigilProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The data dir given with `--data-dir`.
    pub data_dir: PathBuf,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for VigilProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP agent that returns error statuses as responses.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Starts `vigil serve` with `config_path` on `127.0.0.1:0`, its stderr in `log_path` and
/// `envs` set, and forwards the address it reports listening on to the returned channel.
pub fn spawn_vigil(
    bin: &Path,
    config_path: &Path,
    data_dir: &Path,
    log_path: &Path,
    envs: &[(&str, &str)],
) -> Result<(Child, mpsc::Receiver<String>)> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log_path)?)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it with `cargo build --release -p vigil` or pass --vigil-bin)",
                bin.display()
            )
        })?;
    let stdout = child.stdout.take().context("vigil stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    Ok((child, rx))
}

/// `$VIGIL_BIN`, else `vigil` next to the running executable (cargo's target dir).
pub fn default_vigil_bin() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("VIGIL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("locating this executable")?;
    let mut dir = exe.parent().context("executable has no directory")?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().context("deps dir has no parent")?;
    }
    Ok(dir.join("vigil"))
}

impl VigilProcess {
    /// Starts `bin serve` with `config_yaml` in a new temporary directory under `parent`
    /// (the system's temporary directory when `None`) and waits until `/-/ready` answers.
    pub fn start(bin: &Path, config_yaml: &str, parent: Option<&Path>) -> Result<Self> {
        let dir = match parent {
            Some(parent) => tempfile::tempdir_in(parent)?,
            None => tempfile::tempdir()?,
        };
        let data_dir = dir.path().join("data");
        let config_path = dir.path().join("vigil.yaml");
        let log_path = dir.path().join("vigil.log");
        std::fs::write(&config_path, config_yaml)?;
        let (child, rx) = spawn_vigil(bin, &config_path, &data_dir, &log_path, &[])?;
        let mut server = Self {
            child,
            base_url: String::new(),
            data_dir,
            log_path,
            _dir: dir,
        };
        let addr: SocketAddr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().context("vigil's listen address")?,
            Err(_) => bail!(
                "vigil did not report its listen address within 60 s:\n{}",
                server.log_tail()
            ),
        };
        server.base_url = format!("http://{addr}");
        server.wait_ready(Duration::from_secs(120))?;
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last 20 lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until `GET /-/ready` answers 200.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let agent = agent(Duration::from_secs(2));
        let deadline = Instant::now() + limit;
        let url = format!("{}/-/ready", self.base_url);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "vigil exited with {status} before becoming ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(response) = agent.get(&url).call()
                && response.status().as_u16() == 200
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("vigil not ready within {limit:?}:\n{}", self.log_tail())
    }

    /// User plus system CPU seconds the server has used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(&self.pid().to_string())
    }

    /// Peak resident set size in bytes (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .context("no VmHWM in /proc status")?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed VmHWM")?
            .parse()
            .context("VmHWM value")?;
        Ok(kib * 1024)
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` CPU times.
pub fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User plus system CPU seconds of a process (`pid` "self" for this one).
pub fn cpu_seconds(pid: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .context("short /proc stat")?
            .parse::<f64>()
            .context("/proc stat field")
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
}

/// Total size in bytes of the files under `dir` (recursively); 0 when it does not exist.
pub fn dir_bytes(dir: &Path) -> Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut total = 0;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}
