use crate::helpers::*;
use herald_core::ManualClock;
use herald_emulator::{Emulator, EmulatorOptions, TenantFile, TenantSpec};
use serde_json::{json, Value};

/// A tenant dumped by `GET /_emulator/tenant` loads back as a tenant file with the same people,
/// teams and groups; `installed`, `blocked` and `botInstalled` in the file take effect.
#[tokio::test]
async fn a_dumped_tenant_loads_back_and_its_states_take_effect() {
    let env = Env::start(30).await;
    let mut dump = env.tenant().await;
    dump["users"][0]["installed"] = json!(true);
    dump["users"][1]["installed"] = json!(true);
    dump["users"][1]["blocked"] = json!(true);
    let leadership = dump["teams"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["name"] == "Leadership")
        .unwrap();
    dump["teams"][leadership]["botInstalled"] = json!(true);
    let file: TenantFile = serde_json::from_value(dump.clone()).unwrap();

    let mut opts = EmulatorOptions::local(0);
    opts.tenant = TenantSpec::Inline(Box::new(file));
    opts.clock = ManualClock::starting_now();
    let emu = Emulator::start(opts).await.unwrap();
    let http = reqwest::Client::new();
    let loaded: Value = http
        .get(format!("{}/_emulator/tenant", emu.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in ["tenantId", "appId", "teamsAppId", "groups"] {
        assert_eq!(loaded[key], dump[key], "{key}");
    }
    let ids = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["upn"].clone(), u["aadObjectId"].clone(), u["id"].clone()))
            .collect()
    };
    assert_eq!(
        ids(&loaded),
        ids(&dump),
        "the same people with the same ids"
    );
    assert_eq!(loaded["users"][0]["installed"], true);
    assert_eq!(loaded["users"][1]["blocked"], true);
    assert_eq!(loaded["teams"][leadership]["botInstalled"], true);

    let token: Value = http
        .post(format!(
            "{}/botframework.com/oauth2/v2.0/token",
            emu.origin()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP_ID),
            ("client_secret", APP_PASSWORD),
            ("scope", "https://api.botframework.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let create = |member: Value| {
        http.post(format!("{}/v3/conversations", emu.origin()))
            .bearer_auth(token)
            .json(&json!({"members": [{"id": member}], "channelData": {"tenant": {"id": dump["tenantId"]}}}))
            .send()
    };
    assert!(
        create(dump["users"][0]["id"].clone())
            .await
            .unwrap()
            .status()
            .is_success(),
        "pre-installed"
    );
    let r = create(dump["users"][1]["id"].clone()).await.unwrap();
    let conv: Value = r.json().await.unwrap();
    let send = http
        .post(format!(
            "{}/v3/conversations/{}/activities",
            emu.origin(),
            enc(conv["id"].as_str().unwrap())
        ))
        .bearer_auth(token)
        .json(&json!({"type": "message", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(send).await,
        (403, "ConversationBlockedByUser".into()),
        "pre-blocked"
    );
    // A Leadership member who never installed is reachable through the team.
    let member = dump["teams"][leadership]["memberIds"][4].clone();
    assert!(create(member).await.unwrap().status().is_success());
    assert_eq!(
        code_of(create(dump["users"][20]["id"].clone()).await.unwrap())
            .await
            .0,
        403
    );
}
