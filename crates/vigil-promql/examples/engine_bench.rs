//! Times the engine on the in-memory storage:
//! `cargo run --release -p vigil-promql --example engine_bench [series] [hours]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use vigil_model::{Labels, Sample, TenantId};
use vigil_promql::{Engine, QueryOptions};
use vigil_storage::memory::MemStorage;
use vigil_storage::{AppendOptions, Appendable};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let series: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let hours: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(6);
    let tenant = TenantId::new("bench").unwrap();
    let s = MemStorage::new();
    let end = hours * 3600 * 1000;
    let load = Instant::now();
    for i in 0..series {
        let labels = Labels::try_from_pairs([
            ("__name__", "m".to_string()),
            ("job", format!("job{}", i % 10)),
            ("instance", format!("i{i}")),
        ])
        .unwrap();
        let mut app = s.appender(&tenant, AppendOptions::default());
        let mut v = 0.0;
        let mut t = 0;
        while t <= end {
            v += (i % 7) as f64 + 1.0;
            app.append_sample(&labels, Sample::new(t, v)).unwrap();
            t += 15_000;
        }
        futures::executor::block_on(app.commit()).unwrap();
    }
    eprintln!("loaded {series} series in {:?}", load.elapsed());
    let engine = Engine::default();
    for q in ["sum by (job)(rate(m[5m]))", "count({__name__=~\".+\"})"] {
        for _ in 0..3 {
            let t = Instant::now();
            let r = engine
                .range_query(&s, &tenant, q, 0, end, 15_000, &QueryOptions::default())
                .unwrap();
            eprintln!(
                "{q}: {:?} ({} samples)",
                t.elapsed(),
                r.stats.total_queryable_samples
            );
        }
    }
}
