//! The conformance suite every implementation of the log storage traits must pass.
//!
//! Each check is a public async function taking a factory that builds a fresh, empty storage
//! configured with the [`LogLimits`] the check asks for; [`run_all`] runs them all. The
//! factory may return a `persist` hook that moves everything written so far out of memory
//! (e.g. flushes heads into segments): checks call it between writes, so reads must merge
//! persisted and fresh data. Checks panic with a message on failure, like assertions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use vigil_model::{Direction, Labels, LogEntry, LogTimeRange, MatchOp, Matcher, TenantId};

use crate::logs::{forward_entry_order, line_matches_all};
use crate::{
    AppendErrorKind, LogAppendError, LogAppendOptions, LogAppendable, LogQueryable, LogSelect,
    StorageErrorKind, StreamEntry,
};

/// The limits a check wants the storage under test to enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Unordered-writes window behind a stream's newest entry (ns).
    pub unordered_window_ns: i64,
    /// Streams per tenant (0 = unlimited).
    pub max_streams_per_tenant: usize,
}

/// A hook that persists everything written so far (e.g. flushes heads to segments).
pub type PersistHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A fresh storage as its write and read halves, and an optional persist hook.
pub struct LogStorageUnderTest {
    /// The write half.
    pub appendable: Arc<dyn LogAppendable>,
    /// The read half.
    pub queryable: Arc<dyn LogQueryable>,
    /// Moves written data out of memory; `None` when the storage has no such step.
    pub persist: Option<PersistHook>,
}

impl LogStorageUnderTest {
    async fn persist(&self) {
        if let Some(persist) = &self.persist {
            persist().await;
        }
    }
}

/// Builds a fresh, empty storage enforcing the given limits.
pub trait LogStorageFactory: Fn(LogLimits) -> LogStorageUnderTest {}
impl<F: Fn(LogLimits) -> LogStorageUnderTest> LogStorageFactory for F {}

const HOUR_NS: i64 = 3_600_000_000_000;
const BASE_NS: i64 = 1_700_000_000_000_000_000;

fn generous() -> LogLimits {
    LogLimits {
        unordered_window_ns: HOUR_NS,
        max_streams_per_tenant: 0,
    }
}

fn tenant(name: &str) -> TenantId {
    match TenantId::new(name) {
        Ok(t) => t,
        Err(err) => panic!("conformance tenant {name:?} is invalid: {err}"),
    }
}

fn matcher(op: MatchOp, name: &str, value: &str) -> Matcher {
    match Matcher::new(op, name, value) {
        Ok(m) => m,
        Err(err) => panic!("conformance matcher is invalid: {err}"),
    }
}

fn stream(app: &str, env: &str) -> Labels {
    Labels::from_static(&[("app", app), ("env", env)])
}

fn entry(offset_ns: i64, line: &str) -> LogEntry {
    LogEntry::new(BASE_NS + offset_ns, line)
}

async fn write(
    appendable: &dyn LogAppendable,
    tenant: &TenantId,
    entries: &[(Labels, LogEntry)],
) -> crate::LogCommitStats {
    let mut appender = appendable.log_appender(tenant, LogAppendOptions::default());
    for (labels, entry) in entries {
        if let Err(err) = appender.append_entry(labels, entry.clone()) {
            panic!("append of {labels} {entry:?} failed: {err}");
        }
    }
    match appender.commit().await {
        Ok(stats) => stats,
        Err(err) => panic!("commit failed: {err}"),
    }
}

fn read(
    queryable: &dyn LogQueryable,
    tenant: &TenantId,
    range: LogTimeRange,
    select: &LogSelect,
) -> Vec<StreamEntry> {
    let querier = match queryable.log_querier(tenant, range) {
        Ok(q) => q,
        Err(err) => panic!("log_querier failed: {err}"),
    };
    let entries = match querier.select_entries(select) {
        Ok(entries) => entries,
        Err(err) => panic!("select_entries failed: {err}"),
    };
    entries
        .map(|e| match e {
            Ok(e) => e,
            Err(err) => panic!("entry iteration failed: {err}"),
        })
        .collect()
}

