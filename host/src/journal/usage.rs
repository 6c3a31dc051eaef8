//! `dockwright usage`: what each team's environments cost, from the journal alone.
//! Per team and workflow, over a window: environment-hours (a run's environment, from
//! its start until the last of its containers is gone), container-hours (each
//! container from its create to its removal), reserved memory GiB-hours and
//! CPU-hours (the limits each container got, while it ran: from its start to its stop,
//! kill, exit seen by a wait, or removal), and the peak of containers that existed at
//! once. What is still there counts until now.
//!
//! A container's removal is known from the run's own remove call, its rollback (the
//! run's end), its teardown, its expiry, or `gc`; its limits from its create's journal
//! entry (entries written before limits were journaled count as 0 for memory and CPU).
//! Services are not counted: their tasks are the swarm's to place.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::db::{params, DbResult};
use anyhow::Result;
use serde::Serialize;

use super::store::{parse_timestamp, timestamp, Journal};

/// One container, as the journal tells its life.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub created: SystemTime,
    /// When it was removed; none while it is there.
    pub removed: Option<SystemTime>,
    /// When it ran: each start, and its end (none while it runs).
    pub running: Vec<(SystemTime, Option<SystemTime>)>,
    pub memory_bytes: u64,
    pub cpus: f64,
}

/// One run that made containers.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub team: String,
    pub workflow: String,
    pub started: SystemTime,
    pub containers: Vec<Container>,
}

/// The usage of one team's workflow, or of the whole team (`workflow` none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    pub team: String,
    /// None: every workflow of the team.
    pub workflow: Option<String>,
    pub environments: u64,
    pub environment_hours: f64,
    pub container_hours: f64,
    pub memory_gib_hours: f64,
    pub cpu_hours: f64,
    pub peak_containers: u64,
}

const HOUR: f64 = 3600.0;
const GIB: f64 = (1u64 << 30) as f64;

/// Hours of `[from, to)` (to: now when open) inside the window `[since, now]`.
fn hours_in(from: SystemTime, to: Option<SystemTime>, since: SystemTime, now: SystemTime) -> f64 {
    let start = from.max(since);
    let end = to.unwrap_or(now).min(now);
    end.duration_since(start)
        .map_or(0.0, |d: Duration| d.as_secs_f64() / HOUR)
}

/// The usage of `runs` over `[since, now]`, per team and workflow, then per team
/// (rows in team order, each team's total after its workflows). Pure: the numbers a
/// test computes by hand.
pub fn account(runs: &[Run], since: SystemTime, now: SystemTime) -> Vec<Row> {
    // (team, Some(workflow)) and (team, None) rows, with the intervals for peaks.
    type Key = (String, Option<String>);
    let mut rows: BTreeMap<Key, (Row, Vec<(SystemTime, i64)>)> = BTreeMap::new();
    for run in runs {
        if run.containers.is_empty() {
            continue;
        }
        let env_end = run
            .containers
            .iter()
            .map(|c| c.removed)
            .collect::<Option<Vec<_>>>()
            .and_then(|ends| ends.into_iter().max());
        let env_hours = hours_in(run.started, env_end, since, now);
        let in_window = run.started <= now && env_end.is_none_or(|e| e >= since);
        if !in_window {
            continue;
        }
        for key in [
            (run.team.clone(), Some(run.workflow.clone())),
            (run.team.clone(), None),
        ] {
            let (row, edges) = rows.entry(key.clone()).or_insert_with(|| {
                (
                    Row {
                        team: key.0.clone(),
                        workflow: key.1.clone(),
                        ..Row::default()
                    },
                    Vec::new(),
                )
            });
            row.environments += 1;
            row.environment_hours += env_hours;
            for c in &run.containers {
                row.container_hours += hours_in(c.created, c.removed, since, now);
                for (from, to) in &c.running {
                    // A container that is gone runs no longer.
                    let h = hours_in(*from, to.or(c.removed), since, now);
                    row.memory_gib_hours += h * c.memory_bytes as f64 / GIB;
                    row.cpu_hours += h * c.cpus;
                }
                if c.created <= now && c.removed.is_none_or(|r| r > since) {
                    edges.push((c.created.max(since), 1));
                    if let Some(r) = c.removed.filter(|r| *r <= now) {
                        edges.push((r, -1));
                    }
                }
            }
        }
    }
    let mut out: Vec<Row> = rows
        .into_values()
        .map(|(mut row, mut edges)| {
            // A removal at the instant of a create frees its place first.
            edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            let (mut alive, mut peak) = (0i64, 0i64);
            for (_, step) in edges {
                alive += step;
                peak = peak.max(alive);
            }
            row.peak_containers = u64::try_from(peak).unwrap_or(0);
            row
        })
        .collect();
    // Each team's workflows, then its total.
    out.sort_by(|a, b| {
        (&a.team, a.workflow.is_none(), &a.workflow).cmp(&(
            &b.team,
            b.workflow.is_none(),
            &b.workflow,
        ))
    });
    out
}

