//! `exec`: run a command in a running container to completion.

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;

use super::{convert, guard};
use crate::contract::bindings::docker::{DockerError, ExecOutput, ExecSpec};
use crate::imports::state::HostState;
use crate::policy;

/// The most output kept per stream; the rest is cut with a marker.
const MAX_OUTPUT_BYTES: usize = 4 << 20;

pub async fn exec(
    state: &mut HostState,
    container: &str,
    spec: ExecSpec,
) -> Result<ExecOutput, DockerError> {
    let run = state.run()?;
    let found = guard::owned(run, container).await?;
    if spec.cmd.is_empty() {
        return Err(DockerError::Invalid("exec: cmd is empty".into()));
    }
    guard::platform(run).await?;
    let default_user = found
        .config
        .as_ref()
        .and_then(|c| c.user.clone())
        .unwrap_or_default();
    let id = found.id.clone().unwrap_or_default();
    let engine = &run.engine;
    // A team that may not exec as root gets its user resolved as the engine would
    // resolve it, and the exec is sent with the ids checked, so a container that
    // rewrites its /etc/passwd after the check changes nothing.
    let user = if run.policy.exec_as_root {
        spec.user.clone()
    } else {
        let asked = spec.user.as_deref().unwrap_or(&default_user);
        if let Some(mut plan) = run.mode.plan() {
            if plan.is_simulated(&id) {
                return Err(plan.stop_here(super::plan::needs_real(&format!(
                    "the uid of user `{asked}` in container `{container}`"
                ))));
            }
        }
        let resolved = super::users::resolve(engine, &id, asked).await?;
        policy::check_exec_user(
            &run.policy,
            spec.user.as_deref(),
            &default_user,
            &resolved.ids,
        )
        .map_err(guard::deny)?;
        resolved.pinned.or(spec.user.clone())
    };
    let env = convert::env_entries(&spec.env).map_err(DockerError::Invalid)?;
    if run.mode.is_plan() {
        if !found.state.and_then(|s| s.running).unwrap_or(false) {
            return Err(DockerError::Conflict(format!(
                "container `{container}` is not running: start it before exec"
            )));
        }
        // The command's output is not known before it runs: the plan answers a clean exit.
        return Ok(ExecOutput {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        });
    }
    let config = ExecConfig {
        cmd: Some(spec.cmd),
        env: Some(env),
        user,
        working_dir: spec.working_dir,
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        privileged: Some(false),
        ..Default::default()
    };
    let fail = |e| engine.fail(e);
    let created = engine
        .docker()
        .await?
        .create_exec(&id, config)
        .await
        .map_err(fail)?;
    let started = engine
        .docker()
        .await?
        .start_exec(&created.id, None::<StartExecOptions>)
        .await
        .map_err(fail)?;
    let (mut stdout, mut stderr) = (Capped::default(), Capped::default());
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(chunk) = output.next().await {
            match chunk.map_err(fail)? {
                LogOutput::StdErr { message } => stderr.push(&message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    stdout.push(&message)
                }
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let finished = engine
        .docker()
        .await?
        .inspect_exec(&created.id)
        .await
        .map_err(fail)?;
    Ok(ExecOutput {
        exit_code: finished.exit_code.unwrap_or(-1),
        stdout: stdout.finish(),
        stderr: stderr.finish(),
    })
}

#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    cut: bool,
}

impl Capped {
    fn push(&mut self, chunk: &[u8]) {
        let room = MAX_OUTPUT_BYTES.saturating_sub(self.bytes.len());
        self.cut |= chunk.len() > room;
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn finish(self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.cut {
            text.push_str("\n[output cut at 4 MiB]\n");
        }
        text
    }
}