fn select(matchers: Vec<Matcher>) -> LogSelect {
    LogSelect {
        matchers,
        ..LogSelect::default()
    }
}

fn all_apps() -> Vec<Matcher> {
    vec![matcher(MatchOp::Regex, "app", ".+")]
}

/// What a correct storage returns for `entries` written: sorted forward, duplicates
/// (same stream, timestamp and line) removed, first write wins.
fn expected(entries: &[(Labels, LogEntry)], range: LogTimeRange) -> Vec<StreamEntry> {
    let mut out: Vec<StreamEntry> = Vec::new();
    for (labels, entry) in entries {
        if !range.contains(entry.timestamp_ns) {
            continue;
        }
        let duplicate = out.iter().any(|e| {
            &e.stream == labels
                && e.entry.timestamp_ns == entry.timestamp_ns
                && e.entry.line == entry.line
        });
        if !duplicate {
            out.push(StreamEntry {
                stream: labels.clone(),
                entry: entry.clone(),
            });
        }
    }
    out.sort_by(|a, b| forward_entry_order(&a.stream, &a.entry, &b.stream, &b.entry));
    out
}

/// Entries come back exactly (metadata included), merged across streams in timestamp
/// order, in both directions, range bounds inclusive, with data persisted between writes.
pub async fn push_then_select_round_trips(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let mut with_metadata = entry(5, "GET /index.html 200");
    with_metadata.structured_metadata =
        Labels::from_static(&[("span_id", "00f067aa0ba902b7"), ("trace_id", "4bf92f35")]);
    let first: Vec<(Labels, LogEntry)> = vec![
        (stream("api", "prod"), entry(30, "api third")),
        (stream("api", "prod"), entry(10, "api first")),
        (stream("web", "prod"), with_metadata),
        (stream("web", "dev"), entry(10, "web dev same ts as api")),
    ];
    let second: Vec<(Labels, LogEntry)> = vec![
        (stream("api", "prod"), entry(20, "api second, out of order")),
        (stream("web", "prod"), entry(40, "web later")),
        (
            stream("api", "prod"),
            entry(30, "api third, other line same ts"),
        ),
    ];
    let stats = write(storage.appendable.as_ref(), &t, &first).await;
    assert_eq!(stats.entries, 4, "commit counts entries: {stats:?}");
    assert_eq!(stats.new_streams, 3, "commit counts new streams: {stats:?}");
    storage.persist().await;
    write(storage.appendable.as_ref(), &t, &second).await;
    let all: Vec<(Labels, LogEntry)> = first.iter().chain(second.iter()).cloned().collect();

    let forward = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &select(all_apps()),
    );
    assert_eq!(forward, expected(&all, LogTimeRange::ALL), "forward order");

    let backward_select = LogSelect {
        direction: Direction::Backward,
        ..select(all_apps())
    };
    let backward = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &backward_select,
    );
    let mut reversed = expected(&all, LogTimeRange::ALL);
    reversed.reverse();
    assert_eq!(backward, reversed, "backward is the exact reverse");

    let window = LogTimeRange::new(BASE_NS + 10, BASE_NS + 30);
    let bounded = read(storage.queryable.as_ref(), &t, window, &select(all_apps()));
    assert_eq!(
        bounded,
        expected(&all, window),
        "range bounds are inclusive"
    );

    let limited = LogSelect {
        limit: 2,
        ..backward_select
    };
    let newest_two = read(storage.queryable.as_ref(), &t, LogTimeRange::ALL, &limited);
    assert_eq!(
        newest_two,
        reversed[..2].to_vec(),
        "limit keeps the first in order"
    );
}

