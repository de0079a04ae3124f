//! `herald manifest` and `herald connector-definition`: files for getting to a real tenant.

use crate::serve::ConfigArgs;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ManifestArgs {
    /// Where to write the app package.
    #[arg(long, value_name = "FILE.zip", default_value = "herald-app.zip")]
    out: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(clap::Args)]
pub struct ConnectorArgs {
    /// The directory to write apiDefinition.swagger.json and apiProperties.json into.
    #[arg(long, value_name = "DIR", default_value = "herald-connector")]
    out: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn manifest(args: ManifestArgs) -> anyhow::Result<()> {
    let cfg = args.config.load(false)?;
    let package = herald_setup::manifest::package(&cfg)?;
    write(&args.out, &package.zip)?;
    let m = &package.manifest;
    println!(
        "wrote {} (Teams manifest {}, app id {}, bot {}; {} files)",
        args.out.display(),
        herald_setup::manifest::SCHEMA_VERSION,
        m["id"].as_str().unwrap_or(""),
        m["bots"][0]["botId"].as_str().unwrap_or(""),
        package.files.len(),
    );
    if cfg.manifest.id.is_none() {
        println!("  the app id is derived from app_id; it stays the same each time you build the package");
    }
    println!("  upload it: Teams admin center → Teams apps → Manage apps → Upload new app; then set teams_app_id to the catalog id");
    Ok(())
}

pub fn connector_definition(args: ConnectorArgs) -> anyhow::Result<()> {
    let cfg = args.config.load(false)?;
    let base = match &cfg.public_url {
        Some(u) => u.clone(),
        None => {
            eprintln!(
                "herald: public_url is not set: the definition points at http://{} (Power Automate reaches Herald only over https; set public_url)",
                cfg.listen
            );
            format!("http://{}", cfg.listen)
        }
    };
    let accent = cfg.manifest.accent_color.as_deref().unwrap_or("#4F46E5");
    let c = herald_setup::connector::connector(&herald_server::openapi_document(), &base, accent)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let definition = args.out.join("apiDefinition.swagger.json");
    let properties = args.out.join("apiProperties.json");
    write(&definition, &serde_json::to_vec_pretty(&c.definition)?)?;
    write(&properties, &serde_json::to_vec_pretty(&c.properties)?)?;
    let operations: usize = c.definition["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .filter_map(|v| v.as_object())
                .map(|o| o.len())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "wrote {} ({operations} operations of {base}) and {}",
        definition.display(),
        properties.display()
    );
    println!("  import them: Power Automate → Custom connectors → New → Import an OpenAPI file");
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[derive(clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Prints one line per check; exits 0 only if every one passed.
pub async fn doctor(args: DoctorArgs) -> std::process::ExitCode {
    let cfg = match args.config.load(false) {
        Ok(c) => c,
        Err(e) => {
            println!("✗ configuration: {e:#}");
            return std::process::ExitCode::from(crate::client::EXIT_FAILED);
        }
    };
    let clock: herald_core::SharedClock = std::sync::Arc::new(herald_core::SystemClock);
    let checks = herald_setup::doctor::examine(&cfg, clock).await;
    for c in &checks {
        println!("{}", c.line());
    }
    let failed = checks
        .iter()
        .filter(|c| c.verdict != herald_setup::doctor::Verdict::Pass)
        .count();
    if failed == 0 {
        println!("all {} checks passed", checks.len());
        std::process::ExitCode::SUCCESS
    } else {
        println!("{failed} of {} checks did not pass", checks.len());
        std::process::ExitCode::from(crate::client::EXIT_FAILED)
    }
}
