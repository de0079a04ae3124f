//! Opting out by category: `stop …` / `start …` written to the bot, and `/v1/preferences`.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

fn row_of(rows: &[Value], recipient: &str) -> Value {
    rows.iter()
        .find(|r| r["recipient"] == recipient)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {recipient}: {rows:?}"))
}

/// Sends `text` in `category` (None: uncategorised) to `to` and waits for it to finish.
async fn send(
    env: &Env,
    to: &[&str],
    text: &str,
    category: Option<&str>,
) -> (Value, Vec<Value>, String) {
    let mut body = json!({"to": {"users": to}, "message": {"text": text}});
    if let Some(c) = category {
        body["options"] = json!({"category": c});
    }
    let n = notify(env, body).await;
    let id = n["id"].as_str().unwrap().to_owned();
    let done = finished(env, &id).await;
    (done["counts"].clone(), rows(env, &id).await, id)
}

/// The bot's messages to `upn` whose text contains `needle`.
async fn received(env: &Env, upn: &str, needle: &str) -> usize {
    env.bot_messages(upn)
        .await
        .iter()
        .filter(|m| m["text"].as_str().is_some_and(|t| t.contains(needle)))
        .count()
}

/// `upn` writes `text` to the bot; returns the bot's answer.
async fn write(env: &Env, upn: &str, text: &str) -> String {
    let before = env.bot_messages(upn).await.len();
    env.control(&format!("/users/{upn}/messages"), json!({"text": text}))
        .await;
    env.eventually("the bot's answer", || async {
        env.bot_messages(upn).await.len() > before
    })
    .await;
    env.bot_messages(upn).await[before]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn preferences(env: &Env, upn: &str) -> Vec<String> {
    let v = env.api_get(&format!("/v1/preferences/{upn}")).await;
    serde_json::from_value(v["optedOut"].clone()).unwrap()
}

async fn opt_outs_by_category(backend: Backend) {
    let env = Env::start(backend, 3, &[("HERALD_WELCOME_TEXT", "")]).await;
    let t = env.tenant().await;
    let upn = |i: usize| t["users"][i]["upn"].as_str().unwrap().to_owned();
    let (ada, bob) = (upn(0), upn(1));
    install_and_wait(&env, &[&ada, &bob]).await;

    // `stop payroll`: confirmed, and the next payroll notification skips Ada, not Bob.
    let answer = write(&env, &ada, "Stop Payroll").await;
    assert!(answer.contains("won't get payroll"), "{answer}");
    assert!(answer.contains("start payroll"), "{answer}");
    assert_eq!(preferences(&env, &ada).await, ["payroll"]);
    let (counts, rows, _) = send(
        &env,
        &[&ada, &bob],
        "Your payslip is ready",
        Some("payroll"),
    )
    .await;
    assert_eq!(
        (counts["delivered"].as_u64(), counts["optedOut"].as_u64()),
        (Some(1), Some(1)),
        "{counts}"
    );
    let ada_row = row_of(&rows, &ada);
    assert_eq!(ada_row["outcome"], "skipped");
    assert_eq!(ada_row["reason"], "opted_out");
    assert_eq!(ada_row["statusCode"], Value::Null);
    assert_eq!(ada_row["attempts"], 0);
    assert_eq!(row_of(&rows, &bob)["outcome"], "delivered");
    assert_eq!(received(&env, &ada, "payslip").await, 0);
    assert_eq!(received(&env, &bob, "payslip").await, 1);

    // Another category, and a notification without one, reach her.
    let (counts, _, _) = send(&env, &[&ada], "Town hall at 3", Some("news")).await;
    assert_eq!(counts["delivered"], 1, "{counts}");
    let (counts, _, _) = send(&env, &[&ada], "The office is closed today", None).await;
    assert_eq!(counts["delivered"], 1, "{counts}");

    // `start payroll` restores it.
    let answer = write(&env, &ada, "start payroll").await;
    assert!(answer.contains("payroll notifications again"), "{answer}");
    assert!(preferences(&env, &ada).await.is_empty());
    let (counts, _, _) = send(&env, &[&ada], "Your second payslip", Some("PAYROLL")).await;
    assert_eq!(counts["delivered"], 1, "{counts}");
    assert_eq!(received(&env, &ada, "second payslip").await, 1);

    // `stop all` covers every category but not what has none; `start news` alone cannot undo it.
    let answer = write(&env, &ada, "stop all").await;
    assert!(answer.contains("any category"), "{answer}");
    let (counts, _, _) = send(&env, &[&ada], "More news", Some("news")).await;
    assert_eq!(counts["optedOut"], 1, "{counts}");
    let (counts, _, _) = send(&env, &[&ada], "Fire drill at noon", None).await;
    assert_eq!(counts["delivered"], 1, "{counts}");
    let answer = write(&env, &ada, "start news").await;
    assert!(answer.contains("start all"), "{answer}");
    assert_eq!(preferences(&env, &ada).await, ["all"]);
    let answer = write(&env, &ada, "start all").await;
    assert!(answer.contains("every category again"), "{answer}");
    assert!(preferences(&env, &ada).await.is_empty());

    // Something that is no category is explained, and changes nothing.
    let answer = write(&env, &ada, "stop pay$roll").await;
    assert!(
        answer.contains("pay$roll") && answer.contains("not a category"),
        "{answer}"
    );
    assert!(preferences(&env, &ada).await.is_empty());
    // An ordinary message still gets the usual answer, which now says how to stop.
    let answer = write(&env, &ada, "who are you?").await;
    assert!(answer.contains("stop all"), "{answer}");

    // An admin sets Bob's opt-outs; a news notification then skips him.
    let r = env
        .api(Method::PUT, &format!("/v1/preferences/{bob}"))
        .json(&json!({"optedOut": ["News", "it-outage"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["optedOut"], json!(["it-outage", "news"]));
    assert_eq!(v["aadObjectId"], t["users"][1]["aadObjectId"]);
    let (counts, _, _) = send(&env, &[&ada, &bob], "All hands", Some("news")).await;
    assert_eq!(
        (counts["delivered"].as_u64(), counts["optedOut"].as_u64()),
        (Some(1), Some(1)),
        "{counts}"
    );
    // By AAD object id too.
    let by_id = env
        .api_get(&format!(
            "/v1/preferences/{}",
            t["users"][1]["aadObjectId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id["optedOut"], json!(["it-outage", "news"]));

    // Hostile or wrong input: a problem naming what and where, never a 5xx.
    let put = |user: String, body: Value| {
        env.api(Method::PUT, &format!("/v1/preferences/{user}"))
            .json(&body)
            .send()
    };
    let r = put(bob.clone(), json!({"optedOut": ["ok", "no way"]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["pointer"], "/optedOut/1");
    let r = put("nobody@sandbox.example".into(), json!({"optedOut": []}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = env
        .api(Method::POST, "/v1/notifications")
        .json(&json!({"to": {"users": [&ada]}, "message": {"text": "x"}, "options": {"category": "all"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["pointer"], "/options/category");
    assert!(p["detail"].as_str().unwrap().contains("stop all"), "{p}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_opt_out_by_category_from_the_chat_and_the_api_sqlite() {
    opt_outs_by_category(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_opt_out_by_category_from_the_chat_and_the_api_postgres() {
    if postgres_url().is_some() {
        opt_outs_by_category(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_token_sets_preferences() {
    let env = Env::start(
        Backend::Sqlite,
        2,
        &[(
            "HERALD_API_TOKENS",
            "reader:read-secret:read,ops:ops-secret:admin",
        )],
    )
    .await;
    let t = env.tenant().await;
    let upn = t["users"][0]["upn"].as_str().unwrap();
    let path = format!("{}/v1/preferences/{upn}", env.base);
    let r = env
        .http
        .get(&path)
        .bearer_auth("read-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .put(&path)
        .bearer_auth("read-secret")
        .json(&json!({"optedOut": ["news"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "admin");
    let r = env
        .http
        .put(&path)
        .bearer_auth("ops-secret")
        .json(&json!({"optedOut": ["news"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.shutdown().await;
}

async fn erasure(backend: Backend) {
    let env = Env::start(backend, 3, &[("HERALD_WELCOME_TEXT", "")]).await;
    let t = env.tenant().await;
    let user = |i: usize| {
        (
            t["users"][i]["upn"].as_str().unwrap().to_owned(),
            t["users"][i]["aadObjectId"].as_str().unwrap().to_owned(),
        )
    };
    let ((ada, ada_aad), (bob, _)) = (user(0), user(1));
    install_and_wait(&env, &[&ada, &bob]).await;
    write(&env, &ada, "stop news").await;
    let (_, _, first_id) = send(&env, &[&ada, &bob], "Hello both", None).await;
    // A notification for later names her inline, with data of hers, and in a CSV.
    let later = notify(
        &env,
        json!({
            "to": {"users": [&ada, &bob], "csv": format!("upn,team\n{},red\n{bob},blue\n", ada.to_uppercase())},
            "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "${team}"}]},
                        "data": {(&ada): {"team": "red"}, (&bob): {"team": "blue"}}},
            "sendAt": "2099-01-01T00:00:00Z"
        }),
    )
    .await;
    let later_id = later["id"].as_str().unwrap().to_owned();

    let r = env
        .api(Method::DELETE, &format!("/v1/users/{ada}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    let erased = &report["erased"];
    assert_eq!(erased["references"], 1, "{report}");
    assert_eq!(erased["preferences"], 1, "{report}");
    assert_eq!(erased["deliveries"], 1, "{report}");
    assert_eq!(erased["notifications"], 2, "{report}");

    // What Herald kept of her is gone; the report still adds up.
    assert!(env.reference(&ada_aad).await.is_none());
    assert!(preferences(&env, &ada).await.is_empty());
    let s = env.api_get(&format!("/v1/notifications/{first_id}")).await;
    assert_eq!(s["counts"]["delivered"], 2, "{s}");
    let rows = rows(&env, &first_id).await;
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["recipient"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"erased") && names.contains(&bob.as_str()),
        "{names:?}"
    );
    let csv = report_csv(&env, &first_id).await;
    assert!(!csv.to_lowercase().contains(&ada.to_lowercase()), "{csv}");
    for id in [&first_id, &later_id] {
        let n = env
            .store()
            .get_notification(&herald_core::ids::NotificationId::parse(id.as_str()).unwrap())
            .await
            .unwrap()
            .unwrap();
        let text = n.request.to_lowercase();
        assert!(!text.contains(&ada.to_lowercase()), "{id}: {text}");
        assert!(!text.contains(&ada_aad.to_lowercase()), "{id}: {text}");
        assert!(text.contains(&bob.to_lowercase()), "{id}: Bob stays");
    }

    // Again: nothing left to erase.
    let again: Value = env
        .api(Method::DELETE, &format!("/v1/users/{ada}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for k in ["references", "preferences", "deliveries", "notifications"] {
        assert_eq!(again["erased"][k], 0, "{k}: {again}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_is_gone_from_references_rows_and_requests_sqlite() {
    erasure(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_is_gone_from_references_rows_and_requests_postgres() {
    if postgres_url().is_some() {
        erasure(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_erases_and_a_bad_name_is_a_422() {
    let env = Env::start(
        Backend::Sqlite,
        2,
        &[(
            "HERALD_API_TOKENS",
            "sender:send-secret:read+send,ops:ops-secret:admin",
        )],
    )
    .await;
    let t = env.tenant().await;
    let upn = t["users"][0]["upn"].as_str().unwrap();
    let del = |user: String, token: &'static str| {
        env.http
            .delete(format!("{}/v1/users/{user}", env.base))
            .bearer_auth(token)
            .send()
    };
    let r = del(upn.to_owned(), "send-secret").await.unwrap();
    assert_eq!(r.status(), 403);
    let r = del("a%0Ab".to_owned(), "ops-secret").await.unwrap();
    assert_eq!(r.status(), 422);
    let r = del(upn.to_owned(), "ops-secret").await.unwrap();
    assert_eq!(r.status(), 200);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_past_retention_are_purged_and_newer_ones_kept() {
    let clock = herald_core::ManualClock::new(1_800_000_000_000);
    let mut env = Env::start_with_clock(
        Backend::Sqlite,
        3,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_TENANT_RPS", "0"),
            ("HERALD_RETENTION_DAYS", "30"),
        ],
        clock.clone(),
    )
    .await;
    let t = env.tenant().await;
    let ada = t["users"][0]["upn"].as_str().unwrap().to_owned();
    install_and_wait(&env, &[&ada]).await;
    let (_, _, old) = send(&env, &[&ada], "Old news", None).await;
    clock.advance(std::time::Duration::from_secs(29 * 86_400));
    let (_, _, newer) = send(&env, &[&ada], "Newer news", None).await;
    // 31 days after the first finished, 2 after the second.
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    env.restart().await;
    let status = |id: String| {
        let env = &env;
        async move {
            env.api(Method::GET, &format!("/v1/notifications/{id}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    env.eventually("the old one purged", || async {
        status(old.clone()).await == 404
    })
    .await;
    assert_eq!(status(newer.clone()).await, 200);
    assert_eq!(rows(&env, &newer).await.len(), 1);
    env.shutdown().await;
}