/// Label matchers follow Prometheus semantics; a selector matching the empty string only is
/// refused as invalid input.
pub async fn matchers_select_streams(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let mut data = vec![
        (stream("api", "prod"), entry(1, "a")),
        (stream("api", "dev"), entry(2, "b")),
        (stream("web", "prod"), entry(3, "c")),
        (Labels::from_static(&[("app", "batch")]), entry(4, "d")),
    ];
    write(storage.appendable.as_ref(), &t, &data).await;
    storage.persist().await;
    data.push((stream("web", "dev"), entry(5, "e")));
    write(storage.appendable.as_ref(), &t, &data[4..]).await;
    let lines = |matchers: Vec<Matcher>| -> Vec<String> {
        read(
            storage.queryable.as_ref(),
            &t,
            LogTimeRange::ALL,
            &select(matchers),
        )
        .into_iter()
        .map(|e| e.entry.line)
        .collect()
    };
    assert_eq!(
        lines(vec![matcher(MatchOp::Equal, "app", "api")]),
        ["a", "b"]
    );
    assert_eq!(
        lines(vec![
            matcher(MatchOp::Regex, "app", "api|web"),
            matcher(MatchOp::NotEqual, "env", "prod"),
        ]),
        ["b", "e"]
    );
    assert_eq!(
        lines(vec![
            matcher(MatchOp::Regex, "app", ".+"),
            matcher(MatchOp::Equal, "env", ""),
        ]),
        ["d"],
        "env=\"\" selects streams without env"
    );
    assert_eq!(
        lines(vec![
            matcher(MatchOp::Regex, "app", ".+"),
            matcher(MatchOp::NotRegex, "env", "prod|"),
        ]),
        ["b", "e"]
    );
    assert!(lines(vec![matcher(MatchOp::Equal, "app", "nope")]).is_empty());

    let querier = match storage.queryable.log_querier(&t, LogTimeRange::ALL) {
        Ok(q) => q,
        Err(err) => panic!("log_querier failed: {err}"),
    };
    match querier.select_entries(&select(vec![matcher(MatchOp::Regex, "app", ".*")])) {
        Ok(_) => panic!("a selector matching the empty string must be refused"),
        Err(err) => assert_eq!(err.kind(), StorageErrorKind::InvalidInput, "{err}"),
    }
}

/// `line_contains` keeps exactly the lines containing every literal, case-sensitively.
pub async fn line_filters_are_exact(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let lines = [
        "ERROR disk full on /dev/sda1",
        "error: lowercase",
        "INFO all good",
        "ERROR timeout talking to db-7",
        "WARN db-7 slow",
    ];
    let first: Vec<(Labels, LogEntry)> = lines[..3]
        .iter()
        .enumerate()
        .map(|(i, line)| (stream("api", "prod"), entry(i as i64, line)))
        .collect();
    let second: Vec<(Labels, LogEntry)> = lines[3..]
        .iter()
        .enumerate()
        .map(|(i, line)| (stream("web", "prod"), entry(10 + i as i64, line)))
        .collect();
    write(storage.appendable.as_ref(), &t, &first).await;
    storage.persist().await;
    write(storage.appendable.as_ref(), &t, &second).await;
    let filtered = |literals: &[&str]| -> Vec<String> {
        let select = LogSelect {
            line_contains: literals.iter().map(|s| s.to_string()).collect(),
            ..select(all_apps())
        };
        read(storage.queryable.as_ref(), &t, LogTimeRange::ALL, &select)
            .into_iter()
            .map(|e| e.entry.line)
            .collect()
    };
    assert_eq!(filtered(&["ERROR"]), [lines[0], lines[3]]);
    assert_eq!(filtered(&["db-7"]), [lines[3], lines[4]]);
    assert_eq!(filtered(&["ERROR", "db-7"]), [lines[3]]);
    assert_eq!(
        filtered(&["isk fu"]),
        [lines[0]],
        "substrings inside words match"
    );
    assert!(filtered(&["not there"]).is_empty());
    assert!(
        filtered(&["Error"]).is_empty(),
        "filters are case-sensitive"
    );
    assert_eq!(filtered(&[]).len(), 5);
}

