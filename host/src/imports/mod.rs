//! The host functions plugins import, one module per capability, and the state of
//! one plugin instance they work on. The trait impls here are only a dispatch
//! table; each function lives with its capability and is one short step: check,
//! call the engine, record.
//!
//! Uses the journal, the engine, policy, the contract and `util`.
//!
//! - [`state`]: what one instance can reach (its WASI context and its run);
//! - [`guard`]: the team check every call about a container passes first;
//! - [`admission`]: the team lock and reservations that make quotas atomic;
//! - [`network`]: the team's own network, which its containers join;
//! - [`convert`]: contract types to engine requests and back; [`swarm`]: the same
//!   for services;
//! - one module per capability: [`containers`], [`ports`], [`images`], [`exec`],
//!   [`observe`], [`ready`], [`system`], [`context`], [`host_log`], [`manifest`],
//!   [`services`], [`address`] (`public-host`), [`whose`] (`current-run`);
//! - [`tape`]: record and replay, where a run's calls are written down or answered
//!   from a recording;
//! - [`plan`]: plans, where writes are checked as for a run and answered without
//!   reaching the engine.

pub mod address;
pub mod admission;
pub mod containers;
pub mod context;
pub mod convert;
pub mod exec;
pub mod guard;
pub mod host_log;
pub mod images;
pub mod manifest;
pub mod network;
pub mod observe;
pub mod plan;
pub mod ports;
pub mod ready;
pub mod services;
pub mod state;
pub mod swarm;
pub mod system;
pub mod tape;
pub mod users;
pub mod whose;

use crate::contract::bindings::docker::{
    BuildSpec, CommitSpec, ContainerInfo, ContainerSpec, ContainerStats, ContainerSummary,
    CreateOptions, DockerError, EngineSummary, ExecOutput, ExecSpec, Host as DockerHost,
    ImageSummary, ListOptions, LogLine, LogsOptions, ProcessList, Readiness,
};
use crate::contract::bindings::dockwright::plugin::types::Host as TypesHost;
use crate::contract::bindings::host_api::{Host as HostApi, Level, RunContext as RunContextView};
use crate::contract::bindings::services::{Host as ServicesHost, ServiceInfo, ServiceSpec};
use crate::engine::errors;
use crate::journal::{self, Entry};
use serde_json::json;
use state::{FailedCall, HostState};
use std::time::Instant;

type R<T> = wasmtime::Result<Result<T, DockerError>>;

impl TypesHost for HostState {}

impl HostApi for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        host_log::log(self, level, &message);
        Ok(())
    }
    async fn declare_permissions(&mut self, groups: Vec<String>) -> wasmtime::Result<()> {
        manifest::declare_permissions(self, groups);
        Ok(())
    }
    async fn public_host(&mut self) -> wasmtime::Result<String> {
        Ok(address::public_host(self))
    }
    async fn current_run(&mut self) -> wasmtime::Result<Option<RunContextView>> {
        Ok(whose::run_context(self))
    }
}

/// Run one host function and write its journal entry: what was asked, on what,
/// whether policy allowed it, and how it ended.
///
/// With a tape, `$args` (the call's arguments as JSON) and the answer are written down;
/// a replay answers from the tape instead, without the manifest check or the engine
/// (the recording holds what they answered).
macro_rules! journaled {
    ($state:ident, $op:literal, $target:expr, $args:expr, $call:expr) => {{
        let started = Instant::now();
        let target: String = $target;
        let tape = $state.tape();
        let args = tape.as_ref().map(|_| $args);
        let replaying = tape.as_ref().is_some_and(|t| tape::lock(t).is_replay());
        let result = match (&tape, &args) {
            (Some(t), Some(args)) if replaying => tape::lock(t)
                .answer($op, args.clone())
                .map_err(wasmtime::Error::from_anyhow)?,
            // The manifest is checked before anything else the call would do.
            _ => match $state.permitted($op) {
                Ok(()) => $call,
                Err(denied) => Err(denied),
            },
        };
        if let (Some(t), Some(args), false) = (&tape, args, replaying) {
            tape::lock(t).write($op, args, &result);
        }
        $state.record($op, &target, &result, started)?;
        if let Some(plan) = $state.plan() {
            if let Some(stop) = plan::lock(&plan).note($op, &target, &result) {
                return Err(wasmtime::Error::msg(stop));
            }
        }
        Ok(result)
    }};
}

