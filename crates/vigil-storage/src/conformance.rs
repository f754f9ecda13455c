//! The conformance suite every implementation of the metric storage traits must pass.
//!
//! Each check is a public async function taking a factory that builds a fresh, empty
//! storage; [`run_all`] runs them all. Implementations call it from their own tests (the
//! in-memory storage here, the TSDB in `vigil-tsdb`). Checks panic with a message on failure,
//! like assertions in a test.

use std::sync::Arc;

use vigil_model::{
    Labels, MatchOp, Matcher, MetricMetadata, MetricType, Sample, TenantId, TimeRange, stale_nan,
};

use crate::{AppendError, AppendOptions, Appendable, Queryable, SelectHints, Series};

/// Builds a fresh, empty storage as its write and read halves.
pub trait StorageFactory: Fn() -> (Arc<dyn Appendable>, Arc<dyn Queryable>) {}
impl<F: Fn() -> (Arc<dyn Appendable>, Arc<dyn Queryable>)> StorageFactory for F {}

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

async fn write(appendable: &dyn Appendable, tenant: &TenantId, series: &[(Labels, Vec<Sample>)]) {
    let mut appender = appendable.appender(tenant, AppendOptions::default());
    for (labels, samples) in series {
        for sample in samples {
            if let Err(err) = appender.append_sample(labels, *sample) {
                panic!("append of {labels} {sample:?} failed: {err}");
            }
        }
    }
    if let Err(err) = appender.commit().await {
        panic!("commit failed: {err}");
    }
}

fn read(
    queryable: &dyn Queryable,
    tenant: &TenantId,
    range: TimeRange,
    matchers: &[Matcher],
) -> Vec<Series> {
    let querier = match queryable.querier(tenant, range) {
        Ok(q) => q,
        Err(err) => panic!("querier failed: {err}"),
    };
    let set = match querier.select(matchers, &SelectHints::default()) {
        Ok(set) => set,
        Err(err) => panic!("select failed: {err}"),
    };
    set.map(|s| match s {
        Ok(s) => s,
        Err(err) => panic!("series iteration failed: {err}"),
    })
    .collect()
}

fn metric(name: &str, job: &str) -> Labels {
    Labels::from_static(&[("__name__", name), ("job", job)])
}

fn ramp(start_ms: i64, count: i64, step_ms: i64) -> Vec<Sample> {
    (0..count)
        .map(|i| Sample::new(start_ms + i * step_ms, i as f64))
        .collect()
}

/// Written samples come back exactly, series sorted by labels, range bounds inclusive.
pub async fn append_then_select_round_trips(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let series = vec![
        (metric("up", "web"), ramp(1_000, 50, 15_000)),
        (metric("up", "api"), ramp(1_000, 50, 15_000)),
        (
            metric("http_requests_total", "api"),
            ramp(2_000, 10, 15_000),
        ),
    ];
    write(appendable.as_ref(), &t, &series).await;
    let got = read(
        queryable.as_ref(),
        &t,
        TimeRange::ALL,
        &[matcher(MatchOp::Equal, "__name__", "up")],
    );
    let labels: Vec<_> = got.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(
        labels,
        vec![metric("up", "api"), metric("up", "web")],
        "series must be sorted by labels"
    );
    assert_eq!(got[0].samples, series[1].1);
    let window = read(
        queryable.as_ref(),
        &t,
        TimeRange::new(16_000, 46_000),
        &[matcher(MatchOp::Equal, "job", "api")],
    );
    assert_eq!(window.len(), 2);
    let times: Vec<i64> = window[1].samples.iter().map(|s| s.timestamp_ms).collect();
    assert_eq!(
        times,
        vec![16_000, 31_000, 46_000],
        "range bounds are inclusive"
    );
}

/// A rolled back appender leaves nothing behind.
pub async fn rollback_discards(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let mut appender = appendable.appender(&t, AppendOptions::default());
    if let Err(err) = appender.append_sample(&metric("up", "x"), Sample::new(1, 1.0)) {
        panic!("append failed: {err}");
    }
    appender.rollback();
    assert!(
        read(
            queryable.as_ref(),
            &t,
            TimeRange::ALL,
            &[matcher(MatchOp::Equal, "job", "x")]
        )
        .is_empty()
    );
}

