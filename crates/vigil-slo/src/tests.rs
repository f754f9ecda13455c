#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::spec::{BadEvents, Budgeting, CalendarUnit, Period, Severity, SliSource};
use crate::{GeneratedFile, LoadedSpecs, generate_files, parse_specs};

fn parse(text: &str) -> LoadedSpecs {
    parse_specs(&[("specs/a.yml".to_string(), text.to_string())]).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn errors(text: &str) -> Vec<String> {
    parse_specs(&[("specs/a.yml".to_string(), text.to_string())])
        .expect_err("the spec should be rejected")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn generated(text: &str) -> GeneratedFile {
    let mut files = generate_files(&parse(text).slos);
    assert_eq!(files.len(), 1);
    let file = files.remove(0);
    if let Err(errs) = file.to_rule_groups() {
        panic!("generated rules do not load: {errs:?}\n{}", file.to_yaml());
    }
    file
}

fn rule<'a>(file: &'a GeneratedFile, name: &str) -> &'a crate::GeneratedRule {
    file.groups
        .iter()
        .flat_map(|g| &g.rules)
        .find(|r| r.record.as_deref() == Some(name) || r.alert.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no rule {name}"))
}

const NATIVE: &str = r#"
version: vigil/v1
service: api
labels: {team: core}
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error: http_requests_total{job="api",code=~"5.."}
        total: http_requests_total{job="api"}
    alerting:
      min_events: 50
  - name: latency
    objective: 99
    window: 7d
    slice: 30s
    sli:
      latency:
        histogram: http_request_duration_seconds
        selector: '{job="api"}'
        threshold: 0.3
        buckets: [0.1, 0.25, 0.5, 1]
        interpolate: true
"#;

#[test]
fn native_spec_is_read_with_defaults() {
    let loaded = parse(NATIVE);
    assert_eq!(loaded.slos.len(), 2);
    let a = &loaded.slos[0];
    assert_eq!(a.id, "api-availability");
    assert_eq!(a.period, Period::Rolling(30 * 86_400_000));
    assert_eq!(a.slice_ms, 60_000);
    assert_eq!(a.error_budget().to_string(), "0.001");
    assert_eq!(a.labels["team"], "core");
    let tiers: Vec<_> = a
        .alerting
        .tiers
        .iter()
        .map(|t| {
            (
                t.severity,
                t.long_ms / 60_000,
                t.short_ms / 60_000,
                t.factor.to_string(),
            )
        })
        .collect();
    assert_eq!(
        tiers,
        vec![
            (Severity::Page, 60, 5, "14.4".to_string()),
            (Severity::Page, 360, 30, "6".to_string()),
            (Severity::Ticket, 4320, 360, "1".to_string()),
        ]
    );
    assert_eq!(a.alerting.page.labels["severity"], "critical");
    assert_eq!(a.alerting.ticket.labels["severity"], "warning");
    // The 7-day latency SLO gets the workbook's tiers scaled to its period: the same
    // budget share per long window.
    let l = &loaded.slos[1];
    let page = &l.alerting.tiers[0];
    assert_eq!(page.long_ms, 14 * 60_000);
    assert_eq!(page.short_ms, 60_000);
    assert_eq!(page.factor.to_string(), "14.4");
    let SliSource::Promql {
        bad: BadEvents::Good(good),
        exact,
        ..
    } = &l.sli
    else {
        panic!("{:?}", l.sli);
    };
    assert!(!exact, "interpolated latency is an approximation");
    assert!(
        good.contains("le=\"0.25\"") && good.contains("le=\"0.5\"") && good.contains("0.2 * ("),
        "{good}"
    );
}

#[test]
fn native_generation_uses_sloth_names_exact_slices_and_no_nan() {
    let file = generated(NATIVE);
    let names: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        &names[..3],
        &[
            "sloth-slo-sli-recordings-api-availability",
            "sloth-slo-meta-recordings-api-availability",
            "sloth-slo-alerts-api-availability",
        ]
    );
    // The period ratio is recorded in the slice group, after the slices it sums.
    let slice_group = &file.groups[0];
    assert_eq!(
        slice_group.rules.last().and_then(|r| r.record.as_deref()),
        Some("slo:sli_error:ratio_rate30d")
    );
    assert_eq!(file.groups[0].interval.as_deref(), Some("1m"));
    let total = rule(&file, crate::EVENTS_TOTAL_SLICE);
    assert!(
        total
            .expr
            .contains("http_requests_total{job=\"api\"} offset 1m")
            && !total.expr.contains("increase("),
        "{}",
        total.expr
    );
    assert_eq!(total.labels["sloth_id"], "api-availability");
    assert_eq!(total.labels["team"], "core");
    let r5 = rule(&file, "slo:sli_error:ratio_rate5m");
    assert_eq!(r5.labels["sloth_window"], "5m");
    assert!(
        r5.expr.contains("[4m30s]") && r5.expr.contains("> 0)"),
        "{}",
        r5.expr
    );
    for w in ["30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
        rule(&file, &format!("slo:sli_error:ratio_rate{w}"));
    }
    let period = rule(&file, "slo:sli_error:ratio_rate30d");
    assert!(
        period.expr.contains("[4w1d23h59m30s]"),
        "30d - 30s: {}",
        period.expr
    );
    assert_eq!(rule(&file, "slo:error_budget:ratio").expr, "vector(0.001)");
    assert_eq!(rule(&file, "slo:objective:ratio").expr, "vector(0.999)");
    assert_eq!(rule(&file, "slo:time_period:days").expr, "vector(30)");
    let info = rule(&file, "sloth_slo_info");
    assert_eq!(info.labels["sloth_objective"], "99.9");
    assert_eq!(info.labels["sloth_spec"], "vigil/v1");
    let page = file.groups[2]
        .rules
        .iter()
        .find(|r| r.labels.get("sloth_severity").map(String::as_str) == Some("page"))
        .unwrap();
    assert!(
        page.expr.contains("slo:sli_error:ratio_rate5m{"),
        "{}",
        page.expr
    );
    assert!(page.expr.contains("> 0.0144)"), "{}", page.expr);
    assert!(page.expr.contains("> 0.006)"), "{}", page.expr);
    assert!(
        page.expr.contains(">= 50)"),
        "low-traffic guard: {}",
        page.expr
    );
    assert_eq!(page.labels["severity"], "critical");
    rule(&file, "SLOMetricAbsent");
    rule(&file, "SLOErrorBudgetExhausted");
    let meta = &file.slos[0];
    assert!(meta.exact);
    assert_eq!(meta.period.metric, "slo:sli_error:ratio_rate30d");
    assert_eq!(meta.tiers.len(), 3);
    assert!((meta.tiers[0].threshold - 0.0144).abs() < 1e-15);
    assert!((meta.tiers[0].budget_consumed - 0.02).abs() < 1e-12);
    // Latency SLO: 30s slices, scaled windows appear among the recorded windows.
    let latency = &file.slos[1];
    assert_eq!(latency.slice_ms, 30_000);
    assert!(latency.windows.iter().any(|w| w.name == "14m"));
    assert_eq!(latency.period.name, "7d");
}

