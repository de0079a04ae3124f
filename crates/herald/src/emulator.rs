//! `herald emulator`: a local Microsoft Teams for bots, with a simulated tenant.

use anyhow::Context as _;
use herald_emulator::{Emulator, EmulatorOptions, FaultSpec, RuntimeConfig, TenantSpec};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Seed a tenant of N users (user1@sandbox.example …), with guests, teams and nested groups.
    #[arg(long, default_value_t = 25, conflicts_with = "tenant")]
    users: usize,
    /// Every seeded member starts with the bot installed (Teams tells the bot nothing about it).
    #[arg(long, conflicts_with = "tenant")]
    all_installed: bool,
    /// Load the tenant from a JSON file shaped like `GET /_emulator/tenant`.
    #[arg(long, value_name = "FILE")]
    tenant: Option<PathBuf>,
    /// Where Teams posts activities: the bot's messaging endpoint.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:3978/api/messages"
    )]
    bot_endpoint: String,
    /// Connector requests per second per app per tenant (0 = no limit).
    #[arg(long, value_name = "R", default_value_t = herald_core::limits::TENANT_RPS_DEFAULT)]
    rps: u32,
    /// Injected faults, e.g. `502=0.05,503=0.02,timeout=0.01,latency=20ms,seed=7`.
    #[arg(long, value_name = "SPEC", value_parser = FaultSpec::parse)]
    faults: Option<FaultSpec>,
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3979")]
    listen: SocketAddr,
    /// Listen on an address other machines can reach. The control API is unauthenticated: it
    /// makes signed activities, and hands out tokens of the simulated people.
    #[arg(long)]
    public: bool,
    /// The bot's Microsoft App ID that the emulator registers and trusts.
    #[arg(long, value_name = "ID", requires = "app_password")]
    app_id: Option<String>,
    /// The bot's client secret.
    #[arg(long, value_name = "SECRET", requires = "app_id")]
    app_password: Option<String>,
    /// Turn off the per-conversation rate windows.
    #[arg(long)]
    no_conversation_limits: bool,
    /// Keep no transcripts (for load tests: memory stays flat).
    #[arg(long)]
    no_transcripts: bool,
    /// Graph requests per second per app (0 = no limit).
    #[arg(long, value_name = "R", default_value_t = 0)]
    graph_rps: u32,
}

/// The emulator (and the sandbox) listen on loopback unless told otherwise with `--public`.
pub fn refuse_public(flag: &str, addr: SocketAddr, public: bool) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || public {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond loopback (--public): anyone who can connect can drive the emulated Teams");
        }
        return Ok(());
    }
    anyhow::bail!(
        "{flag} {addr} is not a loopback address. The emulator's control API is unauthenticated:          whoever reaches it can sign activities as Teams and read people's tokens.          Listen on 127.0.0.1, or pass --public to expose it anyway."
    )
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    refuse_public("--listen", args.listen, args.public)?;
    let started = Instant::now();
    let custom_password = args.app_password.is_some();
    let tenant = match args.tenant {
        Some(path) => TenantSpec::File(path),
        None if args.all_installed => TenantSpec::SeededInstalled { users: args.users },
        None => TenantSpec::Seeded { users: args.users },
    };
    let config = RuntimeConfig {
        tenant_rps: args.rps,
        conversation_limits: !args.no_conversation_limits,
        transcripts: !args.no_transcripts,
        graph_rps: args.graph_rps,
        faults: args.faults.unwrap_or_default(),
        ..RuntimeConfig::default()
    };
    let faults = describe_faults(&config.faults);
    let limits = format!(
        "{}, per-conversation windows {}",
        if config.tenant_rps == 0 {
            "no tenant limit".to_owned()
        } else {
            format!("{} requests/s per tenant", config.tenant_rps)
        },
        if config.conversation_limits {
            "on"
        } else {
            "off"
        }
    );
    let emulator = Emulator::start(EmulatorOptions {
        listen: args.listen,
        bot_endpoint: args.bot_endpoint,
        tenant,
        app_id: args.app_id,
        app_password: args.app_password,
        config,
        clock: Arc::new(herald_core::SystemClock),
    })
    .await
    .context("the emulator could not start")?;
    let o = emulator.origin().to_owned();
    let mut out = format!(
        "Herald emulator listening on {o} (ready in {} ms)\n  {}\n  bot endpoint: {} (activities signed with the emulator's keys)\n  limits: {limits}; faults: {faults}\n\nPoint a bot or a Herald server at it:\n",
        started.elapsed().as_millis(),
        emulator.summary(),
        emulator.bot_endpoint(),
    );
    for (k, v) in emulator.bot_settings() {
        let v = if k == "HERALD_APP_PASSWORD" && custom_password {
            "<the --app-password you gave>".to_owned()
        } else {
            v
        };
        // Shell-quoted when needed, so the lines can be pasted or eval'd as they are.
        let v = if v.contains(|c: char| c.is_whitespace() || c == '\'') {
            format!("'{}'", v.replace('\'', r"'\''"))
        } else {
            v
        };
        out.push_str(&format!("  export {k}={v}\n"));
    }
    out.push_str(&format!(
        "\nAct as the people in the tenant:\n  curl -s {o}/_emulator/tenant\n  curl -s -X POST {o}/_emulator/users/user1@sandbox.example/install\n  curl -s {o}/_emulator/users/user1@sandbox.example/transcript\n  curl -s {o}/_emulator/stats\n"
    ));
    print!("{out}");
    crate::shutdown_signal().await;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

fn describe_faults(f: &FaultSpec) -> String {
    let mut parts: Vec<String> = f
        .status_rates
        .iter()
        .map(|(c, r)| format!("{c} at {:.1} %", r * 100.0))
        .collect();
    if f.rate_timeout > 0.0 {
        parts.push(format!("held at {:.1} %", f.rate_timeout * 100.0));
    }
    if f.latency_ms > 0 {
        parts.push(format!("+{} ms", f.latency_ms));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        format!("{} (seed {})", parts.join(", "), f.seed)
    }
}
