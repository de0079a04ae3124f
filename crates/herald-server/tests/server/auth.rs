use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use herald_core::ManualClock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::Duration;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Sends `activity` with `token` and asserts 401 and that nothing was stored.
async fn refused(env: &Env, token: Option<&str>, activity: &Value, why: &str) {
    let r = env.post_activity(token, activity).await;
    assert_eq!(r.status(), 401, "{why}");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "{why}"
    );
    let aad = activity["from"]["aadObjectId"].as_str().unwrap();
    assert!(
        env.reference(aad).await.is_none(),
        "{why}: nothing may be stored"
    );
}

fn foreign_key_token(claims: &Value, kid: &str) -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

#[tokio::test]
async fn each_broken_rule_alone_gets_401_and_stores_nothing() {
    let env = Env::start(Backend::Sqlite, 2, &[("HERALD_WELCOME_TEXT", "")]).await;
    let good = env.emu.sign(&channel_claims(&env));
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = channel_claims(&env);
        f(&mut c);
        env.emu.sign(&c)
    };
    let now = herald_core::Clock::now_secs(&herald_core::SystemClock) as i64;
    let mut n = 0u64;
    let mut next = || {
        n += 1;
        install_activity(&env, n)
    };

    refused(&env, None, &next(), "no token").await;
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&channel_claims(&env))
    );
    refused(&env, Some(&none), &next(), "alg none").await;
    // The classic confusion: HS256 keyed with the RSA public key's bytes.
    let jwks: Value = env
        .http
        .get(format!("{}/v1/.well-known/keys", env.emu.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_n = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["n"].as_str().unwrap())
        .unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    let confused = jsonwebtoken::encode(
        &hs,
        &channel_claims(&env),
        &EncodingKey::from_secret(&public_n),
    )
    .unwrap();
    refused(&env, Some(&confused), &next(), "HS256 with the public key").await;
    let parts: Vec<&str> = good.split('.').collect();
    let mut bigger = channel_claims(&env);
    bigger["aud"] = json!("someone-else");
    let tampered = format!("{}.{}.{}", parts[0], b64(&bigger), parts[2]);
    refused(&env, Some(&tampered), &next(), "tampered payload").await;
    refused(
        &env,
        Some(&with(&|c| c["exp"] = json!(now - 400))),
        &next(),
        "expired beyond the 300 s skew",
    )
    .await;
    refused(
        &env,
        Some(&with(&|c| c["nbf"] = json!(now + 400))),
        &next(),
        "nbf in the future beyond skew",
    )
    .await;
    refused(
        &env,
        Some(&with(&|c| {
            c["iss"] = json!("https://sts.windows.net/evil/")
        })),
        &next(),
        "wrong iss",
    )
    .await;
    refused(
        &env,
        Some(&with(&|c| c["aud"] = json!("another-bot"))),
        &next(),
        "wrong aud",
    )
    .await;
    refused(
        &env,
        Some(&foreign_key_token(&channel_claims(&env), "not-published")),
        &next(),
        "unknown kid",
    )
    .await;
    refused(
        &env,
        Some(&foreign_key_token(&channel_claims(&env), &kid)),
        &next(),
        "a known kid, another key's signature",
    )
    .await;
    refused(
        &env,
        Some(&with(&|c| {
            c["serviceurl"] = json!("https://smba.trafficmanager.net/teams/")
        })),
        &next(),
        "serviceurl claim mismatch",
    )
    .await;
    let mut webchat = next();
    webchat["channelId"] = json!("webchat");
    refused(
        &env,
        Some(&good),
        &webchat,
        "the key does not endorse the channel",
    )
    .await;
    let evil = "https://evil.example/";
    let mut outside = next();
    outside["serviceUrl"] = json!(evil);
    refused(
        &env,
        Some(&with(&|c| c["serviceurl"] = json!(evil))),
        &outside,
        "serviceUrl outside the allow-list",
    )
    .await;

    // Inside the 300 s skew, and the genuine article, are accepted.
    let a = next();
    assert_eq!(
        env.post_activity(Some(&with(&|c| c["exp"] = json!(now - 100))), &a)
            .await
            .status(),
        200
    );
    let b = next();
    assert_eq!(env.post_activity(Some(&good), &b).await.status(), 200);
    let stored = env
        .reference(b["from"]["aadObjectId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.reference.conversation_id.as_deref(),
        b["conversation"]["id"].as_str()
    );
    env.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_get_413_400_and_415() {
    let env = Env::start(Backend::Sqlite, 1, &[]).await;
    let good = env.emu.sign(&channel_claims(&env));
    let url = format!("{}/api/messages", env.base);
    let big = format!(
        "{{\"type\":\"message\",\"text\":\"{}\"}}",
        "x".repeat(1_100_000)
    );
    let r = env
        .http
        .post(&url)
        .bearer_auth(&good)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = env
        .http
        .post(&url)
        .bearer_auth(&good)
        .header("content-type", "application/json")
        .body("{\"type\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("not an activity"));
    let r = env
        .http
        .post(&url)
        .bearer_auth(&good)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = env
        .http
        .post(&url)
        .bearer_auth(&good)
        .json(&json!({"text": "no type"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    env.shutdown().await;
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_keys_at_most_hourly_and_they_refresh_daily() {
    let clock = ManualClock::starting_now();
    let env = Env::start_with_clock(
        Backend::Sqlite,
        2,
        &[("HERALD_WELCOME_TEXT", "")],
        clock.clone(),
    )
    .await;
    let fetches = || async {
        let s: Value = env.emulator_stats().await;
        s["requests"]["GET /v1/.well-known/keys"]["received"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(fetches().await, 1, "loaded at start-up");
    let claims = || {
        let now = herald_core::Clock::now_secs(&*clock);
        json!({"iss": "https://api.botframework.com", "aud": env.emu.app_id(), "exp": now + 3600, "nbf": now, "serviceurl": env.emu.service_url()})
    };
    for n in 1..=3 {
        let t = foreign_key_token(&claims(), &format!("forged-{n}"));
        assert_eq!(
            env.post_activity(Some(&t), &install_activity(&env, n))
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        fetches().await,
        1,
        "forged kids do not make Herald fetch keys again within the hour"
    );

    // The emulator rotates: its new kid is unknown to Herald until an hour after the last fetch.
    env.control("/keys/rotate", json!({})).await;
    let rotated = env.emu.sign(&claims());
    assert_eq!(
        env.post_activity(Some(&rotated), &install_activity(&env, 10))
            .await
            .status(),
        401
    );
    clock.advance(Duration::from_secs(3600));
    let rotated = env.emu.sign(&claims());
    assert_eq!(
        env.post_activity(Some(&rotated), &install_activity(&env, 11))
            .await
            .status(),
        200
    );
    assert_eq!(fetches().await, 2);

    clock.advance(Duration::from_secs(24 * 3600));
    let fresh = env.emu.sign(&claims());
    assert_eq!(
        env.post_activity(Some(&fresh), &install_activity(&env, 12))
            .await
            .status(),
        200
    );
    assert_eq!(
        fetches().await,
        3,
        "a day-old key set is refreshed even for a known kid"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn readyz_says_what_is_missing() {
    let mut env = Env::start(Backend::Sqlite, 1, &[]).await;
    let r = env
        .http
        .get(format!("{}/readyz", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = env
        .http
        .get(format!("{}/healthz", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    // Keys that cannot be fetched: live, but not ready.
    env.vars.insert(
        "HERALD_OPENID_METADATA_URL".into(),
        "http://127.0.0.1:9/nothing".into(),
    );
    env.restart().await;
    let r = env
        .http
        .get(format!("{}/readyz", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("signing keys"));
    assert_eq!(
        env.http
            .get(format!("{}/healthz", env.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    env.shutdown().await;
}

#[tokio::test]
async fn auth_disabled_accepts_tokenless_activities_but_not_foreign_service_urls() {
    let env = Env::start(
        Backend::Sqlite,
        1,
        &[("HERALD_AUTH_DISABLED", "1"), ("HERALD_WELCOME_TEXT", "")],
    )
    .await;
    let a = install_activity(&env, 1);
    assert_eq!(env.post_activity(None, &a).await.status(), 200);
    assert!(env
        .reference(a["from"]["aadObjectId"].as_str().unwrap())
        .await
        .is_some());
    let mut evil = install_activity(&env, 2);
    evil["serviceUrl"] = json!("https://evil.example/");
    refused(
        &env,
        None,
        &evil,
        "no token, and a host Herald would never send its token to",
    )
    .await;
    env.shutdown().await;
}

#[tokio::test]
async fn a_government_cloud_takes_teams_tokens_from_its_own_issuer_only() {
    // Everything else still points at the emulator (its settings win over the cloud's defaults).
    let env = Env::start(
        Backend::Sqlite,
        2,
        &[("HERALD_WELCOME_TEXT", ""), ("HERALD_CLOUD", "gcch")],
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |iss: &str| json!({"iss": iss, "aud": env.emu.app_id(), "exp": now + 3600, "nbf": now, "serviceurl": env.emu.service_url()});
    // The public cloud's issuer, genuinely signed: not this cloud's Bot Connector.
    let public = env.emu.sign(&claims("https://api.botframework.com"));
    refused(
        &env,
        Some(&public),
        &install_activity(&env, 1),
        "the public cloud's issuer in GCC High",
    )
    .await;
    let gov = env.emu.sign(&claims("https://api.botframework.us"));
    assert_eq!(
        env.post_activity(Some(&gov), &install_activity(&env, 2))
            .await
            .status(),
        200
    );
    env.shutdown().await;
}
