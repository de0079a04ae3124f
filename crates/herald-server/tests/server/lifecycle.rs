use crate::helpers::*;
use herald_core::ids::*;
use herald_store::{RefState, Source, TeamState, WelcomeStatus};
use serde_json::{json, Value};

async fn personal_lifecycle(backend: Backend) {
    let env = Env::start(backend, 5, &[]).await;
    let t = env.tenant().await;
    let user = &t["users"][0];
    let (upn, aad) = (
        user["upn"].as_str().unwrap(),
        user["aadObjectId"].as_str().unwrap(),
    );
    env.control(&format!("/users/{upn}/install"), json!({}))
        .await;
    env.eventually("the welcome", || async {
        env.bot_messages(upn).await.len() == 1
    })
    .await;
    let r = env.reference(aad).await.unwrap();
    assert_eq!(r.state, RefState::Active);
    assert_eq!(r.reference.user_id, user["id"].as_str().unwrap());
    assert_eq!(r.reference.bot_id, format!("28:{}", env.emu.app_id()));
    assert_eq!(r.reference.service_url, env.emu.service_url());
    assert_eq!(r.reference.channel_id, "msteams");
    assert_eq!(r.reference.conversation_type, "personal");
    assert_eq!(r.reference.locale.as_deref(), Some("en-US"));
    assert_eq!(r.reference.source, Source::PersonalInstall);
    let welcome = &env.bot_messages(upn).await[0];
    let first = user["displayName"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        welcome["text"].as_str().unwrap().contains(first),
        "{welcome}"
    );
    env.eventually("welcome recorded", || async {
        env.reference(aad).await.unwrap().welcome == WelcomeStatus::Sent
    })
    .await;

    // Writing to the bot makes the chat active and gets a short answer.
    env.control(
        &format!("/users/{upn}/messages"),
        json!({"text": "what is this?"}),
    )
    .await;
    env.eventually("the reply", || async {
        env.bot_messages(upn).await.len() == 2
    })
    .await;
    assert!(env.reference(aad).await.unwrap().last_active_at.is_some());
    let reply = &env.bot_messages(upn).await[1];
    assert!(reply["text"].as_str().unwrap().contains("notifications"));

    env.control(&format!("/users/{upn}/uninstall"), json!({}))
        .await;
    let r = env.reference(aad).await.unwrap();
    assert_eq!(
        (r.state, r.unreachable_reason.as_deref()),
        (RefState::Unreachable, Some("uninstalled"))
    );
    env.control(&format!("/users/{upn}/install"), json!({}))
        .await;
    assert_eq!(env.reference(aad).await.unwrap().state, RefState::Active);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        env.bot_messages(upn).await.len(),
        2,
        "no second welcome on reinstall"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_install_message_uninstall_sqlite() {
    personal_lifecycle(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_install_message_uninstall_postgres() {
    if postgres_url().is_some() {
        personal_lifecycle(Backend::Postgres).await;
    }
}

async fn team_lifecycle(backend: Backend) {
    let env = Env::start(backend, 10, &[]).await;
    let t = env.tenant().await;
    let team = t["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Leadership")
        .unwrap()
        .clone();
    let team_id = team["id"].as_str().unwrap();
    let enc = |s: &str| s.replace(':', "%3A").replace('@', "%40");
    env.control(&format!("/teams/{}/install", enc(team_id)), json!({}))
        .await;
    let stored = env
        .store()
        .get_team(
            &TenantId::parse(env.emu.tenant_id()).unwrap(),
            &ConversationId::parse(team_id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, TeamState::Active);
    assert_eq!(stored.team.general_channel_id, team_id);
    assert_eq!(
        stored.team.aad_group_id.as_deref(),
        team["aadGroupId"].as_str()
    );
    assert_eq!(stored.team.name.as_deref(), Some("Leadership"));

    let joiner = &t["users"][8];
    env.control(
        &format!("/teams/{}/members", enc(team_id)),
        json!({"user": joiner["upn"]}),
    )
    .await;
    let r = env
        .reference(joiner["aadObjectId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.reference.source, Source::TeamMember);
    assert_eq!(
        r.reference.conversation_id, None,
        "known through the team; no 1:1 yet"
    );
    assert_eq!(
        r.welcome,
        WelcomeStatus::None,
        "a team member gets no personal welcome"
    );

    env.control(&format!("/teams/{}/delete", enc(team_id)), json!({}))
        .await;
    let s = env
        .store()
        .get_team(
            &TenantId::parse(env.emu.tenant_id()).unwrap(),
            &ConversationId::parse(team_id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.state, TeamState::Deleted);
    env.control(&format!("/teams/{}/restore", enc(team_id)), json!({}))
        .await;
    let s = env
        .store()
        .get_team(
            &TenantId::parse(env.emu.tenant_id()).unwrap(),
            &ConversationId::parse(team_id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.state, TeamState::Active);
    env.control(&format!("/teams/{}/uninstall", enc(team_id)), json!({}))
        .await;
    let s = env
        .store()
        .get_team(
            &TenantId::parse(env.emu.tenant_id()).unwrap(),
            &ConversationId::parse(team_id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.state, TeamState::Removed);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_install_members_delete_restore_sqlite() {
    team_lifecycle(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_install_members_delete_restore_postgres() {
    if postgres_url().is_some() {
        team_lifecycle(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_concurrent_installs_welcome_once_and_welcomes_respect_the_rate_limits() {
    let env = Env::start(Backend::Sqlite, 30, &[("HERALD_TENANT_RPS", "10")]).await;
    // Teams (the emulator) enforces the same budget Herald paces to.
    let r = env
        .http
        .put(format!("{}/_emulator/config", env.emu.origin()))
        .json(&json!({"tenantRps": 10}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let t = env.tenant().await;
    let upns: Vec<String> = (0..20)
        .map(|i| t["users"][i]["upn"].as_str().unwrap().to_owned())
        .collect();
    // Every user installs three times at once.
    let mut tasks = Vec::new();
    for upn in &upns {
        for _ in 0..3 {
            let (http, origin, upn) = (env.http.clone(), env.emu.origin().to_owned(), upn.clone());
            tasks.push(tokio::spawn(async move {
                http.post(format!("{origin}/_emulator/users/{upn}/install"))
                    .send()
                    .await
                    .unwrap()
            }));
        }
    }
    for task in tasks {
        assert!(task.await.unwrap().status().is_success());
    }
    for upn in &upns {
        env.eventually("every welcome", || async {
            !env.bot_messages(upn).await.is_empty()
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for upn in &upns {
        assert_eq!(env.bot_messages(upn).await.len(), 1, "{upn}: one welcome");
    }
    let stats: Value = env.emulator_stats().await;
    // Herald paces one slot every 101 ms; scheduling jitter on this 2-core machine can still put
    // one extra arrival into some second, which Teams would answer 429 and Herald would retry.
    assert!(
        stats["maxRequestsIn1s"]["tenant"].as_u64().unwrap() <= 11,
        "welcomes paced to tenant_rps: {stats}"
    );
    assert!(stats["throttled"].as_u64().unwrap() <= 1, "{stats}");
    assert_eq!(
        stats["requests"]["POST /v3/conversations/{cid}/activities"]["201"],
        20
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_user_is_marked_unreachable_by_the_failed_welcome_and_welcomed_after() {
    let env = Env::start(Backend::Sqlite, 3, &[]).await;
    let t = env.tenant().await;
    let (upn, aad) = (
        t["users"][1]["upn"].as_str().unwrap(),
        t["users"][1]["aadObjectId"].as_str().unwrap(),
    );
    env.control(&format!("/users/{upn}/block"), json!({})).await;
    env.control(&format!("/users/{upn}/install"), json!({}))
        .await;
    env.eventually("marked blocked", || async {
        env.reference(aad)
            .await
            .is_some_and(|r| r.unreachable_reason.as_deref() == Some("blocked"))
    })
    .await;
    assert!(env.bot_messages(upn).await.is_empty());
    env.control(&format!("/users/{upn}/unblock"), json!({}))
        .await;
    // A reinstall (Teams' event) makes the reference active; the welcome they never got goes out.
    env.control(&format!("/users/{upn}/install"), json!({}))
        .await;
    env.eventually("the delayed welcome", || async {
        env.bot_messages(upn).await.len() == 1
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_card_is_sent_when_configured_and_an_empty_text_turns_welcomes_off() {
    let dir = std::env::temp_dir().join(format!("herald-welcome-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let card = dir.join("welcome.json");
    std::fs::write(&card, r#"{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Welcome aboard"}]}"#).unwrap();
    let env = Env::start(
        Backend::Sqlite,
        3,
        &[("HERALD_WELCOME_CARD", card.to_str().unwrap())],
    )
    .await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    env.eventually("the card", || async {
        env.bot_messages("user1@sandbox.example").await.len() == 1
    })
    .await;
    let m = &env.bot_messages("user1@sandbox.example").await[0];
    assert_eq!(
        m["attachments"][0]["content"]["body"][0]["text"],
        "Welcome aboard"
    );
    env.shutdown().await;

    let env = Env::start(Backend::Sqlite, 3, &[("HERALD_WELCOME_TEXT", "")]).await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(env.bot_messages("user1@sandbox.example").await.is_empty());
    env.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_welcome_speaks_the_language_of_each_persons_teams() {
    let dir = std::env::temp_dir().join(format!("herald-locale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald.toml");
    std::fs::write(
        &file,
        "[manifest.localization.fr-fr]\nwelcome_text = \"Bonjour {user}, ici {bot}.\"\n\
         [manifest.localization.de]\nwelcome_text = \"Hallo {user}!\"\n",
    )
    .unwrap();
    let env = Env::start(Backend::Sqlite, 3, &[(CONFIG_FILE, file.to_str().unwrap())]).await;
    let t = env.tenant().await;
    let person = |i: usize| {
        let u = &t["users"][i];
        let first = u["displayName"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned();
        (
            u["upn"].as_str().unwrap().to_owned(),
            u["aadObjectId"].as_str().unwrap().to_owned(),
            first,
        )
    };
    let (fr, de, en) = (person(0), person(1), person(2));
    env.user_settings(&fr.0, json!({"locale": "fr-FR"})).await;
    env.user_settings(&de.0, json!({"locale": "de-AT"})).await;
    for p in [&fr, &de, &en] {
        env.control(&format!("/users/{}/install", p.0), json!({}))
            .await;
    }
    env.eventually("three welcomes", || async {
        let mut n = 0;
        for p in [&fr, &de, &en] {
            n += env.bot_messages(&p.0).await.len();
        }
        n == 3
    })
    .await;
    let mut texts = Vec::new();
    for p in [&fr, &de, &en] {
        let m = env.bot_messages(&p.0).await;
        texts.push(m[0]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(texts[0], format!("Bonjour {}, ici Herald Sandbox.", fr.2));
    assert_eq!(
        texts[1],
        format!("Hallo {}!", de.2),
        "de-AT takes the language's"
    );
    assert!(
        texts[2].starts_with(&format!("Hi {}, I'm", en.2)),
        "{}",
        texts[2]
    );
    assert_eq!(
        env.reference(&fr.1)
            .await
            .unwrap()
            .reference
            .locale
            .as_deref(),
        Some("fr-FR")
    );
    // A tag the emulator refuses is named.
    let r = env
        .http
        .put(format!(
            "{}/_emulator/users/{}/settings",
            env.emu.origin(),
            en.0
        ))
        .json(&json!({"locale": "fr_FR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    env.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
