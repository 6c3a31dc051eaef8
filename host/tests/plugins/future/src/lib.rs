//! `future`: a plugin built against `dockwright:plugin@0.2.0` (the host's contract with
//! the version bumped, in `wit/`), so tests can check how the host refuses a plugin
//! for a contract version it does not implement.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use dockwright::plugin::types::KeyValue;
use exports::dockwright::plugin::workflows::{Guest, PluginInfo, Workflow};

struct Future;

export!(Future);

impl Guest for Future {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "future".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin for contract 0.2.0".into(),
            workflows: vec![Workflow {
                name: "hello".into(),
                description: "Says hello".into(),
                params: vec![],
            }],
        }
    }

    fn run(_workflow: String, _params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        dockwright::plugin::host::log(dockwright::plugin::host::Level::Info, "hello");
        Ok(vec![])
    }
}
