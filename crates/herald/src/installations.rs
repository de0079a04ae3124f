//! `herald installations list` and `herald installations import-teamsfx FILE`.

use crate::client::{Client, Failure, ServerArgs};
use clap::Subcommand;
use reqwest::Method;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Command {
    /// List stored conversation references.
    List {
        /// Only `active` or `unreachable` ones.
        #[arg(long)]
        state: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import a Teams Toolkit notification bot's store (.notification.localstore.json).
    ImportTeamsfx { file: PathBuf },
}

pub async fn run(cmd: Command, server: ServerArgs) -> Result<(), Failure> {
    let client = Client::new(&server);
    match cmd {
        Command::List { state, json } => list(&client, state, json).await,
        Command::ImportTeamsfx { file } => import(&client, file).await,
    }
}

async fn list(client: &Client, state: Option<String>, json: bool) -> Result<(), Failure> {
    let mut cursor: Option<String> = None;
    let mut count = 0usize;
    if !json {
        println!(
            "{:<40} {:<12} {:<16} {:<8} CONVERSATION",
            "USER", "STATE", "SOURCE", "WELCOME"
        );
    }
    loop {
        let mut q = vec![("limit", "1000".to_owned())];
        if let Some(s) = &state {
            q.push(("state", s.clone()));
        }
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let page = client
            .call(
                Method::GET,
                &format!("/v1/installations?{}", qs.join("&")),
                None,
            )
            .await?;
        for item in page["items"].as_array().into_iter().flatten() {
            count += 1;
            if json {
                println!("{item}");
            } else {
                let who = item["upn"]
                    .as_str()
                    .or(item["userName"].as_str())
                    .unwrap_or(item["aadObjectId"].as_str().unwrap_or("?"));
                println!(
                    "{:<40} {:<12} {:<16} {:<8} {}",
                    who,
                    item["state"].as_str().unwrap_or("?"),
                    item["source"].as_str().unwrap_or("?"),
                    item["welcome"].as_str().unwrap_or("?"),
                    item["conversationId"].as_str().unwrap_or("-"),
                );
            }
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    if !json {
        eprintln!("{count} installation(s)");
    }
    Ok(())
}

async fn import(client: &Client, file: PathBuf) -> Result<(), Failure> {
    let bytes = std::fs::read(&file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", file.display())))?;
    let r = client
        .call(Method::POST, "/v1/installations/import", Some(bytes))
        .await?;
    println!(
        "imported {} user(s) and {} team(s)",
        r["importedUsers"].as_u64().unwrap_or(0),
        r["importedTeams"].as_u64().unwrap_or(0)
    );
    for s in r["skipped"].as_array().into_iter().flatten() {
        println!(
            "skipped {}: {}",
            s["key"].as_str().unwrap_or("?"),
            s["reason"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
