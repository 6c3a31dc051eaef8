//! OpenID Connect: the API accepts a JWT of the organization's provider as a
//! person's bearer token. The provider's discovery document and keys are fetched
//! when first needed and cached; keys are fetched again for a key id not known yet
//! (the provider rotated its keys), at most once per `jwks_refresh`.
//!
//! What a token must be is decided here before any library sees it: a signature
//! algorithm among the configured asymmetric ones (never `none`, never HMAC, so a
//! provider's public key can never serve as a shared secret), and a key of the
//! provider's whose type and `alg` match it. jsonwebtoken then checks the
//! signature, `iss`, `aud`, `exp` and `nbf`, with only that one algorithm allowed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::policy::people::{self, Person};
use crate::util::text;
use settings::{acceptable_url, OidcSettings};

pub mod settings;

/// The longest a token may be: larger ones are refused unread.
const MAX_TOKEN: usize = 16 << 10;
/// The most a discovery document, key set or token answer may be.
const MAX_ANSWER: usize = 1 << 20;
/// How long a request to the provider may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys older than this are fetched again at the next token (a key the provider
/// withdrew stops verifying within this time).
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// The longest `sub`, `email` or name kept (OpenID Connect caps `sub` at 255).
const MAX_NAME: usize = 255;

/// The endpoints of the provider's discovery document the server uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: Option<String>,
}

/// A token that verified: who it is and the groups it lists.
#[derive(Debug, Clone)]
pub struct Verified {
    pub person: Person,
    pub groups: Vec<String>,
    /// `exp`, in seconds since the epoch.
    pub expires: u64,
    /// The token's `nonce`, for the page's sign-in to check.
    pub nonce: Option<String>,
}

/// Why a token was refused, as the API answers: `401` for a token that is not
/// good, `503` when the provider cannot be asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

fn bad(message: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
    }
}

fn unavailable(message: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: message.into(),
    }
}

/// The provider's keys as last fetched.
struct Keys {
    set: Arc<JwkSet>,
    fetched: Instant,
}

#[derive(Default)]
struct Cache {
    discovery: Option<Discovery>,
    keys: Option<Keys>,
    /// When keys were last fetched for an unknown key id.
    refreshed: Option<Instant>,
}

/// The provider, as the server checks tokens against it.
pub struct Oidc {
    pub settings: OidcSettings,
    http: reqwest::Client,
    /// One fetch at a time: a burst of requests with a new key id makes one fetch.
    cache: tokio::sync::Mutex<Cache>,
}