/// Tenants never see each other's streams.
pub async fn tenants_are_isolated(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let (a, b) = (tenant("team-a"), tenant("team-b"));
    write(
        storage.appendable.as_ref(),
        &a,
        &[(stream("api", "prod"), entry(1, "from a"))],
    )
    .await;
    storage.persist().await;
    write(
        storage.appendable.as_ref(),
        &b,
        &[(stream("api", "prod"), entry(2, "from b"))],
    )
    .await;
    let only = |t: &TenantId| -> Vec<String> {
        read(
            storage.queryable.as_ref(),
            t,
            LogTimeRange::ALL,
            &select(all_apps()),
        )
        .into_iter()
        .map(|e| e.entry.line)
        .collect()
    };
    assert_eq!(only(&a), ["from a"]);
    assert_eq!(only(&b), ["from b"]);
    assert!(only(&tenant("team-c")).is_empty());
}

/// A retried push (same stream, timestamp and line) stores nothing twice, also after the
/// first copy was persisted; a different line at the same timestamp is a new entry.
pub async fn retried_pushes_are_idempotent(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let batch = vec![
        (stream("api", "prod"), entry(1, "one")),
        (stream("api", "prod"), entry(2, "two")),
    ];
    write(storage.appendable.as_ref(), &t, &batch).await;
    storage.persist().await;
    let again = write(storage.appendable.as_ref(), &t, &batch).await;
    assert_eq!(again.entries, 0, "retry stores nothing: {again:?}");
    assert_eq!(again.duplicates, 2, "retry counts duplicates: {again:?}");
    let same_batch = write(
        storage.appendable.as_ref(),
        &t,
        &[
            (stream("api", "prod"), entry(3, "three")),
            (stream("api", "prod"), entry(3, "three")),
            (stream("api", "prod"), entry(2, "two, but different")),
        ],
    )
    .await;
    assert_eq!(same_batch.entries, 2, "{same_batch:?}");
    let lines: Vec<String> = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &select(all_apps()),
    )
    .into_iter()
    .map(|e| e.entry.line)
    .collect();
    assert_eq!(lines, ["one", "two", "two, but different", "three"]);
}

/// Entries behind a stream's newest by more than the window are rejected one by one; the
/// rest of the batch is stored. New streams have no such bound.
pub async fn unordered_window_is_enforced(factory: &impl LogStorageFactory) {
    let window = 1_000;
    let storage = factory(LogLimits {
        unordered_window_ns: window,
        max_streams_per_tenant: 0,
    });
    let t = tenant("conformance");
    write(
        storage.appendable.as_ref(),
        &t,
        &[(stream("api", "prod"), entry(10_000, "newest"))],
    )
    .await;
    storage.persist().await;
    let mut appender = storage
        .appendable
        .log_appender(&t, LogAppendOptions::default());
    let accepted = appender.append_entry(&stream("api", "prod"), entry(9_000, "at the edge"));
    assert!(accepted.is_ok(), "{accepted:?}");
    match appender.append_entry(&stream("api", "prod"), entry(8_999, "too far behind")) {
        Err(err @ LogAppendError::TooFarBehind { .. }) => {
            assert_eq!(err.kind(), AppendErrorKind::InvalidInput);
            assert!(
                err.to_string().contains("app=\"api\""),
                "names the stream: {err}"
            );
        }
        other => panic!("expected TooFarBehind, got {other:?}"),
    }
    let fresh = appender.append_entry(&stream("web", "prod"), entry(0, "new stream, old entry"));
    assert!(fresh.is_ok(), "{fresh:?}");
    let skipped = storage.appendable.log_appender(
        &t,
        LogAppendOptions {
            skip_time_checks: true,
        },
    );
    drop(skipped);
    if let Err(err) = appender.commit().await {
        panic!("commit failed: {err}");
    }
    let lines: Vec<String> = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &select(all_apps()),
    )
    .into_iter()
    .map(|e| e.entry.line)
    .collect();
    assert_eq!(lines, ["new stream, old entry", "at the edge", "newest"]);
    let mut replay = storage.appendable.log_appender(
        &t,
        LogAppendOptions {
            skip_time_checks: true,
        },
    );
    let forced = replay.append_entry(&stream("api", "prod"), entry(0, "replayed"));
    assert!(
        forced.is_ok(),
        "skip_time_checks accepts old entries: {forced:?}"
    );
    replay.rollback();
}

