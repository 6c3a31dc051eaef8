//! The host functions plugins import, one module per capability, and the state of
//! one plugin instance they work on. The trait impls here are only a dispatch
//! table: each names its call and hands it to [`call::dispatch`], which checks the
//! manifest, runs the capability's function (check policy, then send, or in a plan
//! simulate) or answers from a recording, and records the outcome.
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
//!   [`services`], [`address`] (`public-host`), [`whose`] (`current-run`),
//!   [`lifetime`] (`set-lifetime`, `run-expires`);
//! - [`call`]: one call from start to end, the same for every import;
//! - [`mode`]: how a run meets the engine (live, plan, record, replay), decided once;
//! - [`recording`]: the calls of a recorded run, and answering a replay from them;
//! - [`plan`]: plans, where writes are checked as for a run and answered without
//!   reaching the engine.

pub mod address;
pub mod admission;
pub mod call;
pub mod containers;
pub mod context;
pub mod convert;
pub mod exec;
pub mod guard;
pub mod host_log;
pub mod images;
pub mod lifetime;
pub mod manifest;
pub mod mode;
pub mod network;
pub mod observe;
pub mod plan;
pub mod ports;
pub mod ready;
pub mod recording;
pub mod services;
pub mod state;
pub mod swarm;
pub mod system;
pub mod users;
pub mod whose;

use crate::contract::bindings::docker::{
    BuildSpec, CommitSpec, ContainerInfo, ContainerSpec, ContainerStats, ContainerSummary,
    CreateOptions, EngineSummary, ExecOutput, ExecSpec, Host as DockerHost, ImageSummary,
    ListOptions, LogLine, LogsOptions, ProcessList, Readiness,
};
use crate::contract::bindings::dockwright::plugin::types::Host as TypesHost;
use crate::contract::bindings::host_api::{Host as HostApi, Level, RunContext as RunContextView};
use crate::contract::bindings::services::{Host as ServicesHost, ServiceInfo, ServiceSpec};
use call::{dispatch, R};
use serde_json::json;
use state::HostState;

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
    async fn set_lifetime(&mut self, seconds: u64) -> wasmtime::Result<Result<String, String>> {
        lifetime::set(self, seconds)
    }
    async fn run_expires(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(lifetime::expires(self))
    }
}

impl DockerHost for HostState {
    async fn create_container(&mut self, spec: ContainerSpec) -> R<String> {
        let target = spec
            .name
            .clone()
            .map_or(spec.image.clone(), |n| format!("{n} ({})", spec.image));
        let call = self.call("create-container", target, || json!({ "spec": &spec }));
        dispatch(self, call, async |s| {
            containers::create(s, spec, None).await
        })
        .await
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
        let call = self.call(
            "create-container",
            target,
            || json!({ "spec": &spec, "options": &options }),
        );
        dispatch(self, call, async |s| {
            containers::create(s, spec, options.healthcheck).await
        })
        .await
    }
    async fn start_container(&mut self, container: String) -> R<()> {
        let call = self.call(
            "start-container",
            container.clone(),
            || json!({ "container": &container }),
        );
        dispatch(self, call, async |s| containers::start(s, &container).await).await
    }
    async fn stop_container(&mut self, container: String, timeout: Option<u32>) -> R<()> {
        let call = self.call(
            "stop-container",
            container.clone(),
            || json!({ "container": &container, "timeout": timeout }),
        );
        dispatch(self, call, async |s| {
            containers::stop(s, &container, timeout).await
        })
        .await
    }
    async fn kill_container(&mut self, container: String, signal: Option<String>) -> R<()> {
        let call = self.call(
            "kill-container",
            container.clone(),
            || json!({ "container": &container, "signal": &signal }),
        );
        dispatch(self, call, async |s| {
            containers::kill(s, &container, signal).await
        })
        .await
    }
    async fn remove_container(&mut self, container: String, force: bool) -> R<()> {
        let call = self.call(
            "remove-container",
            container.clone(),
            || json!({ "container": &container, "force": force }),
        );
        dispatch(self, call, async |s| {
            containers::remove(s, &container, force).await
        })
        .await
    }
    async fn wait_container(&mut self, container: String) -> R<i64> {
        let call = self.call(
            "wait-container",
            container.clone(),
            || json!({ "container": &container }),
        );
        dispatch(self, call, async |s| containers::wait(s, &container).await).await
    }
    async fn inspect_container(&mut self, container: String) -> R<ContainerInfo> {
        let call = self.call(
            "inspect-container",
            container.clone(),
            || json!({ "container": &container }),
        );
        dispatch(self, call, async |s| {
            containers::inspect(s, &container).await
        })
        .await
    }
    async fn list_containers(&mut self, options: ListOptions) -> R<Vec<ContainerSummary>> {
        let call = self.call(
            "list-containers",
            "containers".into(),
            || json!({ "options": &options }),
        );
        dispatch(self, call, async |s| containers::list(s, options).await).await
    }
    async fn container_logs(&mut self, container: String, options: LogsOptions) -> R<Vec<LogLine>> {
        let call = self.call(
            "container-logs",
            container.clone(),
            || json!({ "container": &container, "options": &options }),
        );
        dispatch(self, call, async |s| {
            observe::logs(s, &container, options).await
        })
        .await
    }
    async fn exec(&mut self, container: String, spec: ExecSpec) -> R<ExecOutput> {
        let call = self.call(
            "exec",
            container.clone(),
            || json!({ "container": &container, "spec": &spec }),
        );
        dispatch(self, call, async |s| exec::exec(s, &container, spec).await).await
    }
    async fn top(&mut self, container: String) -> R<ProcessList> {
        let call = self.call(
            "top",
            container.clone(),
            || json!({ "container": &container }),
        );
        dispatch(self, call, async |s| observe::top(s, &container).await).await
    }
    async fn stats(&mut self, container: String) -> R<ContainerStats> {
        let call = self.call(
            "stats",
            container.clone(),
            || json!({ "container": &container }),
        );
        dispatch(self, call, async |s| observe::stats(s, &container).await).await
    }
    async fn wait_ready(&mut self, container: String, check: Readiness, timeout_ms: u32) -> R<()> {
        let call = self.call(
            "wait-ready",
            container.clone(),
            || json!({ "container": &container, "check": &check, "timeout_ms": timeout_ms }),
        );
        dispatch(self, call, async |s| {
            ready::wait_ready(s, &container, check, timeout_ms).await
        })
        .await
    }
    async fn list_images(&mut self) -> R<Vec<ImageSummary>> {
        let call = self.call("list-images", "images".into(), || json!({}));
        dispatch(self, call, async |s| images::list(s).await).await
    }
    async fn pull_image(&mut self, image: String) -> R<String> {
        let call = self.call("pull-image", image.clone(), || json!({ "image": &image }));
        dispatch(self, call, async |s| images::pull(s, &image).await).await
    }
    async fn build_image(&mut self, spec: BuildSpec) -> R<String> {
        let call = self.call("build-image", spec.tag.clone(), || json!({ "spec": &spec }));
        dispatch(self, call, async |s| images::build(s, spec).await).await
    }
    async fn commit_container(&mut self, spec: CommitSpec) -> R<String> {
        let target = format!(
            "{} -> {}:{}",
            spec.container,
            spec.repo,
            spec.tag.as_deref().unwrap_or("latest")
        );
        let call = self.call("commit-container", target, || json!({ "spec": &spec }));
        dispatch(self, call, async |s| images::commit(s, spec).await).await
    }
    async fn engine_info(&mut self) -> R<EngineSummary> {
        let call = self.call("engine-info", "engine".into(), || json!({}));
        dispatch(self, call, async |s| system::engine_info(s).await).await
    }
}

