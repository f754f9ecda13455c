//! Focused tests of the engine on the in-memory storage. (The bulk of the
//! semantics is proven by the upstream conformance scripts in `tests/`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use proptest::prelude::*;
use vigil_model::{Labels, Sample, TenantId, stale_nan};
use vigil_promql::{Engine, EngineOptions, ErrorKind, QueryOptions, Value};
use vigil_storage::memory::MemStorage;
use vigil_storage::{AppendOptions, Appendable};

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

/// A series: its label pairs and its (timestamp ms, value) samples.
type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], Vec<(i64, f64)>);

fn store(series: &[SeriesSpec<'_>]) -> MemStorage {
    let s = MemStorage::new();
    for (labels, samples) in series {
        let labels = Labels::from_static(labels);
        let mut app = s.appender(&tenant(), AppendOptions::default());
        for &(t, v) in samples {
            app.append_sample(&labels, Sample::new(t, v)).unwrap();
        }
        futures::executor::block_on(app.commit()).unwrap();
    }
    s
}

fn instant(s: &MemStorage, q: &str, t: i64) -> Value {
    Engine::default()
        .instant_query(s, &tenant(), q, t, &QueryOptions::default())
        .unwrap()
        .value
}

fn vector(v: Value) -> Vec<(String, f64)> {
    match v {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("expected vector, got {other:?}"),
    }
}

#[test]
fn rate_of_a_linear_counter_is_its_slope() {
    // 2 per second, scraped every 15 s for 10 minutes.
    let samples: Vec<(i64, f64)> = (0..=40).map(|i| (i * 15_000, i as f64 * 30.0)).collect();
    let s = store(&[(&[("__name__", "c_total"), ("job", "a")], samples)]);
    let v = vector(instant(&s, "rate(c_total[5m])", 600_000));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, r#"{job="a"}"#);
    assert!((v[0].1 - 2.0).abs() < 1e-9, "{}", v[0].1);
}

#[test]
fn counter_resets_are_compensated() {
    let samples = vec![(0, 10.0), (15_000, 20.0), (30_000, 5.0), (45_000, 15.0)];
    let s = store(&[(&[("__name__", "c_total")], samples)]);
    // increase over exactly the sampled span: 10 + (20) reset-corrected ... = 10 + 5 + 10 = 25,
    // extrapolated by the average interval at both ends of a 60 s window.
    let v = vector(instant(&s, "resets(c_total[1m])", 45_000));
    assert_eq!(v[0].1, 1.0);
    let v = vector(instant(&s, "increase(c_total[1m])", 45_000));
    assert!(v[0].1 > 25.0 && v[0].1 < 40.0, "{}", v[0].1);
}

#[test]
fn stale_marker_ends_a_series_before_the_lookback() {
    let s = store(&[(&[("__name__", "g")], vec![(0, 1.0), (10_000, stale_nan())])]);
    assert_eq!(vector(instant(&s, "g", 5_000)).len(), 1);
    assert!(vector(instant(&s, "g", 20_000)).is_empty());
}

#[test]
fn topk_instant_results_are_ordered() {
    let s = store(&[
        (&[("__name__", "m"), ("i", "a")], vec![(0, 1.0)]),
        (&[("__name__", "m"), ("i", "b")], vec![(0, 3.0)]),
        (&[("__name__", "m"), ("i", "c")], vec![(0, 2.0)]),
    ]);
    let v = vector(instant(&s, "topk(2, m)", 0));
    let values: Vec<f64> = v.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, vec![3.0, 2.0]);
}

#[test]
fn range_query_is_a_sorted_matrix_on_the_step_grid() {
    let s = store(&[
        (
            &[("__name__", "m"), ("i", "b")],
            vec![(0, 1.0), (60_000, 2.0)],
        ),
        (&[("__name__", "m"), ("i", "a")], vec![(0, 5.0)]),
    ]);
    let r = Engine::default()
        .range_query(
            &s,
            &tenant(),
            "m",
            0,
            120_000,
            30_000,
            &QueryOptions::default(),
        )
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected matrix")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].labels.get("i"), Some("a"));
    let ts: Vec<i64> = m[1].points.iter().map(|p| p.t_ms).collect();
    assert_eq!(ts, vec![0, 30_000, 60_000, 90_000, 120_000]);
    assert_eq!(m[1].points[2].v, 2.0);
}