impl DockerHost for HostState {
    async fn create_container(&mut self, spec: ContainerSpec) -> R<String> {
        let target = spec
            .name
            .clone()
            .map_or(spec.image.clone(), |n| format!("{n} ({})", spec.image));
        journaled!(
            self,
            "create-container",
            target,
            json!({ "spec": &spec }),
            containers::create(self, spec, None).await
        )
    }
    async fn create_container_with(
        &mut self,
        spec: ContainerSpec,
        options: CreateOptions,
    ) -> R<String> {
        let target = spec
            .name
            .clone()
            .map_or(spec.image.clone(), |n| format!("{n} ({})", spec.image));
        // One operation with `create-container` for the journal, plans and quotas.
        journaled!(
            self,
            "create-container",
            target,
            json!({ "spec": &spec, "options": &options }),
            containers::create(self, spec, options.healthcheck).await
        )
    }
    async fn start_container(&mut self, container: String) -> R<()> {
        journaled!(
            self,
            "start-container",
            container.clone(),
            json!({ "container": &container }),
            containers::start(self, &container).await
        )
    }
    async fn stop_container(&mut self, container: String, timeout: Option<u32>) -> R<()> {
        journaled!(
            self,
            "stop-container",
            container.clone(),
            json!({ "container": &container, "timeout": timeout }),
            containers::stop(self, &container, timeout).await
        )
    }
    async fn kill_container(&mut self, container: String, signal: Option<String>) -> R<()> {
        journaled!(
            self,
            "kill-container",
            container.clone(),
            json!({ "container": &container, "signal": &signal }),
            containers::kill(self, &container, signal).await
        )
    }
    async fn remove_container(&mut self, container: String, force: bool) -> R<()> {
        journaled!(
            self,
            "remove-container",
            container.clone(),
            json!({ "container": &container, "force": force }),
            containers::remove(self, &container, force).await
        )
    }
    async fn wait_container(&mut self, container: String) -> R<i64> {
        journaled!(
            self,
            "wait-container",
            container.clone(),
            json!({ "container": &container }),
            containers::wait(self, &container).await
        )
    }
    async fn inspect_container(&mut self, container: String) -> R<ContainerInfo> {
        journaled!(
            self,
            "inspect-container",
            container.clone(),
            json!({ "container": &container }),
            containers::inspect(self, &container).await
        )
    }
    async fn list_containers(&mut self, options: ListOptions) -> R<Vec<ContainerSummary>> {
        journaled!(
            self,
            "list-containers",
            "containers".into(),
            json!({ "options": &options }),
            containers::list(self, options).await
        )
    }
    async fn container_logs(&mut self, container: String, options: LogsOptions) -> R<Vec<LogLine>> {
        journaled!(
            self,
            "container-logs",
            container.clone(),
            json!({ "container": &container, "options": &options }),
            observe::logs(self, &container, options).await
        )
    }
    async fn exec(&mut self, container: String, spec: ExecSpec) -> R<ExecOutput> {
        journaled!(
            self,
            "exec",
            container.clone(),
            json!({ "container": &container, "spec": &spec }),
            exec::exec(self, &container, spec).await
        )
    }
    async fn top(&mut self, container: String) -> R<ProcessList> {
        journaled!(
            self,
            "top",
            container.clone(),
            json!({ "container": &container }),
            observe::top(self, &container).await
        )
    }
    async fn stats(&mut self, container: String) -> R<ContainerStats> {
        journaled!(
            self,
            "stats",
            container.clone(),
            json!({ "container": &container }),
            observe::stats(self, &container).await
        )
    }
    async fn wait_ready(&mut self, container: String, check: Readiness, timeout_ms: u32) -> R<()> {
        journaled!(
            self,
            "wait-ready",
            container.clone(),
            json!({ "container": &container, "check": &check, "timeout_ms": timeout_ms }),
            ready::wait_ready(self, &container, check, timeout_ms).await
        )
    }
    async fn list_images(&mut self) -> R<Vec<ImageSummary>> {
        journaled!(
            self,
            "list-images",
            "images".into(),
            json!({}),
            images::list(self).await
        )
    }
    async fn pull_image(&mut self, image: String) -> R<String> {
        journaled!(
            self,
            "pull-image",
            image.clone(),
            json!({ "image": &image }),
            images::pull(self, &image).await
        )
    }
    async fn build_image(&mut self, spec: BuildSpec) -> R<String> {
        journaled!(
            self,
            "build-image",
            spec.tag.clone(),
            json!({ "spec": &spec }),
            images::build(self, spec).await
        )
    }
    async fn commit_container(&mut self, spec: CommitSpec) -> R<String> {
        let target = format!(
            "{} -> {}:{}",
            spec.container,
            spec.repo,
            spec.tag.as_deref().unwrap_or("latest")
        );
        journaled!(
            self,
            "commit-container",
            target,
            json!({ "spec": &spec }),
            images::commit(self, spec).await
        )
    }
    async fn engine_info(&mut self) -> R<EngineSummary> {
        journaled!(
            self,
            "engine-info",
            "engine".into(),
            json!({}),
            system::engine_info(self).await
        )
    }
}

