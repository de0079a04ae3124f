//! Trust II, once: a long `Retry-After` delays without duplicating, an outage delays without
//! losing (and flags what may have arrived twice), a 2xx is never sent again, and a 404 from
//! something in front of Teams says nothing about the user.

use crate::helpers::*;
use herald_core::ManualClock;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn stats(env: &Env) -> Value {
    env.emulator_stats().await
}

async fn set_faults(env: &Env, faults: Value) {
    let r = env
        .http
        .put(format!("{}/_emulator/config", env.emu.origin()))
        .json(&json!({"faults": faults}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

fn upns(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("user{i}@sandbox.example"))
        .collect()
}

async fn install_all(env: &Env, users: &[String]) {
    for u in users {
        env.control(&format!("/users/{u}/install"), json!({})).await;
    }
}

/// Every user got the message exactly once (from the emulator's transcripts).
async fn each_got_it_once(env: &Env, users: &[String], text: &str) {
    for u in users {
        let n = env
            .bot_messages(u)
            .await
            .iter()
            .filter(|m| m["text"] == text)
            .count();
        assert_eq!(n, 1, "{u} got it {n} times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_longer_than_a_lease_delays_without_duplicates() {
    let clock = ManualClock::starting_now();
    let env = Env::start_with_clock(
        Backend::Sqlite,
        30,
        // A manual clock stands still between strides: the tenant's pacing (which follows the
        // clock) is off, the 429's pause is not.
        &[("HERALD_WELCOME_TEXT", ""), ("HERALD_TENANT_RPS", "0")],
        clock.clone(),
    )
    .await;
    let users = upns(25);
    install_all(&env, &users).await;
    // The 6th send from now is told to wait 200 s: longer than a delivery's 120 s lease.
    set_faults(
        &env,
        json!({"retryAfterOnce": {"afterRequests": 5, "seconds": 200}}),
    )
    .await;
    let n = notify(
        &env,
        json!({"to": {"users": users}, "message": {"text": "Held back"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    // Time passes ten seconds at a stride; the sweeper runs in between.
    for _ in 0..24 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        clock.advance(Duration::from_secs(10));
    }
    let s = finished(&env, &id).await;
    assert_eq!(s["counts"]["delivered"], 25, "{s}");
    let st = stats(&env).await;
    assert_eq!(st["duplicates"], 0, "{st}");
    assert_eq!(st["throttled"], 1);
    each_got_it_once(&env, &users, "Held back").await;
    let m = metrics(&env).await;
    assert!(m.contains("herald_leases_lost_total 0"), "{m}");
    env.shutdown().await;
}

async fn outage(mode: &str) -> (Env, Vec<String>, String) {
    let env = Env::start(
        Backend::Sqlite,
        30,
        &[("HERALD_WELCOME_TEXT", ""), ("HERALD_TENANT_RPS", "0")],
    )
    .await;
    let users = upns(25);
    install_all(&env, &users).await;
    // From the 10th request on, Teams is down for three seconds; Herald gives up on an
    // unanswered request after ten.
    set_faults(
        &env,
        json!({"outage": {"afterRequests": 10, "durationMs": 3000, "mode": mode}}),
    )
    .await;
    let text = format!("Through the {mode} outage");
    let n = notify(
        &env,
        json!({"to": {"users": users}, "message": {"text": text}}),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    let s = finished(&env, &id).await;
    assert_eq!(s["counts"]["delivered"], 25, "nothing lost: {s}");
    (env, users, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_that_holds_requests_delays_every_message_and_duplicates_none() {
    let (env, users, id) = outage("hold").await;
    let st = stats(&env).await;
    assert_eq!(
        st["duplicates"], 0,
        "held requests were never carried out: {st}"
    );
    each_got_it_once(&env, &users, "Through the hold outage").await;
    let flagged = rows(&env, &id)
        .await
        .iter()
        .filter(|r| r["possibleDuplicate"] == true)
        .count();
    assert!(
        flagged >= 1,
        "the requests that went unanswered are flagged"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_that_drops_answers_flags_every_possible_duplicate() {
    let (env, users, id) = outage("dropResponse").await;
    let st = stats(&env).await;
    let duplicated: Vec<&String> = {
        let mut out = Vec::new();
        for u in &users {
            let n = env
                .bot_messages(u)
                .await
                .iter()
                .filter(|m| m["text"] == "Through the dropResponse outage")
                .count();
            assert!(n >= 1, "{u} got it");
            if n > 1 {
                out.push(u);
            }
        }
        out
    };
    assert_eq!(
        st["duplicates"].as_u64().unwrap() as usize,
        duplicated.len(),
        "{st}"
    );
    // At most what was in flight when the outage began is sent twice; each such row says so.
    assert!(duplicated.len() <= 64, "{}", duplicated.len());
    let all = rows(&env, &id).await;
    for u in duplicated {
        let row = all.iter().find(|r| r["recipient"] == u.as_str()).unwrap();
        assert_eq!(row["possibleDuplicate"], true, "{row}");
    }
    env.shutdown().await;
}

/// A pretend Teams host on loopback that answers every request with `answer` (raw HTTP) and
/// counts them.
async fn fake_host(answer: &'static [u8]) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the head and the body it announces.
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                h.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (origin, hits)
}

/// An imported reference whose service URL is `origin` (allowed beside the emulator).
async fn reference_at(env: &Env, origin: &str, aad: &str) {
    let store = json!({
        format!("_a_{aad}"): {
            "activityId": "x",
            "user": {"id": format!("29:{aad}"), "aadObjectId": aad, "name": "Fake"},
            "bot": {"id": format!("28:{}", env.emu.app_id()), "name": "Herald"},
            "conversation": {"id": format!("a:{aad}"), "conversationType": "personal", "tenantId": env.emu.tenant_id()},
            "channelId": "msteams",
            "serviceUrl": format!("{origin}/"),
        }
    });
    let r = env
        .api(reqwest::Method::POST, "/v1/installations/import")
        .json(&store)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_two_hundred_whose_body_breaks_is_not_sent_again_and_a_proxy_404_keeps_the_reference() {
    // 201 announcing a body it never sends in full.
    let (truncated, sent) =
        fake_host(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":").await;
    // A 404 with no Teams error code: something in front of Teams.
    let (proxy, proxied) = fake_host(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nNot Found",
    )
    .await;
    let mut env = Env::start(Backend::Sqlite, 2, &[("HERALD_WELCOME_TEXT", "")]).await;
    let allowed = format!("{}/*,{truncated}/*,{proxy}/*", env.emu.origin());
    env.vars
        .insert("HERALD_ALLOWED_SERVICE_URLS".into(), allowed);
    env.restart().await;
    let (a, b) = (
        "0aaaaaaa-0000-4000-8000-000000000001",
        "0bbbbbbb-0000-4000-8000-000000000002",
    );
    reference_at(&env, &truncated, a).await;
    reference_at(&env, &proxy, b).await;
    let n = notify(
        &env,
        json!({"to": {"users": [a, b]}, "message": {"text": "Once only"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    finished(&env, id).await;
    let all = rows(&env, id).await;
    let row = |aad: &str| {
        all.iter()
            .find(|r| r["recipient"].as_str().unwrap().eq_ignore_ascii_case(aad))
            .unwrap()
            .clone()
    };
    assert_eq!(row(a)["outcome"], "delivered", "Teams took it");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "and it was not sent again");
    let proxied_row = row(b);
    assert_eq!(proxied_row["outcome"], "failed");
    assert_eq!(proxied_row["reason"], "service_error");
    assert_eq!(proxied.load(Ordering::SeqCst), 1, "a 404 is not retried");
    let r = env.reference(b).await.unwrap();
    assert_eq!(
        r.state,
        herald_store::RefState::Active,
        "a proxy's 404 says nothing about the user"
    );
    env.shutdown().await;
}