/// Read the runs whose environments may overlap `[since, now]` from the journal: runs
/// started or ended in it, and earlier ones that made containers whose environment was
/// neither torn down nor reaped (their removal is known only from their calls). Such
/// runs are read whatever their age: a journal of many environments never torn down
/// costs a read of each (see the README's note on usage).
pub fn runs(
    journal: &Journal,
    team: Option<&str>,
    since: SystemTime,
    now: SystemTime,
) -> Result<Vec<Run>> {
    let (since_text, now_text) = (timestamp(since), timestamp(now));
    journal.with("read", |sql| {
        let rows = sql.rows(
            "SELECT run, team, workflow, started, ended, rolled_back, torn_down,
                    torn_down_removed, expired, expired_removed
             FROM runs
             WHERE started IS NOT NULL AND started <= ?2 AND (CAST(?3 AS TEXT) IS NULL OR team = ?3)
               AND (started >= ?1 OR COALESCE(torn_down, expired, ended, ?2) >= ?1
                    OR (torn_down IS NULL AND expired IS NULL
                        AND (ended IS NULL OR containers != '[]')))
             ORDER BY seq",
            params![since_text, now_text, team],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let row = RunRow {
                run: r.get(0)?,
                team: r.get(1)?,
                workflow: r.get(2)?,
                started: r.get(3)?,
                ended: r.get(4)?,
                rolled_back: r.get(5)?,
                torn_down: r.get(6)?,
                torn_down_removed: r.get(7)?,
                expired: r.get(8)?,
                expired_removed: r.get(9)?,
            };
            let calls = sql
                .rows(
                    "SELECT time, op, target, detail FROM calls
                     WHERE run = ?1 AND result = 'ok'
                       AND op IN ('create-container', 'start-container', 'stop-container',
                                  'kill-container', 'wait-container', 'remove-container')
                     ORDER BY seq",
                    params![&row.run],
                )?
                .iter()
                .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .collect::<DbResult<Vec<_>>>()?;
            if let Some(run) = row.into_run(&calls) {
                out.push(run);
            }
        }
        Ok(out)
    })
}

struct RunRow {
    run: String,
    team: String,
    workflow: String,
    started: String,
    ended: Option<String>,
    rolled_back: Option<String>,
    torn_down: Option<String>,
    torn_down_removed: Option<String>,
    expired: Option<String>,
    expired_removed: Option<String>,
}

/// A container being put together from its calls.
struct Building {
    id: String,
    name: Option<String>,
    c: Container,
}

impl Building {
    fn is(&self, target: &str) -> bool {
        target == self.id
            || self.name.as_deref() == Some(target)
            || (target.len() >= 4 && self.id.starts_with(target))
    }

    fn stop(&mut self, at: SystemTime) {
        if let Some(last) = self.c.running.last_mut().filter(|r| r.1.is_none()) {
            last.1 = Some(at);
        }
    }

    fn remove(&mut self, at: SystemTime) {
        if self.c.removed.is_none() {
            self.stop(at);
            self.c.removed = Some(at);
        }
    }
}

impl RunRow {
    fn into_run(self, calls: &[(String, String, String, Option<String>)]) -> Option<Run> {
        let started = parse_timestamp(&self.started)?;
        let mut made: Vec<Building> = Vec::new();
        for (time, op, target, detail) in calls {
            let Some(at) = parse_timestamp(time) else {
                continue;
            };
            if op == "create-container" {
                let detail = detail.as_deref().unwrap_or_default();
                let mut words = detail.split_whitespace();
                let Some(id) = words.next() else { continue };
                let mut c = Container {
                    created: at,
                    removed: None,
                    running: Vec::new(),
                    memory_bytes: 0,
                    cpus: 0.0,
                };
                for word in words {
                    match word.split_once('=') {
                        Some(("memory", v)) => c.memory_bytes = v.parse().unwrap_or(0),
                        Some(("cpus", v)) => c.cpus = v.parse().unwrap_or(0.0),
                        _ => {}
                    }
                }
                let name = target.split_once(" (").map(|(n, _)| n.to_string());
                made.push(Building {
                    id: id.to_string(),
                    name,
                    c,
                });
                continue;
            }
            let Some(b) = made.iter_mut().rev().find(|b| b.is(target)) else {
                continue;
            };
            match op.as_str() {
                // A start of a running container changes nothing.
                "start-container"
                    if b.c.removed.is_none()
                        && b.c.running.last().is_none_or(|r| r.1.is_some()) =>
                {
                    b.c.running.push((at, None));
                }
                "stop-container" | "kill-container" | "wait-container" => b.stop(at),
                "remove-container" => b.remove(at),
                _ => {}
            }
        }
        let list = |text: &Option<String>| -> Vec<String> {
            text.as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default()
        };
        for (when, removed) in [
            (&self.ended, list(&self.rolled_back)),
            (&self.torn_down, list(&self.torn_down_removed)),
            (&self.expired, list(&self.expired_removed)),
        ] {
            let Some(at) = when.as_deref().and_then(parse_timestamp) else {
                continue;
            };
            for id in removed {
                if let Some(b) = made.iter_mut().find(|b| b.id == id) {
                    b.remove(at);
                }
            }
        }
        Some(Run {
            team: self.team,
            workflow: self.workflow,
            started,
            containers: made.into_iter().map(|b| b.c).collect(),
        })
    }
}

#[cfg(test)]
mod tests;