const SLOTH: &str = r#"
version: "prometheus/v1"
service: "shop"
labels:
  owner: "team-a"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "5xx and 429 are errors."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="shop",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="shop"}[{{.window}}]))
    alerting:
      name: ShopHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on shop responses"
      page_alert:
        labels:
          severity: pageteam
      ticket_alert:
        labels:
          severity: "slack"
  - name: "raw"
    objective: 99
    sli:
      raw:
        error_ratio_query: |
          sum(rate(x_errors_total[{{.window}}])) / sum(rate(x_total[{{.window}}]))
    alerting:
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"#;

#[test]
fn sloth_spec_is_read_unchanged_and_rewritten_exactly() {
    let loaded = parse(SLOTH);
    assert_eq!(loaded.slos.len(), 2);
    let s = &loaded.slos[0];
    assert_eq!(s.id, "shop-requests-availability");
    assert_eq!(s.labels["owner"], "team-a");
    assert_eq!(s.alerting.tiers.len(), 4, "Sloth's four tiers");
    let SliSource::Promql { total, exact, .. } = &s.sli else {
        panic!()
    };
    assert!(exact);
    assert!(!total.contains("rate("), "{total}");
    let file = generated(SLOTH);
    let alerts: Vec<_> = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.alert.as_deref() == Some("ShopHighErrorRate"))
        .collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].labels["severity"], "pageteam");
    assert_eq!(alerts[0].labels["sloth_severity"], "page");
    assert_eq!(alerts[1].labels["sloth_severity"], "ticket");
    assert!(
        alerts[1].expr.contains("slo:sli_error:ratio_rate2h{")
            && alerts[1].expr.contains("> 0.003)")
    );
    assert_eq!(
        alerts[0].annotations["title"],
        "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
    );
    // Raw SLI: time-weighted, flagged inexact, no burn alerts.
    let raw = &file.slos[1];
    assert!(!raw.exact);
    assert!(raw.tiers.is_empty());
}

