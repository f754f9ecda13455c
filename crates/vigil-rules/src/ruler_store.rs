//! The rule store behind the Cortex/Loki ruler API: namespaces are the files of a tenant's
//! directory in Loki's local layout `<dir>/<tenant>/<namespace>.yaml`, so what the API writes
//! is what the manager loads (and what an operator may edit by hand).
//!
//! Writes validate the whole resulting file with the same parser the manager uses before
//! replacing it (temporary file, then rename), so a bad request never leaves a file behind
//! that would stop the next reload.

use std::path::{Path, PathBuf};

use vigil_model::TenantId;
pub use yaml_rust2::Yaml;
pub use yaml_rust2::yaml::Hash as YamlHash;
use yaml_rust2::{YamlEmitter, YamlLoader};

use crate::file::{ParseOptions, parse_rule_file};

/// Why a ruler-store call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulerStoreError {
    /// The request itself is wrong (bad namespace name, bad YAML, invalid group): HTTP 400.
    BadRequest(String),
    /// The namespace or group does not exist: HTTP 404.
    NotFound(String),
    /// Reading or writing the directory failed: HTTP 500.
    Io(String),
}

impl std::fmt::Display for RulerStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulerStoreError::BadRequest(m) | RulerStoreError::NotFound(m) => f.write_str(m),
            RulerStoreError::Io(m) => write!(f, "rule store: {m}"),
        }
    }
}

impl std::error::Error for RulerStoreError {}

/// Namespaces of one tenant with their groups, as YAML values, in name order.
pub type Namespaces = Vec<(String, Vec<Yaml>)>;

/// A tenant directory tree in Loki's local ruler layout.
#[derive(Clone)]
pub struct RulerStore {
    root: PathBuf,
    parse: ParseOptions,
}

/// A namespace names a file: no separators, no leading dot, nothing empty.
fn check_namespace(namespace: &str) -> Result<(), RulerStoreError> {
    let bad = namespace.is_empty()
        || namespace.starts_with('.')
        || namespace.len() > 255
        || namespace
            .chars()
            .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control());
    if bad {
        return Err(RulerStoreError::BadRequest(format!(
            "invalid namespace {namespace:?}: it names a file, so it must be non-empty, not start with '.', and contain no '/'"
        )));
    }
    Ok(())
}

fn io(path: &Path, err: std::io::Error) -> RulerStoreError {
    RulerStoreError::Io(format!("{}: {err}", path.display()))
}

fn group_name(group: &Yaml) -> Option<&str> {
    group["name"].as_str()
}

/// YAML text of `value`, without the document marker the emitter writes.
pub fn to_yaml_text(value: &Yaml) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    if emitter.dump(value).is_err() {
        return String::new();
    }
    let body = out.strip_prefix("---\n").unwrap_or(&out);
    let mut text = body.to_string();
    text.push('\n');
    text
}

impl RulerStore {
    /// The store under `root`; files are validated with `parse` (its default language
    /// applies to groups without `language:`).
    pub fn new(root: PathBuf, parse: ParseOptions) -> Self {
        Self { root, parse }
    }

    fn tenant_dir(&self, tenant: &TenantId) -> PathBuf {
        self.root.join(tenant.as_str())
    }

    /// The file of `namespace`: an existing `.yaml` or `.yml` file, else the `.yaml` to create.
    fn namespace_file(&self, tenant: &TenantId, namespace: &str) -> PathBuf {
        let dir = self.tenant_dir(tenant);
        let yml = dir.join(format!("{namespace}.yml"));
        if yml.is_file() {
            return yml;
        }
        dir.join(format!("{namespace}.yaml"))
    }

