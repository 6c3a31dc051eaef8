//! People: who a run is for, which teams a signed-in person acts for (the identity
//! provider's groups against each team's `groups`), and which of them a request
//! is for. Pure: the server verifies the token, this decides what it grants.

use std::collections::BTreeMap;

use serde_json::Value;

/// The person a run is for, as the journal, the listings and the `dockwright.user`
/// label name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Who it is, stably: the token's `sub`, the local user of a CLI run, or
    /// [`TEAM_TOKEN`]. What the per-person quota counts by.
    pub id: String,
    /// How people know them: `email` or `preferred_username`, when the token says.
    pub name: Option<String>,
}

/// The person of runs started with a team's token: automation, not anyone.
pub const TEAM_TOKEN: &str = "team-token";

impl Person {
    /// Runs started with a team token: counted against the team's quota only.
    pub fn team_token() -> Person {
        Person {
            id: TEAM_TOKEN.to_string(),
            name: None,
        }
    }

    /// Whether the per-person quota applies: it does to everyone but a team token.
    pub fn counted(&self) -> bool {
        self.id != TEAM_TOKEN
    }

    /// `name (id)`, or the id alone when there is no name or it says the same.
    pub fn display(&self) -> String {
        match &self.name {
            Some(name) if name != &self.id => format!("{name} ({})", self.id),
            _ => self.id.clone(),
        }
    }

    /// Whether `who` names this person: its id or its name.
    pub fn is(&self, who: &str) -> bool {
        self.id == who || self.name.as_deref() == Some(who)
    }
}

/// The groups a token's claims give: `claim` read as a list of strings or one
/// string. A claim name is tried whole first (Auth0 and Okta use URLs, dots and
/// all), then as a dotted path (Keycloak's `realm_access.roles`). Anything else
/// (numbers, nested lists) gives no groups: better no team than a guessed one.
pub fn groups_of(claims: &Value, claim: &str) -> Vec<String> {
    let found = claims.get(claim).or_else(|| {
        claim
            .split('.')
            .try_fold(claims, |value, part| value.get(part))
    });
    match found {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// The teams whose `groups` share one with `groups`, in name order.
pub fn teams_of<'a>(groups: &[String], teams: &'a BTreeMap<String, Vec<String>>) -> Vec<&'a str> {
    teams
        .iter()
        .filter(|(_, wanted)| wanted.iter().any(|g| groups.contains(g)))
        .map(|(team, _)| team.as_str())
        .collect()
}

/// Why a person may not act for a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// None of the person's groups is a team's: a `403`.
    NoTeam(String),
    /// The team asked for is not one of theirs: a `403`.
    NotTheirs(String),
    /// They act for several and named none: a `400`.
    Ambiguous(String),
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::NoTeam(m) | Refusal::NotTheirs(m) | Refusal::Ambiguous(m) => m,
        }
    }
}

/// The team a request of `who` acts for: the one `asked` names among `mine`, or
/// the only one of `mine` when it names none.
pub fn pick<'a>(who: &str, mine: &[&'a str], asked: Option<&str>) -> Result<&'a str, Refusal> {
    let list = || {
        mine.iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (mine, asked) {
        ([], _) => Err(Refusal::NoTeam(format!(
            "{who} is signed in but acts for no team: none of their groups is in a team's `groups`; ask an admin to add one"
        ))),
        (_, Some(asked)) => mine.iter().find(|t| **t == asked).copied().ok_or_else(|| {
            Refusal::NotTheirs(format!(
                "{who} does not act for team `{asked}`: their teams are {}",
                list()
            ))
        }),
        ([one], None) => Ok(one),
        (_, None) => Err(Refusal::Ambiguous(format!(
            "{who} acts for several teams ({}): name one with the `X-Dockwright-Team` header or `?team=`",
            list()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_are_a_list_a_string_or_a_path() {
        let claims = json!({
            "groups": ["eng-blue", 7, "eng-green"],
            "hd": "example.com",
            "realm_access": { "roles": ["ops"] },
            "https://example.com/groups": ["url"],
            "count": 3,
        });
        assert_eq!(groups_of(&claims, "groups"), ["eng-blue", "eng-green"]);
        assert_eq!(groups_of(&claims, "hd"), ["example.com"]);
        assert_eq!(groups_of(&claims, "realm_access.roles"), ["ops"]);
        assert_eq!(groups_of(&claims, "https://example.com/groups"), ["url"]);
        assert!(groups_of(&claims, "count").is_empty());
        assert!(groups_of(&claims, "missing").is_empty());
        assert!(groups_of(&claims, "realm_access").is_empty());
    }

    fn teams() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("blue".to_string(), vec!["eng-blue".to_string()]),
            (
                "green".to_string(),
                vec!["eng-green".to_string(), "ops".to_string()],
            ),
            ("red".to_string(), vec!["eng-red".to_string()]),
        ])
    }

    #[test]
    fn a_person_acts_for_the_teams_of_their_groups() {
        let teams = teams();
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            teams_of(&groups(&["eng-blue", "ops"]), &teams),
            ["blue", "green"]
        );
        assert!(teams_of(&groups(&["eng-purple"]), &teams).is_empty());
        assert!(teams_of(&[], &teams).is_empty());
    }

    #[test]
    fn the_team_is_the_one_named_among_theirs() {
        assert_eq!(pick("alice", &["blue"], None), Ok("blue"));
        assert_eq!(pick("alice", &["blue"], Some("blue")), Ok("blue"));
        assert_eq!(pick("bob", &["blue", "green"], Some("green")), Ok("green"));
        let third = pick("bob", &["blue", "green"], Some("red")).unwrap_err();
        assert!(
            matches!(&third, Refusal::NotTheirs(m) if m.contains("`red`") && m.contains("`blue`, `green`"))
        );
        let ambiguous = pick("bob", &["blue", "green"], None).unwrap_err();
        assert!(matches!(&ambiguous, Refusal::Ambiguous(m) if m.contains("X-Dockwright-Team")));
        let none = pick("carol", &[], Some("blue")).unwrap_err();
        assert!(matches!(&none, Refusal::NoTeam(m) if m.contains("carol") && m.contains("groups")));
    }

    #[test]
    fn team_tokens_are_nobody_counted() {
        let token = Person::team_token();
        assert!(!token.counted());
        let alice = Person {
            id: "a1".into(),
            name: Some("alice@example.test".into()),
        };
        assert!(alice.counted());
        assert_eq!(alice.display(), "alice@example.test (a1)");
        assert!(alice.is("a1") && alice.is("alice@example.test") && !alice.is("bob"));
        let same = Person {
            id: "root".into(),
            name: Some("root".into()),
        };
        assert_eq!(same.display(), "root");
    }
}
