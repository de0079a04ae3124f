//! Read receipts over the emulator: who has read a notification.

use crate::helpers::*;
use serde_json::{json, Value};

async fn send_text(env: &Env, to: &[String], text: &str) -> String {
    let n = notify(env, json!({"to": {"users": to}, "message": {"text": text}})).await;
    let id = n["id"].as_str().unwrap().to_owned();
    finished(env, &id).await;
    id
}

/// The id of the bot's message to `upn` whose text is `text`.
async fn message_id(env: &Env, upn: &str, text: &str) -> String {
    env.bot_messages(upn)
        .await
        .iter()
        .find(|m| m["text"] == text)
        .and_then(|m| m["id"].as_str())
        .unwrap_or_else(|| panic!("{upn} has no message {text:?}"))
        .to_owned()
}

async fn read(env: &Env, upn: &str, activity_id: Option<&str>) -> Value {
    let body = match activity_id {
        Some(id) => json!({"activityId": id}),
        None => json!({}),
    };
    env.control(&format!("/users/{upn}/read"), body).await
}

async fn seen(env: &Env, id: &str) -> u64 {
    env.api_get(&format!("/v1/notifications/{id}")).await["counts"]["seen"]
        .as_u64()
        .unwrap()
}

async fn receipts(backend: Backend) {
    let env = Env::start(backend, 12, &[("HERALD_WELCOME_TEXT", "")]).await;
    let t = env.tenant().await;
    let upns: Vec<String> = (0..12)
        .map(|i| t["users"][i]["upn"].as_str().unwrap().to_owned())
        .collect();
    install_and_wait(&env, &upns.iter().map(String::as_str).collect::<Vec<_>>()).await;
    // Two of the readers turned read receipts off.
    for u in &upns[6..8] {
        env.user_settings(u, json!({"readReceipts": false})).await;
    }
    let first = send_text(&env, &upns, "Quarterly results are out").await;
    assert_eq!(seen(&env, &first).await, 0);

    // Eight read it; the two without receipts never count.
    for u in &upns[..8] {
        let r = read(&env, u, None).await;
        assert_eq!(
            r["botResponse"].is_null(),
            upns[6..8].contains(u),
            "{u}: {r}"
        );
    }
    env.eventually("six seen", || async { seen(&env, &first).await == 6 })
        .await;
    let first_rows = rows(&env, &first).await;
    let read_by: Vec<&str> = first_rows
        .iter()
        .filter(|r| r["readAt"].is_string())
        .map(|r| r["recipient"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = upns[..6].iter().map(String::as_str).collect();
    let mut got = read_by.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    let s = env.api_get(&format!("/v1/notifications/{first}")).await;
    assert_eq!(
        s["counts"]["delivered"], 12,
        "seen is a subset of delivered: {s}"
    );

    // A second message: reading up to the first one leaves it unread; reading on marks it.
    let second = send_text(&env, &upns[..2], "Town hall moved to 4 pm").await;
    let older = message_id(&env, &upns[0], "Quarterly results are out").await;
    read(&env, &upns[0], Some(&older)).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        seen(&env, &second).await,
        0,
        "an older receipt marks nothing newer"
    );
    read(&env, &upns[0], None).await;
    env.eventually("the second seen", || async {
        seen(&env, &second).await == 1
    })
    .await;
    // Reading again, or an older receipt after a newer one, changes nothing.
    read(&env, &upns[0], None).await;
    read(&env, &upns[0], Some(&older)).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        (seen(&env, &first).await, seen(&env, &second).await),
        (6, 1)
    );

    // The report's CSV and /metrics say it too.
    let csv = report_csv(&env, &first).await;
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .ends_with(",readAt,reactions,recalledAt,recalledBy,editedAt,editedBy,remindedAt,dueAt"));
    // readAt, then empty reactions and remindedAt cells.
    let with_time = csv
        .lines()
        .skip(1)
        .filter(|l| l.ends_with("Z,,,,,,,"))
        .count();
    assert_eq!(with_time, 6, "{csv}");
    assert!(metrics(&env).await.contains("herald_reads_total 7"));

    // Reactions are counted on the row of the message reacted to.
    let ada = &upns[0];
    let older = message_id(&env, ada, "Quarterly results are out").await;
    let react = |reaction: &'static str, remove: bool| {
        let (env, upn, id) = (&env, ada.clone(), older.clone());
        async move {
            env.control(
                &format!("/users/{upn}/react"),
                json!({"activityId": id, "reaction": reaction, "remove": remove}),
            )
            .await;
        }
    };
    let reactions_of = |id: String| {
        let (env, upn) = (&env, ada.clone());
        async move {
            rows(env, &id)
                .await
                .into_iter()
                .find(|r| r["recipient"] == upn.as_str())
                .map(|r| r["reactions"].clone())
                .unwrap()
        }
    };
    react("like", false).await;
    react("heart", false).await;
    react("like", true).await;
    react("like", true).await;
    assert_eq!(reactions_of(first.clone()).await, json!({"heart": 1}));
    assert_eq!(
        reactions_of(second.clone()).await,
        Value::Null,
        "only the message reacted to"
    );
    let csv = report_csv(&env, &first).await;
    assert_eq!(
        csv.lines()
            .filter(|l| l.ends_with("Z,heart:1,,,,,,"))
            .count(),
        1,
        "{csv}"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_count_who_has_seen_it_sqlite() {
    receipts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_count_who_has_seen_it_postgres() {
    if postgres_url().is_some() {
        receipts(Backend::Postgres).await;
    }
}

const REMINDER: &str = "Reminder: the quarterly results are waiting for you above";

/// Moves the manual clock a quarter second every 10 ms, until aborted.
fn tick(clock: &std::sync::Arc<herald_core::ManualClock>) -> tokio::task::JoinHandle<()> {
    let clock = clock.clone();
    tokio::spawn(async move {
        loop {
            clock.advance(std::time::Duration::from_millis(250));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
}

/// Who got the reminder, and how many times each.
async fn reminded(env: &Env, upns: &[String]) -> Vec<usize> {
    let mut out = Vec::new();
    for u in upns {
        let n = env
            .bot_messages(u)
            .await
            .iter()
            .filter(|m| m["text"] == REMINDER)
            .count();
        out.push(n);
    }
    out
}

/// 100 recipients: 60 read it (10 of them with read receipts off, who never count), 20 react.
/// An hour later exactly the 50 who have not been seen reading get one reminder, and nobody a
/// second one however long the notification waits.
async fn reminders(backend: Backend) {
    let clock = herald_core::ManualClock::starting_now();
    let env =
        Env::start_with_clock(backend, 100, &[("HERALD_WELCOME_TEXT", "")], clock.clone()).await;
    let t = env.tenant().await;
    let upns: Vec<String> = (0..100)
        .map(|i| t["users"][i]["upn"].as_str().unwrap().to_owned())
        .collect();
    install_and_wait(&env, &upns.iter().map(String::as_str).collect::<Vec<_>>()).await;
    for u in &upns[50..60] {
        env.user_settings(u, json!({"readReceipts": false})).await;
    }
    let n = notify(
        &env,
        json!({"to": {"users": upns}, "message": {"text": "Quarterly results are out"},
               "options": {"remindIfUnread": {"afterSeconds": 3600, "text": REMINDER}}}),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    // The tenant's budget of 50 a second counts on this clock: it moves while they are sent.
    let ticking = tick(&clock);
    finished(&env, &id).await;
    ticking.abort();
    for u in &upns[..60] {
        read(&env, u, None).await;
    }
    for u in &upns[20..40] {
        let m = message_id(&env, u, "Quarterly results are out").await;
        env.control(
            &format!("/users/{u}/react"),
            json!({"activityId": m, "reaction": "like"}),
        )
        .await;
    }
    env.eventually("fifty seen", || async { seen(&env, &id).await == 50 })
        .await;
    env.eventually("twenty reactions", || async {
        rows(&env, &id)
            .await
            .iter()
            .filter(|r| r["reactions"] == json!({"like": 1}))
            .count()
            == 20
    })
    .await;

    // Not before its time.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(reminded(&env, &upns).await.iter().all(|n| *n == 0));

    clock.advance(std::time::Duration::from_secs(3601));
    let ticking = tick(&clock);
    env.eventually("fifty reminders", || async {
        metrics(&env)
            .await
            .contains("herald_reminders_total{outcome=\"sent\"} 50")
    })
    .await;
    ticking.abort();
    // Later passes find nothing more to do.
    clock.advance(std::time::Duration::from_secs(86_400));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let got = reminded(&env, &upns).await;
    let expected: Vec<usize> = (0..100).map(|i| usize::from(i >= 50)).collect();
    assert_eq!(
        got, expected,
        "one reminder to each of the 50 not seen reading, none to the others"
    );
    let report = rows(&env, &id).await;
    let with_reminder: Vec<&str> = report
        .iter()
        .filter(|r| r["remindedAt"].is_string())
        .map(|r| r["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(with_reminder.len(), 50);
    assert!(with_reminder
        .iter()
        .all(|u| upns[50..].iter().any(|x| x == u)));
    assert!(metrics(&env)
        .await
        .contains("herald_reminders_total{outcome=\"sent\"} 50"));
    let csv = report_csv(&env, &id).await;
    assert_eq!(
        csv.lines().skip(1).filter(|l| l.ends_with("Z,")).count(),
        50,
        "remindedAt, then an empty dueAt: {csv}"
    );

    // A reminder needs read receipts: not for a message sent as a user; and it waits a minute at least.
    for (options, pointer) in [
        (
            json!({"asUser": "ada@contoso.com", "remindIfUnread": {"afterSeconds": 3600, "text": "x"}}),
            "/options/remindIfUnread",
        ),
        (
            json!({"remindIfUnread": {"afterSeconds": 5, "text": "x"}}),
            "/options/remindIfUnread/afterSeconds",
        ),
        (
            json!({"remindIfUnread": {"afterSeconds": 600, "text": " "}}),
            "/options/remindIfUnread/text",
        ),
    ] {
        let r = env
            .api(reqwest::Method::POST, "/v1/notifications")
            .json(
                &json!({"to": {"users": [upns[0]]}, "message": {"text": "hi"}, "options": options}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["pointer"], pointer, "{body}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_reaches_exactly_those_who_have_not_read_it_sqlite() {
    reminders(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_reaches_exactly_those_who_have_not_read_it_postgres() {
    if postgres_url().is_some() {
        reminders(Backend::Postgres).await;
    }
}
