//! How long a run's environment lives: when it expires, how far it may be extended,
//! and when its team is warned. Pure: every function takes the time it treats as now,
//! so each rule is tested with a clock the test sets.
//!
//! A team's `lifetime = { default = "8h", max = "7d", warn = "30m" }` gives every run
//! an expiry, counted from its start; a workflow may ask for another one up to the max
//! (`host.set-lifetime`), and a person may extend it, never past the max counted from
//! the moment they ask. Without the key a run does not expire, as before lifetimes.

use std::time::{Duration, SystemTime};

pub use super::team::Lifetime;
use super::team::{Denial, TeamPolicy};

/// The rule `lifetime.max` of a denial, for the journal and clients.
pub const RULE_MAX: &str = "lifetime.max";

/// When a run started at `started` expires: its team's default lifetime later, or never
/// when the team has none.
pub fn expiry_at_start(policy: &TeamPolicy, started: SystemTime) -> Option<SystemTime> {
    policy.lifetime.map(|l| started + l.default)
}

/// The expiry a workflow asks for with `host.set-lifetime`: `asked` from `now`, at most
/// its team's max. A team without lifetimes caps nothing: a workflow may still give its
/// environment an end.
pub fn set(policy: &TeamPolicy, now: SystemTime, asked: Duration) -> Result<SystemTime, Denial> {
    if asked.is_zero() {
        return Err(Denial {
            rule: RULE_MAX,
            reason: "a lifetime of 0 is not one: ask for at least a second".into(),
        });
    }
    if let Some(l) = policy.lifetime.filter(|l| asked > l.max) {
        return Err(Denial {
            rule: RULE_MAX,
            reason: format!(
                "a lifetime of {} is more than team `{}`'s max of {}: ask for at most {}",
                format(asked),
                policy.name,
                format(l.max),
                format(l.max)
            ),
        });
    }
    now.checked_add(asked).ok_or_else(|| too_far(asked))
}

fn too_far(d: Duration) -> Denial {
    Denial {
        rule: RULE_MAX,
        reason: format!("{} is further than a clock can count", format(d)),
    }
}

/// The expiry of a run that expires at `current`, extended by `by` at `now`: from its
/// expiry, or from now when that has passed (a run not reaped yet may still be kept).
/// Refused when the run would have more than its team's max left.
pub fn extend(
    policy: &TeamPolicy,
    current: SystemTime,
    now: SystemTime,
    by: Duration,
) -> Result<SystemTime, Denial> {
    if by.is_zero() {
        return Err(Denial {
            rule: RULE_MAX,
            reason: "an extension of 0 changes nothing: give a duration such as 4h".into(),
        });
    }
    let new = current
        .max(now)
        .checked_add(by)
        .ok_or_else(|| too_far(by))?;
    let Some(l) = policy.lifetime else {
        return Ok(new);
    };
    let left = new.duration_since(now).unwrap_or_default();
    if left <= l.max {
        return Ok(new);
    }
    let room = (now + l.max)
        .duration_since(current.max(now))
        .unwrap_or_default();
    let advice = if room < Duration::from_secs(1) {
        "it has that much left already".to_string()
    } else {
        format!("extend by at most {}", format(room))
    };
    Err(Denial {
        rule: RULE_MAX,
        reason: format!(
            "extending by {} would leave {} until expiry, more than team `{}`'s lifetime max of {} counted from now: {advice}",
            format(by),
            format(left),
            policy.name,
            format(l.max)
        ),
    })
}

/// How long before an expiry a team is warned: its `lifetime.warn`, or the default
/// lead for a team without a lifetime rule (whose runs' expiries came from their
/// workflows) or no longer in the config.
pub fn lead(policy: Option<&TeamPolicy>) -> Duration {
    policy
        .and_then(|p| p.lifetime)
        .map_or(Lifetime::DEFAULT_WARN, |l| l.warn)
}

/// When a run of `policy`'s team that expires at `expires` is to be warned.
pub fn warn_at(policy: Option<&TeamPolicy>, expires: SystemTime) -> SystemTime {
    expires.checked_sub(lead(policy)).unwrap_or(expires)
}