const OPENSLO: &str = r#"
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: vigil-prom
spec:
  type: Prometheus
  connectionDetails: {url: http://localhost:9009}
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: search-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: vigil-prom
        spec:
          query: sum(search_requests_total{code=~"5.."})
    total:
      metricSource:
        metricSourceRef: vigil-prom
        spec:
          query: search_requests_total
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: search-availability
spec:
  service: search
  indicatorRef: search-errors
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good
      target: 0.995
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-sla
spec:
  service: web
  indicator:
    metadata:
      name: web-good
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(web_requests_total{code!~"5.."}[{{.window}}]))
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(web_requests_total[{{.window}}]))
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2022-01-01 00:00:00
        timeZone: "+02:00"
  budgetingMethod: Timeslices
  objectives:
    - displayName: Internal
      target: 0.995
      timeSliceTarget: 0.99
      timeSliceWindow: 5m
    - displayName: SLA
      targetPercent: 99
      timeSliceTarget: 0.99
      timeSliceWindow: 5m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: app-logs
spec:
  service: app
  indicator:
    metadata: {name: app-error-lines}
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Loki
            spec:
              query: '{app="shop"} | json | level="error"'
        total:
          metricSource:
            type: Loki
            spec:
              query: '{app="shop"}'
  timeWindow:
    - duration: 1w
      calendar: {startTime: "2026-11-23 00:00:00", timeZone: UTC}
  budgetingMethod: RatioTimeslices
  objectives:
    - target: 0.99
      timeSliceWindow: 1
"#;

#[test]
fn openslo_objects_are_read_unchanged() {
    let loaded = parse(OPENSLO);
    let ids: Vec<&str> = loaded.slos.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "search-search-availability",
            "web-web-sla-internal",
            "web-web-sla-sla",
            "app-app-logs"
        ]
    );
    let search = &loaded.slos[0];
    assert_eq!(search.period, Period::Rolling(28 * 86_400_000));
    assert_eq!(search.objective_percent.to_string(), "99.5");
    let SliSource::Promql {
        bad: BadEvents::Errors(bad),
        exact: true,
        ..
    } = &search.sli
    else {
        panic!("{:?}", search.sli)
    };
    assert!(
        bad.contains("search_requests_total{code=~\"5..\"} offset 1m"),
        "{bad}"
    );
    let web = &loaded.slos[1];
    let Period::Calendar(c) = web.period else {
        panic!()
    };
    assert_eq!(c.unit, CalendarUnit::Month);
    assert_eq!(c.utc_offset_s, 7200);
    assert_eq!(web.slice_ms, 300_000);
    assert!(matches!(web.budgeting, Budgeting::Timeslices { .. }));
    assert_eq!(loaded.slos[2].objective_percent.to_string(), "99");
    let app = &loaded.slos[3];
    assert!(matches!(app.sli, SliSource::Logql { .. }));
    let Period::Calendar(c) = app.period else {
        panic!()
    };
    assert_eq!((c.unit, c.week_start), (CalendarUnit::Week, 1));
    assert_eq!(app.slice_ms, 60_000);

    let files = generate_files(&loaded.slos);
    let file = &files[0];
    file.to_rule_groups().unwrap();
    let yaml = file.to_yaml();
    // Calendar month in +02:00: the cumulative sums restart in the first slice of the month.
    assert!(
        yaml.contains("(day_of_month(vector(time() + 7200)) == 1) and on () (vector(time() + 7200) % 86400 < 300)"),
        "{yaml}"
    );
    assert!(yaml.contains("days_in_month(vector(time() + 7200))"));
    assert!(yaml.contains("record: slo:sli_error:ratio_rate_calendar_month"));
    assert!(
        yaml.contains("> bool 0.01"),
        "Timeslices: a slice is bad under 99 % good"
    );
    // LogQL SLI: a logql group counting lines per slice, exact counts.
    let logql = file
        .groups
        .iter()
        .find(|g| g.language.as_deref() == Some("logql"))
        .unwrap();
    assert_eq!(logql.name, "sloth-slo-logql-slices-app-app-logs");
    assert_eq!(
        logql.rules[1].expr,
        "sum(count_over_time({app=\"shop\"} | json | level=\"error\" [1m])) or vector(0)"
    );
    assert!(
        yaml.contains("(day_of_week(vector(time())) == 1)"),
        "{yaml}"
    );
}

