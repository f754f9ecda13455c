//! In-process PromQL latency over the real TSDB (no HTTP): 10 k counters
//! scraped every 15 s for 6 h, cut into blocks, then the range query
//! `sum by (job) (rate(m[5m]))` over the 6 h at a 15 s step and the instant
//! `count({__name__=~".+"})`. Isolates engine + storage cost from the API.
//!
//! Run: `cargo bench -p vigil-benches --bench promql_engine`
//! (`VIGIL_BENCH_SERIES` overrides the series count).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{CounterTsdb, counter_tsdb};
use criterion::{Criterion, criterion_group, criterion_main};
use vigil_model::Labels;
use vigil_promql::{Engine, QueryOptions};

const STEP_MS: i64 = 15_000;
const SPAN_MS: i64 = 6 * 3_600_000;

fn fixture(rt: &tokio::runtime::Runtime, series: usize) -> CounterTsdb {
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::try_from_pairs([
                ("__name__", "m".to_string()),
                ("job", format!("job-{}", i % 10)),
                ("instance", format!("instance-{i}")),
            ])
            .unwrap()
        })
        .collect();
    let f = counter_tsdb(rt, &labels, STEP_MS, SPAN_MS);
    rt.block_on(f.tsdb.flush_head()).unwrap();
    f
}

fn bench(c: &mut Criterion) {
    let series: usize = std::env::var("VIGIL_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = fixture(&rt, series);
    let engine = Engine::default();
    let opts = QueryOptions::default();
    let mut group = c.benchmark_group("promql_engine");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("range sum by (job) (rate(m[5m])) 6h/15s", |b| {
        b.iter(|| {
            engine
                .range_query(
                    &f.tsdb,
                    &f.tenant,
                    "sum by (job) (rate(m[5m]))",
                    f.end_ms - SPAN_MS,
                    f.end_ms,
                    STEP_MS,
                    &opts,
                )
                .unwrap()
        })
    });
    group.bench_function("instant count({__name__=~\".+\"})", |b| {
        b.iter(|| {
            engine
                .instant_query(
                    &f.tsdb,
                    &f.tenant,
                    "count({__name__=~\".+\"})",
                    f.end_ms,
                    &opts,
                )
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