/// A duration as the config writes it, largest units first: `7d`, `4h 30m`, `90s`.
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::team::default_team;

    const HOUR: Duration = Duration::from_secs(3600);

    fn team(lifetime: Option<(u64, u64)>) -> TeamPolicy {
        let mut p = default_team("blue", std::path::Path::new("/"));
        p.lifetime = lifetime.map(|(default, max)| Lifetime {
            default: HOUR * default as u32,
            max: HOUR * max as u32,
            warn: Lifetime::DEFAULT_WARN,
        });
        p
    }

    fn at(hours: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + HOUR * hours as u32
    }

    #[test]
    fn a_run_expires_its_default_after_its_start_or_never() {
        assert_eq!(expiry_at_start(&team(Some((8, 168))), at(0)), Some(at(8)));
        assert_eq!(expiry_at_start(&team(None), at(0)), None);
    }

    #[test]
    fn a_workflow_may_ask_up_to_the_max_from_now() {
        let blue = team(Some((8, 24)));
        assert_eq!(set(&blue, at(5), HOUR * 2), Ok(at(7)));
        assert_eq!(set(&blue, at(5), HOUR * 24), Ok(at(29)));
        let over = set(&blue, at(5), HOUR * 25).unwrap_err();
        assert_eq!(over.rule, RULE_MAX);
        assert!(over.reason.contains("max of 1d"), "{}", over.reason);
        assert!(set(&blue, at(5), Duration::ZERO).is_err());
        // No lifetime rule: any end a workflow gives is kept, short of overflowing.
        assert_eq!(set(&team(None), at(0), HOUR * 1000), Ok(at(1000)));
        assert!(set(&team(None), at(0), Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn an_extension_counts_from_the_expiry_and_stays_within_the_max_from_now() {
        let blue = team(Some((8, 24)));
        // Expires at 8, asked at 2: 8 + 4 = 12, 10 h from now, within 24.
        assert_eq!(extend(&blue, at(8), at(2), HOUR * 4), Ok(at(12)));
        // Exactly the max from now is allowed.
        assert_eq!(extend(&blue, at(8), at(2), HOUR * 18), Ok(at(26)));
        // One more hour is not, and the answer says how much is left to give.
        let over = extend(&blue, at(8), at(2), HOUR * 19).unwrap_err();
        assert_eq!(over.rule, RULE_MAX);
        assert!(
            over.reason.contains("lifetime max of 1d"),
            "{}",
            over.reason
        );
        assert!(
            over.reason.contains("extend by at most 18h"),
            "{}",
            over.reason
        );
        // An expired run not reaped yet is extended from now.
        assert_eq!(extend(&blue, at(8), at(10), HOUR * 3), Ok(at(13)));
        // A run with the max left already cannot be extended at all.
        let full = extend(&blue, at(26), at(2), HOUR).unwrap_err();
        assert!(
            full.reason.contains("has that much left"),
            "{}",
            full.reason
        );
        assert!(extend(&blue, at(8), at(2), Duration::ZERO).is_err());
        // No lifetime rule: nothing caps an extension.
        assert_eq!(extend(&team(None), at(8), at(2), HOUR * 100), Ok(at(108)));
        assert!(extend(&team(None), at(8), at(2), Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn the_warning_comes_its_lead_time_before_the_expiry() {
        let mut blue = team(Some((1, 1)));
        blue.lifetime.as_mut().unwrap().warn = Duration::from_secs(1800);
        assert_eq!(
            warn_at(Some(&blue), at(8)),
            at(8) - Duration::from_secs(1800)
        );
        // No rule, or no team: the default lead.
        assert_eq!(
            warn_at(Some(&team(None)), at(8)),
            at(8) - Lifetime::DEFAULT_WARN
        );
        assert_eq!(warn_at(None, at(8)), at(8) - Lifetime::DEFAULT_WARN);
    }

    #[test]
    fn durations_read_as_the_config_writes_them() {
        assert_eq!(format(HOUR * 168), "7d");
        assert_eq!(format(HOUR * 4 + Duration::from_secs(1800)), "4h 30m");
        assert_eq!(format(Duration::from_secs(90)), "1m 30s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
    }
}
