// The body of the `narrow` test plugins (see narrow/src/lib.rs); each crate sets `DECLARED`
// and `VERSION` and includes this.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../../wit",
});

use dockwright::plugin::docker::{self, DockerError, ExecSpec, ListOptions};
use dockwright::plugin::host;
use dockwright::plugin::types::KeyValue;
use exports::dockwright::plugin::workflows::{Guest, Param, PluginInfo, Workflow};

struct Narrow;

export!(Narrow);

fn outcome<T>(result: Result<T, DockerError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(DockerError::Denied(m)) => format!("denied: {m}"),
        Err(DockerError::NotFound(m)) => format!("not-found: {m}"),
        Err(e) => format!("error: {e:?}"),
    }
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

fn reach() -> Vec<KeyValue> {
    let list = docker::list_containers(&ListOptions {
        all: true,
        labels: vec![],
    });
    let info = docker::engine_info();
    let exec = docker::exec(
        "no-such-container",
        &ExecSpec {
            cmd: vec!["true".into()],
            env: vec![],
            working_dir: None,
            user: None,
        },
    );
    vec![
        kv("list", outcome(list)),
        kv("engine-info", outcome(info)),
        kv("exec", outcome(exec)),
    ]
}

impl Guest for Narrow {
    fn describe() -> PluginInfo {
        host::declare_permissions(&DECLARED.map(String::from));
        let workflow = |name: &str, description: &str| Workflow {
            name: name.into(),
            description: description.into(),
            params: vec![],
        };
        let hold = Workflow {
            params: vec![Param {
                name: "container".into(),
                description: "A container of the team's to wait for".into(),
                required: true,
                default: None,
            }],
            ..workflow("hold", "waits for the container to exit; outputs this plugin's version")
        };
        PluginInfo {
            name: "narrow".into(),
            version: VERSION.into(),
            description: format!("Declares {} only, and calls outside it", DECLARED.join(", ")),
            workflows: vec![
                workflow("reach", "list-containers, engine-info and exec; outputs each result"),
                workflow("widen", "declares every permission mid-run, then calls engine-info"),
                hold,
            ],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        match workflow.as_str() {
            "reach" => Ok(reach()),
            "widen" => {
                let all = ["containers", "observe", "exec", "images", "build", "commit", "engine-info"];
                host::declare_permissions(&all.map(String::from));
                Ok(vec![kv("engine-info", outcome(docker::engine_info()))])
            }
            "hold" => {
                let container = params
                    .iter()
                    .find(|kv| kv.key == "container")
                    .map(|kv| kv.value.clone())
                    .unwrap_or_default();
                let code = docker::wait_container(&container).map_err(|e| outcome::<()>(Err(e)))?;
                Ok(vec![kv("version", VERSION.into()), kv("exit-code", code.to_string())])
            }
            other => Err(format!("no workflow {other}")),
        }
    }
}