impl ServicesHost for HostState {
    async fn create_service(&mut self, spec: ServiceSpec) -> R<String> {
        let target = format!("{} ({} x{})", spec.name, spec.image, spec.replicas);
        journaled!(
            self,
            "create-service",
            target,
            json!({ "spec": &spec }),
            services::create(self, spec).await
        )
    }
    async fn inspect_service(&mut self, service: String) -> R<ServiceInfo> {
        journaled!(
            self,
            "inspect-service",
            service.clone(),
            json!({ "service": &service }),
            services::inspect(self, &service).await
        )
    }
    async fn list_services(&mut self) -> R<Vec<ServiceInfo>> {
        journaled!(
            self,
            "list-services",
            "services".into(),
            json!({}),
            services::list(self).await
        )
    }
    async fn scale_service(&mut self, service: String, replicas: u32) -> R<()> {
        journaled!(
            self,
            "scale-service",
            format!("{service} x{replicas}"),
            json!({ "service": &service, "replicas": replicas }),
            services::scale(self, &service, replicas).await
        )
    }
    async fn update_service_image(&mut self, service: String, image: String) -> R<()> {
        journaled!(
            self,
            "update-service-image",
            format!("{service} -> {image}"),
            json!({ "service": &service, "image": &image }),
            services::update_image(self, &service, &image).await
        )
    }
    async fn wait_service(&mut self, service: String, timeout_ms: u32) -> R<ServiceInfo> {
        journaled!(
            self,
            "wait-service",
            service.clone(),
            json!({ "service": &service, "timeout_ms": timeout_ms }),
            services::wait(self, &service, timeout_ms).await
        )
    }
    async fn service_logs(&mut self, service: String, options: LogsOptions) -> R<Vec<LogLine>> {
        journaled!(
            self,
            "service-logs",
            service.clone(),
            json!({ "service": &service, "options": &options }),
            services::logs(self, &service, options).await
        )
    }
    async fn remove_service(&mut self, service: String) -> R<()> {
        journaled!(
            self,
            "remove-service",
            service.clone(),
            json!({ "service": &service }),
            services::remove(self, &service).await
        )
    }
}

impl HostState {
    fn record<T: Detail>(
        &mut self,
        op: &str,
        target: &str,
        result: &Result<T, DockerError>,
        started: Instant,
    ) -> wasmtime::Result<()> {
        let Some(run) = &mut self.run else {
            return Ok(());
        };
        if let Err(e) = result {
            run.last_failure = Some(match e {
                DockerError::Denied(message) => {
                    FailedCall::Denied(guard::rule_of(message).map(str::to_string))
                }
                DockerError::EngineUnavailable(_) => FailedCall::Unavailable,
                _ => FailedCall::Other,
            });
        }
        let (decision, rule, outcome, detail) = match result {
            Ok(value) => ("allowed", None, "ok", value.detail()),
            Err(e) => {
                let (case, message) = errors::case_and_message(e);
                let denied = matches!(e, DockerError::Denied(_));
                let rule = denied.then(|| guard::rule_of(message)).flatten();
                let decision = if denied { "denied" } else { "allowed" };
                (decision, rule, case, Some(message.to_string()))
            }
        };
        run.journal
            .record(&Entry::Call {
                time: journal::now(),
                run: run.owner.run_id.clone(),
                team: run.owner.team.clone(),
                plugin: run.owner.plugin.clone(),
                op: op.to_string(),
                target: target.to_string(),
                decision: decision.to_string(),
                rule: rule.map(str::to_string),
                result: outcome.to_string(),
                detail,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            })
            // A call the journal cannot hold ends the run (a trap, so the plugin cannot go
            // on unaudited), and the run is rolled back like any failed one.
            .map_err(|e| {
                wasmtime::Error::msg(format!(
                    "{e:#}; the run stops, as nothing unaudited may happen"
                ))
            })
    }
}

/// What of a call's result goes into the journal: ids of what was made, exit codes.
trait Detail {
    fn detail(&self) -> Option<String> {
        None
    }
}

impl Detail for String {
    fn detail(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl Detail for i64 {
    fn detail(&self) -> Option<String> {
        Some(format!("exit code {self}"))
    }
}

impl Detail for ExecOutput {
    fn detail(&self) -> Option<String> {
        Some(format!("exit code {}", self.exit_code))
    }
}

impl Detail for () {}
impl Detail for ContainerInfo {}
impl Detail for ProcessList {}
impl Detail for ContainerStats {}
impl Detail for EngineSummary {}
impl Detail for ServiceInfo {
    fn detail(&self) -> Option<String> {
        Some(format!(
            "{} of {} replicas running",
            self.running_replicas, self.desired_replicas
        ))
    }
}
impl<T> Detail for Vec<T> {}
