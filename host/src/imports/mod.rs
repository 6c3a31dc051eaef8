//! The host functions plugins import, one module per capability. The trait impls
//! here are only a dispatch table; each function lives with its capability and is
//! one short step: check, call the engine, record.

pub mod containers;
pub mod context;
pub mod convert;
pub mod exec;
pub mod host_log;
pub mod images;
pub mod observe;
pub mod ready;
pub mod system;

use crate::bindings::docker::{
    BuildSpec, CommitSpec, ContainerInfo, ContainerSpec, ContainerStats, ContainerSummary,
    DockerError, EngineSummary, ExecOutput, ExecSpec, Host as DockerHost, ImageSummary,
    ListOptions, LogLine, LogsOptions, ProcessList, Readiness,
};
use crate::bindings::dockwright::plugin::types::Host as TypesHost;
use crate::bindings::host_api::{Host as HostApi, Level};
use crate::state::HostState;

type R<T> = wasmtime::Result<Result<T, DockerError>>;

impl TypesHost for HostState {}

impl HostApi for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        host_log::log(self, level, &message);
        Ok(())
    }
}

impl DockerHost for HostState {
    async fn create_container(&mut self, spec: ContainerSpec) -> R<String> {
        Ok(containers::create(self, spec).await)
    }
    async fn start_container(&mut self, container: String) -> R<()> {
        Ok(containers::start(self, &container).await)
    }
    async fn stop_container(&mut self, container: String, timeout: Option<u32>) -> R<()> {
        Ok(containers::stop(self, &container, timeout).await)
    }
    async fn kill_container(&mut self, container: String, signal: Option<String>) -> R<()> {
        Ok(containers::kill(self, &container, signal).await)
    }
    async fn remove_container(&mut self, container: String, force: bool) -> R<()> {
        Ok(containers::remove(self, &container, force).await)
    }
    async fn wait_container(&mut self, container: String) -> R<i64> {
        Ok(containers::wait(self, &container).await)
    }
    async fn inspect_container(&mut self, container: String) -> R<ContainerInfo> {
        Ok(containers::inspect(self, &container).await)
    }
    async fn list_containers(&mut self, options: ListOptions) -> R<Vec<ContainerSummary>> {
        Ok(containers::list(self, options).await)
    }
    async fn container_logs(&mut self, container: String, options: LogsOptions) -> R<Vec<LogLine>> {
        Ok(observe::logs(self, &container, options).await)
    }
    async fn exec(&mut self, container: String, spec: ExecSpec) -> R<ExecOutput> {
        Ok(exec::exec(self, &container, spec).await)
    }
    async fn top(&mut self, container: String) -> R<ProcessList> {
        Ok(observe::top(self, &container).await)
    }
    async fn stats(&mut self, container: String) -> R<ContainerStats> {
        Ok(observe::stats(self, &container).await)
    }
    async fn wait_ready(&mut self, container: String, check: Readiness, timeout_ms: u32) -> R<()> {
        Ok(ready::wait_ready(self, &container, check, timeout_ms).await)
    }
    async fn list_images(&mut self) -> R<Vec<ImageSummary>> {
        Ok(images::list(self).await)
    }
    async fn pull_image(&mut self, image: String) -> R<String> {
        Ok(images::pull(self, &image).await)
    }
    async fn build_image(&mut self, spec: BuildSpec) -> R<String> {
        Ok(images::build(self, spec).await)
    }
    async fn commit_container(&mut self, spec: CommitSpec) -> R<String> {
        Ok(images::commit(self, spec).await)
    }
    async fn engine_info(&mut self) -> R<EngineSummary> {
        Ok(system::engine_info(self).await)
    }
}