/// The stream limit refuses new streams with a limit error; existing streams keep working.
pub async fn stream_limit_is_enforced(factory: &impl LogStorageFactory) {
    let storage = factory(LogLimits {
        unordered_window_ns: HOUR_NS,
        max_streams_per_tenant: 2,
    });
    let t = tenant("conformance");
    write(
        storage.appendable.as_ref(),
        &t,
        &[(stream("a", "prod"), entry(1, "a"))],
    )
    .await;
    storage.persist().await;
    let mut appender = storage
        .appendable
        .log_appender(&t, LogAppendOptions::default());
    assert!(
        appender
            .append_entry(&stream("b", "prod"), entry(2, "b"))
            .is_ok()
    );
    match appender.append_entry(&stream("c", "prod"), entry(3, "c")) {
        Err(err @ LogAppendError::StreamLimit { .. }) => {
            assert_eq!(err.kind(), AppendErrorKind::LimitExceeded)
        }
        other => panic!("expected StreamLimit, got {other:?}"),
    }
    assert!(
        appender
            .append_entry(&stream("a", "prod"), entry(4, "a again"))
            .is_ok()
    );
    if let Err(err) = appender.commit().await {
        panic!("commit failed: {err}");
    }
    let other = tenant("other");
    write(
        storage.appendable.as_ref(),
        &other,
        &[(stream("c", "prod"), entry(3, "c"))],
    )
    .await;
    let lines: Vec<String> = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &select(all_apps()),
    )
    .into_iter()
    .map(|e| e.entry.line)
    .collect();
    assert_eq!(lines, ["a", "b", "a again"]);
}

/// A rolled back appender leaves nothing behind.
pub async fn rollback_discards(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let mut appender = storage
        .appendable
        .log_appender(&t, LogAppendOptions::default());
    assert!(
        appender
            .append_entry(&stream("api", "prod"), entry(1, "gone"))
            .is_ok()
    );
    appender.rollback();
    assert!(
        read(
            storage.queryable.as_ref(),
            &t,
            LogTimeRange::ALL,
            &select(all_apps())
        )
        .is_empty()
    );
}

/// Series, label names and values consider only streams with entries in the range and
/// matching the matchers.
pub async fn labels_and_series(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    write(
        storage.appendable.as_ref(),
        &t,
        &[
            (stream("api", "prod"), entry(100, "x")),
            (
                Labels::from_static(&[("app", "web"), ("region", "eu")]),
                entry(200, "y"),
            ),
        ],
    )
    .await;
    storage.persist().await;
    write(
        storage.appendable.as_ref(),
        &t,
        &[(stream("api", "dev"), entry(300, "z"))],
    )
    .await;
    let querier = match storage.queryable.log_querier(&t, LogTimeRange::ALL) {
        Ok(q) => q,
        Err(err) => panic!("log_querier failed: {err}"),
    };
    let names = querier
        .label_names(&[])
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(names, ["app", "env", "region"]);
    let apps = querier
        .label_values("app", &[])
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(apps, ["api", "web"]);
    let envs = querier
        .label_values("env", &[matcher(MatchOp::Equal, "app", "api")])
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(envs, ["dev", "prod"]);
    let series = querier
        .series(&[matcher(MatchOp::Equal, "app", "api")])
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(series, vec![stream("api", "dev"), stream("api", "prod")]);

    let early = match storage
        .queryable
        .log_querier(&t, LogTimeRange::new(BASE_NS, BASE_NS + 150))
    {
        Ok(q) => q,
        Err(err) => panic!("log_querier failed: {err}"),
    };
    assert_eq!(
        early.label_names(&[]).unwrap_or_else(|err| panic!("{err}")),
        ["app", "env"]
    );
    assert_eq!(
        early.series(&[]).unwrap_or_else(|err| panic!("{err}")),
        vec![stream("api", "prod")]
    );
}

