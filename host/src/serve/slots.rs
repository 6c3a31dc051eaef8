//! Slots of runs: how many may be in flight, overall and per team, and who gets
//! a slot that frees up. Pure (time is passed in), so the rules are unit-tested.
//!
//! A request past the bound is refused at once (429 with Retry-After) rather than
//! queued: a queued HTTP request holds a connection and hides the wait from the
//! caller, who can better decide to retry or give up.
//!
//! Fairness: each team may have at most `max_team_runs` in flight. Beyond its fair
//! share (`max_runs` divided by the teams that want to run now: those with runs in
//! flight, those refused within the fair window ([`WANTING_WINDOW`] unless the
//! server is told otherwise), and the caller) a team gets
//! a free slot only when no team that was turned away is still below its share. So a
//! busy team that keeps resubmitting cannot take every freed slot from a team that
//! was turned away, and slots nobody else wants are not left idle.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a refused client is told to wait before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long a refused team still counts as wanting a share, by default: long enough
/// to cover a client that honours Retry-After.
pub const WANTING_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Runs in flight on the server, all teams together.
    pub max_runs: usize,
    /// Runs in flight for one team.
    pub max_team_runs: usize,
    /// How long a refused team counts as wanting its fair share.
    pub fair_window: Duration,
}

/// Why a run was not admitted; the words go to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The team has `max_team_runs` in flight.
    Team { limit: usize },
    /// The team has its fair share while other teams wait.
    Share { share: usize, teams: usize },
    /// The server has `max_runs` in flight.
    Server { limit: usize },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Team { limit } => write!(
                f,
                "your team already has {limit} runs in flight, the most it may have at once: \
                 wait for one to end and try again"
            ),
            Refusal::Share { share, teams } => write!(
                f,
                "your team has its fair share of runs in flight ({share}, with {teams} teams \
                 wanting to run) and another team is waiting: try again when one of yours ends"
            ),
            Refusal::Server { limit } => write!(
                f,
                "the server is running {limit} runs, the most it runs at once: try again shortly"
            ),
        }
    }
}

/// The runs in flight, by team.
#[derive(Debug)]
pub struct Slots {
    bounds: Bounds,
    running: HashMap<String, usize>,
    total: usize,
    /// Teams refused recently, with when.
    refused: HashMap<String, Instant>,
}