impl ServicesHost for HostState {
    async fn create_service(&mut self, spec: ServiceSpec) -> R<String> {
        let target = format!("{} ({} x{})", spec.name, spec.image, spec.replicas);
        let call = self.call("create-service", target, || json!({ "spec": &spec }));
        dispatch(self, call, async |s| services::create(s, spec).await).await
    }
    async fn inspect_service(&mut self, service: String) -> R<ServiceInfo> {
        let call = self.call(
            "inspect-service",
            service.clone(),
            || json!({ "service": &service }),
        );
        dispatch(self, call, async |s| services::inspect(s, &service).await).await
    }
    async fn list_services(&mut self) -> R<Vec<ServiceInfo>> {
        let call = self.call("list-services", "services".into(), || json!({}));
        dispatch(self, call, async |s| services::list(s).await).await
    }
    async fn scale_service(&mut self, service: String, replicas: u32) -> R<()> {
        let call = self.call(
            "scale-service",
            format!("{service} x{replicas}"),
            || json!({ "service": &service, "replicas": replicas }),
        );
        dispatch(self, call, async |s| {
            services::scale(s, &service, replicas).await
        })
        .await
    }
    async fn update_service_image(&mut self, service: String, image: String) -> R<()> {
        let call = self.call(
            "update-service-image",
            format!("{service} -> {image}"),
            || json!({ "service": &service, "image": &image }),
        );
        dispatch(self, call, async |s| {
            services::update_image(s, &service, &image).await
        })
        .await
    }
    async fn wait_service(&mut self, service: String, timeout_ms: u32) -> R<ServiceInfo> {
        let call = self.call(
            "wait-service",
            service.clone(),
            || json!({ "service": &service, "timeout_ms": timeout_ms }),
        );
        dispatch(self, call, async |s| {
            services::wait(s, &service, timeout_ms).await
        })
        .await
    }
    async fn service_logs(&mut self, service: String, options: LogsOptions) -> R<Vec<LogLine>> {
        let call = self.call(
            "service-logs",
            service.clone(),
            || json!({ "service": &service, "options": &options }),
        );
        dispatch(self, call, async |s| {
            services::logs(s, &service, options).await
        })
        .await
    }
    async fn remove_service(&mut self, service: String) -> R<()> {
        let call = self.call(
            "remove-service",
            service.clone(),
            || json!({ "service": &service }),
        );
        dispatch(self, call, async |s| services::remove(s, &service).await).await
    }
}
