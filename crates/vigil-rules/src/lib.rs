//! Vigil's rules engine.
//!
//! Owns rule files in Prometheus' format (parsing and validation with `line:col` errors),
//! the Go `text/template` subset used by alert labels and annotations, rule groups and their
//! evaluation with Prometheus' semantics (slotted timestamps, staleness, the alert state
//! machine, `ALERTS`/`ALERTS_FOR_STATE`, `for` restore), the Alertmanager v2 notifier, the
//! rule manager with reloads (globbed files for the default tenant, plus Loki's ruler layout
//! `<dir>/<tenant>/<namespace>.yaml` and the store behind the ruler API), and the
//! `promtool test rules` runner.
//!
//! It reads data through the query engines (`vigil-promql`, and LogQL through the
//! `QueryEvaluator` trait) and writes through `vigil-storage`'s `Appendable`; it must
//! never depend on a storage engine (`vigil-tsdb`), the HTTP layer or the server.

pub mod alert;
pub mod eval;
pub mod file;
pub mod group;
pub mod logql;
pub mod manager;
pub mod notifier;
pub mod ruler_store;
pub mod template;
pub mod unittest;
mod yaml;

pub use alert::{Alert, AlertState};
pub use eval::{EvalSample, PromqlEvaluator, QueryEvaluator};
pub use file::{
    ExprValidator, FileError, GroupSpec, ParseOptions, QueryLanguage, RuleFile, RuleSpec,
    parse_rule_file,
};
pub use group::{Group, GroupEnv, Health, OutgoingAlert, Rule};
pub use logql::{LogqlEvaluator, logql_validator};
pub use manager::{Manager, ManagerDeps, ManagerOptions, SpecHandler, is_slo_spec};
pub use ruler_store::{RulerStore, RulerStoreError};
pub use yaml::Pos;
