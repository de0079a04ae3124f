//! `herald sandbox [--demo]`: the emulator and the server in one process, on the embedded
//! defaults, with no Microsoft tenant and no credentials to set.

use crate::client::Client;
use crate::send;
use anyhow::Context as _;
use herald_emulator::{Emulator, EmulatorOptions, RuntimeConfig, TenantSpec};
use herald_server::{Config, Server};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// How many people the simulated tenant has.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Install, block, send to everyone and to a group, then print the report and exit.
    #[arg(long)]
    demo: bool,
    /// Where Herald listens (the bot endpoint and the API).
    #[arg(long, default_value = "127.0.0.1:3978")]
    listen: SocketAddr,
    /// Where the emulated Teams listens.
    #[arg(long, default_value = "127.0.0.1:3979")]
    emulator_listen: SocketAddr,
    /// Listen on an address other machines can reach. The emulator's control API is
    /// unauthenticated (it signs activities and hands out tokens), and without HERALD_API_TOKENS
    /// so is Herald's: anyone who can connect can act as Teams and send as your bot.
    #[arg(long)]
    public: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    for (flag, addr) in [
        ("--listen", args.listen),
        ("--emulator-listen", args.emulator_listen),
    ] {
        crate::emulator::refuse_public(flag, addr, args.public)?;
    }
    let clock: herald_core::SharedClock = Arc::new(herald_core::SystemClock);
    let emu = Emulator::start(EmulatorOptions {
        listen: args.emulator_listen,
        bot_endpoint: format!("http://{}/api/messages", args.listen),
        tenant: TenantSpec::Seeded { users: args.users },
        app_id: None,
        app_password: None,
        config: RuntimeConfig::default(),
        clock: clock.clone(),
    })
    .await
    .context(
        "the emulator could not start (is something else on its port? see --emulator-listen)",
    )?;
    let dir = std::env::temp_dir().join(format!("herald-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut vars: HashMap<String, String> = emu
        .bot_settings()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    vars.insert("HERALD_LISTEN".into(), args.listen.to_string());
    // Callbacks to a receiver on this machine are what a sandbox is for.
    vars.insert(
        "HERALD_CALLBACK_ALLOWED_HOSTS".into(),
        "127.0.0.1,localhost,::1".into(),
    );
    // With tokens set, the sandbox's API asks for them as `herald serve` does.
    let tokens = std::env::var("HERALD_API_TOKENS")
        .ok()
        .filter(|t| !t.trim().is_empty());
    if let Some(t) = &tokens {
        vars.insert("HERALD_API_TOKENS".into(), t.clone());
    }
    vars.insert(
        "HERALD_DATABASE_URL".into(),
        format!("sqlite://{}", dir.join("herald.db").display()),
    );
    let mut cfg = Config::load(None, &move |k| vars.get(k).cloned(), true)?;
    cfg.sandbox = true;
    let api_tokens = cfg.api_tokens.clone();
    let server = Server::start(cfg, clock)
        .await
        .context("herald serve could not start (is something else on its port? see --listen)")?;
    let base = format!("http://{}", server.addr());
    emu.set_bot_endpoint(&format!("{base}/api/messages"));
    println!(
        "Herald sandbox: server {base} ({}), emulated Teams {}",
        if api_tokens.is_empty() {
            "no API token needed"
        } else {
            "API tokens from HERALD_API_TOKENS"
        },
        emu.origin()
    );
    println!("  {}", emu.summary());
    let result = if args.demo {
        // The demo calls the API as a client would: with HERALD_API_TOKEN, else the first
        // configured token that may read and send.
        let token = std::env::var("HERALD_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| {
                api_tokens
                    .iter()
                    .find(|t| t.scopes.read && t.scopes.send)
                    .map(|t| t.secret.expose().to_owned())
            });
        demo(emu.origin(), &Client::with_token(&base, token)).await
    } else {
        println!("\nTry, in another terminal:");
        println!(
            "  curl -s -X POST {}/_emulator/users/user1@sandbox.example/install",
            emu.origin()
        );
        println!("  herald send --to user1@sandbox.example --text 'Hello from Herald' --follow");
        println!("  herald send --all --card card.json --label-notification --follow");
        println!(
            "  curl -s {}/_emulator/users/user1@sandbox.example/transcript",
            emu.origin()
        );
        println!("\nCtrl-C stops it.");
        crate::shutdown_signal().await;
        Ok(())
    };
    server.shutdown().await;
    emu.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn announcement() -> Value {
    json!({
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Office move on Friday", "weight": "Bolder", "size": "Medium", "wrap": true},
            {"type": "TextBlock", "text": "Pack your desk by Thursday 17:00. Crates are in the lobby.", "wrap": true},
            {"type": "FactSet", "facts": [{"title": "Where", "value": "Building B, 3rd floor"}, {"title": "When", "value": "Friday 08:00"}]}
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Floor plan", "url": "https://example.com/floor-plan"}]
    })
}

/// Creates a notification and follows it to its end: (id, final status).
async fn notify_and_follow(
    client: &Client,
    body: &Value,
    label: &str,
) -> anyhow::Result<(String, Value)> {
    let n = client
        .call(
            Method::POST,
            "/v1/notifications",
            Some(serde_json::to_vec(body)?),
        )
        .await
        .map_err(|f| anyhow::anyhow!(f.message))?;
    let id = n["id"].as_str().unwrap_or_default().to_owned();
    let status = send::follow(client, &id, label)
        .await
        .map_err(|f| anyhow::anyhow!(f.message))?;
    Ok((id, status))
}

fn approval() -> Value {
    json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Hi ${givenName}, can we ship release 4.2 on Friday?", "wrap": true, "weight": "Bolder"},
            {"type": "Input.Text", "id": "comment", "label": "Comment", "isMultiline": true}
        ],
        "actions": [
            {"type": "Action.Submit", "title": "Approve", "style": "positive"},
            {"type": "Action.Execute", "title": "Reject", "verb": "reject", "style": "destructive"}
        ]
    })
}

