#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn expand(text: &str, value: f64) -> String {
    let l = labels(&[("instance", "host-1.example.com:9100"), ("job", "node")]);
    let ext = labels(&[("cluster", "eu1")]);
    let data = AlertData {
        labels: &l,
        external_labels: &ext,
        external_url: "http://vigil:9009/x",
        value,
    };
    type Samples = Vec<(BTreeMap<String, String>, f64)>;
    let query = |q: &str| -> Result<Samples, String> {
        match q {
            "up" => Ok(vec![
                (labels(&[("__name__", "up"), ("job", "b")]), 0.0),
                (labels(&[("__name__", "up"), ("job", "a")]), 1.0),
            ]),
            "none" => Ok(vec![]),
            other => Err(format!("bad query {other}")),
        }
    };
    let ctx = Context {
        query: Some(&query),
        now_ms: 1_000,
        external_url: "http://vigil:9009/x",
    };
    expand_alert_template("Test", text, &data, &ctx)
}

#[test]
fn variables_and_fields() {
    assert_eq!(
        expand(
            "{{ $labels.job }} on {{ $labels.instance }} is {{ $value }}",
            0.5
        ),
        "node on host-1.example.com:9100 is 0.5"
    );
    assert_eq!(
        expand(
            "{{ $externalLabels.cluster }} {{ $externalURL }} {{ .Labels.job }}",
            1.0
        ),
        "eu1 http://vigil:9009/x node"
    );
    assert_eq!(expand("[{{ $labels.missing }}]", 1.0), "[]");
    assert_eq!(
        expand("{{ $x := 3 }}{{ $x }}{{ $x = 4 }}{{ $x }}", 1.0),
        "34"
    );
    assert_eq!(expand("plain text", 1.0), "plain text");
}

#[test]
fn control_flow_and_trimming() {
    assert_eq!(
        expand(
            "{{ if gt $value 1.0 }}high{{ else if eq $value 1.0 }}one{{ else }}low{{ end }}",
            2.0
        ),
        "high"
    );
    assert_eq!(
        expand(
            "{{ if gt $value 1.0 }}high{{ else if eq $value 1.0 }}one{{ else }}low{{ end }}",
            1.0
        ),
        "one"
    );
    assert_eq!(
        expand(
            "{{ if gt $value 1.0 }}high{{ else if eq $value 1.0 }}one{{ else }}low{{ end }}",
            0.0
        ),
        "low"
    );
    assert_eq!(expand("a  {{- \" b \" -}}  c", 1.0), "a b c");
    assert_eq!(expand("{{/* comment */}}x", 1.0), "x");
    assert_eq!(
        expand("{{ with $labels.job }}job={{ . }}{{ end }}", 1.0),
        "job=node"
    );
    assert_eq!(
        expand("{{ with $labels.nope }}x{{ else }}none{{ end }}", 1.0),
        "none"
    );
    assert_eq!(
        expand(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            1.0
        ),
        "instance=host-1.example.com:9100;job=node;"
    );
    assert_eq!(
        expand("{{ range query \"none\" }}x{{ else }}empty{{ end }}", 1.0),
        "empty"
    );
}

#[test]
fn query_functions() {
    assert_eq!(
        expand(
            "{{ range query \"up\" | sortByLabel \"job\" }}{{ .Labels.job }}:{{ .Value }} {{ end }}",
            1.0
        ),
        "a:1 b:0 "
    );
    assert_eq!(
        expand(
            "{{ with query \"up\" }}{{ . | first | label \"job\" }}/{{ . | first | value }}{{ end }}",
            1.0
        ),
        "b/0"
    );
    assert!(expand("{{ query \"none\" | first | value }}", 1.0).starts_with("<error expanding template: error executing template __alert_Test: template: __alert_Test:1:"));
    let err = expand("{{ query \"none\" | first | value }}", 1.0);
    assert!(
        err.ends_with("error calling first: first() called on vector with no elements>"),
        "{err}"
    );
}

#[test]
fn humanize_family_matches_prometheus_docs() {
    assert_eq!(expand("{{ humanize 1234567.0 }}", 1.0), "1.235M");
    assert_eq!(expand("{{ humanize 0.00123 }}", 1.0), "1.23m");
    assert_eq!(expand("{{ humanize 0 }}", 1.0), "0");
    assert_eq!(expand("{{ humanize1024 1048576.0 }}", 1.0), "1Mi");
    assert_eq!(expand("{{ humanizeDuration 90061.0 }}", 1.0), "1d 1h 1m 1s");
    assert_eq!(expand("{{ humanizeDuration 1.5 }}", 1.0), "1.5s");
    assert_eq!(expand("{{ humanizeDuration 0.0015 }}", 1.0), "1.5ms");
    assert_eq!(expand("{{ humanizePercentage 0.12345 }}", 1.0), "12.35%");
    assert_eq!(
        expand("{{ humanizeTimestamp 1435065584.128 }}", 1.0),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(expand("{{ $value | humanize }}", 2048.0), "2.048k");
    assert_eq!(expand("{{ \"1.5e3\" | humanize }}", 1.0), "1.5k");
}

#[test]
fn string_functions() {
    assert_eq!(
        expand("{{ $labels.instance | stripPort }}", 1.0),
        "host-1.example.com"
    );
    assert_eq!(
        expand("{{ $labels.instance | stripDomain }}", 1.0),
        "host-1:9100"
    );
    assert_eq!(
        expand(
            "{{ toUpper \"ab\" }}{{ toLower \"CD\" }}{{ title \"hello world\" }}",
            1.0
        ),
        "ABcdHello World"
    );
    assert_eq!(
        expand(
            "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
            1.0
        ),
        "host-1.example.com"
    );
    assert_eq!(
        expand("{{ if match \"^node\" $labels.job }}yes{{ end }}", 1.0),
        "yes"
    );
    assert_eq!(expand("{{ printf \"%.1f%%\" $value }}", 99.25), "99.2%");
    assert_eq!(expand("{{ (args 1 \"x\").arg1 }}", 1.0), "x");
    assert_eq!(
        expand("{{ graphLink \"up == 0\" }}", 1.0),
        "http://vigil:9009/x/graph?g0.expr=up+%3D%3D+0&g0.tab=0"
    );
    assert_eq!(expand("{{ pathPrefix }}", 1.0), "/x");
    assert_eq!(
        expand(
            "{{ len $labels }} {{ index $labels \"job\" }} {{ not false }}",
            1.0
        ),
        "2 node true"
    );
}

#[test]
fn errors_become_prometheus_text() {
    let out = expand("{{ humanize \"abc\" }}", 1.0);
    assert_eq!(
        out,
        "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:115: executing \"__alert_Test\" at <humanize \"abc\">: error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax>"
    );
    let out = expand("{{ gt $value 1 }}", 1.0);
    assert!(
        out.ends_with("error calling gt: incompatible types for comparison>"),
        "{out}"
    );
    let out = expand("{{ nope }}", 1.0);
    assert_eq!(
        out,
        "<error expanding template: error parsing template __alert_Test: template: __alert_Test:1: function \"nope\" not defined>"
    );
    let out = expand("{{ if true }}x", 1.0);
    assert!(out.contains("unexpected EOF"), "{out}");
    assert!(
        Template::parse("t", "{{ .x ")
            .unwrap_err()
            .to_string()
            .contains("unclosed action")
    );
    assert!(
        Template::parse("t", "{{ $undefined }}")
            .unwrap_err()
            .to_string()
            .contains("undefined variable \"$undefined\"")
    );
}
