//! `legacy`: a plugin built against `dockwright:plugin@0.1.0` (the contract as it was
//! before 0.1.1 added `declare-permissions`, kept in `wit/`), so tests can check that a
//! host of a newer compatible contract still runs it.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use dockwright::plugin::docker::{self, ListOptions};
use dockwright::plugin::types::KeyValue;
use exports::dockwright::plugin::workflows::{Guest, PluginInfo, Workflow};

struct Legacy;

export!(Legacy);

impl Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin for contract 0.1.0".into(),
            workflows: vec![Workflow {
                name: "count".into(),
                description: "Counts the team's containers".into(),
                params: vec![],
            }],
        }
    }

    fn run(_workflow: String, _params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        let all = docker::list_containers(&ListOptions {
            all: true,
            labels: vec![],
        })
        .map_err(|e| format!("{e:?}"))?;
        Ok(vec![KeyValue {
            key: "count".into(),
            value: all.len().to_string(),
        }])
    }
}
