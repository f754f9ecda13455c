//! The head's appender: validates samples against the head, writes the batch to the WAL
//! (group commit), then applies it to memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use vigil_model::{Labels, MetricMetadata, Sample};
use vigil_storage::{AppendError, AppendOptions, Appender, CommitStats, StorageError};

use crate::db::DbInner;
use crate::head::{Head, MemSeries};
use crate::head_wal;

/// Where a buffered sample goes: an existing series, or one to create at commit.
enum Target {
    Existing(Arc<MemSeries>),
    New(usize),
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) struct HeadAppender {
    db: Arc<DbInner>,
    head: Arc<Head>,
    options: AppendOptions,
    samples: Vec<(Target, Sample)>,
    new_series: Vec<Labels>,
    new_series_index: HashMap<Labels, usize>,
    /// Newest timestamp buffered per existing series id, to validate within the batch.
    pending_max: HashMap<u32, i64>,
    metadata: Vec<(String, MetricMetadata)>,
}

impl HeadAppender {
    pub(crate) fn new(db: Arc<DbInner>, head: Arc<Head>, options: AppendOptions) -> Self {
        Self {
            db,
            head,
            options,
            samples: Vec::new(),
            new_series: Vec::new(),
            new_series_index: HashMap::new(),
            pending_max: HashMap::new(),
            metadata: Vec::new(),
        }
    }

