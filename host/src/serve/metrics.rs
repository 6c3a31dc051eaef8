//! `GET /metrics`: what the server did, in the OpenMetrics text format that
//! Prometheus scrapes. Counted here, in the server's process: runs started and
//! ended, policy denials (from the journal's entries as they are written), 429s,
//! connections; runs in flight and engine reachability are read at scrape time.
//!
//! Label values are team, workflow, rule and engine names from the config and the
//! plugin folder, never text a request or a plugin chooses freely, so the number of
//! series stays bounded.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::journal::Entry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    team: String,
    workflow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    team: String,
    workflow: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenialLabels {
    team: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamLabels {
    team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

type Durations = Family<RunLabels, Histogram, fn() -> Histogram>;

/// Every series the server exports.
pub struct Metrics {
    registry: Registry,
    started: Family<RunLabels, Counter>,
    ended: Family<EndLabels, Counter>,
    durations: Durations,
    denials: Family<DenialLabels, Counter>,
    throttled: Family<TeamLabels, Counter>,
    in_flight: Family<TeamLabels, Gauge>,
    reachable: Family<EngineLabels, Gauge>,
    environments: Family<TeamLabels, Gauge>,
    expiring: Family<TeamLabels, Gauge>,
    expired: Family<TeamLabels, Gauge>,
    responses: Family<CodeLabels, Counter>,
    connections: Gauge,
    refused_connections: Counter,
    evicted_connections: Counter,
    /// Scrapes set the gauges and encode under this lock, so two at once do not
    /// interleave their updates.
    scrape: Mutex<()>,
}

/// Run durations from 0.1 s to about 27 minutes, doubling.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("dockwright");
        Metrics {
            started: registered(
                &mut r,
                "runs_started",
                "Runs this server started, by team and workflow",
                Family::default(),
            ),
            ended: registered(
                &mut r,
                "runs_ended",
                "Runs that ended, by team, workflow and status (ok or failed)",
                Family::default(),
            ),
            durations: registered(
                &mut r,
                "run_duration_seconds",
                "How long runs took, start to end, rollback included",
                Durations::new_with_constructor(duration_histogram),
            ),
            in_flight: registered(
                &mut r,
                "runs_in_flight",
                "Runs started and not yet ended, by team",
                Family::default(),
            ),
            denials: registered(
                &mut r,
                "denials",
                "Host calls the team's policy denied, by team and rule",
                Family::default(),
            ),
            throttled: registered(
                &mut r,
                "runs_throttled",
                "Run requests refused with 429 (the server's or the team's bound), by team",
                Family::default(),
            ),
            reachable: registered(
                &mut r,
                "engine_reachable",
                "1 when the engine answered a ping at this scrape, else 0",
                Family::default(),
            ),
            environments: registered(
                &mut r,
                "environments_alive",
                "Environments with an expiry, neither reaped nor torn down yet, by team",
                Family::default(),
            ),
            expiring: registered(
                &mut r,
                "environments_expiring",
                "Environments within their team's warning lead time of their expiry, by team",
                Family::default(),
            ),
            expired: registered(
                &mut r,
                "environments_expired",
                "Environments reaped at their expiry, by team, as the journal counts them (journal_retention prunes the oldest)",
                Family::default(),
            ),
            responses: registered(
                &mut r,
                "http_responses",
                "HTTP responses, by status code",
                Family::default(),
            ),
            connections: registered(
                &mut r,
                "connections_open",
                "HTTP connections open now",
                Gauge::default(),
            ),
            refused_connections: registered(
                &mut r,
                "connections_refused",
                "Connections answered 503 and closed at the connection cap, every open one busy answering a request",
                Counter::default(),
            ),
            evicted_connections: registered(
                &mut r,
                "connections_evicted",
                "Connections closed at the connection cap to let a new one in, each waiting for its client: an unfinished request head first, else idle",
                Counter::default(),
            ),
            scrape: Mutex::new(()),
            registry: r,
        }
    }

    pub fn run_started(&self, team: &str, workflow: &str) {
        let labels = run_labels(team, workflow);
        self.started.get_or_create(&labels).inc();
    }

    pub fn run_ended(&self, team: &str, workflow: &str, ok: bool, took: Duration) {
        let status = if ok { "ok" } else { "failed" };
        self.ended
            .get_or_create(&EndLabels {
                team: team.to_string(),
                workflow: workflow.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&run_labels(team, workflow))
            .observe(took.as_secs_f64());
    }

    pub fn throttled(&self, team: &str) {
        self.throttled
            .get_or_create(&TeamLabels {
                team: team.to_string(),
            })
            .inc();
    }

    pub fn response(&self, code: u16) {
        self.responses
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    pub fn connection_refused(&self) {
        self.refused_connections.inc();
    }

    pub fn connection_evicted(&self) {
        self.evicted_connections.inc();
    }

    /// Count what a journal entry tells: a denied call.
    pub fn journaled(&self, entry: &Entry) {
        if let Entry::Call {
            team,
            decision,
            rule,
            ..
        } = entry
        {
            if decision == "denied" {
                let rule = rule.clone().unwrap_or_else(|| "unnamed".to_string());
                self.denials
                    .get_or_create(&DenialLabels {
                        team: team.clone(),
                        rule,
                    })
                    .inc();
            }
        }
    }

    /// The text of a scrape, with the gauges read now: `in_flight` runs by team
    /// (the caller passes every team, idle ones at 0, so a series does not vanish
    /// between runs) and whether each engine answered.
    pub fn encode(
        &self,
        in_flight: &[(String, i64)],
        engines: &[(String, bool)],
        lifetimes: &[(String, Lifetimes)],
    ) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        for family in [&self.environments, &self.expiring, &self.expired] {
            family.clear();
        }
        for (team, l) in lifetimes {
            let labels = TeamLabels { team: team.clone() };
            self.environments.get_or_create(&labels).set(l.alive);
            self.expiring.get_or_create(&labels).set(l.expiring);
            self.expired.get_or_create(&labels).set(l.expired);
        }
        self.in_flight.clear();
        for (team, n) in in_flight {
            self.in_flight
                .get_or_create(&TeamLabels { team: team.clone() })
                .set(*n);
        }
        self.reachable.clear();
        for (engine, up) in engines {
            self.reachable
                .get_or_create(&EngineLabels {
                    engine: engine.clone(),
                })
                .set(i64::from(*up));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A team's environments with an expiry, as a scrape reads them from the journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    pub alive: i64,
    pub expiring: i64,
    pub expired: i64,
}

/// `metric`, once registered under `name`; the registry keeps a handle to the same series.
fn registered<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

fn run_labels(team: &str, workflow: &str) -> RunLabels {
    RunLabels {
        team: team.to_string(),
        workflow: workflow.to_string(),
    }
}

/// Whether each engine answers, as `/metrics` shows it: asked at most once per
/// `fresh_for`, however many scrapes come. The endpoint needs no token, so without this
/// every anonymous scrape would make the server ping every engine.
pub struct Reachability {
    fresh_for: Duration,
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, Reached)>>,
}

/// Each engine by name, and whether it answered.
type Reached = Vec<(String, bool)>;

impl Reachability {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last answer while it is fresh, else `ping_all`'s. Scrapes that come while
    /// one pings wait for its answer rather than ping again.
    pub async fn get<F, Fut>(&self, ping_all: F) -> Vec<(String, bool)>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Vec<(String, bool)>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last {
            if at.elapsed() < self.fresh_for {
                return answer.clone();
            }
        }
        let answer = ping_all().await;
        *last = Some((tokio::time::Instant::now(), answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn engines_are_pinged_at_most_once_a_second() {
        let reach = Reachability::new(Duration::from_secs(1));
        let pings = std::sync::atomic::AtomicUsize::new(0);
        let ping = || async {
            let n = pings.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            vec![("default".to_string(), n.is_multiple_of(2))]
        };
        assert_eq!(reach.get(ping).await, [("default".to_string(), true)]);
        assert_eq!(reach.get(ping).await, [("default".to_string(), true)]);
        assert_eq!(pings.load(std::sync::atomic::Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(reach.get(ping).await, [("default".to_string(), false)]);
        assert_eq!(pings.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    fn denied(team: &str, rule: Option<&str>) -> Entry {
        Entry::Call {
            time: String::new(),
            run: "r".into(),
            team: team.into(),
            plugin: "p".into(),
            op: "create-container".into(),
            target: "x".into(),
            decision: "denied".into(),
            rule: rule.map(str::to_string),
            result: "denied".into(),
            detail: None,
            duration_ms: 0,
        }
    }

    #[test]
    fn counts_runs_denials_and_throttles_by_their_labels() {
        let m = Metrics::new();
        m.run_started("blue", "team-env");
        m.run_started("blue", "team-env");
        m.run_ended("blue", "team-env", true, Duration::from_millis(300));
        m.run_ended("blue", "team-env", false, Duration::from_secs(50));
        m.journaled(&denied("blue", Some("images")));
        m.journaled(&denied("blue", Some("images")));
        m.journaled(&denied("red", None));
        m.throttled("red");
        m.response(429);
        m.connection_evicted();
        m.connection_evicted();
        m.connection_refused();
        let text = m.encode(
            &[("blue".into(), 0), ("red".into(), 2)],
            &[("default".into(), true), ("far".into(), false)],
            &[(
                "blue".into(),
                Lifetimes {
                    alive: 3,
                    expiring: 1,
                    expired: 7,
                },
            )],
        );
        for line in [
            r#"dockwright_runs_started_total{team="blue",workflow="team-env"} 2"#,
            r#"dockwright_runs_ended_total{team="blue",workflow="team-env",status="ok"} 1"#,
            r#"dockwright_runs_ended_total{team="blue",workflow="team-env",status="failed"} 1"#,
            r#"dockwright_run_duration_seconds_count{team="blue",workflow="team-env"} 2"#,
            r#"dockwright_run_duration_seconds_bucket{le="0.4",team="blue",workflow="team-env"} 1"#,
            r#"dockwright_denials_total{team="blue",rule="images"} 2"#,
            r#"dockwright_denials_total{team="red",rule="unnamed"} 1"#,
            r#"dockwright_runs_throttled_total{team="red"} 1"#,
            r#"dockwright_runs_in_flight{team="red"} 2"#,
            r#"dockwright_runs_in_flight{team="blue"} 0"#,
            r#"dockwright_engine_reachable{engine="default"} 1"#,
            r#"dockwright_engine_reachable{engine="far"} 0"#,
            r#"dockwright_http_responses_total{code="429"} 1"#,
            "dockwright_connections_evicted_total 2",
            "dockwright_connections_refused_total 1",
            r#"dockwright_environments_alive{team="blue"} 3"#,
            r#"dockwright_environments_expiring{team="blue"} 1"#,
            r#"dockwright_environments_expired{team="blue"} 7"#,
        ] {
            assert!(text.contains(line), "no `{line}` in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Allowed calls are not denials.
        let mut allowed = denied("blue", None);
        if let Entry::Call { decision, .. } = &mut allowed {
            *decision = "allowed".into();
        }
        m.journaled(&allowed);
        let text = m.encode(&[], &[], &[]);
        assert!(
            !text.contains(r#"denials_total{team="blue",rule="unnamed"}"#),
            "{text}"
        );
        assert!(!text.contains("dockwright_engine_reachable{"), "{text}");
    }
}
