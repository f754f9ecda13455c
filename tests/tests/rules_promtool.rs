//! Interop: `vigil rules test` and Debian's `promtool test rules` must agree on every unit-test
//! file in `tests/rules-unittest/` — same verdict per file and the same failing cases
//! (alert name, expression, rule and test-group name with their times). File names say what
//! the verdict must be (`pass_*` / `fail_*`), so the corpus also checks itself.
//!
//! Needs `/usr/bin/promtool` (Debian's `prometheus` package, installed by
//! `scripts/install-test-deps.sh`). When it is missing the test says so and returns, unless
//! `VIGIL_REQUIRE_INTEROP=1` (set by CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_tests::{interop_binary, vigil_binary};

/// Exit success and the identifying lines of each failure, sorted.
fn verdict(program: &str, args: &[&str], file: &Path) -> (bool, Vec<String>) {
    let output = Command::new(program)
        .args(args)
        .arg(file.file_name().unwrap())
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let header = regex::Regex::new(
        r#"^    (name: .*|alertname: \S+, time: [^,]+|expr: ".*", time: [^,]+|rule: \S+, time: [^,]+)"#,
    )
    .unwrap();
    let mut failures: Vec<String> = text
        .lines()
        .filter_map(|line| {
            header
                .captures(line)
                .map(|c| c[1].trim_end_matches(',').to_string())
        })
        .collect();
    failures.sort();
    (output.status.success(), failures)
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-unittest");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn vigil_and_promtool_agree_on_every_unit_test_file() {
    let files = corpus();
    assert!(
        files.len() >= 30,
        "the corpus has only {} files",
        files.len()
    );
    let vigil = vigil_binary();
    let vigil = vigil.to_string_lossy().to_string();
    let promtool = interop_binary(
        "PROMTOOL_BIN",
        "/usr/bin/promtool",
        "promtool agreement test",
    );
    let mut disagreements = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let should_pass = name.starts_with("pass_");
        let ours = verdict(&vigil, &["rules", "test"], file);
        if ours.0 != should_pass {
            disagreements.push(format!("{name}: vigil says pass={} ({:?})", ours.0, ours.1));
        }
        if !should_pass
            && ours.1.is_empty()
            && name != "fail_26_broken_rule_file.test.yml"
            && name != "fail_31_missing_alertname.test.yml"
            && name != "fail_32_unknown_field.test.yml"
        {
            disagreements.push(format!(
                "{name}: vigil failed without naming a failing case"
            ));
        }
        if let Some(promtool) = &promtool {
            let theirs = verdict(promtool, &["test", "rules"], file);
            if theirs != ours {
                disagreements.push(format!("{name}: promtool {theirs:?} vs vigil {ours:?}"));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// The shipped rule files (`rules/*-rules.yml`) pass both `vigil rules check` and
/// `promtool check rules`.
#[test]
fn shipped_rule_files_pass_vigil_and_promtool_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-rules.yml"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("application-rules.yml")),
        "{files:?}"
    );
    let vigil = vigil_binary();
    let promtool = interop_binary(
        "PROMTOOL_BIN",
        "/usr/bin/promtool",
        "promtool check of the shipped rules",
    );
    for file in &files {
        let mut checks = vec![(vigil.to_string_lossy().to_string(), vec!["rules", "check"])];
        if let Some(promtool) = &promtool {
            checks.push((promtool.clone(), vec!["check", "rules"]));
        }
        for (program, args) in checks {
            let output = Command::new(&program)
                .args(&args)
                .arg(file)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{program} {args:?} {}: {}{}",
                file.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("SUCCESS"), "{program}: {stdout}");
        }
    }
}