/// Whether keys may be fetched again for an unknown key id: the first time, or
/// `every` after the last such fetch.
pub fn may_refresh(last: Option<Instant>, now: Instant, every: Duration) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= every)
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Oidc> {
        let mut http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // A provider answers where it is asked; a redirect could lead to plain HTTP.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &settings.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| anyhow::anyhow!("cannot read auth.oidc.ca {}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow::anyhow!("auth.oidc.ca {} is not PEM certificates: {e}", ca.display())
            })? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| anyhow::anyhow!("cannot make an HTTP client for the provider: {e}"))?;
        Ok(Oidc {
            settings,
            http,
            cache: Default::default(),
        })
    }

    /// The provider's endpoints, fetched once.
    pub async fn discovery(&self) -> Result<Discovery, Refused> {
        let mut cache = self.cache.lock().await;
        self.discovered(&mut cache).await
    }

    async fn discovered(&self, cache: &mut Cache) -> Result<Discovery, Refused> {
        if let Some(found) = &cache.discovery {
            return Ok(found.clone());
        }
        let issuer = &self.settings.issuer;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&url).await?;
        let field = |name: &str| doc.get(name).and_then(Value::as_str).map(String::from);
        // OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it
        // was asked for, or it is someone else's.
        if field("issuer").as_deref() != Some(issuer.as_str()) {
            return Err(unavailable(format!(
                "the provider's discovery document at {url} names issuer {:?}, not {issuer:?}: check `auth.oidc.issuer`",
                field("issuer").unwrap_or_default()
            )));
        }
        let endpoint = |name: &str| {
            let url = field(name).ok_or_else(|| {
                unavailable(format!("the provider's discovery document has no `{name}`"))
            })?;
            if acceptable_url(&url) {
                Ok(url)
            } else {
                Err(unavailable(format!(
                    "the provider's `{name}` {url} is not https:// (plain http only on this machine)"
                )))
            }
        };
        let found = Discovery {
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            jwks_uri: endpoint("jwks_uri")?,
            end_session_endpoint: endpoint("end_session_endpoint").ok(),
        };
        cache.discovery = Some(found.clone());
        Ok(found)
    }

    /// The key `kid` names (or the only key, when the token names none), fetching
    /// the key set when there is none, it is old, or it lacks `kid` and a refresh
    /// is due.
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, Refused> {
        let mut cache = self.cache.lock().await;
        let discovery = self.discovered(&mut cache).await?;
        let now = Instant::now();
        let stale = cache
            .keys
            .as_ref()
            .is_none_or(|k| now.saturating_duration_since(k.fetched) >= KEYS_MAX_AGE);
        if stale {
            match self.fetch_keys(&discovery.jwks_uri).await {
                Ok(set) => cache.keys = Some(Keys { set, fetched: now }),
                // Old keys still verify while the provider does not answer.
                Err(e) if cache.keys.is_some() => {
                    tracing::warn!(error = e.message, "cannot refresh the provider's keys")
                }
                Err(e) => return Err(e),
            }
        }
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if let Some(key) = cache.keys.as_ref().and_then(|k| find(&k.set)) {
            return Ok(key);
        }
        let every = self.settings.jwks_refresh;
        if !stale && may_refresh(cache.refreshed, now, every) {
            cache.refreshed = Some(now);
            let set = self.fetch_keys(&discovery.jwks_uri).await?;
            cache.keys = Some(Keys {
                set: set.clone(),
                fetched: now,
            });
            if let Some(key) = find(&set) {
                return Ok(key);
            }
        }
        Err(bad(match kid {
            Some(kid) => format!(
                "the token is signed with key `{}`, which the issuer does not publish: it was not issued by {}",
                text::cap(kid),
                self.settings.issuer
            ),
            None => "the token names no key (`kid`) and the issuer has several: it cannot be checked".to_string(),
        }))
    }

    async fn fetch_keys(&self, url: &str) -> Result<Arc<JwkSet>, Refused> {
        let doc = self.get_json(url).await?;
        serde_json::from_value(doc)
            .map(Arc::new)
            .map_err(|e| unavailable(format!("the provider's keys at {url} cannot be read: {e}")))
    }

    /// A GET answered `200` with JSON of at most [`MAX_ANSWER`] bytes.
    async fn get_json(&self, url: &str) -> Result<Value, Refused> {
        let request = self.http.get(url);
        let answer = request.send().await.map_err(|e| {
            unavailable(format!(
                "the identity provider does not answer at {url}: {e}; tokens cannot be checked until it does"
            ))
        })?;
        read_json(answer, url).await
    }

    /// Verify `token`: its algorithm, key, signature, issuer, audience and times.
    pub async fn verify(&self, token: &str) -> Result<Verified, Refused> {
        if token.len() > MAX_TOKEN {
            return Err(bad(format!(
                "the token is longer than {MAX_TOKEN} bytes: it is not one of the identity provider's"
            )));
        }
        let header = header_of(token)?;
        let alg = self.algorithm(&header)?;
        let kid = header.get("kid").and_then(Value::as_str);
        let jwk = self.key(kid).await?;
        check_key(&jwk, alg)?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| bad(format!("the issuer's key cannot verify tokens: {e}")))?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway.as_secs();
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| self.refusal(token, e))?;
        verified(&data.claims, &self.settings.groups_claim)
    }

    /// The header's algorithm, if it is one this server accepts.
    fn algorithm(&self, header: &Value) -> Result<Algorithm, Refused> {
        let name = header.get("alg").and_then(Value::as_str).unwrap_or("none");
        if name.eq_ignore_ascii_case("none") {
            return Err(bad(
                "the token is not signed (`alg: none`): only tokens signed by the issuer are accepted",
            ));
        }
        let accepted = settings::asymmetric(name).filter(|a| self.settings.algorithms.contains(a));
        accepted.ok_or_else(|| {
            bad(format!(
                "the token is signed with `{}`, which is not one of the accepted algorithms ({}): HMAC and unknown algorithms are refused",
                text::cap(name),
                self.settings
                    .algorithms
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// Words for a token jsonwebtoken refused, naming the claim and what was wanted.
    fn refusal(&self, token: &str, e: jsonwebtoken::errors::Error) -> Refused {
        use jsonwebtoken::errors::ErrorKind;
        let claims = claims_unverified(token);
        let claim = |name: &str| {
            claims
                .get(name)
                .map(|v| text::cap(&v.to_string()).into_owned())
                .unwrap_or_else(|| "none".into())
        };
        bad(match e.kind() {
            ErrorKind::ExpiredSignature => format!(
                "the token expired (exp {}): sign in again for a new one",
                claim("exp")
            ),
            ErrorKind::ImmatureSignature => {
                format!("the token is not valid yet (nbf {})", claim("nbf"))
            }
            ErrorKind::InvalidAudience => format!(
                "the token is for audience {}, not this server ({}): get one issued for it",
                claim("aud"),
                self.settings.audience.join(", ")
            ),
            ErrorKind::InvalidIssuer => format!(
                "the token was issued by {}, not {}",
                claim("iss"),
                self.settings.issuer
            ),
            ErrorKind::InvalidSignature => {
                "the token's signature does not verify with the issuer's key: it was changed or not issued by the issuer".to_string()
            }
            ErrorKind::MissingRequiredClaim(name) => {
                format!("the token has no `{name}` claim, which this server requires")
            }
            other => format!("the token cannot be read: {other:?}"),
        })
    }

    /// Trade a sign-in's code for the provider's tokens, as the page's client
    /// (confidential when a secret is configured), and verify the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<(String, Verified), Refused> {
        let Some(client_id) = &self.settings.client_id else {
            return Err(bad(
                "the server has no `auth.oidc.client_id`: the page cannot sign in",
            ));
        };
        let discovery = self.discovery().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ];
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| bad(format!("the sign-in cannot be encoded: {e}")))?;
        let mut request = self
            .http
            .post(&discovery.token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        if let Some(secret) = &self.settings.client_secret {
            // client_secret_basic (RFC 6749 2.3.1): both parts form-encoded first.
            let enc = |s: &str| {
                let pair = serde_urlencoded::to_string([("k", s)]).unwrap_or_default();
                pair.strip_prefix("k=").unwrap_or_default().to_string()
            };
            request = request.basic_auth(enc(client_id), Some(enc(secret)));
        }
        let url = discovery.token_endpoint.clone();
        let answer = request.send().await.map_err(|e| {
            unavailable(format!(
                "the identity provider does not answer at {url}: {e}"
            ))
        })?;
        let status = answer.status();
        if status.is_client_error() {
            let body = read_json(answer, &url).await.unwrap_or_default();
            let why = body.get("error_description").or(body.get("error"));
            return Err(bad(format!(
                "the identity provider refused the sign-in: {}; sign in again",
                why.and_then(Value::as_str)
                    .map(text::cap)
                    .unwrap_or_default()
            )));
        }
        let body = read_json(answer, &url).await?;
        let token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| unavailable("the identity provider's answer has no `id_token`"))?
            .to_string();
        let verified = self.verify(&token).await?;
        Ok((token, verified))
    }
}

/// A provider's answer as JSON: `200`, at most [`MAX_ANSWER`] bytes, read in time.
async fn read_json(mut answer: reqwest::Response, url: &str) -> Result<Value, Refused> {
    let status = answer.status();
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| unavailable(format!("reading the answer of {url} failed: {e}")))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(unavailable(format!(
                "the answer of {url} is larger than {MAX_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(unavailable(format!("{url} answered {status}")));
    }
    serde_json::from_slice(&body)
        .map_err(|e| unavailable(format!("the answer of {url} is not JSON: {e}")))
}

/// A part of a JWT, base64url-decoded and read as a JSON object.
fn part(token: &str, index: usize) -> Option<Value> {
    let text = token.split('.').nth(index)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

/// The token's header; a token of three parts with a JSON header, or it is refused.
fn header_of(token: &str) -> Result<Value, Refused> {
    if token.split('.').count() != 3 {
        return Err(bad(
            "the token is neither a team token (`dwt_...`) nor a signed JWT (three dot-separated parts)",
        ));
    }
    part(token, 0).ok_or_else(|| bad("the token's header is not base64url JSON"))
}

/// The token's claims, not verified: only for words in a refusal.
fn claims_unverified(token: &str) -> Value {
    part(token, 1).unwrap_or_default()
}

/// Whether `jwk` may verify a token signed with `alg`: its type is the algorithm's
/// and, when it names an algorithm, it is that one.
fn check_key(jwk: &Jwk, alg: Algorithm) -> Result<(), Refused> {
    let family_fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(_) => {
            matches!(alg, Algorithm::ES256 | Algorithm::ES384)
        }
        AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        // A shared secret in a provider's public key set is never a key for this.
        AlgorithmParameters::OctetKey(_) => false,
    };
    let named = jwk
        .common
        .key_algorithm
        .map(|k| format!("{k:?}"))
        .filter(|k| *k != format!("{alg:?}"));
    match (family_fits, named) {
        (true, None) => Ok(()),
        (_, Some(named)) => Err(bad(format!(
            "the token says `{alg:?}` but the issuer's key is for `{named}`: refused"
        ))),
        (false, None) => Err(bad(format!(
            "the token says `{alg:?}`, which the issuer's key of another type cannot verify: refused"
        ))),
    }
}

/// The person and groups of verified claims.
fn verified(claims: &Value, groups_claim: &str) -> Result<Verified, Refused> {
    let name_of = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_NAME && !s.contains(char::is_control))
            .map(String::from)
    };
    let id = name_of(claims.get("sub"))
        .ok_or_else(|| bad("the token's `sub` is empty, too long or not text"))?;
    let name = name_of(claims.get("email")).or_else(|| name_of(claims.get("preferred_username")));
    Ok(Verified {
        person: Person { id, name },
        groups: people::groups_of(claims, groups_claim),
        expires: claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_default(),
        nonce: claims
            .get("nonce")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

#[cfg(test)]
mod tests;
