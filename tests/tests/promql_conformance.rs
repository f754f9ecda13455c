//! Runs every upstream PromQL test script against Vigil's engine and
//! reports `N passed, M failed` per file and group; fails when a group
//! drops below the ratchet in `tests/promql-conformance-ratchet.txt`.
//! `VIGIL_CONFORMANCE_FAILURES=<path>` writes every failing eval there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use vigil_tests::promql_conformance::{Group, run_file, testdata_dir};

fn ratchet() -> BTreeMap<String, usize> {
    let text = include_str!("../promql-conformance-ratchet.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn promql_conformance_against_upstream_scripts() {
    let Some(dir) = testdata_dir() else { return };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let groups = [
        Group::CoreFloat,
        Group::ExperimentalFloat,
        Group::NativeHistograms,
    ];
    let mut totals: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = String::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let outcomes = run_file(&name, &text).unwrap();
        let mut line = format!("{name}:");
        for g in groups {
            let of_group: Vec<_> = outcomes.iter().filter(|o| o.group == g).collect();
            if of_group.is_empty() {
                continue;
            }
            let passed = of_group.iter().filter(|o| o.failure.is_none()).count();
            let failed = of_group.len() - passed;
            line.push_str(&format!(
                " [{}] {passed} passed, {failed} failed;",
                g.name()
            ));
            let t = totals.entry(g.name()).or_default();
            t.0 += passed;
            t.1 += failed;
        }
        println!("{line}");
        for o in outcomes.iter().filter(|o| o.failure.is_some()) {
            failures.push_str(&format!(
                "{}:{} [{}] {}\n    {}\n",
                o.file,
                o.line,
                o.group.name(),
                o.expr,
                o.failure.as_deref().unwrap_or("")
            ));
        }
    }
    if let Ok(path) = std::env::var("VIGIL_CONFORMANCE_FAILURES") {
        std::fs::write(path, &failures).unwrap();
    }
    let ratchet = ratchet();
    let mut below = Vec::new();
    for g in groups {
        let (passed, failed) = totals.get(g.name()).copied().unwrap_or_default();
        println!(
            "TOTAL [{}]: {passed} passed, {failed} failed ({:.1}%)",
            g.name(),
            100.0 * passed as f64 / (passed + failed).max(1) as f64
        );
        let key = g.name().replace(' ', "_");
        let min = ratchet.get(&key).copied().unwrap_or(0);
        if passed < min {
            below.push(format!("{}: {passed} < ratchet {min}", g.name()));
        }
    }
    assert!(
        below.is_empty(),
        "conformance dropped below the ratchet: {below:?}"
    );
}
