//! `herald send`, `status`, `report`, `cancel`: notifications through a running server.

use crate::client::{Client, Failure, EXIT_FAILED, EXIT_USAGE};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("message").required(true).args(["text", "card"]))]
pub struct SendArgs {
    /// A recipient: UPN / e-mail, AAD object id or Teams user id (repeatable).
    #[arg(long = "to", value_name = "USER")]
    to: Vec<String>,
    /// Every member of a team: its group id, or its Bot Framework id (19:…) (repeatable).
    #[arg(long, value_name = "ID")]
    team: Vec<String>,
    /// Every member of a group, nested groups included (repeatable).
    #[arg(long, value_name = "ID")]
    group: Vec<String>,
    /// Everyone who has the bot installed.
    #[arg(long)]
    all: bool,
    /// A CSV whose first column (upn, aadObjectId or id) names the recipients.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Send this text.
    #[arg(long)]
    text: Option<String>,
    /// Send the Adaptive Card in this JSON file (a template: `${displayName}`, `$data`, `$when` …).
    #[arg(long, value_name = "FILE")]
    card: Option<PathBuf>,
    /// Per-recipient template data: a JSON object keyed by recipient (UPN, AAD object id or id).
    #[arg(long, value_name = "FILE", requires = "card")]
    data: Option<PathBuf>,
    #[arg(long, value_name = "POLICY", value_parser = ["fail", "succeed", "install"])]
    if_not_installed: Option<String>,
    #[arg(long, value_name = "POLICY", value_parser = ["send", "skip", "fail"])]
    if_chat_active: Option<String>,
    /// Start the message with "Notification via {bot}".
    #[arg(long)]
    label_notification: bool,
    /// Ring the recipient's activity feed (channelData.notification.alert).
    #[arg(long)]
    alert: bool,
    /// What it is about (`payroll`, `news` …): people who wrote `stop CATEGORY` to the bot skip it.
    #[arg(long, value_name = "CATEGORY")]
    category: Option<String>,
    /// Send later (RFC 3339).
    #[arg(long, value_name = "TIME")]
    send_at: Option<String>,
    /// Resending with the same key returns the same notification.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Follow the progress until the notification ends.
    #[arg(long)]
    follow: bool,
    /// Send as this signed-in user (see `herald login`) instead of the bot: text, posted in a chat.
    #[arg(long, value_name = "UPN", conflicts_with = "card")]
    as_user: Option<String>,
    /// With --as-user: one group chat with every recipient, under this topic.
    #[arg(long, value_name = "TOPIC", requires = "as_user")]
    group_chat_topic: Option<String>,
    /// Wait for the recipient to answer the card, and print the chosen action and inputs.
    #[arg(long, requires = "card")]
    wait_response: bool,
    /// What replaces the card once answered.
    #[arg(long, value_name = "TEXT", requires = "wait_response")]
    update_message: Option<String>,
    /// How long to wait for answers (e.g. 90s, 30m, 2h, 7d; plain numbers are seconds).
    #[arg(long, value_name = "DUR", requires = "wait_response", value_parser = parse_duration)]
    timeout: Option<u64>,
}

/// `90`, `90s`, `30m`, `2h`, `7d` → seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 30m, 2h or 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: the unit is s, m, h or d")),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{s}` is not a positive duration"))
}

