use crate::helpers::*;
use serde_json::{json, Value};

async fn token_request(env: &Env, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = env
        .http
        .post(env.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn token_endpoint_issues_tokens_and_answers_bad_clients_as_aad_does() {
    let env = Env::start(5).await;
    let ok = [
        ("grant_type", "client_credentials"),
        ("client_id", APP_ID),
        ("client_secret", APP_PASSWORD),
        ("scope", "https://api.botframework.com/.default"),
    ];
    let (status, v) = token_request(&env, "botframework.com", &ok).await;
    assert_eq!(status, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["access_token"].as_str().unwrap().split('.').count(), 3);

    let mut wrong_secret = ok;
    wrong_secret[2].1 = "not-the-secret";
    let (status, v) = token_request(&env, "botframework.com", &wrong_secret).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"], json!([7000215]));
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215:"));
    assert!(
        !v.to_string().contains("not-the-secret"),
        "the secret is never echoed"
    );

    let mut unknown = ok;
    unknown[1].1 = "00000000-0000-0000-0000-000000000000";
    let (status, v) = token_request(&env, "botframework.com", &unknown).await;
    assert_eq!(
        (status, v["error"].as_str().unwrap()),
        (400, "unauthorized_client")
    );

    let mut scope = ok;
    scope[3].1 = "https://api.botframework.com";
    let (status, v) = token_request(&env, "botframework.com", &scope).await;
    assert_eq!(
        (status, v["error"].as_str().unwrap()),
        (400, "invalid_scope")
    );

    let mut grant = ok;
    grant[0].1 = "authorization_code";
    let (status, v) = token_request(&env, "botframework.com", &grant).await;
    assert_eq!(
        (status, v["error"].as_str().unwrap()),
        (400, "unsupported_grant_type")
    );

    let (status, v) = token_request(&env, "contoso.example", &ok).await;
    assert_eq!(
        (status, v["error_codes"][0].as_u64().unwrap()),
        (400, 90002)
    );

    let r = env
        .http
        .post(env.url("/botframework.com/oauth2/v2.0/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "JSON is not a form");

    let user = [
        ("grant_type", "password"),
        ("client_id", APP_ID),
        ("username", "user1@sandbox.example"),
        ("password", "wrong"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let (status, v) = token_request(&env, &env.emu.tenant_id(), &user).await;
    assert_eq!(
        (status, v["error"].as_str().unwrap()),
        (400, "invalid_grant")
    );
}

#[tokio::test]
async fn openid_metadata_points_at_endorsed_keys_and_rotation_keeps_the_old_key() {
    let env = Env::start(3).await;
    let meta = env.get("/v1/.well-known/openidconfiguration").await;
    assert_eq!(meta["issuer"], "https://api.botframework.com");
    let jwks_uri = meta["jwks_uri"].as_str().unwrap();
    assert!(jwks_uri.starts_with(env.emu.origin()));
    let keys: Value = env
        .http
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let first = keys["keys"][0].clone();
    assert_eq!(first["kty"], "RSA");
    assert_eq!(first["endorsements"], json!(["msteams"]));

    // The bot's token before the rotation names the first key.
    let (upn, ..) = env.user(1).await;
    env.install(&upn).await;
    let before = env.bot.received.lock()[0].authorization.clone();
    let kid_of = |auth: &str| {
        let token = auth.strip_prefix("Bearer ").unwrap();
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    };
    assert_eq!(kid_of(&before), first["kid"].as_str().unwrap());

    let r = env.control("/_emulator/keys/rotate", json!({})).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let keys = env.get("/v1/.well-known/keys").await;
    let kids: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "the old key stays published");
    assert_eq!(kids[0], rotated["kid"].as_str().unwrap());
    assert_eq!(kids[1], first["kid"].as_str().unwrap());

    env.control(&format!("/_emulator/users/{upn}/uninstall"), json!({}))
        .await;
    let after = env
        .bot
        .received
        .lock()
        .last()
        .unwrap()
        .authorization
        .clone();
    assert_eq!(
        kid_of(&after),
        kids[0],
        "activities are signed with the new key"
    );

    // Tokens issued before the rotation still open the connector.
    let token = env.token().await;
    env.control("/_emulator/keys/rotate", json!({})).await;
    let (_, _, id) = env.user(2).await;
    env.install("user2@sandbox.example").await;
    assert!(env
        .create_conversation(&token, &id)
        .await
        .status()
        .is_success());
}

#[tokio::test]
async fn connector_requires_a_live_bot_framework_token_of_a_registered_enabled_bot() {
    let env = Env::start(3).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    let send = |auth: Option<String>| {
        let mut r = env
            .http
            .post(env.url(&format!("/v3/conversations/{}/activities", enc(&conv))))
            .json(&json!({"type": "message", "text": "hi"}));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    assert_eq!(
        code_of(send(None).await.unwrap()).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        code_of(send(Some("Bearer not.a.jwt".into())).await.unwrap()).await,
        (401, "Unauthorized".into())
    );
    let graph = env.graph_token().await;
    assert_eq!(
        code_of(send(Some(format!("Bearer {graph}"))).await.unwrap()).await,
        (401, "Unauthorized".into()),
        "a Graph token does not open the connector"
    );
    // A payload swapped under a valid signature is refused.
    let (p, g): (Vec<&str>, Vec<&str>) = (token.split('.').collect(), graph.split('.').collect());
    let tampered = format!("{}.{}.{}", p[0], g[1], p[2]);
    assert_eq!(
        send(Some(format!("Bearer {tampered}")))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send(Some(format!("Bearer {token}")))
            .await
            .unwrap()
            .status(),
        201
    );

    env.set_config(json!({"botRegistered": false})).await;
    assert_eq!(
        code_of(send(Some(format!("Bearer {token}"))).await.unwrap()).await,
        (401, "BotNotRegistered".into())
    );
    env.set_config(json!({"botRegistered": true, "botDisabled": true}))
        .await;
    assert_eq!(
        code_of(send(Some(format!("Bearer {token}"))).await.unwrap()).await,
        (403, "BotDisabledByAdmin".into())
    );
    env.set_config(json!({"botDisabled": false})).await;

    env.advance(3600.0);
    assert_eq!(
        send(Some(format!("Bearer {token}")))
            .await
            .unwrap()
            .status(),
        401,
        "tokens expire after an hour of the emulator's clock"
    );
    let fresh = env.token().await;
    assert_eq!(
        send(Some(format!("Bearer {fresh}")))
            .await
            .unwrap()
            .status(),
        201
    );
}
