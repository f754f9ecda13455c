//! Head append throughput through the public storage traits: a `vigil_tsdb::Tsdb` opened in a
//! temporary directory (WAL without fsync, blocks on the local filesystem), appenders from
//! `vigil_storage::Appendable`, batches of node-exporter-like series that already exist in the
//! head (the steady state of a scraped fleet). Each batch is appended and committed, so the
//! figure includes validation, the WAL record encoding and write, and the in-memory apply.
//!
//! Run: `cargo bench -p vigil-benches --bench head_append`; criterion reports samples/s.
//! The tokio runtime is single-threaded; the WAL writer thread works while the committing
//! task waits for it, so the figure is close to one core's throughput.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use object_store::local::LocalFileSystem;
use vigil_benches::node_exporter::{NodeSeries, node_exporter_series};
use vigil_benches::rng::Rng;
use vigil_model::{Labels, Sample, TenantId};
use vigil_storage::{AppendOptions, Appendable};
use vigil_tsdb::{FsyncMode, Tsdb, TsdbOptions};

const SCRAPE_INTERVAL_MS: i64 = 15_000;
const START_MS: i64 = 1_700_000_000_000;

/// A batch shape: how many series, each with how many consecutive samples.
struct Shape {
    name: &'static str,
    series: usize,
    samples_per_series: usize,
}

const SHAPES: [Shape; 2] = [
    // Several scrapes per series in one commit, as when a sender catches up.
    Shape {
        name: "1000_series_x_10_samples",
        series: 1000,
        samples_per_series: 10,
    },
    // One scrape of many series per commit, the usual remote write shape.
    Shape {
        name: "10000_series_x_1_sample",
        series: 10_000,
        samples_per_series: 1,
    },
];

/// A database with `series` series, and the state to keep appending to them in order.
struct Fixture {
    _dir: tempfile::TempDir,
    tsdb: Tsdb,
    tenant: TenantId,
    labels: Vec<Labels>,
    series: Vec<NodeSeries>,
    rng: Rng,
    next_timestamp_ms: i64,
}

impl Fixture {
    async fn open(series_count: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects = dir.path().join("objects");
        std::fs::create_dir_all(&objects).expect("objects dir");
        let store = Arc::new(LocalFileSystem::new_with_prefix(&objects).expect("local store"));
        let options = TsdbOptions {
            data_dir: dir.path().to_path_buf(),
            wal_fsync: FsyncMode::None,
            ..TsdbOptions::default()
        };
        let (tsdb, _report) = Tsdb::open(options, store).await.expect("open tsdb");
        let series = node_exporter_series(series_count, 42);
        let labels = series
            .iter()
            .map(|s| Labels::try_from_pairs(s.labels().iter().cloned()).expect("valid labels"))
            .collect();
        Fixture {
            _dir: dir,
            tsdb,
            tenant: TenantId::new("bench").expect("tenant"),
            labels,
            series,
            rng: Rng::new(7),
            next_timestamp_ms: START_MS,
        }
    }

    /// Appends `samples_per_series` scrapes of every series in one commit.
    async fn append_batch(&mut self, samples_per_series: usize) -> u64 {
        let mut appender = self.tsdb.appender(&self.tenant, AppendOptions::default());
        let first_ms = self.next_timestamp_ms;
        for (labels, series) in self.labels.iter().zip(self.series.iter_mut()) {
            for i in 0..samples_per_series as i64 {
                let timestamp_ms = first_ms + i * SCRAPE_INTERVAL_MS;
                let value = series.next_value(&mut self.rng, timestamp_ms, SCRAPE_INTERVAL_MS);
                appender
                    .append_sample(labels, Sample::new(timestamp_ms, value))
                    .expect("append");
            }
        }
        self.next_timestamp_ms += samples_per_series as i64 * SCRAPE_INTERVAL_MS;
        appender.commit().await.expect("commit").samples
    }
}

fn bench_head_append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("head_append");
    for shape in SHAPES {
        let mut fixture = runtime.block_on(Fixture::open(shape.series));
        // The first batch creates the series; measure only appends to existing ones.
        runtime.block_on(fixture.append_batch(shape.samples_per_series));
        let samples = (shape.series * shape.samples_per_series) as u64;
        group.throughput(Throughput::Elements(samples));
        group.bench_function(BenchmarkId::from_parameter(shape.name), |b| {
            b.iter(|| runtime.block_on(fixture.append_batch(shape.samples_per_series)))
        });
        fixture.tsdb.close();
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench_head_append
}
criterion_main!(benches);
