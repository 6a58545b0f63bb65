//! `orderflow plugins …`: the operator's commands against the plugin bucket.
//!
//! Behind the `aws` feature (on by default, so `cargo install` has it): the
//! AWS SDK, rustls and aws-lc are most of a cold build, and the embedded
//! `run` and the plugin author's tools need none of it.
//!
//! Text for people by default, `--json` for scripts; an AWS error is one
//! line with the likely fix, the SDK's whole account under `-v`.

use crate::short;
use anyhow::{Context, Result};
use clap::Subcommand;
use gate::{Gate, gate};
use keys::{keygen, read_signing_key};
use orderflow_aws::operator::{OperatorError, PluginStore};
use orderflow_host::manifest::diff::{diff, shadow_change};
use orderflow_host::{Runtime, RuntimeConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use text::{
    changes_text, decision_log_location, dry_run_text, shadow_of, shadow_text, show_text,
    status_text,
};

mod gate;
mod keys;
mod text;

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
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// On an AWS error, print the SDK's full account of it too.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Sign the live manifest that publish, rollback or shadow writes with
    /// this ed25519 key (a file of 64 hex digits, from `plugins keygen`).
    #[arg(
        long,
        env = "ORDERFLOW_SIGNING_KEY",
        value_name = "FILE",
        global = true
    )]
    pub signing_key: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// Upload built plugins and a new manifest (hashes filled in), and make
    /// it live. Every plugin is loaded and configured first: nothing is
    /// uploaded if one would not load.
    Publish {
        /// A manifest whose `wasm` entries name files relative to --wasm-dir.
        manifest: PathBuf,
        /// Where the wasm files are (default: the manifest's directory).
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
        /// Check and show what would change from the live set; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The rollout gate: replay these orders (JSON Lines of orders or
        /// decision-log records, plain or gzip, or a decision log at
        /// `s3://bucket/prefix`) through the live set and the new one
        /// first, and refuse to publish when too many flip.
        #[arg(long, value_name = "ORDERS", num_args = 1.., requires = "max_flip_rate")]
        replay: Vec<String>,
        /// The largest share of replayed orders whose high-value decision
        /// may flip, from 0 to 1 (0.01 is 1%).
        #[arg(long, value_name = "P", requires = "replay")]
        max_flip_rate: Option<f64>,
    },
    /// Make what was live before the current revision live again (repeat to
    /// walk further back), or the given revision.
    Rollback {
        /// A revision (`sha256:…` or at least 8 hex digits) kept in the bucket.
        #[arg(long)]
        to: Option<String>,
        /// Gate the rollback too (only when asked: a rollback is usually
        /// urgent): replay these orders through the live set and the one
        /// rolled back to, and refuse when too many flip.
        #[arg(long, value_name = "ORDERS", num_args = 1.., requires = "max_flip_rate")]
        replay: Vec<String>,
        /// The largest share of replayed orders whose decision may flip.
        #[arg(long, value_name = "P", requires = "replay")]
        max_flip_rate: Option<f64>,
    },
    /// The live revision, whether its plugins are there and load (exit 1 if
    /// not: a health check), what a rollback returns to, and the history.
    Status {
        /// The decision log (`s3://bucket/decisions/`, the stack's
        /// DecisionLogBucketName): its newest record says which revision
        /// the producer last decided with.
        #[arg(long, env = "ORDERFLOW_DECISION_LOG", value_name = "S3_URI")]
        decision_log: Option<String>,
    },
    /// Evaluate a published revision beside the live rules on live traffic:
    /// the producer decides every order with both, only the live decision
    /// counts, and each disagreement is logged ("shadow disagreement") and
    /// counted (metric ShadowDisagreements). The live revision stays.
    Shadow {
        /// The candidate (`sha256:…` or at least 8 hex digits), published here.
        #[arg(long, value_name = "REV", required_unless_present = "off")]
        candidate: Option<String>,
        /// End the shadow.
        #[arg(long, conflicts_with = "candidate")]
        off: bool,
    },
    /// Write a new ed25519 signing key to a file (mode 0600) and print its
    /// public key, for the stack's ManifestPublicKey parameter.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// A revision's plugins: versions, hashes, configurations, limits.
    Show {
        /// `live`, or a revision (`sha256:…` or at least 8 hex digits).
        #[arg(default_value = "live")]
        revision: String,
    },
    /// What changes from one revision to another, plugin by plugin.
    Diff {
        from: String,
        /// [default: live]
        #[arg(default_value = "live")]
        to: String,
    },
}

pub fn plugins(location: Location, command: PluginsCommand) -> Result<ExitCode> {
    let verbose = location.verbose;
    let result = run(location, command);
    if let Err(e) = &result
        && verbose
        && let Some(detail) = e
            .downcast_ref::<OperatorError>()
            .and_then(OperatorError::detail)
    {
        eprintln!("{detail}");
    }
    result
}