/// All four matcher kinds, with a missing label matching as "".
pub async fn matchers_follow_prometheus_semantics(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let with_env = Labels::from_static(&[("__name__", "m"), ("env", "prod"), ("job", "a")]);
    let without_env = Labels::from_static(&[("__name__", "m"), ("job", "b")]);
    let dev = Labels::from_static(&[("__name__", "m"), ("env", "dev"), ("job", "c")]);
    let samples = vec![Sample::new(10, 1.0)];
    write(
        appendable.as_ref(),
        &t,
        &[
            (with_env.clone(), samples.clone()),
            (without_env.clone(), samples.clone()),
            (dev.clone(), samples),
        ],
    )
    .await;
    let jobs = |matchers: &[Matcher]| -> Vec<String> {
        let mut jobs: Vec<String> = read(queryable.as_ref(), &t, TimeRange::ALL, matchers)
            .iter()
            .filter_map(|s| s.labels.get("job").map(str::to_string))
            .collect();
        jobs.sort();
        jobs
    };
    let name = matcher(MatchOp::Equal, "__name__", "m");
    assert_eq!(
        jobs(&[name.clone(), matcher(MatchOp::Equal, "env", "prod")]),
        ["a"]
    );
    assert_eq!(
        jobs(&[name.clone(), matcher(MatchOp::NotEqual, "env", "prod")]),
        ["b", "c"]
    );
    assert_eq!(
        jobs(&[name.clone(), matcher(MatchOp::Equal, "env", "")]),
        ["b"],
        "env=\"\" selects series without env"
    );
    assert_eq!(
        jobs(&[name.clone(), matcher(MatchOp::Regex, "env", "prod|dev")]),
        ["a", "c"]
    );
    assert_eq!(
        jobs(&[name.clone(), matcher(MatchOp::Regex, "env", "pro")]),
        Vec::<String>::new(),
        "regexes are anchored"
    );
    assert_eq!(
        jobs(&[name.clone(), matcher(MatchOp::NotRegex, "env", "d.*")]),
        ["a", "b"]
    );
    assert_eq!(
        jobs(&[name, matcher(MatchOp::Regex, "env", ".+")]),
        ["a", "c"]
    );
    assert_eq!(
        jobs(&[
            matcher(MatchOp::Regex, "job", "a|c"),
            matcher(MatchOp::Regex, "env", "")
        ]),
        Vec::<String>::new()
    );
}

/// Tenants never see each other's series, label values or metadata.
pub async fn tenants_are_isolated(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let (a, b) = (tenant("team-a"), tenant("team-b"));
    write(
        appendable.as_ref(),
        &a,
        &[(metric("up", "only-a"), ramp(0, 3, 1000))],
    )
    .await;
    write(
        appendable.as_ref(),
        &b,
        &[(metric("up", "only-b"), ramp(0, 5, 1000))],
    )
    .await;
    let mut appender = appendable.appender(&a, AppendOptions::default());
    let md = MetricMetadata {
        metric_type: MetricType::Gauge,
        help: "a's help".into(),
        unit: String::new(),
    };
    if let Err(err) = appender.append_metadata("up", md) {
        panic!("metadata append failed: {err}");
    }
    if let Err(err) = appender.commit().await {
        panic!("commit failed: {err}");
    }
    let up = [matcher(MatchOp::Equal, "__name__", "up")];
    let got_a = read(queryable.as_ref(), &a, TimeRange::ALL, &up);
    let got_b = read(queryable.as_ref(), &b, TimeRange::ALL, &up);
    assert_eq!(got_a.len(), 1);
    assert_eq!(got_a[0].labels, metric("up", "only-a"));
    assert_eq!(got_b.len(), 1);
    assert_eq!(got_b[0].samples.len(), 5);
    let querier = queryable
        .querier(&b, TimeRange::ALL)
        .unwrap_or_else(|err| panic!("querier failed: {err}"));
    let values = querier
        .label_values("job", &[])
        .unwrap_or_else(|err| panic!("label_values failed: {err}"));
    assert_eq!(values, ["only-b"]);
    let md_b = queryable
        .metadata(&b, None)
        .unwrap_or_else(|err| panic!("metadata failed: {err}"));
    assert!(
        md_b.is_empty(),
        "tenant b must not see a's metadata: {md_b:?}"
    );
    let md_a = queryable
        .metadata(&a, Some("up"))
        .unwrap_or_else(|err| panic!("metadata failed: {err}"));
    assert_eq!(md_a.len(), 1);
    assert_eq!(md_a[0].1[0].help, "a's help");
    let nobody = read(queryable.as_ref(), &tenant("nobody"), TimeRange::ALL, &up);
    assert!(nobody.is_empty());
}

/// Identical duplicates are accepted idempotently; a different value at the same time is rejected.
pub async fn duplicates_are_idempotent(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let series = metric("dup", "x");
    write(
        appendable.as_ref(),
        &t,
        &[(series.clone(), vec![Sample::new(1000, 1.5)])],
    )
    .await;
    write(
        appendable.as_ref(),
        &t,
        &[(series.clone(), vec![Sample::new(1000, 1.5)])],
    )
    .await;
    let mut appender = appendable.appender(&t, AppendOptions::default());
    let conflict = appender.append_sample(&series, Sample::new(1000, 2.5));
    assert!(
        matches!(conflict, Err(AppendError::DuplicateTimestamp { .. })),
        "got {conflict:?}"
    );
    appender.rollback();
    let got = read(
        queryable.as_ref(),
        &t,
        TimeRange::ALL,
        &[matcher(MatchOp::Equal, "__name__", "dup")],
    );
    assert_eq!(got[0].samples, vec![Sample::new(1000, 1.5)]);
}

