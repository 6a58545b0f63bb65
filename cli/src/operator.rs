//! `orderflow plugins …`: the operator's commands against the plugin bucket.
//!
//! Behind the `aws` feature (on by default, so `cargo install` has it): the
//! AWS SDK, rustls and aws-lc are most of a cold build, and the embedded
//! `run` and the plugin author's tools need none of it.

use anyhow::{Context, Result};
use clap::Subcommand;
use orderflow_host::{Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Location {
    /// The plugin bucket.
    #[arg(long, env = "ORDERFLOW_PLUGIN_BUCKET", global = true)]
    pub bucket: Option<String>,
    /// The live manifest's key; plugins are stored beside it.
    #[arg(
        long,
        env = "ORDERFLOW_MANIFEST_KEY",
        default_value = "plugins/manifest.json",
        global = true
    )]
    pub manifest_key: String,
}

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// Upload built plugins and a new manifest (hashes filled in); the
    /// previous manifest is kept for rollback. Every plugin is loaded and
    /// configured first: nothing is uploaded if one would not load.
    Publish {
        /// A manifest whose `wasm` entries name files relative to --wasm-dir.
        manifest: PathBuf,
        /// Where the wasm files are (default: the manifest's directory).
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
    },
    /// Make the previous manifest (or the given revision) live again.
    Rollback {
        /// A revision (`sha256:…` or at least 8 hex digits) kept in the bucket.
        #[arg(long)]
        to: Option<String>,
    },
    /// Show the live revision, its plugins and the revisions kept.
    Status,
}

pub fn plugins(location: Location, command: PluginsCommand) -> Result<ExitCode> {
    let bucket = location
        .bucket
        .context("name the plugin bucket with --bucket or ORDERFLOW_PLUGIN_BUCKET")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = orderflow_aws::clients::sdk_config().await;
        let store = orderflow_aws::operator::PluginStore::new(
            orderflow_aws::clients::s3(&config),
            orderflow_aws::config::PluginLocation::new(bucket, location.manifest_key),
        );
        let report = match command {
            PluginsCommand::Publish { manifest, wasm_dir } => {
                let bytes = std::fs::read(&manifest)
                    .with_context(|| format!("reading {}", manifest.display()))?;
                let source: orderflow_host::Manifest = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a manifest", manifest.display()))?;
                let dir = wasm_dir
                    .unwrap_or_else(|| manifest.parent().unwrap_or(Path::new(".")).to_path_buf());
                let runtime = Runtime::new(RuntimeConfig {
                    max_instances: 16,
                    ..Default::default()
                })
                .map_err(anyhow::Error::msg)?;
                serde_json::to_value(store.publish(&source, &dir, Some(&runtime)).await?)?
            }
            PluginsCommand::Rollback { to } => {
                serde_json::to_value(store.rollback(to.as_deref()).await?)?
            }
            PluginsCommand::Status => serde_json::to_value(store.status().await?)?,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(ExitCode::SUCCESS)
    })
}
