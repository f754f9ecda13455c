//! Rule evaluation cost per cycle: one group of 1 000 recording rules over 10 k counters in
//! the real TSDB head (10 minutes of 15 s samples), evaluated as the rule manager does it —
//! every rule's PromQL query, then its results committed through the durable write path
//! before the next rule runs. Each rule aggregates one of 100 shards of 100 series:
//! `sum by (job) (rate(m{shard="<n>"}[5m]))`, so a cycle reads 100 k series windows and
//! appends 10 k samples.
//!
//! Run: `cargo bench -p vigil-benches --bench rules_eval`
//! (`VIGIL_BENCH_SERIES` and `VIGIL_BENCH_RULES` override the sizes).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CounterTsdb, counter_tsdb};
use criterion::{Criterion, criterion_group, criterion_main};
use vigil_model::Labels;
use vigil_promql::Engine;
use vigil_rules::{Group, GroupEnv, ParseOptions, PromqlEvaluator, parse_rule_file};
use vigil_storage::{Appendable, Queryable};

const STEP_MS: i64 = 15_000;
const SPAN_MS: i64 = 10 * 60_000;
const SHARDS: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn bench(c: &mut Criterion) {
    let series = env_usize("VIGIL_BENCH_SERIES", 10_000);
    let rules = env_usize("VIGIL_BENCH_RULES", 1_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::try_from_pairs([
                ("__name__", "m".to_string()),
                ("job", format!("job-{}", i % 10)),
                ("shard", (i / 10 % SHARDS).to_string()),
                ("instance", format!("instance-{i}")),
            ])
            .unwrap()
        })
        .collect();
    let CounterTsdb {
        _dir,
        tsdb,
        tenant,
        end_ms,
    } = counter_tsdb(&rt, &labels, STEP_MS, SPAN_MS);

    let mut text = String::from("groups:\n- name: bench\n  interval: 15s\n  rules:\n");
    for r in 0..rules {
        text.push_str(&format!(
            "  - record: shard:m:rate5m_{r}\n    expr: sum by (job) (rate(m{{shard=\"{}\"}}[5m]))\n",
            r % SHARDS
        ));
    }
    let file = parse_rule_file(&text, &ParseOptions::default()).unwrap();
    let mut group = Group::new("bench.yml", &file.groups[0], 60_000, 0);
    let storage = Arc::new(tsdb.clone());
    let queryable: Arc<dyn Queryable> = storage.clone();
    let appendable: Arc<dyn Appendable> = storage;
    let env = GroupEnv {
        tenant,
        appendable,
        queryable: queryable.clone(),
        promql: Arc::new(PromqlEvaluator::new(Engine::default(), queryable)),
        logql: None,
        external_labels: Default::default(),
        external_url: String::new(),
        for_grace_period_ms: 600_000,
        outage_tolerance_ms: 3_600_000,
        resend_delay_ms: 60_000,
        runtime: rt.handle().clone(),
    };

    // Each cycle evaluates 1 ms after the previous one, so appends stay in order.
    let mut ts = end_ms;
    let mut bench_group = c.benchmark_group("rules_eval");
    bench_group.sample_size(10);
    bench_group.measurement_time(Duration::from_secs(20));
    bench_group.bench_function(format!("{rules}_recording_rules_{series}_series"), |b| {
        b.iter(|| {
            ts += 1;
            group.eval(ts, &env);
        })
    });
    bench_group.finish();
    let failures = group.metrics.evaluation_failures_total;
    assert_eq!(
        failures, 0,
        "rule evaluations failed: {:?}",
        group.rules[0].last_error
    );
    let written = group.metrics.last_evaluation_samples;
    assert_eq!(
        written as usize,
        rules * 10,
        "each rule writes one sample per job"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