#[test]
fn errors_name_the_file_the_slo_and_the_field() {
    let e = errors(
        "version: vigil/v1\nservice: a\nslos:\n  - name: x\n    objective: 99\n    sli:\n      evnts: {}\n",
    );
    assert!(
        e[0].starts_with("specs/a.yml:7:7: field slos[0].sli: unknown field `evnts`"),
        "{e:?}"
    );

    let e = errors(
        "version: vigil/v1\nservice: a\nslos:\n  - name: x\n    objective: 100\n    sli:\n      events: {error: 'e_total', total: 't_total'}\n",
    );
    assert_eq!(
        e,
        vec![
            "specs/a.yml: slo \"x\": field objective: 100% is out of range: it must be above 0 and below 100 (100% leaves no error budget)"
        ]
    );

    let e = errors(
        "version: vigil/v1\nservice: a\nslos:\n  - name: lat\n    objective: 99\n    sli:\n      latency: {histogram: h, threshold: 0.3, buckets: [0.1, 0.25, 0.5]}\n",
    );
    assert!(
        e[0].starts_with("specs/a.yml: slo \"lat\": field slos[0].sli.latency.threshold: 0.3 is not a bucket boundary of the histogram (0.1, 0.25, 0.5)"),
        "{e:?}"
    );

    let e = errors(
        "version: vigil/v1\nservice: a\nslos:\n  - name: x\n    objective: 99\n    sli:\n      events: {error: 'rate(e[5m])', total: 't_total'}\n",
    );
    assert!(
        e[0].contains("field slos[0].sli.events.error: expected a plain series selector"),
        "{e:?}"
    );

    let e = errors(
        "version: vigil/v1\nservice: a\nslos:\n  - name: x\n    objective: 99\n    calendar: {period: month, time_zone: Mars/Olympus_Mons}\n    sli:\n      events: {error: e, total: t}\n",
    );
    assert!(
        e[0].contains("field slos[0].calendar: time zone \"Mars/Olympus_Mons\": cannot read"),
        "{e:?}"
    );

    let e = errors(
        "version: vigil/v1\nservice: a\nslos:\n  - name: x\n    objective: 99\n    slice: 7m\n    sli:\n      events: {error: e, total: t}\n",
    );
    assert!(
        e[0].contains("field slice: 7m must divide one day"),
        "{e:?}"
    );

    let e = errors(
        "version: \"prometheus/v1\"\nservice: s\nslos:\n  - name: p\n    objective: 99\n    sli:\n      plugin: {id: sloth-common/kubernetes/apiserver/availability}\n    alerting: {name: A}\n",
    );
    assert!(e[0].contains("slo \"p\": field slos[0].sli.plugin: SLI plugin \"sloth-common/kubernetes/apiserver/availability\""), "{e:?}");

    let e = errors(
        "version: \"prometheus/v1\"\nservice: s\nslos:\n  - name: q\n    objective: 99\n    sli:\n      events: {error_query: 'sum(rate(e[5m]))', total_query: 'sum(rate(t[{{.window}}]))'}\n    alerting: {name: A}\n",
    );
    assert!(
        e[0].contains("field slos[0].sli.events.error_query: the query needs a {{.window}}"),
        "{e:?}"
    );

    let e = errors(
        "version: \"prometheus/v1\"\nservice: s\nslos:\n  - name: q\n    objective: 99\n    sli:\n      events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}\n",
    );
    assert!(
        e[0].contains("field slos[0].alerting.name: is required"),
        "{e:?}"
    );

    let e = errors(
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: o}\nspec:\n  service: s\n  indicatorRef: missing\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.99}]\n",
    );
    assert_eq!(
        e,
        vec![
            "specs/a.yml: slo \"o\": field spec.indicatorRef: no SLI object named \"missing\" in the given files"
        ]
    );

    let e = errors(
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: o}\nspec:\n  service: s\n  indicator:\n    spec:\n      thresholdMetric: {metricSource: {spec: {query: x}}}\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.99}]\n",
    );
    assert!(
        e[0].contains("field indicator.spec.thresholdMetric: threshold SLIs are not supported"),
        "{e:?}"
    );

    let e = errors("groups: []\n");
    assert!(
        e[0].starts_with("specs/a.yml:1:1: not an SLO spec"),
        "{e:?}"
    );
    let e = errors("version: vigil/v2\n");
    assert!(e[0].contains("unknown spec version \"vigil/v2\""), "{e:?}");
    let e = errors("version: vigil/v1\nservice: a\nslos: [\n");
    assert!(e[0].starts_with("specs/a.yml:"), "{e:?}");
}