fn read(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

impl SendArgs {
    fn body(&self) -> Result<Value, Failure> {
        let mut to = json!({});
        if !self.to.is_empty() {
            to["users"] = json!(self.to);
        }
        if !self.team.is_empty() {
            to["teams"] = json!(self.team);
        }
        if !self.group.is_empty() {
            to["groups"] = json!(self.group);
        }
        if self.all {
            to["allInstalled"] = json!(true);
        }
        if let Some(csv) = &self.csv {
            to["csv"] = json!(read(csv)?);
        }
        let message = message_of(
            self.text.as_deref(),
            self.card.as_deref(),
            self.data.as_deref(),
        )?;
        let mut options = json!({});
        if let Some(p) = &self.if_not_installed {
            options["ifNotInstalled"] = json!(p);
        }
        if let Some(p) = &self.if_chat_active {
            options["ifChatActive"] = json!(p);
        }
        if self.label_notification {
            options["labelAsNotification"] = json!(true);
        }
        if self.alert {
            options["alert"] = json!(true);
        }
        if let Some(u) = &self.as_user {
            options["asUser"] = json!(u);
        }
        if let Some(c) = &self.category {
            options["category"] = json!(c);
        }
        if let Some(t) = &self.group_chat_topic {
            options["groupChatTopic"] = json!(t);
        }
        if self.wait_response {
            let mut w = json!({});
            if let Some(u) = &self.update_message {
                w["updateMessage"] = json!(u);
            }
            if let Some(t) = self.timeout {
                w["timeoutSeconds"] = json!(t);
            }
            options["waitForResponse"] = w;
        }
        let mut body = json!({"to": to, "message": message, "options": options});
        if let Some(t) = &self.send_at {
            body["sendAt"] = json!(t);
        }
        Ok(body)
    }
}

pub async fn send(args: SendArgs, client: &Client) -> Result<(), Failure> {
    let body = serde_json::to_vec(&args.body()?).expect("JSON serializes");
    let headers: Vec<(&str, String)> = args
        .idempotency_key
        .iter()
        .map(|k| ("Idempotency-Key", k.clone()))
        .collect();
    let n = client
        .call_with(Method::POST, "/v1/notifications", Some(body), &headers)
        .await?;
    let id = n["id"].as_str().unwrap_or_default().to_owned();
    if args.wait_response {
        return wait_response(client, &id, args.timeout).await;
    }
    if !args.follow {
        println!("{id} {}", n["state"].as_str().unwrap_or("?"));
        eprintln!("accepted; follow it with `herald status {id}` or `herald report {id}`");
        return Ok(());
    }
    let done = follow(client, &id, "sending").await?;
    print_summary(&done);
    if done["counts"]["failed"].as_u64().unwrap_or(0) > 0 {
        return Err(Failure {
            code: EXIT_FAILED,
            message: format!(
                "{} deliveries failed; see `herald report {id}`",
                done["counts"]["failed"]
            ),
        });
    }
    Ok(())
}

/// Waits for the answers (long polls of `…/responses`) and prints the chosen action of each
/// recipient; exit 1 when someone did not answer or the card was not delivered.
async fn wait_response(client: &Client, id: &str, timeout_s: Option<u64>) -> Result<(), Failure> {
    eprintln!("{id}: waiting for the answer…");
    let limit =
        std::time::Instant::now() + Duration::from_secs(timeout_s.unwrap_or(7 * 86_400) + 120);
    let page = loop {
        let page = client
            .call(
                Method::GET,
                &format!("/v1/notifications/{id}/responses?wait=60&limit=1000"),
                None,
            )
            .await?;
        if page["done"] == true || std::time::Instant::now() >= limit {
            break page;
        }
    };
    let items = page["items"].as_array().cloned().unwrap_or_default();
    for r in &items {
        match r["state"].as_str() {
            Some("answered") => println!(
                "{}\t{}\t{}",
                r["recipient"].as_str().unwrap_or("?"),
                r["submitActionId"].as_str().unwrap_or("-"),
                r["inputs"]
            ),
            other => println!(
                "{}\t{}",
                r["recipient"].as_str().unwrap_or("?"),
                other.unwrap_or("?")
            ),
        }
    }
    let status = client
        .call(Method::GET, &format!("/v1/notifications/{id}"), None)
        .await?;
    let failed = status["counts"]["failed"].as_u64().unwrap_or(0);
    let unanswered = items.iter().filter(|r| r["state"] != "answered").count();
    if failed > 0 || unanswered > 0 || items.is_empty() {
        return Err(Failure {
            code: EXIT_FAILED,
            message: format!(
                "{unanswered} did not answer, {failed} deliveries failed; see `herald report {id}`"
            ),
        });
    }
    Ok(())
}

/// `herald responses ID [--wait DUR]`: the tally as a table, then each recipient's answer.
pub async fn responses(id: &str, wait: Option<u64>, client: &Client) -> Result<(), Failure> {
    let deadline = std::time::Instant::now() + Duration::from_secs(wait.unwrap_or(0));
    let mut page;
    loop {
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .as_secs();
        page = client
            .call(
                Method::GET,
                &format!(
                    "/v1/notifications/{id}/responses?wait={}&limit=1000",
                    left.min(300)
                ),
                None,
            )
            .await?;
        if page["done"] == true || left == 0 {
            break;
        }
    }
    let c = &page["counts"];
    println!("{:<40} {:>8}", "ACTION", "COUNT");
    for (title, n) in page["tally"].as_object().into_iter().flatten() {
        println!("{:<40} {:>8}", title, n);
    }
    println!(
        "{:<40} {:>8}\n{:<40} {:>8}",
        "(waiting)", c["waiting"], "(no response)", c["noResponse"]
    );
    println!();
    println!(
        "{:<44} {:<12} {:<24} INPUTS",
        "RECIPIENT", "STATE", "ACTION"
    );
    let mut items = page["items"].as_array().cloned().unwrap_or_default();
    let mut cursor = page["next"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let more = client
            .call(
                Method::GET,
                &format!("/v1/notifications/{id}/responses?limit=1000&cursor={next}"),
                None,
            )
            .await?;
        items.extend(more["items"].as_array().cloned().unwrap_or_default());
        cursor = more["next"].as_str().map(str::to_owned);
    }
    for r in &items {
        println!(
            "{:<44} {:<12} {:<24} {}",
            r["recipient"].as_str().unwrap_or("?"),
            r["state"].as_str().unwrap_or("?"),
            r["submitActionId"].as_str().unwrap_or("-"),
            if r["inputs"].is_null() {
                "-".to_owned()
            } else {
                r["inputs"].to_string()
            }
        );
    }
    Ok(())
}

/// Polls until the notification ends: a progress bar on a terminal, a line every few seconds
/// otherwise. Returns the final status.
pub async fn follow(client: &Client, id: &str, label: &str) -> Result<Value, Failure> {
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b.set_prefix(label.to_owned());
        b
    });
    let mut last_line = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        let s = client
            .call(Method::GET, &format!("/v1/notifications/{id}"), None)
            .await?;
        let c = &s["counts"];
        let total = s["total"].as_u64().unwrap_or(0);
        let pending = c["pending"].as_u64().unwrap_or(0);
        let done = total.saturating_sub(pending);
        let rate = s["ratePerSecond"].as_f64().unwrap_or(0.0);
        let eta = if rate > 0.0 {
            format!("{}s", (pending as f64 / rate).ceil())
        } else {
            "-".into()
        };
        let msg = format!(
            "delivered {} · skipped {} · failed {} · {rate:.1}/s · ETA {eta}",
            c["delivered"],
            c["notInstalled"].as_u64().unwrap_or(0) + c["chatActive"].as_u64().unwrap_or(0),
            c["failed"]
        );
        let ended = matches!(s["state"].as_str(), Some("completed" | "canceled"));
        match &bar {
            Some(b) => {
                b.set_length(total);
                b.set_position(done);
                b.set_message(msg);
            }
            None if ended || last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!(
                    "{id} {}: {done}/{total} {msg}",
                    s["state"].as_str().unwrap_or("?")
                );
                last_line = std::time::Instant::now();
            }
            None => {}
        }
        if ended {
            if let Some(b) = bar {
                b.finish();
            }
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn print_summary(s: &Value) {
    let c = &s["counts"];
    println!(
        "{} {}: {} recipients · delivered {} · not installed {} · chat active {} · failed {} · canceled {}",
        s["id"].as_str().unwrap_or("?"),
        s["state"].as_str().unwrap_or("?"),
        s["total"],
        c["delivered"],
        c["notInstalled"],
        c["chatActive"],
        c["failed"],
        c["canceled"]
    );
}

pub async fn status(id: &str, client: &Client) -> Result<(), Failure> {
    let s = client
        .call(Method::GET, &format!("/v1/notifications/{id}"), None)
        .await?;
    print_summary(&s);
    if let Some(eta) = s["eta"].as_str() {
        println!("eta {eta} at {}/s", s["ratePerSecond"]);
    }
    Ok(())
}

/// `message` of a request: text, or a card from a file with its template data.
fn message_of(
    text: Option<&str>,
    card: Option<&std::path::Path>,
    data: Option<&std::path::Path>,
) -> Result<Value, Failure> {
    Ok(match (text, card) {
        (Some(t), _) => json!({"text": t}),
        (None, Some(path)) => {
            let card: Value = serde_json::from_str(&read(path)?)
                .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", path.display())))?;
            let mut m = json!({"card": card});
            if let Some(data) = data {
                let data: Value = serde_json::from_str(&read(data)?)
                    .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", data.display())))?;
                m["data"] = data;
            }
            m
        }
        (None, None) => return Err(Failure::usage("give --text or --card")),
    })
}

/// `herald edit`: what every delivered message becomes.
#[derive(clap::Args)]
pub struct EditArgs {
    pub id: String,
    /// The new text.
    #[arg(long, conflicts_with = "card")]
    text: Option<String>,
    /// The new Adaptive Card, from this JSON file (a template, rendered for each recipient).
    #[arg(long, value_name = "FILE")]
    card: Option<PathBuf>,
    /// Per-recipient template data for the card.
    #[arg(long, value_name = "FILE", requires = "card")]
    data: Option<PathBuf>,
    #[command(flatten)]
    pub server: crate::client::ServerArgs,
}

/// Deletes every delivered message of a notification (and cancels what is not sent yet).
pub async fn recall(id: &str, client: &Client) -> Result<(), Failure> {
    let s = client
        .call(
            Method::POST,
            &format!("/v1/notifications/{id}/recall"),
            None,
        )
        .await?;
    print_summary(&s);
    println!("recalling: follow it with `herald status {id}`");
    Ok(())
}

/// Replaces every delivered message of a notification.
pub async fn edit(args: &EditArgs, client: &Client) -> Result<(), Failure> {
    let message = message_of(
        args.text.as_deref(),
        args.card.as_deref(),
        args.data.as_deref(),
    )?;
    let id = &args.id;
    let s = client
        .call(
            Method::POST,
            &format!("/v1/notifications/{id}/edit"),
            Some(json!({"message": message}).to_string().into_bytes()),
        )
        .await?;
    print_summary(&s);
    println!("editing: follow it with `herald status {id}`");
    Ok(())
}

pub async fn cancel(id: &str, client: &Client) -> Result<(), Failure> {
    let s = client
        .call(
            Method::POST,
            &format!("/v1/notifications/{id}/cancel"),
            None,
        )
        .await?;
    print_summary(&s);
    Ok(())
}

/// Every delivery row of a notification.
pub async fn all_rows(client: &Client, id: &str) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client
            .call(
                Method::GET,
                &format!("/v1/notifications/{id}/deliveries?limit=1000{cursor}"),
                None,
            )
            .await?;
        out.extend(page["items"].as_array().into_iter().flatten().cloned());
        match page["next"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => return Ok(out),
        }
    }
}

pub fn print_table(rows: &[Value]) {
    println!(
        "{:<44} {:>6} {:<10} {:<14} {:>8}",
        "RECIPIENT", "STATUS", "OUTCOME", "REASON", "ATTEMPTS"
    );
    for r in rows {
        println!(
            "{:<44} {:>6} {:<10} {:<14} {:>8}",
            r["recipient"].as_str().unwrap_or("?"),
            r["statusCode"]
                .as_u64()
                .map_or("-".into(), |c| c.to_string()),
            r["outcome"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("-"),
            r["attempts"]
        );
    }
}

pub async fn report(id: &str, format: &str, client: &Client) -> Result<(), Failure> {
    match format {
        "csv" => {
            let text = client
                .text(&format!("/v1/notifications/{id}/deliveries"), "text/csv")
                .await?;
            print!("{text}");
        }
        "json" => {
            for r in all_rows(client, id).await? {
                println!("{r}");
            }
        }
        "table" => print_table(&all_rows(client, id).await?),
        other => {
            return Err(Failure {
                code: EXIT_USAGE,
                message: format!("--format {other}: use table, csv or json"),
            })
        }
    }
    Ok(())
}