#[test]
fn errors_carry_prometheus_error_types() {
    let s = MemStorage::new();
    let e = Engine::default();
    let opts = QueryOptions::default();
    let err = e
        .instant_query(&s, &tenant(), "sum(", 0, &opts)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    let err = e
        .range_query(&s, &tenant(), "m[5m]", 0, 60_000, 15_000, &opts)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    assert!(err.message.contains("range vector"), "{}", err.message);
    let err = e
        .instant_query(
            &s,
            &tenant(),
            "label_replace(vector(1), \"a\", \"\", \"b\", \"(\")",
            0,
            &opts,
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
}

#[test]
fn cancellation_and_timeout_stop_a_query() {
    let s = store(&[(&[("__name__", "m")], vec![(0, 1.0)])]);
    let e = Engine::default();
    let cancelled = QueryOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..QueryOptions::default()
    };
    let err = e
        .instant_query(&s, &tenant(), "m", 0, &cancelled)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Canceled);
    let timed_out = QueryOptions {
        timeout: Some(Duration::ZERO),
        ..QueryOptions::default()
    };
    let err = e
        .instant_query(&s, &tenant(), "m", 0, &timed_out)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
}

#[test]
fn sample_limit_is_enforced() {
    let samples: Vec<(i64, f64)> = (0..100).map(|i| (i * 1000, i as f64)).collect();
    let s = store(&[(&[("__name__", "m")], samples)]);
    let e = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let err = e
        .instant_query(
            &s,
            &tenant(),
            "count_over_time(m[1m])",
            99_000,
            &QueryOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(err.message.contains("too many samples"));
}

#[test]
fn lookback_delta_is_configurable_per_query() {
    let s = store(&[(&[("__name__", "m")], vec![(0, 1.0)])]);
    let e = Engine::default();
    let short = QueryOptions {
        lookback_delta_ms: Some(60_000),
        ..QueryOptions::default()
    };
    let v = e
        .instant_query(&s, &tenant(), "m", 120_000, &short)
        .unwrap();
    assert!(vector(v.value).is_empty());
    assert_eq!(vector(instant(&s, "m", 120_000)).len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `sum by (job)` equals summing each job's values by hand.
    #[test]
    fn sum_by_matches_manual_grouping(values in proptest::collection::vec((0usize..4, -1e6f64..1e6), 1..30)) {
        let s = MemStorage::new();
        let mut expected = [0.0f64; 4];
        let mut present = [false; 4];
        for (i, (job, v)) in values.iter().enumerate() {
            let labels = Labels::try_from_pairs([
                ("__name__", "m".to_string()),
                ("job", job.to_string()),
                ("i", i.to_string()),
            ]).unwrap();
            let mut app = s.appender(&tenant(), AppendOptions::default());
            app.append_sample(&labels, Sample::new(0, *v)).unwrap();
            futures::executor::block_on(app.commit()).unwrap();
            expected[*job] += v;
            present[*job] = true;
        }
        let got = vector(instant(&s, "sum by (job) (m)", 0));
        prop_assert_eq!(got.len(), present.iter().filter(|p| **p).count());
        for (labels, v) in got {
            let job: usize = labels.trim_start_matches("{job=\"").trim_end_matches("\"}").parse().unwrap();
            prop_assert!((v - expected[job]).abs() <= 1e-6 * expected[job].abs().max(1.0));
        }
    }

    /// Vector/vector arithmetic matches the scalar arithmetic (series with
    /// no labels besides the name match one-to-one).
    #[test]
    fn vector_arithmetic_matches_scalars(a in -1e9f64..1e9, b in -1e9f64..1e9) {
        let s = store(&[
            (&[("__name__", "x")], vec![(0, a)]),
            (&[("__name__", "y")], vec![(0, b)]),
        ]);
        for (q, want) in [("x + y", a + b), ("x - y", a - b), ("x * y", a * b), ("x + on() y", a + b)] {
            let got = vector(instant(&s, q, 0));
            prop_assert_eq!(got.len(), 1, "{}", q);
            prop_assert_eq!(got[0].0.as_str(), "{}");
            prop_assert_eq!(got[0].1, want, "{}", q);
        }
    }
}

#[test]
fn per_step_sample_stats_count_what_each_step_read() {
    let samples: Vec<(i64, f64)> = (0..=8).map(|i| (i * 15_000, i as f64)).collect();
    let s = store(&[(&[("__name__", "m")], samples)]);
    let opts = QueryOptions {
        per_step_stats: true,
        ..QueryOptions::default()
    };
    let r = Engine::default()
        .range_query(
            &s,
            &tenant(),
            "count_over_time(m[30s])",
            30_000,
            120_000,
            30_000,
            &opts,
        )
        .unwrap();
    // Each 30 s window (left-open) holds two 15 s samples.
    assert_eq!(
        r.stats.samples_per_step,
        vec![(30_000, 2), (60_000, 2), (90_000, 2), (120_000, 2)]
    );
    assert_eq!(r.stats.total_queryable_samples, 8);
}