#[test]
fn duplicate_ids_and_impossible_tiers() {
    let text = "version: vigil/v1\nservice: a\nslos:\n  - {name: x, objective: 99, sli: {events: {error: e, total: t}}}\n  - {name: x, objective: 99, sli: {events: {error: e, total: t}}}\n";
    let e = errors(text);
    assert!(
        e[0].contains("SLO id \"a-x\" (service-name) is defined twice"),
        "{e:?}"
    );
    let loaded = parse(
        "version: vigil/v1\nservice: a\nslos:\n  - {name: low, objective: 90, sli: {events: {error: e, total: t}}}\n",
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("page tier 14.4× over 1h/5m needs an error ratio of 1.44"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn every_sli_kind_generates_loadable_rules() {
    let text = r#"
version: vigil/v1
service: k
slos:
  - name: good-events
    objective: 99.5
    sli: {events: {good: 'ok_total{a="b"}', total: 'all_total{a="b"}'}}
  - name: native
    objective: 99
    sli: {native_latency: {histogram: rpc_duration_seconds, selector: '{svc="x"}', threshold: 0.25}}
  - name: logs
    objective: 99
    sli: {logql: {error: 'sum(count_over_time({svc="x"} |= "error" [$window]))', total: '{svc="x"}'}}
  - name: raw
    objective: 99
    sli: {raw: {error_ratio_query: 'avg_over_time(err_ratio[$window])'}}
  - name: queries
    objective: 99
    budgeting: ratio_timeslices
    sli: {queries: {error_query: 'sum(irate(e[$window]))', total_query: 'sum(rate(t[$window]))'}}
  - name: weekly
    objective: 99
    calendar: {period: week, time_zone: "-05:00", week_start: sunday}
    budgeting: timeslices
    timeslice_target: 95
    sli: {events: {error: 'e_total', total: 't_total'}}
    alerting:
      tiers:
        - {severity: page, long: 1h, short: 5m, budget_percent: 5}
      no_data: {disable: true}
      budget_exhausted: {disable: true}
"#;
    let file = generated(text);
    let yaml = file.to_yaml();
    let meta = |id: &str| file.slos.iter().find(|m| m.id == id).unwrap();
    assert!(meta("k-good-events").exact);
    assert!(!meta("k-native").exact);
    assert!(
        yaml.contains(
            "histogram_fraction(0, 0.25, sum(increase(rpc_duration_seconds{svc=\"x\"}[1m])))"
        ),
        "{yaml}"
    );
    assert!(
        yaml.contains("(sum(count_over_time({svc=\"x\"} |= \"error\" [1m]))) or vector(0)"),
        "{yaml}"
    );
    assert!(!meta("k-queries").exact, "irate cannot be rewritten");
    assert_eq!(meta("k-queries").budgeting, "RatioTimeslices");
    let weekly = meta("k-weekly");
    assert_eq!(weekly.period.name, "calendar_week");
    assert_eq!(weekly.tiers.len(), 1);
    // 5 % of a 7-day budget in 1h: factor 0.05 × 168 = 8.4.
    assert!(
        (weekly.tiers[0].factor - 8.4).abs() < 1e-12,
        "{:?}",
        weekly.tiers[0]
    );
    assert!(weekly.no_data_alert.is_none() && weekly.budget_exhausted_alert.is_none());
    assert!(
        yaml.contains("(day_of_week(vector(time() - 18000)) == 0)"),
        "{yaml}"
    );
    assert!(yaml.contains("> bool 0.05"), "{yaml}");
    assert!(yaml.contains("vector(7)"));
    // An IANA zone: its offset is recorded first and read by the period rules.
    if std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
        let paris = generated(
            "version: vigil/v1\nservice: p\nslos:\n  - name: m\n    objective: 99\n    calendar: {period: month, time_zone: Europe/Paris}\n    sli: {events: {error: e_total, total: t_total}}\n",
        );
        let first = &paris.groups[0].rules[0];
        assert_eq!(first.record.as_deref(), Some(crate::CALENDAR_UTC_OFFSET));
        assert_eq!(first.labels["time_zone"], "Europe/Paris");
        assert!(
            first
                .expr
                .starts_with("vector(3600 + (time() >= bool 1585443600) * 3600"),
            "{}",
            first.expr
        );
        let yaml = paris.to_yaml();
        assert!(yaml.contains("day_of_month(vector(time() + scalar(slo:calendar_utc_offset:seconds{sloth_id=\"p-m\""), "{yaml}");
    }
    // LogQL groups are the only ones with a language key.
    assert_eq!(
        file.groups.iter().filter(|g| g.language.is_some()).count(),
        1
    );
}

/// The LogQL slice rules run in Vigil's LogQL engine: per-slice line counts (zero when a
/// slice has no lines) whose sum over consecutive slices is every line exactly once.
#[test]
fn logql_slice_rules_count_every_line_once() {
    use std::sync::Arc;
    use vigil_model::{Labels, LogEntry, TenantId};
    use vigil_rules::QueryEvaluator;
    use vigil_storage::log_memory::MemLogStorage;
    use vigil_storage::{LogAppendOptions, LogAppendable, LogQueryable};

    let file = generated(
        "version: vigil/v1\nservice: shop\nslos:\n  - name: logs\n    objective: 99\n    sli:\n      logql:\n        error: '{app=\"shop\"} | json | level=\"error\"'\n        total: '{app=\"shop\"}'\n",
    );
    let group = file
        .groups
        .iter()
        .find(|g| g.language.as_deref() == Some("logql"))
        .unwrap();
    let (total_expr, error_expr) = (&group.rules[0].expr, &group.rules[1].expr);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tenant = TenantId::new("t").unwrap();
    let logs = MemLogStorage::new();
    let mut app = logs.log_appender(&tenant, LogAppendOptions::default());
    let stream = Labels::from_static(&[("app", "shop")]);
    // Lines at 10 s steps from 10 s to 170 s; every third is an error; one sits exactly on
    // the 120 s slice boundary.
    let mut lines = 0;
    let mut errors = 0;
    for i in 1..=17i64 {
        let level = if i % 3 == 0 { "error" } else { "info" };
        lines += 1;
        errors += i64::from(level == "error");
        let line = format!("{{\"level\":\"{level}\",\"n\":{i}}}");
        app.append_entry(&stream, LogEntry::new(i * 10_000_000_000, line))
            .unwrap();
    }
    runtime.block_on(app.commit()).unwrap();
    let queryable: Arc<dyn LogQueryable> = Arc::new(logs);
    let eval = vigil_rules::LogqlEvaluator::new(queryable);
    let value = |expr: &str, t_ms: i64| -> f64 {
        let out = eval.instant(&tenant, expr, t_ms).unwrap();
        assert_eq!(out.len(), 1, "{expr} at {t_ms}: {out:?}");
        out[0].value
    };
    let (mut total_sum, mut error_sum) = (0.0, 0.0);
    for slice_end in [60_000, 120_000, 180_000, 240_000] {
        total_sum += value(total_expr, slice_end);
        error_sum += value(error_expr, slice_end);
    }
    assert_eq!(total_sum, lines as f64);
    assert_eq!(error_sum, errors as f64);
    // A slice without lines records 0, not nothing.
    assert_eq!(value(total_expr, 600_000), 0.0);
    assert_eq!(value(error_expr, 600_000), 0.0);
}
