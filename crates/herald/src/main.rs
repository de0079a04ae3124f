//! `herald`: proactive Microsoft Teams messages, from one user to a whole tenant.

mod client;
#[cfg(feature = "emulator")]
mod emulator;
mod installations;
#[cfg(feature = "emulator")]
mod sandbox;
mod send;
mod serve;
mod setup;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "herald", version, about = "Proactive Microsoft Teams messages, from one user to a whole tenant", long_about = None)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, env = "HERALD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: the size of the largest command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the bot endpoint, the HTTP API and the workers.
    Serve(serve::ConfigArgs),
    /// Apply the store's migrations (serve also does at start-up).
    Migrate(serve::ConfigArgs),
    /// Sign a user in (device code) so that notifications can be sent as them (--as-user).
    Login {
        /// The tenant to sign in to (default: tenant_id, else any organization).
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        #[command(flatten)]
        config: serve::ConfigArgs,
    },
    /// Sign a user out: their stored tokens are deleted.
    Logout {
        upn: String,
        #[command(flatten)]
        config: serve::ConfigArgs,
    },
    /// Stored conversation references: list them, or import a Teams Toolkit store.
    Installations {
        #[command(subcommand)]
        command: installations::Command,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Run a local Microsoft Teams: Bot Connector, sign-in, Graph and a simulated tenant.
    #[cfg(feature = "emulator")]
    Emulator(emulator::Args),
    /// The emulator and the server in one process, no credentials needed (--demo shows it off).
    #[cfg(feature = "emulator")]
    Sandbox(sandbox::Args),
    /// Send a notification.
    Send {
        #[command(flatten)]
        args: send::SendArgs,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// A notification's state and counts.
    Status {
        id: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Every recipient's outcome.
    Report {
        id: String,
        #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
        format: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// The answers to a card that waits for them: a tally per action, then each recipient.
    Responses {
        id: String,
        /// Wait up to this long for every answer (e.g. 90s, 30m).
        #[arg(long, value_name = "DUR", value_parser = send::parse_duration)]
        wait: Option<u64>,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Stop what has not been sent.
    Cancel {
        id: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Take a notification back: cancel what is not sent and delete every delivered message.
    Recall {
        id: String,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Change every delivered message of a notification (a card is rendered for each recipient).
    Edit(send::EditArgs),
    /// Build the Teams app package (manifest and icons, a zip) for this configuration.
    Manifest(setup::ManifestArgs),
    /// Write a Power Automate custom connector (OpenAPI 2.0 and its connection properties).
    ConnectorDefinition(setup::ConnectorArgs),
    /// Check what a real tenant needs: credentials, Graph permissions, the app in the catalog,
    /// OpenID metadata, allow-lists, the database, the clock (one line each, ✓ or ✗ and the fix).
    Doctor(setup::DoctorArgs),
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The sandbox talks to a person on the terminal: only warnings unless HERALD_LOG asks.
    #[cfg(feature = "emulator")]
    let quiet = matches!(cli.command, Command::Sandbox(_));
    #[cfg(not(feature = "emulator"))]
    let quiet = false;
    let default = if quiet { "warn" } else { "info" };
    init_logging(cli.log_format, default);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("herald: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Migrate(args) => serve::migrate(args).await,
            Command::Login { tenant, config } => serve::login(config, tenant).await,
            Command::Logout { upn, config } => serve::logout(config, upn).await,
            #[cfg(feature = "emulator")]
            Command::Emulator(args) => emulator::run(args).await,
            #[cfg(feature = "emulator")]
            Command::Sandbox(args) => sandbox::run(args).await,
            Command::Send { args, server } => {
                return send::send(args, &client::Client::new(&server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Status { id, server } => {
                return send::status(&id, &client::Client::new(&server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Report { id, format, server } => {
                return send::report(&id, &format, &client::Client::new(&server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Responses { id, wait, server } => {
                return send::responses(&id, wait, &client::Client::new(&server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Cancel { id, server } => {
                return send::cancel(&id, &client::Client::new(&server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Recall { id, server } => {
                return send::recall(&id, &client::Client::new(&server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Edit(args) => {
                return send::edit(&args, &client::Client::new(&args.server))
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
            Command::Doctor(args) => return setup::doctor(args).await,
            Command::Manifest(args) => setup::manifest(args),
            Command::ConnectorDefinition(args) => setup::connector_definition(args),
            Command::Installations { command, server } => {
                return installations::run(command, server)
                    .await
                    .map_or_else(client::Failure::exit, |()| ExitCode::SUCCESS);
            }
        }
        .map_or_else(
            |e| {
                eprintln!("herald: {e:#}");
                ExitCode::from(client::EXIT_FAILED)
            },
            |()| ExitCode::SUCCESS,
        )
    });
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
