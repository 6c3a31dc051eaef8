//! A plugin's permission manifest, read off the component: the `docker` functions
//! it imports, narrowed by what it declared in `describe`.
//!
//! wit-bindgen (Rust) imports only the functions a guest calls, so its imports are
//! an honest manifest. componentize-py and componentize-js import the whole
//! interface, so their plugins call `host.declare-permissions` in `describe`; the
//! manifest is then the declared groups that the component can call at all.

use anyhow::{bail, Result};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

use crate::contract::versions::PACKAGE;
use crate::policy::Permissions;

/// The groups of the `docker` and `services` functions the component imports.
pub fn imported(engine: &wasmtime::Engine, component: &Component) -> Permissions {
    let granting = [format!("{PACKAGE}/docker"), format!("{PACKAGE}/services")];
    let ty = component.component_type();
    let mut functions = Vec::new();
    for (name, item) in ty.imports(engine) {
        let interface = name.split('@').next().unwrap_or(name);
        if !granting.iter().any(|g| g == interface) {
            continue;
        }
        if let ComponentItem::ComponentInstance(instance) = item.ty {
            for (function, export) in instance.exports(engine) {
                if matches!(export.ty, ComponentItem::ComponentFunc(_)) {
                    functions.push(function.to_string());
                }
            }
        }
    }
    Permissions::from_functions(functions.iter().map(String::as_str))
}

/// The manifest: what the component imports, narrowed to `declared` when the
/// plugin declared anything. A name that is not a group is an error: a plugin
/// that misspells its manifest must not run with a guess at it.
pub fn manifest(imported: &Permissions, declared: Option<&[String]>) -> Result<Permissions> {
    let Some(declared) = declared else {
        return Ok(imported.clone());
    };
    match Permissions::parse(declared.iter().map(String::as_str)) {
        Ok(declared) => Ok(declared.intersect(imported)),
        Err(e) => bail!("its `declare-permissions` is not valid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_narrow_and_never_widen() {
        let imported = Permissions::parse(["containers", "observe", "exec"]).unwrap();
        assert_eq!(manifest(&imported, None).unwrap(), imported);
        let declared = vec!["containers".to_string(), "build".to_string()];
        assert_eq!(
            manifest(&imported, Some(&declared)).unwrap().to_string(),
            "containers"
        );
        assert!(manifest(&imported, Some(&[])).unwrap().is_empty());
        let bad = vec!["everything".to_string()];
        let err = manifest(&imported, Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("`everything`"), "{err}");
    }

    #[test]
    fn imports_of_a_component_give_its_groups() {
        let wat = r#"(component
            (import "dockwright:plugin/docker@0.1.0" (instance
                (export "top" (func (param "container" string)))
                (export "engine-info" (func))
            ))
            (import "dockwright:plugin/host@0.1.0" (instance
                (export "exec" (func))
            ))
        )"#;
        let engine = wasmtime::Engine::default();
        let component = Component::new(&engine, wat).unwrap();
        assert_eq!(
            imported(&engine, &component).to_string(),
            "observe, engine-info"
        );
    }
}
