//! In-process PromQL latency over the real TSDB (no HTTP): 10 k counters
//! scraped every 15 s for 6 h, cut into blocks, then the range query
//! `sum by (job) (rate(m[5m]))` over the 6 h at a 15 s step and the instant
//! `count({__name__=~".+"})`. Isolates engine + storage cost from the API.
//!
//! Run: `cargo bench -p vigil-benches --bench promql_engine`
//! (`VIGIL_BENCH_SERIES` overrides the series count).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use object_store::local::LocalFileSystem;
use vigil_model::{Labels, Sample, TenantId};
use vigil_promql::{Engine, QueryOptions};
use vigil_storage::{AppendOptions, Appendable};
use vigil_tsdb::{FsyncMode, Tsdb, TsdbOptions};

const STEP_MS: i64 = 15_000;
const SPAN_MS: i64 = 6 * 3_600_000;

struct Fixture {
    _dir: tempfile::TempDir,
    tsdb: Tsdb,
    tenant: TenantId,
    end_ms: i64,
}

fn fixture(rt: &tokio::runtime::Runtime, series: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("objects")).unwrap();
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("objects")).unwrap());
    let options = TsdbOptions {
        data_dir: dir.path().join("data"),
        wal_fsync: FsyncMode::None,
        ..TsdbOptions::default()
    };
    let (tsdb, _) = rt.block_on(Tsdb::open(options, store)).unwrap();
    let tenant = TenantId::new("bench").unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end_ms = now - now % STEP_MS;
    let start_ms = end_ms - SPAN_MS;
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
    let mut values = vec![0.0f64; series];
    let mut t = start_ms;
    while t <= end_ms {
        let mut app = tsdb.appender(&tenant, AppendOptions::default());
        for (i, l) in labels.iter().enumerate() {
            values[i] += (i % 21) as f64;
            app.append_sample(l, Sample::new(t, values[i])).unwrap();
        }
        rt.block_on(app.commit()).unwrap();
        t += STEP_MS;
    }
    rt.block_on(tsdb.flush_head()).unwrap();
    Fixture {
        _dir: dir,
        tsdb,
        tenant,
        end_ms,
    }
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
