//! `dockwright run ... --each` / `--params-file`: many runs at once, with live
//! progress on a terminal (plain lines otherwise) and a summary at the end.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use super::table::table;
use crate::plugin::catalog::LoadedPlugin;
use crate::plugin::runtime::Runtime;
use crate::run::batch::{self, Job, Params};
use crate::run::{RunOptions, RunReport, Status};
use crate::util::console::{Console, Source};
use crate::util::text::inert_line;

/// The params that tell the runs of a batch apart: the `--each` names, and any
/// name whose value differs between sets.
pub fn shown_keys(each: &[(String, Vec<String>)], sets: &[Params]) -> Vec<String> {
    let mut keys: Vec<String> = each.iter().map(|(k, _)| k.clone()).collect();
    for set in sets {
        for (k, v) in set {
            let differs = sets
                .iter()
                .any(|other| other.iter().find(|(ok, _)| ok == k).map(|(_, ov)| ov) != Some(v));
            if differs && !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

/// The terminal during a batch: plugin lines scroll above one status line that is
/// redrawn in place (on a terminal), and each line says which run it is from.
struct Progress {
    tty: bool,
    verbose: bool,
    state: Mutex<Counts>,
}

struct Counts {
    total: usize,
    ok: usize,
    failed: usize,
    status: String,
}

impl Progress {
    fn status_line(&self, c: &Counts, workflow: &str) -> String {
        format!(
            "{workflow}: {}/{} done, {} ok, {} failed",
            c.ok + c.failed,
            c.total,
            c.ok,
            c.failed
        )
    }

    /// Print a line above the status line. It may hold what a plugin or an engine
    /// said: made inert and kept to one line, it cannot move the cursor or pass for
    /// another run's line.
    fn say(&self, line: &str) {
        let line = inert_line(line);
        let c = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{line}\n{}", c.status);
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finished(&self, workflow: &str, i: usize, report: &RunReport, shown: &str) {
        let line = {
            let mut c = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match report.status {
                Status::Ok => c.ok += 1,
                Status::Failed => c.failed += 1,
            }
            c.status = self.status_line(&c, workflow);
            let outcome = match &report.error {
                None => "ok".to_string(),
                Some(e) => format!("failed: {e}"),
            };
            format!(
                "[{}/{}] #{} {shown} {outcome} (run {}, {:.1}s)",
                c.ok + c.failed,
                c.total,
                i + 1,
                report.run,
                report.duration_ms as f64 / 1000.0
            )
        };
        self.say(&line);
    }

    fn clear(&self) {
        if self.tty {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// One run's console: its lines go through the progress display, tagged `#n`.
struct Tagged {
    progress: Arc<Progress>,
    run: usize,
}

impl Console for Tagged {
    fn line(&self, plugin: &str, source: Source, text: &str) {
        let tag = match source {
            Source::Log(crate::util::console::Level::Debug) if !self.progress.verbose => return,
            Source::Log(crate::util::console::Level::Warn) => "warning: ",
            Source::Log(crate::util::console::Level::Error) => "error: ",
            Source::Build => "build: ",
            _ => "",
        };
        for line in text.split('\n') {
            self.progress
                .say(&format!("[{plugin} #{}] {tag}{line}", self.run + 1));
        }
    }
}

fn describe_params(params: &Params, shown: &[String]) -> String {
    shown
        .iter()
        .filter_map(|k| params.iter().find(|(pk, _)| pk == k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a batch is shown: which params tell its runs apart, whether the engine
/// does (a fan-out), and in which form.
pub struct Shown {
    pub params: Vec<String>,
    pub engines: bool,
    pub json: bool,
    pub verbose: bool,
}

pub async fn run(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    workflow: &str,
    work: Vec<Job>,
    shown: Shown,
    options: &RunOptions,
    jobs: u16,
) -> Result<ExitCode> {
    let Shown {
        params: shown,
        engines: by_engine,
        json,
        verbose,
    } = shown;
    let started = Instant::now();
    let labels = labels(&work, &shown, by_engine);
    let sets = work.len();
    let progress = Arc::new(Progress {
        tty: std::io::stderr().is_terminal(),
        verbose,
        state: Mutex::new(Counts {
            total: sets,
            ok: 0,
            failed: 0,
            status: String::new(),
        }),
    });
    {
        let mut c = progress.state.lock().unwrap_or_else(|e| e.into_inner());
        c.status = progress.status_line(&c, workflow);
    }
    progress.say(&format!(
        "running {sets} runs of {workflow} (plugin {}), {} at a time",
        plugin.info.name, jobs
    ));

    let shared = batch::Batch {
        runtime,
        plugin,
        workflow,
        options,
        jobs: usize::from(jobs),
    };
    let reports = batch::run_batch(
        shared,
        work,
        |i| {
            Arc::new(Tagged {
                progress: progress.clone(),
                run: i,
            }) as Arc<dyn Console>
        },
        stop_on_signal(),
        |i, report| progress.finished(workflow, i, report, &labels[i]),
    )
    .await;
    progress.clear();

    let failed = failures(&reports);
    print_reports(&reports, &labels, json, by_engine)?;
    print_summary(&reports, workflow, by_engine, started);
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What tells each run apart in the output: its params that vary, and its engine in
/// a fan-out.
fn labels(work: &[Job], shown: &[String], by_engine: bool) -> Vec<String> {
    work.iter()
        .map(|job| {
            let params = describe_params(&job.params, shown);
            match (by_engine, params.is_empty()) {
                (false, _) => params,
                (true, true) => format!("@{}", job.engine_name),
                (true, false) => format!("@{} {params}", job.engine_name),
            }
        })
        .collect()
}

/// One Ctrl-C (or SIGTERM, SIGHUP) stops every run; each rolls back its own.
fn stop_on_signal() -> tokio::sync::watch::Receiver<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let interrupted = crate::util::stop::requested();
    tokio::spawn(async move {
        interrupted.await;
        let _ = stop.send(true);
    });
    stopped
}

/// The runs on stdout: a table, or JSON with each engine's counts in a fan-out.
fn print_reports(
    reports: &[RunReport],
    labels: &[String],
    json: bool,
    by_engine: bool,
) -> Result<()> {
    let failed = failures(reports);
    let mut out = std::io::stdout().lock();
    if json {
        let mut doc = json!({ "runs": reports, "ok": reports.len() - failed, "failed": failed });
        if by_engine {
            doc["engines"] = per_engine(reports)
                .into_iter()
                .map(|(name, ok, failed)| (name, json!({ "ok": ok, "failed": failed })))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        writeln!(out, "{}", super::json_text(&doc)?)?;
    } else {
        let mut rows = vec![["#", "PARAMS", "STATUS", "RUN", "TIME", "RESULT"].map(String::from)];
        for (i, r) in reports.iter().enumerate() {
            let result = match &r.error {
                Some(e) => e.clone(),
                None => r
                    .outputs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            rows.push([
                (i + 1).to_string(),
                labels[i].clone(),
                if r.status == Status::Ok {
                    "ok"
                } else {
                    "failed"
                }
                .to_string(),
                r.run.clone(),
                format!("{:.1}s", r.duration_ms as f64 / 1000.0),
                result.lines().next().unwrap_or_default().to_string(),
            ]);
        }
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// How the batch went, on stderr: counts, per engine in a fan-out, and what was
/// rolled back.
fn print_summary(reports: &[RunReport], workflow: &str, by_engine: bool, started: Instant) {
    let failed = failures(reports);
    eprintln!(
        "{} runs of {workflow}: {} ok, {failed} failed, in {:.1}s",
        reports.len(),
        reports.len() - failed,
        started.elapsed().as_secs_f64()
    );
    if by_engine {
        for (name, ok, failed) in per_engine(reports) {
            eprintln!("  engine {name}: {ok} ok, {failed} failed");
        }
    }
    let rolled: usize = reports.iter().map(|r| r.rolled_back.len()).sum();
    if rolled > 0 {
        eprintln!("rolled back: removed {rolled} container(s) of failed runs");
    }
}

fn failures(reports: &[RunReport]) -> usize {
    reports
        .iter()
        .filter(|r| r.status == Status::Failed)
        .count()
}

/// Each engine's ok and failed runs, in the order the engines first appear.
fn per_engine(reports: &[RunReport]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for r in reports {
        let at = match out.iter().position(|(name, _, _)| *name == r.engine) {
            Some(at) => at,
            None => {
                out.push((r.engine.clone(), 0, 0));
                out.len() - 1
            }
        };
        match r.status {
            Status::Ok => out[at].1 += 1,
            Status::Failed => out[at].2 += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shown_keys_are_each_names_and_varying_params() {
        let sets = [
            p(&[("image", "web"), ("team", "a"), ("n", "1")]),
            p(&[("image", "web"), ("team", "b"), ("n", "1")]),
        ];
        let each = [("team".to_string(), vec![])];
        assert_eq!(shown_keys(&each, &sets), ["team"]);
        let sets = [p(&[("team", "a")]), p(&[("team", "b"), ("x", "1")])];
        assert_eq!(shown_keys(&[], &sets), ["team", "x"]);
        assert_eq!(
            describe_params(&sets[1], &["team".into(), "x".into()]),
            "team=b x=1"
        );
    }
}