    /// The groups of one namespace file (empty when it does not exist).
    fn read_groups(&self, path: &Path) -> Result<Option<Vec<Yaml>>, RulerStoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io(path, err)),
        };
        let docs = YamlLoader::load_from_str(&text)
            .map_err(|err| RulerStoreError::Io(format!("{}: {err}", path.display())))?;
        let groups = docs
            .first()
            .and_then(|doc| doc["groups"].as_vec().cloned())
            .unwrap_or_default();
        Ok(Some(groups))
    }

    /// Every namespace of `tenant` with its groups.
    pub fn list(&self, tenant: &TenantId) -> Result<Namespaces, RulerStoreError> {
        let dir = self.tenant_dir(tenant);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io(&dir, err)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|err| io(&dir, err))?.path();
            let is_rule_file = path
                .extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml");
            let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            if !is_rule_file || stem.starts_with('.') || !path.is_file() {
                continue;
            }
            if let Some(groups) = self.read_groups(&path)? {
                out.push((stem, groups));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The groups of one namespace.
    pub fn namespace(
        &self,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<Vec<Yaml>, RulerStoreError> {
        check_namespace(namespace)?;
        match self.read_groups(&self.namespace_file(tenant, namespace))? {
            Some(groups) => Ok(groups),
            None => Err(RulerStoreError::NotFound(format!(
                "no rule groups found in namespace {namespace:?}"
            ))),
        }
    }

    /// One group of a namespace.
    pub fn group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<Yaml, RulerStoreError> {
        self.namespace(tenant, namespace)?
            .into_iter()
            .find(|g| group_name(g) == Some(group))
            .ok_or_else(|| {
                RulerStoreError::NotFound(format!(
                    "group {group:?} not found in namespace {namespace:?}"
                ))
            })
    }

    /// Creates or replaces (by name) the group written as YAML in `body`; returns its name.
    pub fn set_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        body: &str,
    ) -> Result<String, RulerStoreError> {
        check_namespace(namespace)?;
        let docs = YamlLoader::load_from_str(body).map_err(|err| {
            RulerStoreError::BadRequest(format!("the rule group is not valid YAML: {err}"))
        })?;
        let group = match docs.as_slice() {
            [group @ Yaml::Hash(_)] => group.clone(),
            _ => {
                return Err(RulerStoreError::BadRequest(
                    "the body must be one rule group: a YAML mapping with name and rules".into(),
                ));
            }
        };
        let Some(name) = group_name(&group).map(str::to_string) else {
            return Err(RulerStoreError::BadRequest(
                "the rule group has no name".into(),
            ));
        };
        if name.is_empty() {
            return Err(RulerStoreError::BadRequest(
                "the rule group has no name".into(),
            ));
        }
        let path = self.namespace_file(tenant, namespace);
        let mut groups = self.read_groups(&path)?.unwrap_or_default();
        match groups.iter_mut().find(|g| group_name(g) == Some(&name)) {
            Some(existing) => *existing = group,
            None => groups.push(group),
        }
        self.write(&path, groups)?;
        Ok(name)
    }

    /// Deletes one group; the namespace file goes when its last group does.
    pub fn delete_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<(), RulerStoreError> {
        let mut groups = self.namespace(tenant, namespace)?;
        let before = groups.len();
        groups.retain(|g| group_name(g) != Some(group));
        if groups.len() == before {
            return Err(RulerStoreError::NotFound(format!(
                "group {group:?} not found in namespace {namespace:?}"
            )));
        }
        let path = self.namespace_file(tenant, namespace);
        if groups.is_empty() {
            std::fs::remove_file(&path).map_err(|err| io(&path, err))
        } else {
            self.write(&path, groups)
        }
    }

    /// Deletes a namespace with all its groups.
    pub fn delete_namespace(
        &self,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<(), RulerStoreError> {
        self.namespace(tenant, namespace)?;
        let path = self.namespace_file(tenant, namespace);
        std::fs::remove_file(&path).map_err(|err| io(&path, err))
    }

    /// Validates `groups` as a whole file, then replaces `path` atomically.
    fn write(&self, path: &Path, groups: Vec<Yaml>) -> Result<(), RulerStoreError> {
        let mut file = YamlHash::new();
        file.insert(Yaml::String("groups".into()), Yaml::Array(groups));
        let text = to_yaml_text(&Yaml::Hash(file));
        if let Err(errors) = parse_rule_file(&text, &self.parse) {
            let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            return Err(RulerStoreError::BadRequest(format!(
                "invalid rule group: {}",
                messages.join("; ")
            )));
        }
        let Some(dir) = path.parent() else {
            return Err(RulerStoreError::Io(format!(
                "{}: no parent",
                path.display()
            )));
        };
        std::fs::create_dir_all(dir).map_err(|err| io(dir, err))?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::write(&tmp, text.as_bytes()).map_err(|err| io(&tmp, err))?;
        std::fs::rename(&tmp, path).map_err(|err| io(path, err))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::file::QueryLanguage;

    fn store(dir: &Path) -> RulerStore {
        RulerStore::new(
            dir.to_path_buf(),
            ParseOptions {
                logql: Some(crate::logql::logql_validator()),
                default_language: QueryLanguage::LogQL,
                ..ParseOptions::default()
            },
        )
    }

    const GROUP: &str = "name: errors\ninterval: 1m\nrules:\n- record: app:errors:rate1m\n  expr: sum by (app) (rate({app=~\".+\"} |= \"error\" [1m]))\n";

    #[test]
    fn set_list_get_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let team = TenantId::new("team-a").unwrap();
        assert!(store.list(&team).unwrap().is_empty());
        assert_eq!(store.set_group(&team, "app", GROUP).unwrap(), "errors");
        // The file is where the manager reads it, and parses as a LogQL group.
        let text = std::fs::read_to_string(dir.path().join("team-a/app.yaml")).unwrap();
        let parsed = parse_rule_file(&text, &store.parse).unwrap();
        assert_eq!(parsed.groups[0].language, QueryLanguage::LogQL);
        assert_eq!(
            parsed.groups[0].rules[0].record.as_deref(),
            Some("app:errors:rate1m")
        );

        let listed = store.list(&team).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, "app");
        assert_eq!(group_name(&listed[0].1[0]), Some("errors"));
        // Replacing by name keeps one group.
        let replaced = GROUP.replace("interval: 1m", "interval: 2m");
        store.set_group(&team, "app", &replaced).unwrap();
        let group = store.group(&team, "app", "errors").unwrap();
        assert_eq!(group["interval"].as_str(), Some("2m"));
        assert_eq!(store.namespace(&team, "app").unwrap().len(), 1);
        // Another tenant sees nothing.
        let other = TenantId::new("team-b").unwrap();
        assert!(store.list(&other).unwrap().is_empty());

        store.delete_group(&team, "app", "errors").unwrap();
        assert!(matches!(
            store.namespace(&team, "app"),
            Err(RulerStoreError::NotFound(_))
        ));
    }

    #[test]
    fn bad_requests_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let team = TenantId::new("team-a").unwrap();
        for (namespace, body, needle) in [
            ("../x", GROUP, "invalid namespace"),
            ("app", "rules: []\n", "no name"),
            ("app", "[1, 2]\n", "one rule group"),
            (
                "app",
                "name: x\nrules:\n- record: r\n  expr: '{app=\"x\"}'\n",
                "metric queries",
            ),
            (
                "app",
                "name: x\nrules:\n- record: 'bad name'\n  expr: 'rate({a=\"b\"}[1m])'\n",
                "invalid recording rule name",
            ),
            ("app", "name: [unterminated\n", "not valid YAML"),
        ] {
            let err = store.set_group(&team, namespace, body).unwrap_err();
            assert!(
                matches!(&err, RulerStoreError::BadRequest(m) if m.contains(needle)),
                "{body:?}: {err:?}"
            );
        }
        assert!(!dir.path().join("team-a").join("app.yaml").exists());
        assert!(matches!(
            store.delete_group(&team, "app", "nope"),
            Err(RulerStoreError::NotFound(_))
        ));
    }
}
