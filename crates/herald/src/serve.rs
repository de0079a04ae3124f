//! `herald serve` and `herald migrate`.

use anyhow::Context as _;
use herald_server::{Config, Server};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ConfigArgs {
    /// A TOML configuration file (default: ./herald.toml when it exists). HERALD_* variables win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArgs {
    fn path(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            Path::new("herald.toml")
                .exists()
                .then(|| PathBuf::from("herald.toml"))
        })
    }

    pub fn load(&self, require_bot: bool) -> anyhow::Result<Config> {
        Ok(Config::load(
            self.path().as_deref(),
            &Config::from_env(),
            require_bot,
        )?)
    }
}

pub async fn serve(args: ConfigArgs) -> anyhow::Result<()> {
    let cfg = args.load(true)?;
    let server = Server::start(cfg, Arc::new(herald_core::SystemClock))
        .await
        .context("herald serve could not start")?;
    println!("herald serve listening on http://{}", server.addr());
    crate::shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and welcomes");
    server.shutdown().await;
    Ok(())
}

pub async fn migrate(args: ConfigArgs) -> anyhow::Result<()> {
    let cfg = args.load(false)?;
    let store = herald_store::open(cfg.database_url.expose())
        .await
        .context("cannot open the store")?;
    let applied = store.migrate().await.context("migration failed")?;
    if applied.is_empty() {
        println!("{}: already up to date", store.backend());
    } else {
        println!("{}: applied migrations {applied:?}", store.backend());
    }
    Ok(())
}

/// `herald login`: the device-code sign-in of a user Herald may send as.
pub async fn login(args: ConfigArgs, tenant: Option<String>) -> anyhow::Result<()> {
    let cfg = args.load(true)?;
    herald_server::delegated::Sealer::new(cfg.secret_key.as_ref())?;
    let store = herald_store::open(cfg.database_url.expose())
        .await
        .context("cannot open the store")?;
    store.migrate().await.context("migration failed")?;
    let code = herald_server::delegated::begin_login(&cfg, tenant.as_deref()).await?;
    // The identity platform's own words: where to go and which code to enter.
    eprintln!("{}", code.message);
    let clock: herald_core::SharedClock = Arc::new(herald_core::SystemClock);
    let upn =
        herald_server::delegated::finish_login(&cfg, &*store, &clock, tenant.as_deref(), &code)
            .await?;
    println!("signed in as {upn}; send as them with --as-user {upn}");
    Ok(())
}

/// `herald logout UPN`: forgets the user's tokens.
pub async fn logout(args: ConfigArgs, upn: String) -> anyhow::Result<()> {
    let cfg = args.load(false)?;
    let store = herald_store::open(cfg.database_url.expose())
        .await
        .context("cannot open the store")?;
    store.migrate().await.context("migration failed")?;
    let upn = herald_core::ids::Upn::parse(upn).map_err(|e| anyhow::anyhow!("{e}"))?;
    if store.delete_user_token(&upn).await? {
        println!("{upn} signed out; their tokens are deleted");
        Ok(())
    } else {
        anyhow::bail!("{upn} was not signed in")
    }
}
