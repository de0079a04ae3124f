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
    let store = herald_store::open(&cfg.database_url)
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
