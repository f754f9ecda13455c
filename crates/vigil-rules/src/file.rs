//! Rule files in Prometheus' format: parsing and validation with `line:col` positions, as
//! `promtool check rules` reports them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use vigil_model::{is_valid_label_name, is_valid_metric_name, parse_duration_ms};

use crate::template;
use crate::yaml::{self, Node, NodeKind, Pos};

/// Query language of a rule group's expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    /// PromQL (Prometheus' rule files; the default).
    #[default]
    PromQL,
    /// LogQL metric queries (Loki's ruler); marked with `language: logql` on the group.
    LogQL,
}

/// Checks one expression of a language; `Err` carries the parser's message.
pub type ExprValidator = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// How strictly files are read.
#[derive(Clone, Default)]
pub struct ParseOptions {
    /// Accept unknown keys instead of failing (promtool's `--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// Validator of LogQL expressions; without one, LogQL groups are rejected.
    pub logql: Option<ExprValidator>,
    /// Language of groups without a `language:` key: PromQL for Prometheus rule files,
    /// LogQL for files in a Loki-ruler tenant directory.
    pub default_language: QueryLanguage,
}

/// One rule as written in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// `record:` name, for recording rules.
    pub record: Option<String>,
    /// `alert:` name, for alerting rules.
    pub alert: Option<String>,
    /// The query.
    pub expr: String,
    /// `for:` in milliseconds.
    pub for_ms: i64,
    /// `keep_firing_for:` in milliseconds.
    pub keep_firing_for_ms: i64,
    /// `labels:` (templates for alerting rules, plain values for recording rules).
    pub labels: BTreeMap<String, String>,
    /// `annotations:` (alerting rules only).
    pub annotations: BTreeMap<String, String>,
    /// Position of the rule in its file.
    pub pos: Pos,
    /// Position of the `record:`/`alert:` value (0:0 when absent), for messages.
    pub name_pos: Pos,
    /// Position of the `expr:` value (0:0 when absent), for messages.
    pub expr_pos: Pos,
}

impl RuleSpec {
    /// The rule's name: the recorded metric or the alert name.
    pub fn name(&self) -> &str {
        self.record
            .as_deref()
            .or(self.alert.as_deref())
            .unwrap_or_default()
    }

    /// True for alerting rules.
    pub fn is_alert(&self) -> bool {
        self.alert.is_some()
    }
}

/// One group as written in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// Group name, unique within the file.
    pub name: String,
    /// `interval:` in milliseconds; `None` means the global evaluation interval.
    pub interval_ms: Option<i64>,
    /// `query_offset:` in milliseconds; `None` means the global default.
    pub query_offset_ms: Option<i64>,
    /// `limit:` (0 = unlimited).
    pub limit: usize,
    /// `labels:` added to every rule's output (rule labels win).
    pub labels: BTreeMap<String, String>,
    /// Language of the expressions.
    pub language: QueryLanguage,
    /// The rules in file order.
    pub rules: Vec<RuleSpec>,
    /// Position of the group in its file.
    pub pos: Pos,
}

/// A parsed, valid rule file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFile {
    /// The groups in file order.
    pub groups: Vec<GroupSpec>,
}

