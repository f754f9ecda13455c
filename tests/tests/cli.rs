//! The CLI rejects bad configuration with exit code 2 and a message naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use vigil_tests::vigil_binary;

/// Runs `vigil serve` with a config file; never passes `--listen`, so `server.listen` in the
/// file is what gets validated. Every config used here is invalid, so vigil exits at once.
fn run_with_config(yaml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = Command::new(vigil_binary())
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn unknown_key_exits_2_naming_it() {
    let (code, stderr) = run_with_config("storage:\n  tsdb:\n    retension: 1d\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("retension"), "{stderr}");
}

#[test]
fn invalid_value_exits_2_naming_the_key() {
    let (code, stderr) = run_with_config("storage:\n  tsdb:\n    block_range: two hours\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("storage.tsdb.block_range"), "{stderr}");
    let (code, stderr) = run_with_config("server:\n  listen: nowhere\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("server.listen"), "{stderr}");
}

#[test]
fn missing_explicit_config_file_exits_2() {
    let output = Command::new(vigil_binary())
        .args(["serve", "--config", "/nonexistent/vigil.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/vigil.yaml"));
}

#[test]
fn shipped_config_checks_clean_and_help_lists_the_flags() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/vigil.yaml");
    let output = Command::new(vigil_binary())
        .args(["check-config", "--config", shipped])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for example in ["s3.yaml", "multi-tenant.yaml"] {
        let path = format!(
            "{}/../config/examples/{example}",
            env!("CARGO_MANIFEST_DIR")
        );
        let output = Command::new(vigil_binary())
            .args(["check-config", "--config", &path])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let help = Command::new(vigil_binary()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--config", "--listen", "--data-dir", "serve"] {
        assert!(text.contains(flag), "--help must mention {flag}: {text}");
    }
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _first = vigil_tests::Vigil::start(&data, "");
    let mut second = Command::new(vigil_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a second server that wrongly starts is killed instead of hanging the suite.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second vigil on the same data dir kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("in use by another vigil process"),
        "{stderr}"
    );
}