impl Slots {
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds: Bounds {
                max_runs: bounds.max_runs.max(1),
                max_team_runs: bounds.max_team_runs.max(1),
                fair_window: bounds.fair_window,
            },
            running: HashMap::new(),
            total: 0,
            refused: HashMap::new(),
        }
    }

    /// Take a slot for `team`, or say why not. Every `Ok` must be matched by one
    /// [`Slots::release`].
    pub fn admit(&mut self, team: &str, now: Instant) -> Result<(), Refusal> {
        let window = self.bounds.fair_window;
        self.refused
            .retain(|_, at| now.saturating_duration_since(*at) < window);
        let mine = self.running.get(team).copied().unwrap_or(0);
        let refusal = if mine >= self.bounds.max_team_runs {
            Some(Refusal::Team {
                limit: self.bounds.max_team_runs,
            })
        } else if self.total >= self.bounds.max_runs {
            Some(Refusal::Server {
                limit: self.bounds.max_runs,
            })
        } else {
            let teams = self.wanting(team);
            let share = (self.bounds.max_runs / teams).max(1);
            let starving = self
                .refused
                .keys()
                .any(|t| t != team && self.running.get(t).copied().unwrap_or(0) < share);
            (mine >= share && starving).then_some(Refusal::Share { share, teams })
        };
        if let Some(refusal) = refusal {
            self.refused.insert(team.to_string(), now);
            return Err(refusal);
        }
        self.refused.remove(team);
        *self.running.entry(team.to_string()).or_default() += 1;
        self.total += 1;
        Ok(())
    }

    /// Give back a slot of `team`.
    pub fn release(&mut self, team: &str) {
        if let Some(n) = self.running.get_mut(team) {
            *n -= 1;
            self.total -= 1;
            if *n == 0 {
                self.running.remove(team);
            }
        }
    }

    /// Runs in flight, all teams.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.total
    }

    /// How many teams want a share now, counting `team`.
    fn wanting(&self, team: &str) -> usize {
        let mut teams: Vec<&str> = self.running.keys().map(String::as_str).collect();
        teams.extend(self.refused.keys().map(String::as_str));
        teams.push(team);
        teams.sort_unstable();
        teams.dedup();
        teams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_runs: usize, max_team_runs: usize) -> Slots {
        Slots::new(Bounds {
            max_runs,
            max_team_runs,
            fair_window: WANTING_WINDOW,
        })
    }

    #[test]
    fn bounds_per_team_and_overall() {
        let now = Instant::now();
        let mut a = admission(3, 2);
        assert_eq!(a.admit("blue", now), Ok(()));
        assert_eq!(a.admit("blue", now), Ok(()));
        assert_eq!(a.admit("blue", now), Err(Refusal::Team { limit: 2 }));
        assert_eq!(a.admit("red", now), Ok(()));
        assert_eq!(a.admit("green", now), Err(Refusal::Server { limit: 3 }));
        assert_eq!(a.total(), 3);
        a.release("blue");
        assert_eq!(a.total(), 2);
        // Green was turned away: the freed slot is its, not blue's again.
        assert!(matches!(a.admit("blue", now), Err(Refusal::Share { .. })));
        assert_eq!(a.admit("green", now), Ok(()));
    }

    #[test]
    fn a_busy_team_cannot_starve_a_waiting_one() {
        let now = Instant::now();
        let mut a = admission(4, 4);
        for _ in 0..4 {
            a.admit("blue", now).unwrap();
        }
        assert_eq!(a.admit("red", now), Err(Refusal::Server { limit: 4 }));
        a.release("blue");
        // Blue resubmits first, but red wants a share: blue has 3 of 4, share 2.
        assert_eq!(
            a.admit("blue", now),
            Err(Refusal::Share { share: 2, teams: 2 })
        );
        assert_eq!(a.admit("red", now), Ok(()));
        // Once red's wish is stale and red is idle, blue may fill up again.
        a.release("red");
        let later = now + WANTING_WINDOW;
        assert_eq!(a.admit("blue", later), Ok(()));
    }

    #[test]
    fn slots_nobody_else_waits_for_are_used() {
        let now = Instant::now();
        let mut a = admission(3, 3);
        a.admit("blue", now).unwrap();
        a.admit("red", now).unwrap();
        a.admit("red", now).unwrap();
        // Red was refused, but holds its share (1 of 3 between two teams) already.
        assert_eq!(a.admit("red", now), Err(Refusal::Server { limit: 3 }));
        a.release("red");
        assert_eq!(a.admit("blue", now), Ok(()));
    }

    #[test]
    fn a_lone_team_uses_its_whole_bound() {
        let now = Instant::now();
        let mut a = admission(16, 4);
        for _ in 0..4 {
            assert_eq!(a.admit("blue", now), Ok(()));
        }
        assert_eq!(a.admit("blue", now), Err(Refusal::Team { limit: 4 }));
        for _ in 0..4 {
            a.release("blue");
        }
        assert_eq!(a.total(), 0);
        // Releasing more than was taken does not underflow.
        a.release("blue");
        a.release("nobody");
        assert_eq!(a.total(), 0);
    }

    #[test]
    fn zero_bounds_still_admit_one() {
        let mut a = admission(0, 0);
        assert_eq!(a.admit("blue", Instant::now()), Ok(()));
        assert!(a.admit("red", Instant::now()).is_err());
    }

    #[test]
    fn refusals_read_well() {
        let text = Refusal::Team { limit: 4 }.to_string();
        assert!(text.contains("4 runs in flight"), "{text}");
        let text = Refusal::Server { limit: 16 }.to_string();
        assert!(text.contains("16 runs"), "{text}");
    }
}