    /// `late_ok`: the sample is within the out-of-order time window, so how far it is behind
    /// its series' newest sample does not matter.
    fn validate_existing(
        &self,
        series: &MemSeries,
        sample: Sample,
        late_ok: bool,
    ) -> Result<(), AppendError> {
        let data = series.data.lock();
        let newest = data.max_time_ms().unwrap_or(i64::MIN).max(
            self.pending_max
                .get(&series.id)
                .copied()
                .unwrap_or(i64::MIN),
        );
        if sample.timestamp_ms > newest {
            return Ok(());
        }
        if let Some(existing) = data.value_at(sample.timestamp_ms) {
            if existing.to_bits() == sample.value.to_bits() {
                return Ok(());
            }
            return Err(AppendError::DuplicateTimestamp {
                labels: series.labels.clone(),
                timestamp_ms: sample.timestamp_ms,
            });
        }
        if !self.options.skip_time_checks
            && !late_ok
            && sample.timestamp_ms < newest.saturating_sub(self.head.options.out_of_order_window_ms)
        {
            return Err(AppendError::OutOfOrder {
                labels: series.labels.clone(),
                timestamp_ms: sample.timestamp_ms,
                newest_ms: newest,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Appender for HeadAppender {
    fn append_sample(&mut self, labels: &Labels, sample: Sample) -> Result<(), AppendError> {
        if labels.metric_name().is_none_or(str::is_empty) {
            return Err(AppendError::InvalidSeries {
                labels: labels.clone(),
                reason: "missing metric name (__name__)".into(),
            });
        }
        if !self.options.skip_time_checks {
            let max_valid = wall_clock_ms().saturating_add(self.head.options.max_future_ms);
            if sample.timestamp_ms > max_valid {
                return Err(AppendError::TooNew {
                    labels: labels.clone(),
                    timestamp_ms: sample.timestamp_ms,
                    max_valid_ms: max_valid,
                });
            }
        }
        let min_valid = self.head.min_valid_time_ms();
        // Within the out-of-order time window a sample is accepted even behind the last cut
        // block (the next block cut writes it into an overlapping block).
        let late_floor = self.head.late_floor_ms();
        let late_ok = late_floor.is_some_and(|floor| sample.timestamp_ms >= floor);
        if !self.options.skip_time_checks && !late_ok && sample.timestamp_ms < min_valid {
            return Err(AppendError::TooOld {
                labels: labels.clone(),
                timestamp_ms: sample.timestamp_ms,
                min_valid_ms: late_floor.map_or(min_valid, |floor| floor.min(min_valid)),
            });
        }
        if let Some(series) = self.head.index.read().get(labels) {
            self.validate_existing(&series, sample, late_ok)?;
            let newest = self.pending_max.entry(series.id).or_insert(i64::MIN);
            *newest = (*newest).max(sample.timestamp_ms);
            self.samples.push((Target::Existing(series), sample));
            return Ok(());
        }
        let index = match self.new_series_index.get(labels) {
            Some(index) => *index,
            None => {
                let max_series = self.head.options.max_series;
                if max_series > 0 && self.head.num_series() + self.new_series.len() >= max_series {
                    return Err(AppendError::SeriesLimit {
                        labels: labels.clone(),
                        limit: max_series,
                    });
                }
                self.new_series.push(labels.clone());
                self.new_series_index
                    .insert(labels.clone(), self.new_series.len() - 1);
                self.new_series.len() - 1
            }
        };
        self.samples.push((Target::New(index), sample));
        Ok(())
    }

    fn append_metadata(
        &mut self,
        metric_family: &str,
        metadata: MetricMetadata,
    ) -> Result<(), AppendError> {
        self.metadata.push((metric_family.to_string(), metadata));
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let this = *self;
        let tenant = &this.head.tenant;
        let mut stats = CommitStats::default();
        // Holding the apply gate (shared) from the WAL write until memory is updated lets a
        // checkpoint wait for in-flight commits, so no acknowledged batch falls between a
        // WAL segment being checkpointed and the head snapshot it is replaced by.
        let _gate = this.db.apply_gate.read().await;
        let mut created_records = Vec::new();
        let mut samples = this.samples;
        let is_live = |index: &crate::head::HeadIndex, series: &Arc<MemSeries>| {
            index
                .series
                .get(&series.id)
                .is_some_and(|live| Arc::ptr_eq(live, series))
        };
        let all_live = {
            let index = this.head.index.read();
            samples.iter().all(|(target, _)| match target {
                Target::Existing(series) => is_live(&index, series),
                Target::New(_) => true,
            })
        };
        let new_series: Vec<Arc<MemSeries>> = if all_live && this.new_series.is_empty() {
            // The common case: every series exists; no exclusive index lock needed.
            Vec::new()
        } else {
            let mut index = this.head.index.write();
            // A series seen at append time may have been dropped since by a head truncation
            // (it had no samples after the block cut): recreate it, and log it again.
            for (target, _) in samples.iter_mut() {
                if let Target::Existing(series) = target
                    && !is_live(&index, series)
                {
                    let revived = index.insert(None, series.labels.clone());
                    created_records.push((revived.id, revived.labels.clone()));
                    *target = Target::Existing(revived);
                }
            }
            this.new_series
                .into_iter()
                .map(|labels| {
                    let existed = index.get(&labels);
                    match existed {
                        Some(series) => series,
                        None => {
                            let series = index.insert(None, labels);
                            created_records.push((series.id, series.labels.clone()));
                            series
                        }
                    }
                })
                .collect()
        };
        stats.new_series = created_records.len() as u64;
        created_records.sort_by_key(|(id, _)| *id);
        created_records.dedup_by_key(|(id, _)| *id);
        let resolved: Vec<(&MemSeries, Sample)> = samples
            .iter()
            .map(|(target, sample)| match target {
                Target::Existing(series) => (series.as_ref(), *sample),
                Target::New(i) => (new_series[*i].as_ref(), *sample),
            })
            .collect();
        let mut records = Vec::with_capacity(2 + this.metadata.len());
        if !created_records.is_empty() {
            records.push(head_wal::encode_series(tenant, &created_records));
        }
        if !resolved.is_empty() {
            let wal_samples: Vec<(u32, i64, f64)> = resolved
                .iter()
                .map(|(s, x)| (s.id, x.timestamp_ms, x.value))
                .collect();
            records.push(head_wal::encode_samples(tenant, &wal_samples));
        }
        for (family, metadata) in &this.metadata {
            records.push(head_wal::encode_metadata(tenant, family, metadata));
        }
        if records.is_empty() {
            return Ok(stats);
        }
        this.db
            .wal
            .append(records)
            .await
            .map_err(|err| StorageError::from(crate::TsdbError::Wal(err)))?;
        // Identical duplicates count as written: the sender's data is stored either way.
        stats.samples += this.head.apply_batch(resolved);
        for (family, metadata) in this.metadata {
            this.head.add_metadata(family, metadata);
            stats.metadata += 1;
        }
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {}
}
