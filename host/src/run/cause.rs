//! Why a run failed, in a few kinds a client can act on: the HTTP API answers each
//! with its own status code, and the journal keeps it so a run read back later (or
//! answered again for a retried request) answers the same.
//!
//! A workflow fails with its own message, so the host cannot read the plugin's mind:
//! the kind comes from what the host saw. A limit or a cancel is the host's own doing;
//! otherwise the last host call that failed before the end decides (a denial, a quota,
//! an engine that did not answer), and a workflow that failed for its own reasons is
//! the plugin's.

use serde::{Deserialize, Serialize};

pub use crate::imports::state::FailedCall;

/// The kind of a run's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The team's policy refused the plugin or one of its calls.
    Policy,
    /// A call would have gone past one of the team's quotas.
    Quota,
    /// The workflow failed or crashed for its own reasons.
    Plugin,
    /// The plugin went over a limit of its team's policy (time, memory, output).
    Limit,
    /// The engine did not answer.
    Engine,
    /// The run was interrupted (torn down while in flight, or the server stopped).
    Cancelled,
    /// The host itself could not go on (the journal could not be written, say).
    Internal,
}

/// The rules that are quotas: a run denied by one may succeed later, when the
/// team's other environments are gone.
pub const QUOTA_RULES: &[&str] = &["max_containers", "max_running", "max_containers_per_user"];

impl Cause {
    /// The cause of a workflow that failed on its own (returned an error or crashed),
    /// after `last` was the last host call to fail.
    pub fn of_workflow(last: Option<&FailedCall>) -> Cause {
        match last {
            Some(FailedCall::Denied(Some(rule))) if QUOTA_RULES.contains(&rule.as_str()) => {
                Cause::Quota
            }
            Some(FailedCall::Denied(_)) => Cause::Policy,
            Some(FailedCall::Unavailable) => Cause::Engine,
            Some(FailedCall::Other) | None => Cause::Plugin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Policy => "policy",
            Cause::Quota => "quota",
            Cause::Plugin => "plugin",
            Cause::Limit => "limit",
            Cause::Engine => "engine",
            Cause::Cancelled => "cancelled",
            Cause::Internal => "internal",
        }
    }

    /// The cause a journal wrote, by its name; an unknown name (of a later version)
    /// is none rather than a wrong one.
    pub fn parse(text: &str) -> Option<Cause> {
        ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Every cause, in the order the docs list them.
pub const ALL: [Cause; 7] = [
    Cause::Policy,
    Cause::Quota,
    Cause::Plugin,
    Cause::Limit,
    Cause::Engine,
    Cause::Cancelled,
    Cause::Internal,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_failed_call_decides() {
        let denied = |rule: &str| FailedCall::Denied(Some(rule.to_string()));
        assert_eq!(Cause::of_workflow(None), Cause::Plugin);
        assert_eq!(Cause::of_workflow(Some(&FailedCall::Other)), Cause::Plugin);
        assert_eq!(Cause::of_workflow(Some(&denied("images"))), Cause::Policy);
        assert_eq!(
            Cause::of_workflow(Some(&FailedCall::Denied(None))),
            Cause::Policy
        );
        for rule in QUOTA_RULES {
            assert_eq!(Cause::of_workflow(Some(&denied(rule))), Cause::Quota);
        }
        assert_eq!(
            Cause::of_workflow(Some(&FailedCall::Unavailable)),
            Cause::Engine
        );
    }

    #[test]
    fn names_read_back() {
        for cause in ALL {
            assert_eq!(Cause::parse(cause.as_str()), Some(cause));
            let json = serde_json::to_string(&cause).unwrap();
            assert_eq!(json, format!("\"{}\"", cause.as_str()));
        }
        assert_eq!(Cause::parse("weather"), None);
    }
}