fn run(location: Location, command: PluginsCommand) -> Result<ExitCode> {
    if let PluginsCommand::Keygen { out } = &command {
        return keygen(out);
    }
    let bucket = location
        .bucket
        .context("name the plugin bucket with --bucket or ORDERFLOW_PLUGIN_BUCKET")?;
    let json = location.json;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = orderflow_aws::clients::sdk_config().await;
        let store = PluginStore::new(
            orderflow_aws::clients::s3(&config),
            orderflow_aws::config::PluginLocation::new(bucket, location.manifest_key),
        );
        let store = match &location.signing_key {
            Some(path) => store.signing(read_signing_key(path)?),
            None => store,
        };
        match command {
            PluginsCommand::Publish {
                manifest,
                wasm_dir,
                dry_run,
                replay,
                max_flip_rate,
            } => {
                let bytes = std::fs::read(&manifest)
                    .with_context(|| format!("reading {}", manifest.display()))?;
                let source: orderflow_host::Manifest = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a manifest", manifest.display()))?;
                let dir = wasm_dir
                    .unwrap_or_else(|| manifest.parent().unwrap_or(Path::new(".")).to_path_buf());
                let runtime = runtime()?;
                let gate = match max_flip_rate {
                    Some(max) => {
                        let candidate = store.candidate_rules(&source, &dir, &runtime)?;
                        Some(gate(&store, candidate, &runtime, &replay, max).await?)
                    }
                    None => None,
                };
                let refused = gate.as_ref().is_some_and(|g| !g.passed);
                if dry_run || refused {
                    let plan = store.dry_run(&source, &dir, Some(&*runtime)).await?;
                    let report = serde_json::json!({ "dry_run": plan, "gate": gate });
                    print(json, &report, |_| {
                        let gate = gate.as_ref().map(Gate::text).unwrap_or_default();
                        match refused {
                            true => format!("{gate}refused: nothing was published"),
                            false => format!("{gate}{}", dry_run_text(&plan)),
                        }
                    })?;
                    return Ok(ExitCode::from(refused as u8));
                }
                if let Some(g) = &gate
                    && !json
                {
                    print!("{}", g.text());
                }
                // The functions' targets, so a cold function deserialises
                // instead of compiling.
                let precompiler =
                    orderflow_host::Precompiler::for_functions().map_err(anyhow::Error::msg)?;
                let report = store
                    .precompiling(Arc::new(precompiler))
                    .publish(&source, &dir, Some(&*runtime))
                    .await?;
                print(json, &report, |r| {
                    let uploaded = r.plugins.iter().filter(|p| p.uploaded).count();
                    match (&r.previous, r.changed) {
                        (_, false) => {
                            format!("{} is live already; nothing changed", short(&r.revision))
                        }
                        (previous, true) => format!(
                            "published {} (was {}); uploaded {uploaded} of {} plugin objects and {} precompiled artifacts",
                            short(&r.revision),
                            previous.as_deref().map_or("nothing".into(), short),
                            r.plugins.len(),
                            r.artifacts_uploaded
                        ),
                    }
                })
            }
            PluginsCommand::Rollback {
                to,
                replay,
                max_flip_rate,
            } => {
                if let Some(max) = max_flip_rate {
                    let target = store.rollback_target(to.as_deref()).await?;
                    let runtime = runtime()?;
                    let candidate = store.rules_at(&target, &runtime).await?;
                    let gate = gate(&store, candidate, &runtime, &replay, max).await?;
                    if !gate.passed {
                        let report = serde_json::json!({ "to": target, "gate": gate });
                        print(json, &report, |_| {
                            format!("{}refused: nothing was rolled back", gate.text())
                        })?;
                        return Ok(ExitCode::from(1));
                    }
                    if !json {
                        print!("{}", gate.text());
                    }
                }
                let report = store.rollback(to.as_deref()).await?;
                print(json, &report, |r| {
                    format!("rolled back: {} → {} is live", short(&r.from), short(&r.to))
                })
            }
            PluginsCommand::Shadow { candidate, off } => {
                let report = store.shadow(candidate.as_deref().filter(|_| !off)).await?;
                print(json, &report, shadow_text)
            }
            PluginsCommand::Status { decision_log } => {
                let mut status = store.status(Some(&*runtime()?)).await?;
                if let Some(uri) = decision_log {
                    let log = decision_log_location(&uri)?;
                    let s3 = orderflow_aws::clients::s3(&config);
                    status.reported =
                        orderflow_aws::operator::reported::reported(&s3, &log).await?;
                }
                print(json, &status, status_text)?;
                Ok(if status.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            PluginsCommand::Keygen { .. } => unreachable!("keygen needs no bucket: run above"),
            PluginsCommand::Show { revision } => {
                let manifest = store.manifest_at(&revision).await?;
                print(json, &manifest.manifest, |_| show_text(&manifest))
            }
            PluginsCommand::Diff { from, to } => {
                let (a, b) = (
                    store.manifest_at(&from).await?,
                    store.manifest_at(&to).await?,
                );
                let changes = diff(&a.manifest, &b.manifest);
                let shadow = shadow_change(&a.manifest, &b.manifest)
                    .map(|f| {
                        format!(
                            "shadow: {} → {}\n",
                            shadow_of(&f.before),
                            shadow_of(&f.after)
                        )
                    })
                    .unwrap_or_default();
                print(json, &changes, |c| {
                    format!(
                        "{} → {}\n{shadow}{}",
                        short(&a.revision),
                        short(&b.revision),
                        changes_text(c)
                    )
                })
            }
        }
    })
}

/// Loads plugins as the functions will, to check them before they go live.
fn runtime() -> Result<Arc<Runtime>> {
    Runtime::new(RuntimeConfig {
        // A gate's replay holds an instance of each rule per worker thread.
        max_instances: 128,
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)
}

fn print<T: Serialize>(json: bool, value: &T, text: impl Fn(&T) -> String) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text(value).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
