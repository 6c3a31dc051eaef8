use super::*;
use serde_json::json;

fn settings() -> OidcSettings {
    OidcSettings {
        issuer: "http://127.0.0.1:9".into(),
        audience: vec!["dockwright".into()],
        client_id: Some("dockwright".into()),
        client_secret: None,
        groups_claim: "groups".into(),
        algorithms: vec![Algorithm::RS256, Algorithm::ES256],
        ca: None,
        leeway: Duration::from_secs(1),
        scopes: vec!["openid".into()],
        jwks_refresh: Duration::from_secs(60),
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn token(header: Value, claims: Value) -> String {
    format!("{}.{}.c2ln", b64(&header), b64(&claims))
}

#[test]
fn refreshes_for_unknown_keys_are_spaced() {
    let start = Instant::now();
    let every = Duration::from_secs(60);
    assert!(may_refresh(None, start, every));
    assert!(!may_refresh(
        Some(start),
        start + Duration::from_secs(59),
        every
    ));
    assert!(may_refresh(Some(start), start + every, every));
    // A clock that went back never allows more.
    assert!(!may_refresh(Some(start + every), start, every));
}

#[tokio::test]
async fn unsigned_and_hmac_tokens_are_refused_before_any_key_is_fetched() {
    // The provider's address answers nothing: a refusal that needed a key would be
    // a 503, not these 401s.
    let oidc = Oidc::new(settings()).unwrap();
    let claims = json!({ "sub": "alice", "iss": "http://127.0.0.1:9", "aud": "dockwright", "exp": 4_000_000_000u64 });
    for (alg, needle) in [
        (json!("none"), "alg: none"),
        (json!("NONE"), "alg: none"),
        (Value::Null, "alg: none"),
        (json!("HS256"), "HMAC"),
        (json!("RS512"), "not one of the accepted"),
        (json!("XX1"), "not one of the accepted"),
    ] {
        let refused = oidc
            .verify(&token(json!({ "alg": alg, "kid": "k1" }), claims.clone()))
            .await
            .unwrap_err();
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{alg}");
        assert!(
            refused.message.contains(needle),
            "{alg}: {}",
            refused.message
        );
    }
    for garbage in ["abc", "a.b", "a.b.c.d", "!!.e30.x"] {
        let refused = oidc.verify(garbage).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{garbage}");
    }
    let long = "a".repeat(MAX_TOKEN + 1);
    assert!(oidc
        .verify(&long)
        .await
        .unwrap_err()
        .message
        .contains("longer"));
    // A well-formed RS256 token needs the provider's keys: it cannot answer, so the
    // server cannot check, and says so.
    let refused = oidc
        .verify(&token(json!({ "alg": "RS256", "kid": "k1" }), claims))
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused.message.contains("does not answer"),
        "{}",
        refused.message
    );
}

fn jwk(value: Value) -> Jwk {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_key_verifies_only_its_own_algorithm() {
    let rsa = json!({ "kty": "RSA", "kid": "r", "n": "sXch", "e": "AQAB" });
    assert!(check_key(&jwk(rsa.clone()), Algorithm::RS256).is_ok());
    assert!(check_key(&jwk(rsa.clone()), Algorithm::PS384).is_ok());
    assert!(check_key(&jwk(rsa.clone()), Algorithm::ES256).is_err());
    let mut pinned = rsa;
    pinned["alg"] = json!("RS256");
    assert!(check_key(&jwk(pinned.clone()), Algorithm::RS256).is_ok());
    let err = check_key(&jwk(pinned), Algorithm::RS512).unwrap_err();
    assert!(
        err.message.contains("key is for `RS256`"),
        "{}",
        err.message
    );
    let ec = json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA" });
    assert!(check_key(&jwk(ec.clone()), Algorithm::ES256).is_ok());
    assert!(check_key(&jwk(ec), Algorithm::RS256).is_err());
    // A shared secret published as a key is never used to verify anything.
    let oct = json!({ "kty": "oct", "k": "c2VjcmV0" });
    assert!(check_key(&jwk(oct), Algorithm::RS256).is_err());
}

#[test]
fn the_person_is_sub_with_a_name_and_groups() {
    let v = verified(
        &json!({ "sub": "u-1", "email": "alice@example.test", "preferred_username": "alice",
                 "groups": ["eng-blue"], "exp": 5, "nonce": "n" }),
        "groups",
    )
    .unwrap();
    assert_eq!(v.person.id, "u-1");
    assert_eq!(v.person.name.as_deref(), Some("alice@example.test"));
    assert_eq!(v.groups, ["eng-blue"]);
    assert_eq!((v.expires, v.nonce.as_deref()), (5, Some("n")));
    let v = verified(
        &json!({ "sub": "u-2", "preferred_username": "bob" }),
        "groups",
    )
    .unwrap();
    assert_eq!(v.person.name.as_deref(), Some("bob"));
    assert!(v.groups.is_empty());
    for bad in [
        json!({}),
        json!({ "sub": "" }),
        json!({ "sub": 7 }),
        json!({ "sub": "a\nb" }),
        json!({ "sub": "x".repeat(256) }),
    ] {
        assert!(verified(&bad, "groups").is_err(), "{bad}");
    }
}
