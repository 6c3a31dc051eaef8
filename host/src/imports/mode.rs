//! How a run meets the engine, decided once when the run is made: for real, as a plan,
//! recorded, or replayed from a recording. Every host call goes through
//! [`super::call::dispatch`], the one place that reads the mode to answer from a
//! recording, write one, or stop a plan; a write's host function asks
//! [`Mode::plan`] only at the point where it would send, so a plan runs every check a
//! real run does.

use std::sync::MutexGuard;

use super::plan::{self, Plan};
use super::recording;

/// A run's mode. The shared parts are also held by whoever started the run, which
/// reads them once the run is over (the plan to print, the recording to save or to
/// compare).
#[derive(Clone, Default)]
pub enum Mode {
    /// Calls are checked and sent to the engine.
    #[default]
    Live,
    /// Reads go to the engine; writes are checked as in a live run and answered
    /// without being sent (see [`super::plan`]).
    Plan(plan::Shared),
    /// As `Live`, and each call is written down with its answer (`run --record`).
    Record(recording::Shared),
    /// Each call is answered from a recording; nothing reaches an engine (`test --replay`).
    Replay(recording::Shared),
}

impl Mode {
    /// The plan, when the run is one. Held only for a step: never across an await.
    pub fn plan(&self) -> Option<MutexGuard<'_, Plan>> {
        match self {
            Mode::Plan(plan) => Some(plan::lock(plan)),
            _ => None,
        }
    }

    pub fn is_plan(&self) -> bool {
        matches!(self, Mode::Plan(_))
    }

    /// Whether the run's calls reach an engine that keeps what they make: a plan's
    /// and a replay's do not, so they have nothing to roll back.
    pub fn changes_the_engine(&self) -> bool {
        matches!(self, Mode::Live | Mode::Record(_))
    }

    /// Whether each call's arguments are wanted as JSON (to write down or to compare).
    pub fn keeps_arguments(&self) -> bool {
        matches!(self, Mode::Record(_) | Mode::Replay(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::recording::Recording;

    #[test]
    fn only_live_and_recorded_runs_change_the_engine() {
        let recording = Recording::new(vec![]);
        let cases = [
            (Mode::Live, true, false, false),
            (Mode::Plan(Plan::new("r")), false, false, true),
            (Mode::Record(recording.clone()), true, true, false),
            (Mode::Replay(recording), false, true, false),
        ];
        for (mode, changes, keeps, plan) in cases {
            assert_eq!(mode.changes_the_engine(), changes);
            assert_eq!(mode.keeps_arguments(), keeps);
            assert_eq!(mode.plan().is_some(), plan);
            assert_eq!(mode.is_plan(), plan);
        }
    }
}
