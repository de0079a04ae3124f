//! Events (`options.events`): signed webhooks about each recipient's row — delivered, read,
//! reacted, opted out — through the callback outbox, retried like answers' callbacks.

use crate::helpers::*;
use crate::responses::{callback_receiver, SECRET};
use serde_json::{json, Value};

async fn events(backend: Backend) {
    let env = Env::start(
        backend,
        6,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_CALLBACK_SECRET", SECRET),
            ("HERALD_CALLBACK_ALLOWED_HOSTS", "127.0.0.1"),
        ],
    )
    .await;
    let (url, receiver) = callback_receiver().await;
    let t = env.tenant().await;
    let upns: Vec<String> = (0..6)
        .map(|i| t["users"][i]["upn"].as_str().unwrap().to_owned())
        .collect();
    install_and_wait(&env, &upns.iter().map(String::as_str).collect::<Vec<_>>()).await;
    env.control(
        &format!("/users/{}/messages", upns[5]),
        json!({"text": "stop payroll"}),
    )
    .await;

    // Refused: events with nowhere to go, a URL without events, reads of a user's messages.
    for (options, pointer) in [
        (json!({"events": ["delivered"]}), "/options/callbackUrl"),
        (json!({"callbackUrl": url}), "/options/events"),
        (
            json!({"events": ["delivered", "read"], "callbackUrl": url, "asUser": "ada@contoso.com"}),
            "/options/events/1",
        ),
        (
            json!({"events": ["seen"], "callbackUrl": url}),
            "/options/events/0",
        ),
    ] {
        let r = env
            .api(reqwest::Method::POST, "/v1/notifications")
            .json(
                &json!({"to": {"users": [upns[0]]}, "message": {"text": "x"}, "options": options}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["pointer"], pointer, "{body}");
    }

    let n = notify(
        &env,
        json!({"to": {"users": upns}, "message": {"text": "Payslips are out"},
               "options": {"category": "payroll", "events": ["delivered", "read", "reacted", "opted_out"], "callbackUrl": url}}),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    finished(&env, &id).await;
    // One reads it, one reacts and takes the reaction back.
    env.control(&format!("/users/{}/read", upns[0]), json!({}))
        .await;
    let m = env
        .bot_messages(&upns[1])
        .await
        .into_iter()
        .find(|m| m["text"] == "Payslips are out")
        .unwrap();
    for remove in [false, true] {
        env.control(
            &format!("/users/{}/react", upns[1]),
            json!({"activityId": m["id"], "reaction": "like", "remove": remove}),
        )
        .await;
    }
    env.eventually("nine events", || async {
        receiver.lock().accepted.len() == 9
    })
    .await;
    let got = receiver.lock().accepted.clone();
    assert_eq!(receiver.lock().bad_signatures, 0);
    let of = |event: &str| -> Vec<&Value> { got.iter().filter(|e| e["event"] == event).collect() };
    assert_eq!(of("delivered").len(), 5);
    assert!(of("delivered")
        .iter()
        .all(|e| e["notificationId"] == id.as_str() && e["statusCode"] == 200));
    let opted = of("opted_out");
    assert_eq!(opted.len(), 1);
    assert_eq!(opted[0]["recipient"], upns[5].as_str());
    assert_eq!(opted[0]["reason"], "opted_out");
    let read = of("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["recipient"], upns[0].as_str());
    assert!(read[0]["readAt"].is_string());
    let reacted = of("reacted");
    assert_eq!(reacted.len(), 2);
    assert!(reacted.iter().all(|e| e["recipient"] == upns[1].as_str()));
    let mut changes: Vec<Value> = reacted.iter().map(|e| e["reaction"].clone()).collect();
    changes.sort_by_key(|c| c["added"].as_bool());
    assert_eq!(
        changes,
        vec![
            json!({"reaction": "like", "added": false}),
            json!({"reaction": "like", "added": true})
        ]
    );

    // A notification that asked for none sends none.
    let quiet = notify(
        &env,
        json!({"to": {"users": [upns[2]]}, "message": {"text": "quiet"}}),
    )
    .await;
    finished(&env, quiet["id"].as_str().unwrap()).await;
    env.control(&format!("/users/{}/read", upns[2]), json!({}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let late: Vec<Value> = receiver.lock().accepted.iter().skip(9).cloned().collect();
    assert!(
        late.iter().all(|e| e["notificationId"] == id.as_str()),
        "only the first notification's events: {late:?}"
    );
    env.shutdown().await;
}

/// Events named in the configuration (`events`, `events_url`) reach every notification that names
/// none of its own; one that names its own gets only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_the_configuration_reach_notifications_that_name_none() {
    let (url, receiver) = callback_receiver().await;
    let env = Env::start(
        Backend::Sqlite,
        3,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_CALLBACK_SECRET", SECRET),
            ("HERALD_CALLBACK_ALLOWED_HOSTS", "127.0.0.1"),
            ("HERALD_EVENTS", "delivered,read"),
            ("HERALD_EVENTS_URL", &url),
        ],
    )
    .await;
    let t = env.tenant().await;
    let upns: Vec<String> = (0..3)
        .map(|i| t["users"][i]["upn"].as_str().unwrap().to_owned())
        .collect();
    install_and_wait(&env, &upns.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let plain = notify(
        &env,
        json!({"to": {"users": upns}, "message": {"text": "Canteen closed"}}),
    )
    .await;
    let plain = plain["id"].as_str().unwrap().to_owned();
    finished(&env, &plain).await;
    env.control(&format!("/users/{}/read", upns[0]), json!({}))
        .await;
    env.eventually("three delivered and one read", || async {
        receiver.lock().accepted.len() == 4
    })
    .await;
    // Its own choice wins: only reads, so no `delivered` for it.
    let own = notify(
        &env,
        json!({"to": {"users": upns}, "message": {"text": "Fire drill at 11"},
               "options": {"events": ["read"], "callbackUrl": url}}),
    )
    .await;
    let own = own["id"].as_str().unwrap().to_owned();
    finished(&env, &own).await;
    env.control(&format!("/users/{}/read", upns[1]), json!({}))
        .await;
    // Reading up to the newest message reads the older one too: a read for each.
    env.eventually("its read and the older one's", || async {
        receiver.lock().accepted.len() >= 6
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let got = receiver.lock().accepted.clone();
    assert_eq!(receiver.lock().bad_signatures, 0);
    let of = |id: &str, event: &str| {
        got.iter()
            .filter(|e| e["notificationId"] == id && e["event"] == event)
            .count()
    };
    assert_eq!(
        (of(&plain, "delivered"), of(&plain, "read")),
        (3, 2),
        "{got:?}"
    );
    assert_eq!((of(&own, "delivered"), of(&own, "read")), (0, 1), "{got:?}");
    assert_eq!(got.len(), 6, "{got:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_each_row_delivered_read_reacted_and_opted_out_sqlite() {
    events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_each_row_delivered_read_reacted_and_opted_out_postgres() {
    if postgres_url().is_some() {
        events(Backend::Postgres).await;
    }
}