/// Samples slightly out of order (well within a 10 minute window) are merged in time order.
pub async fn out_of_order_within_window_is_merged(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let series = metric("ooo", "x");
    let base = 1_700_000_000_000;
    write(
        appendable.as_ref(),
        &t,
        &[(series.clone(), vec![Sample::new(base + 60_000, 2.0)])],
    )
    .await;
    write(
        appendable.as_ref(),
        &t,
        &[(
            series.clone(),
            vec![Sample::new(base, 1.0), Sample::new(base + 30_000, 1.5)],
        )],
    )
    .await;
    let got = read(
        queryable.as_ref(),
        &t,
        TimeRange::ALL,
        &[matcher(MatchOp::Equal, "__name__", "ooo")],
    );
    assert_eq!(
        got[0].samples,
        vec![
            Sample::new(base, 1.0),
            Sample::new(base + 30_000, 1.5),
            Sample::new(base + 60_000, 2.0)
        ]
    );
}

/// Special float values, the staleness marker above all, survive bit-exactly.
pub async fn special_values_are_bit_exact(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let values = [
        stale_nan(),
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::MIN_POSITIVE / 2.0,
        1e308,
    ];
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Sample::new(i as i64 * 1000, *v))
        .collect();
    write(
        appendable.as_ref(),
        &t,
        &[(metric("special", "x"), samples.clone())],
    )
    .await;
    let got = read(
        queryable.as_ref(),
        &t,
        TimeRange::ALL,
        &[matcher(MatchOp::Equal, "__name__", "special")],
    );
    assert_eq!(
        got[0].samples, samples,
        "values must round-trip bit for bit"
    );
}

/// Label names and values honour matchers and the querier's time range.
pub async fn label_names_and_values(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let early = Labels::from_static(&[("__name__", "a"), ("zone", "eu")]);
    let late = Labels::from_static(&[("__name__", "b"), ("region", "us")]);
    write(
        appendable.as_ref(),
        &t,
        &[
            (early, vec![Sample::new(1_000, 1.0)]),
            (late, vec![Sample::new(100_000, 1.0)]),
        ],
    )
    .await;
    let all = queryable
        .querier(&t, TimeRange::ALL)
        .unwrap_or_else(|err| panic!("querier failed: {err}"));
    assert_eq!(
        all.label_names(&[]).unwrap_or_default(),
        ["__name__", "region", "zone"]
    );
    assert_eq!(
        all.label_values("__name__", &[]).unwrap_or_default(),
        ["a", "b"]
    );
    let only_b = [matcher(MatchOp::Equal, "__name__", "b")];
    assert_eq!(
        all.label_names(&only_b).unwrap_or_default(),
        ["__name__", "region"]
    );
    assert_eq!(
        all.label_values("zone", &only_b).unwrap_or_default(),
        Vec::<String>::new()
    );
    let late_only = queryable
        .querier(&t, TimeRange::new(50_000, 200_000))
        .unwrap_or_else(|err| panic!("querier failed: {err}"));
    assert_eq!(
        late_only.label_values("__name__", &[]).unwrap_or_default(),
        ["b"],
        "label values honour the time range"
    );
}

/// `series_only` returns labels without samples; `limit` caps the number of series.
pub async fn select_hints(factory: &impl StorageFactory) {
    let (appendable, queryable) = factory();
    let t = tenant("conformance");
    let series: Vec<_> = (0..5)
        .map(|i| (metric("h", &format!("j{i}")), ramp(0, 3, 1000)))
        .collect();
    write(appendable.as_ref(), &t, &series).await;
    let querier = queryable
        .querier(&t, TimeRange::ALL)
        .unwrap_or_else(|err| panic!("querier failed: {err}"));
    let hints = SelectHints {
        series_only: true,
        limit: 2,
    };
    let got: Vec<Series> = querier
        .select(&[matcher(MatchOp::Equal, "__name__", "h")], &hints)
        .unwrap_or_else(|err| panic!("select failed: {err}"))
        .filter_map(Result::ok)
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|s| s.samples.is_empty()));
}

/// Runs every check of the suite, each on a fresh storage.
pub async fn run_all(factory: impl StorageFactory) {
    append_then_select_round_trips(&factory).await;
    rollback_discards(&factory).await;
    matchers_follow_prometheus_semantics(&factory).await;
    tenants_are_isolated(&factory).await;
    duplicates_are_idempotent(&factory).await;
    out_of_order_within_window_is_merged(&factory).await;
    special_values_are_bit_exact(&factory).await;
    label_names_and_values(&factory).await;
    select_hints(&factory).await;
}