/// Many streams written in several rounds, each persisted: the merged read equals a sorted
/// reference in both directions and under every limit tried.
pub async fn many_streams_merge_in_order(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let mut all = Vec::new();
    for round in 0..4i64 {
        let mut batch = Vec::new();
        for i in 0..300i64 {
            // A deterministic scramble: timestamps interleave across streams and rounds.
            let offset = (i * 7_919 + round * 104_729) % 100_000;
            let app = format!("app-{}", (i * 31 + round) % 17);
            let labels = match Labels::try_from_pairs([("app", app.as_str()), ("env", "prod")]) {
                Ok(labels) => labels,
                Err(err) => panic!("{err}"),
            };
            batch.push((
                labels,
                entry(offset, &format!("round {round} line {i} needle-{}", i % 5)),
            ));
        }
        write(storage.appendable.as_ref(), &t, &batch).await;
        all.extend(batch);
        if round % 2 == 0 {
            storage.persist().await;
        }
    }
    let reference = expected(&all, LogTimeRange::ALL);
    let forward = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &select(all_apps()),
    );
    assert_eq!(forward.len(), reference.len());
    assert!(
        forward == reference,
        "forward merge differs from the sorted reference"
    );
    for limit in [1, 7, 500] {
        let backward = read(
            storage.queryable.as_ref(),
            &t,
            LogTimeRange::ALL,
            &LogSelect {
                direction: Direction::Backward,
                limit,
                ..select(all_apps())
            },
        );
        let want: Vec<StreamEntry> = reference.iter().rev().take(limit).cloned().collect();
        assert!(backward == want, "backward with limit {limit} differs");
    }
    let needle = read(
        storage.queryable.as_ref(),
        &t,
        LogTimeRange::ALL,
        &LogSelect {
            line_contains: vec!["needle-3".into()],
            ..select(all_apps())
        },
    );
    let want: Vec<StreamEntry> = reference
        .iter()
        .filter(|e| e.entry.line.contains("needle-3"))
        .cloned()
        .collect();
    assert!(needle == want, "filtered merge differs");
}

/// Everything a scan yields, filtered as a caller filters it (range, literals), as sorted
/// entries with their streams.
fn scan(
    queryable: &dyn LogQueryable,
    tenant: &TenantId,
    range: LogTimeRange,
    select: &LogSelect,
    columns: crate::ScanColumns,
) -> Vec<StreamEntry> {
    let querier = match queryable.log_querier(tenant, range) {
        Ok(q) => q,
        Err(err) => panic!("log_querier failed: {err}"),
    };
    let parts = match querier.scan_parts(select, columns) {
        Ok(parts) => parts,
        Err(err) => panic!("scan_parts failed: {err}"),
    };
    let mut out = Vec::new();
    for part in parts {
        let stream = part.stream().clone();
        let mut last_ts = i64::MIN;
        let result = part.read(&mut |batch| {
            for row in batch.rows() {
                let ts = batch.timestamp(row);
                assert!(ts >= last_ts, "a part's rows must ascend in time");
                last_ts = ts;
                let line = batch.line(row);
                if !range.contains(ts)
                    || (columns.lines && !line_matches_all(line, &select.line_contains))
                {
                    continue;
                }
                out.push(StreamEntry {
                    stream: stream.clone(),
                    entry: LogEntry {
                        timestamp_ns: ts,
                        line: if columns.lines {
                            line.to_string()
                        } else {
                            String::new()
                        },
                        structured_metadata: batch.metadata(row).cloned().unwrap_or_default(),
                    },
                });
            }
            Ok(())
        });
        if let Err(err) = result {
            panic!("reading a scan part failed: {err}");
        }
    }
    out.sort_by(|a, b| forward_entry_order(&a.stream, &a.entry, &b.stream, &b.entry));
    out
}

