//! SLO rule generation through the real binary: the shipped `rules/slo-rules.yml` and the
//! unit-test rule files are exactly `vigil slo generate` of their specs; Debian's
//! `promtool check rules` accepts them; and the promtool-format unit tests in
//! `tests/slo-unittest/` (each alert tier firing at the expected minute, silence at 1×
//! burn, the no-data alert, the exact period SLI against a brute-force ratio within 1e-6,
//! the reset of a calendar period)
//! pass under both `vigil rules test` and `promtool test rules`.
//!
//! The promtool parts need `/usr/bin/promtool` (`scripts/install-test-deps.sh`); without it
//! they say so and are skipped, unless `VIGIL_REQUIRE_INTEROP=1`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_tests::{interop_binary, vigil_binary};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn unittest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slo-unittest")
}

/// `vigil slo generate <spec>` run in `dir`.
fn generate(dir: &Path, spec: &str) -> String {
    let output = Command::new(vigil_binary())
        .args(["slo", "generate", spec])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "vigil slo generate {spec} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn generated_rule_files_are_up_to_date() {
    for (dir, spec, rules) in [
        (repo(), "rules/slos.yml", "rules/slo-rules.yml"),
        (unittest_dir(), "slos.yml", "slo-rules.yml"),
        (unittest_dir(), "exact.yml", "exact-rules.yml"),
        (unittest_dir(), "calendar.yml", "calendar-rules.yml"),
    ] {
        let fresh = generate(&dir, spec);
        let stored = std::fs::read_to_string(dir.join(rules)).unwrap();
        assert!(
            fresh == stored,
            "{} is stale: regenerate it with `vigil slo generate {spec} > {rules}` in {}",
            rules,
            dir.display()
        );
    }
}

#[test]
fn slo_check_accepts_the_shipped_spec_and_rejects_bad_input_with_exit_2() {
    let ok = Command::new(vigil_binary())
        .args(["slo", "check", "rules/slos.yml"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "rules/slos.yml: 6 SLOs valid\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "version: vigil/v1\nservice: web\nslos:\n  - name: avail\n    objective: 99.9\n    sli:\n      events: {error: 'rate(x[5m])', total: x_total}\n",
    )
    .unwrap();
    for command in ["check", "generate"] {
        let out = Command::new(vigil_binary())
            .args(["slo", command, "bad.yml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "vigil slo {command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(
                "bad.yml: slo \"avail\": field slos[0].sli.events.error: expected a plain series selector"
            ),
            "{stderr}"
        );
        assert!(out.stdout.is_empty() || command == "check");
    }
    let missing = Command::new(vigil_binary())
        .args(["slo", "check", "nope.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn promtool_checks_the_generated_rules() {
    let Some(promtool) = interop_binary("PROMTOOL_BIN", "/usr/bin/promtool", "SLO promtool check")
    else {
        return;
    };
    for file in [
        repo().join("rules/slo-rules.yml"),
        unittest_dir().join("slo-rules.yml"),
        unittest_dir().join("exact-rules.yml"),
        unittest_dir().join("calendar-rules.yml"),
    ] {
        let out = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check rules {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn run(program: &Path, args: &[&str], file: &Path) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .arg(file.file_name().unwrap())
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()));
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn slo_unit_tests_pass_in_vigil_and_promtool() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(unittest_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for expected in [
        "pass_slo_page_fast.test.yml",
        "pass_slo_page_slow.test.yml",
        "pass_slo_ticket.test.yml",
        "pass_slo_silent_at_1x.test.yml",
        "pass_slo_no_data.test.yml",
        "pass_slo_exact_period.test.yml",
        "pass_slo_calendar_reset.test.yml",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing {expected}");
    }
    let promtool = interop_binary(
        "PROMTOOL_BIN",
        "/usr/bin/promtool",
        "SLO promtool unit tests",
    );
    let mut failures = Vec::new();
    for file in &files {
        let (ok, text) = run(&vigil_binary(), &["rules", "test"], file);
        if !ok {
            failures.push(format!("vigil rules test {}:\n{text}", file.display()));
        }
        if let Some(promtool) = &promtool {
            let (ok, text) = run(Path::new(promtool), &["test", "rules"], file);
            if !ok {
                failures.push(format!("promtool test rules {}:\n{text}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