async fn demo(origin: &str, client: &Client) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let tenant: Value = http
        .get(format!("{origin}/_emulator/tenant"))
        .send()
        .await?
        .json()
        .await?;
    let users = tenant["users"].as_array().cloned().unwrap_or_default();
    let members: Vec<String> = users
        .iter()
        .filter(|u| u["guest"] != true)
        .filter_map(|u| u["upn"].as_str().map(str::to_owned))
        .collect();
    // Nine in ten install the bot; a few of those block it.
    let installing: Vec<String> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 9)
        .map(|(_, u)| u.clone())
        .collect();
    println!("\n1. {} of {} people install the bot; Teams tells Herald, which keeps their conversation and welcomes each once.", installing.len(), members.len());
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for u in &installing {
        let (http, url, sem) = (
            http.clone(),
            format!("{origin}/_emulator/users/{u}/install"),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            http.post(url)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap_or(false));
    }
    println!("   {ok} installed.");
    let blockers: Vec<&String> = installing.iter().step_by(25).take(5).collect();
    for u in &blockers {
        http.post(format!("{origin}/_emulator/users/{u}/block"))
            .send()
            .await?;
    }
    println!("2. {} of them block the bot (Teams tells the bot nothing; Herald finds out when it sends).", blockers.len());

    let everyone: Vec<String> = users
        .iter()
        .filter_map(|u| u["upn"].as_str().map(str::to_owned))
        .collect();
    println!(
        "3. A card to all {} people (guests included), labelled as a notification:",
        everyone.len()
    );
    let body = json!({
        "to": {"users": everyone},
        "message": {"card": announcement()},
        "options": {"labelAsNotification": true, "ifNotInstalled": "fail"}
    });
    let (id1, s1) = notify_and_follow(client, &body, "everyone").await?;

    let group = tenant["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["displayName"] == "Engineering Group"))
        .and_then(|g| g["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    println!("4. A message to the Engineering group (nested groups included), installing the app for those who lack it:");
    let body = json!({
        "to": {"groups": [group]},
        "message": {"text": "Engineering all-hands moves to 15:00 today."},
        "options": {"ifNotInstalled": "install", "alert": true}
    });
    let (id2, s2) = notify_and_follow(client, &body, "group").await?;

    // A card that waits for answers, bound to each recipient's name; simulated people answer.
    let approvers: Vec<String> = installing
        .iter()
        .filter(|u| !blockers.contains(u))
        .take(12)
        .cloned()
        .collect();
    println!(
        "5. An approval card to {} people, each greeted by name, waiting for their answers:",
        approvers.len()
    );
    let body = json!({
        "to": {"users": approvers},
        "message": {"card": approval()},
        "options": {"waitForResponse": {"updateMessage": "Thanks, your answer is recorded.", "timeoutSeconds": 3600}}
    });
    let (id3, _) = notify_and_follow(client, &body, "approval").await?;
    let rows = send::all_rows(client, &id3)
        .await
        .map_err(|f| anyhow::anyhow!(f.message))?;
    // Two thirds answer: "Approve" is an Action.Submit, "Reject" an Action.Execute.
    for (i, r) in rows.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
        let (Some(upn), Some(card)) = (r["recipient"].as_str(), r["activityId"].as_str()) else {
            continue;
        };
        let action = if i % 3 == 0 { "Approve" } else { "reject" };
        http.post(format!("{origin}/_emulator/users/{upn}/actions"))
            .json(&json!({"activityId": card, "action": action, "inputs": {"comment": format!("from {upn}")}}))
            .send()
            .await?;
    }
    println!("   the answers (herald responses {id3}):");
    send::responses(&id3, None, client)
        .await
        .map_err(|f| anyhow::anyhow!(f.message))?;

    println!("\nReport");
    for (s, id) in [(&s1, &id1), (&s2, &id2)] {
        send::print_summary(s);
        let rows = send::all_rows(client, id)
            .await
            .map_err(|f| anyhow::anyhow!(f.message))?;
        let mut by: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for r in &rows {
            let key = (
                r["statusCode"]
                    .as_u64()
                    .map_or("-".into(), |c| c.to_string()),
                r["outcome"].as_str().unwrap_or("?").to_owned(),
                r["reason"].as_str().unwrap_or("-").to_owned(),
            );
            *by.entry(key).or_default() += 1;
        }
        println!(
            "  {:>6}  {:<10} {:<14} {:>6}",
            "STATUS", "OUTCOME", "REASON", "COUNT"
        );
        for ((code, outcome, reason), n) in by {
            println!("  {code:>6}  {outcome:<10} {reason:<14} {n:>6}");
        }
        let odd: Vec<Value> = rows
            .iter()
            .filter(|r| r["outcome"] != "delivered")
            .take(6)
            .cloned()
            .collect();
        if !odd.is_empty() {
            println!("  e.g.");
            send::print_table(&odd);
        }
    }
    println!("\nEvery row: herald report ID --format csv (while a sandbox runs). Transcripts: {origin}/_emulator/users/UPN/transcript");
    Ok(())
}
