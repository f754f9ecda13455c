//! Fixture shared by the in-process benches: a TSDB in a temporary directory
//! (WAL without fsync, blocks on the local filesystem) filled with counters.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::local::LocalFileSystem;
use vigil_model::{Labels, Sample, TenantId};
use vigil_storage::{AppendOptions, Appendable};
use vigil_tsdb::{FsyncMode, Tsdb, TsdbOptions};

/// A TSDB holding `labels.len()` counters sampled every `step_ms` over the
/// `span_ms` ending at `end_ms` (the last step boundary before now). Counter
/// `i` grows by `i % 21` per sample.
pub(crate) struct CounterTsdb {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) tsdb: Tsdb,
    pub(crate) tenant: TenantId,
    pub(crate) end_ms: i64,
}

pub(crate) fn counter_tsdb(
    rt: &tokio::runtime::Runtime,
    labels: &[Labels],
    step_ms: i64,
    span_ms: i64,
) -> CounterTsdb {
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
    let end_ms = now - now % step_ms;
    let mut values = vec![0.0f64; labels.len()];
    let mut t = end_ms - span_ms;
    while t <= end_ms {
        let mut app = tsdb.appender(&tenant, AppendOptions::default());
        for (i, l) in labels.iter().enumerate() {
            values[i] += (i % 21) as f64;
            app.append_sample(l, Sample::new(t, values[i])).unwrap();
        }
        rt.block_on(app.commit()).unwrap();
        t += step_ms;
    }
    CounterTsdb {
        _dir: dir,
        tsdb,
        tenant,
        end_ms,
    }
}