/// A scan yields exactly the entries of the merged read, each once: across persisted data,
/// the head, retried (duplicate) pushes and late entries, with and without line literals,
/// and with or without line text.
pub async fn scans_agree_with_select(factory: &impl LogStorageFactory) {
    let storage = factory(generous());
    let t = tenant("conformance");
    let mut rounds = Vec::new();
    for round in 0..3i64 {
        let mut batch = Vec::new();
        for i in 0..200i64 {
            let offset = round * 1_000_000 + (i * 7_919) % 100_000;
            let app = if i % 3 == 0 { "api" } else { "web" };
            let mut e = entry(offset, &format!("round {round} line {i} needle-{}", i % 4));
            if i % 10 == 0 {
                e.structured_metadata = Labels::from_static(&[("trace_id", "abc")]);
            }
            batch.push((stream(app, "prod"), e));
        }
        rounds.push(batch);
    }
    write(storage.appendable.as_ref(), &t, &rounds[0]).await;
    storage.persist().await;
    // Retried push of persisted data, plus new data, plus entries older than persisted ones.
    write(storage.appendable.as_ref(), &t, &rounds[0][..50]).await;
    write(storage.appendable.as_ref(), &t, &rounds[1]).await;
    storage.persist().await;
    write(storage.appendable.as_ref(), &t, &rounds[2]).await;
    let late: Vec<(Labels, LogEntry)> = (0..20i64)
        .map(|i| {
            (
                stream("api", "prod"),
                entry(500 + i * 3, &format!("late {i} needle-1")),
            )
        })
        .collect();
    write(storage.appendable.as_ref(), &t, &late).await;
    let windows = [
        LogTimeRange::ALL,
        LogTimeRange {
            start_ns: BASE_NS + 50_000,
            end_ns: BASE_NS + 1_050_000,
        },
    ];
    for range in windows {
        for literals in [
            Vec::new(),
            vec!["needle-1".to_string()],
            vec!["line 1".to_string(), "needle-2".to_string()],
        ] {
            let select = LogSelect {
                line_contains: literals.clone(),
                ..select(all_apps())
            };
            let want = read(storage.queryable.as_ref(), &t, range, &select);
            assert!(!want.is_empty());
            let got = scan(
                storage.queryable.as_ref(),
                &t,
                range,
                &select,
                crate::ScanColumns { lines: true },
            );
            assert!(
                got == want,
                "scan over {range:?} with {literals:?} differs from the merged read ({} vs {} entries)",
                got.len(),
                want.len()
            );
            let counted = scan(
                storage.queryable.as_ref(),
                &t,
                range,
                &select,
                crate::ScanColumns { lines: false },
            );
            assert_eq!(
                counted.len(),
                want.len(),
                "scan without lines over {range:?} with {literals:?}"
            );
        }
    }
}

/// Runs every check against fresh storages from `factory`.
pub async fn run_all(factory: impl LogStorageFactory) {
    push_then_select_round_trips(&factory).await;
    matchers_select_streams(&factory).await;
    line_filters_are_exact(&factory).await;
    tenants_are_isolated(&factory).await;
    retried_pushes_are_idempotent(&factory).await;
    unordered_window_is_enforced(&factory).await;
    stream_limit_is_enforced(&factory).await;
    rollback_discards(&factory).await;
    labels_and_series(&factory).await;
    many_streams_merge_in_order(&factory).await;
    scans_agree_with_select(&factory).await;
}