impl RuleFile {
    /// Number of rules over all groups.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// One problem in a rule file, formatted like promtool: `[line:col: ][group "g", rule N, "name": ]message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// Where, when known.
    pub pos: Option<Pos>,
    /// The message including the group/rule context.
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pos {
            Some(pos) => write!(f, "{pos}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

struct Reader<'a> {
    options: &'a ParseOptions,
    errors: Vec<FileError>,
}

impl Reader<'_> {
    fn error(&mut self, pos: Option<Pos>, message: impl Into<String>) {
        self.errors.push(FileError {
            pos,
            message: message.into(),
        });
    }

    /// The entries of a mapping node; reports and returns `None` for other node types.
    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.kind {
            NodeKind::Map(entries) => Some(entries),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.error(
                    Some(node.pos),
                    format!("cannot unmarshal {} into {what}", node.type_name()),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        if node.is_null() {
            return Some(String::new());
        }
        match node.scalar() {
            Some(text) => Some(text.to_string()),
            None => {
                self.error(
                    Some(node.pos),
                    format!(
                        "field {key}: cannot unmarshal {} into string",
                        node.type_name()
                    ),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, key: &str) -> Option<i64> {
        let text = self.string(node, key)?;
        if text.is_empty() {
            return Some(0);
        }
        match parse_duration_ms(&text) {
            Ok(ms) => Some(ms),
            Err(_) => {
                self.error(
                    Some(node.pos),
                    format!("not a valid duration string: {text:?}"),
                );
                None
            }
        }
    }

    fn string_map(&mut self, node: &Node, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.map(node, &format!("field {key} (map of strings)")) else {
            return out;
        };
        for (k, v) in entries {
            let (Some(name), Some(value)) = (self.string(k, key), self.string(v, key)) else {
                continue;
            };
            out.insert(name, value);
        }
        out
    }

    fn unknown(&mut self, key: &Node, name: &str, within: &str) {
        if !self.options.ignore_unknown_fields {
            self.error(
                Some(key.pos),
                format!("field {name} not found in type {within}"),
            );
        }
    }

    fn groups(&mut self, root: &Node) -> Vec<(GroupSpec, Pos)> {
        let mut groups = Vec::new();
        let Some(entries) = self.map(root, "rule groups (a map with key \"groups\")") else {
            return groups;
        };
        for (key, value) in entries {
            match key.scalar().unwrap_or_default() {
                "groups" => {
                    if value.is_null() {
                        continue;
                    }
                    let NodeKind::Seq(items) = &value.kind else {
                        self.error(
                            Some(value.pos),
                            format!(
                                "field groups: cannot unmarshal {} into a list",
                                value.type_name()
                            ),
                        );
                        continue;
                    };
                    for item in items {
                        if let Some(group) = self.group(item) {
                            groups.push((group, item.pos));
                        }
                    }
                }
                other => self.unknown(key, other, "rulefmt.RuleGroups"),
            }
        }
        groups
    }

    fn group(&mut self, node: &Node) -> Option<GroupSpec> {
        let entries = self.map(node, "rule group")?;
        let mut group = GroupSpec {
            name: String::new(),
            interval_ms: None,
            query_offset_ms: None,
            limit: 0,
            labels: BTreeMap::new(),
            language: self.options.default_language,
            rules: Vec::new(),
            pos: node.pos,
        };
        let mut ok = true;
        for (key, value) in entries {
            let name = key.scalar().unwrap_or_default();
            match name {
                "name" => match self.string(value, name) {
                    Some(s) => group.name = s,
                    None => ok = false,
                },
                "interval" => match self.duration(value, name) {
                    Some(ms) => group.interval_ms = (ms > 0).then_some(ms),
                    None => ok = false,
                },
                "query_offset" => match self.duration(value, name) {
                    Some(ms) => group.query_offset_ms = Some(ms),
                    None => ok = false,
                },
                "limit" => {
                    let text = self.string(value, name).unwrap_or_default();
                    match text.parse::<usize>() {
                        Ok(n) => group.limit = n,
                        Err(_) if text.is_empty() => {}
                        Err(_) => {
                            self.error(
                                Some(value.pos),
                                format!("field limit: cannot unmarshal {text:?} into int"),
                            );
                            ok = false;
                        }
                    }
                }
                "labels" => group.labels = self.string_map(value, name),
                "language" => match self.string(value, name).as_deref() {
                    Some("" | "promql") => group.language = QueryLanguage::PromQL,
                    Some("logql") => group.language = QueryLanguage::LogQL,
                    Some(other) => {
                        self.error(
                            Some(value.pos),
                            format!("unknown language {other:?}: use promql or logql"),
                        );
                        ok = false;
                    }
                    None => ok = false,
                },
                "rules" => {
                    if value.is_null() {
                        continue;
                    }
                    let NodeKind::Seq(items) = &value.kind else {
                        self.error(
                            Some(value.pos),
                            format!(
                                "field rules: cannot unmarshal {} into a list",
                                value.type_name()
                            ),
                        );
                        ok = false;
                        continue;
                    };
                    for item in items {
                        match self.rule(item) {
                            Some(rule) => group.rules.push(rule),
                            None => ok = false,
                        }
                    }
                }
                other => self.unknown(key, other, "rulefmt.RuleGroup"),
            }
        }
        ok.then_some(group)
    }

    fn rule(&mut self, node: &Node) -> Option<RuleSpec> {
        let entries = self.map(node, "rule")?;
        let mut rule = RuleSpec {
            record: None,
            alert: None,
            expr: String::new(),
            for_ms: 0,
            keep_firing_for_ms: 0,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            pos: node.pos,
            name_pos: Pos::default(),
            expr_pos: Pos::default(),
        };
        let mut ok = true;
        for (key, value) in entries {
            let name = key.scalar().unwrap_or_default();
            match name {
                "record" => {
                    rule.name_pos = value.pos;
                    rule.record = self.string(value, name);
                    ok &= rule.record.is_some();
                }
                "alert" => {
                    if rule.name_pos == Pos::default() {
                        rule.name_pos = value.pos;
                    }
                    rule.alert = self.string(value, name);
                    ok &= rule.alert.is_some();
                }
                "expr" => {
                    rule.expr_pos = value.pos;
                    match self.string(value, name) {
                        Some(s) => rule.expr = s,
                        None => ok = false,
                    }
                }
                "for" => match self.duration(value, name) {
                    Some(ms) => rule.for_ms = ms,
                    None => ok = false,
                },
                "keep_firing_for" => match self.duration(value, name) {
                    Some(ms) => rule.keep_firing_for_ms = ms,
                    None => ok = false,
                },
                "labels" => rule.labels = self.string_map(value, name),
                "annotations" => rule.annotations = self.string_map(value, name),
                other => self.unknown(key, other, "rulefmt.RuleNode"),
            }
        }
        ok.then_some(rule)
    }
}

/// Parses and validates a rule file's text. On failure returns every problem found.
pub fn parse_rule_file(text: &str, options: &ParseOptions) -> Result<RuleFile, Vec<FileError>> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(RuleFile::default()),
        Err(err) => {
            return Err(vec![FileError {
                pos: Some(err.pos),
                message: format!("yaml: {}", err.message),
            }]);
        }
    };
    let mut reader = Reader {
        options,
        errors: Vec::new(),
    };
    let groups = reader.groups(&root);
    if !reader.errors.is_empty() {
        return Err(reader.errors);
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (group, pos) in &groups {
        if group.name.is_empty() {
            errors.push(FileError {
                pos: Some(*pos),
                message: "Groupname must not be empty".into(),
            });
        }
        if !seen.insert(group.name.clone()) {
            errors.push(FileError {
                pos: Some(*pos),
                message: format!("groupname: {:?} is repeated in the same file", group.name),
            });
        }
        for (name, value) in &group.labels {
            if !is_valid_label_name(name) {
                errors.push(FileError {
                    pos: Some(*pos),
                    message: format!("group {:?}: invalid label name: {name}", group.name),
                });
            }
            let _ = value;
        }
        let validator: Option<ExprValidator> = match group.language {
            QueryLanguage::PromQL => None,
            QueryLanguage::LogQL => match &options.logql {
                Some(v) => Some(v.clone()),
                None => {
                    errors.push(FileError {
                        pos: Some(*pos),
                        message: format!(
                            "group {:?}: LogQL rule groups are not supported yet",
                            group.name
                        ),
                    });
                    continue;
                }
            },
        };
        for (i, rule) in group.rules.iter().enumerate() {
            validate_rule(&group.name, i + 1, rule, validator.as_ref(), &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleFile {
        groups: groups.into_iter().map(|(g, _)| g).collect(),
    })
}

fn validate_rule(
    group: &str,
    index: usize,
    rule: &RuleSpec,
    validator: Option<&ExprValidator>,
    errors: &mut Vec<FileError>,
) {
    let context = format!("group {group:?}, rule {index}, {:?}", rule.name());
    let mut push = |pos: Option<Pos>, message: String| {
        errors.push(FileError {
            pos,
            message: format!("{context}: {message}"),
        })
    };
    let record_pos = rule.name_pos;
    let has_record = rule.record.as_deref().is_some_and(|r| !r.is_empty());
    let has_alert = rule.alert.as_deref().is_some_and(|a| !a.is_empty());
    if has_record && has_alert {
        push(
            Some(record_pos),
            "only one of 'record' and 'alert' must be set".into(),
        );
    }
    if !has_record && !has_alert {
        push(
            Some(record_pos),
            "one of 'record' or 'alert' must be set".into(),
        );
    }
    let expr_pos = rule.expr_pos;
    if rule.expr.is_empty() {
        push(Some(expr_pos), "field 'expr' must be set in rule".into());
    } else {
        let parsed = match validator {
            Some(validate) => validate(&rule.expr),
            None => promql_parser::parser::parse(&rule.expr).map(|_| ()),
        };
        if let Err(message) = parsed {
            push(
                Some(expr_pos),
                format!("could not parse expression: {message}"),
            );
        }
    }
    if has_record {
        if !rule.annotations.is_empty() {
            push(
                Some(record_pos),
                "invalid field 'annotations' in recording rule".into(),
            );
        }
        if rule.for_ms != 0 {
            push(
                Some(record_pos),
                "invalid field 'for' in recording rule".into(),
            );
        }
        if rule.keep_firing_for_ms != 0 {
            push(
                Some(record_pos),
                "invalid field 'keep_firing_for' in recording rule".into(),
            );
        }
        if let Some(name) = &rule.record
            && !is_valid_metric_name(name)
        {
            push(
                Some(record_pos),
                format!("invalid recording rule name: {name}"),
            );
        }
    }
    for name in rule.labels.keys() {
        if !is_valid_label_name(name) {
            push(None, format!("invalid label name: {name}"));
        }
    }
    for name in rule.annotations.keys() {
        if !is_valid_label_name(name) {
            push(None, format!("invalid annotation name: {name}"));
        }
    }
    if has_alert {
        for (name, text) in &rule.labels {
            if let Err(err) = template::parse_alert_template(rule.name(), text) {
                push(None, format!("label {name:?}: {err}"));
            }
        }
        for (name, text) in &rule.annotations {
            if let Err(err) = template::parse_alert_template(rule.name(), text) {
                push(None, format!("annotation {name:?}: {err}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse_rule_file(text, &ParseOptions::default())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parses_every_field() {
        let text = "groups:\n- name: g\n  interval: 30s\n  query_offset: 1m\n  limit: 10\n  labels: {team: a}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {x: y}\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.job }} down'}\n";
        let file = parse_rule_file(text, &ParseOptions::default()).unwrap();
        let g = &file.groups[0];
        assert_eq!(g.interval_ms, Some(30_000));
        assert_eq!(g.query_offset_ms, Some(60_000));
        assert_eq!(g.limit, 10);
        assert_eq!(g.labels["team"], "a");
        assert_eq!(g.rules[0].name(), "job:up:sum");
        assert!(g.rules[1].is_alert());
        assert_eq!(g.rules[1].for_ms, 300_000);
        assert_eq!(g.rules[1].keep_firing_for_ms, 60_000);
        assert_eq!(file.rule_count(), 2);
    }

    #[test]
    fn errors_are_located_like_promtool() {
        let text = "groups:\n  - name: g\n    rules:\n      - record: job:up\n        expr: sum(up\n  - name: g\n    rules:\n      - record: \"bad name\"\n        expr: up\n        for: 1m\n";
        let errs = errors(text);
        assert!(
            errs[0]
                .starts_with("5:15: group \"g\", rule 1, \"job:up\": could not parse expression: "),
            "{errs:?}"
        );
        assert_eq!(
            errs[1],
            "6:5: groupname: \"g\" is repeated in the same file"
        );
        assert_eq!(
            errs[2],
            "8:17: group \"g\", rule 1, \"bad name\": invalid field 'for' in recording rule"
        );
        assert_eq!(
            errs[3],
            "8:17: group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name"
        );
    }

    #[test]
    fn unknown_fields_bad_durations_and_missing_names() {
        let errs =
            errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    fore: 5m\n");
        assert_eq!(
            errs,
            vec!["6:5: field fore not found in type rulefmt.RuleNode"]
        );
        let ok = parse_rule_file(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    fore: 5m\n",
            &ParseOptions {
                ignore_unknown_fields: true,
                ..ParseOptions::default()
            },
        );
        assert!(ok.is_ok());
        let errs =
            errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5x\n");
        assert_eq!(errs, vec!["6:10: not a valid duration string: \"5x\""]);
        let errs = errors("groups:\n- name: g\n  rules:\n  - expr: up\n");
        assert_eq!(
            errs,
            vec!["0:0: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set"]
        );
        let errs = errors(
            "groups:\n- name: g\n  rules:\n  - record: a\n    alert: b\n    expr: up\n    labels: {'a-b': c}\n",
        );
        assert_eq!(
            errs[0],
            "4:13: group \"g\", rule 1, \"a\": only one of 'record' and 'alert' must be set"
        );
        assert_eq!(
            errs[1],
            "group \"g\", rule 1, \"a\": invalid label name: a-b"
        );
    }

    #[test]
    fn template_errors_and_logql_groups_are_reported() {
        let errs = errors(
            "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n    annotations:\n      summary: '{{ $labels.instance '\n",
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with(
                "group \"g\", rule 1, \"X\": annotation \"summary\": template: __alert_X:1: "
            ),
            "{errs:?}"
        );
        let errs = errors(
            "groups:\n- name: logs\n  language: logql\n  rules:\n  - record: x\n    expr: 'rate({a=\"b\"}[1m])'\n",
        );
        assert_eq!(
            errs,
            vec!["2:3: group \"logs\": LogQL rule groups are not supported yet"]
        );
        let with_logql = ParseOptions {
            logql: Some(Arc::new(|_: &str| Ok(()))),
            ..ParseOptions::default()
        };
        let file = parse_rule_file("groups:\n- name: logs\n  language: logql\n  rules:\n  - record: x\n    expr: 'rate({a=\"b\"}[1m])'\n", &with_logql).unwrap();
        assert_eq!(file.groups[0].language, QueryLanguage::LogQL);
    }

    #[test]
    fn empty_and_malformed_documents() {
        assert_eq!(
            parse_rule_file("", &ParseOptions::default())
                .unwrap()
                .rule_count(),
            0
        );
        let errs = errors("groups: [\n");
        assert!(errs[0].contains("yaml:"), "{errs:?}");
        let errs = errors("groups: 3\n");
        assert!(errs[0].starts_with("1:9: "), "{errs:?}");
    }
}
