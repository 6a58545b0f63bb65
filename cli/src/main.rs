//! `orderflow`: the pipeline on a laptop, and tools for plugin authors.
//!
//! Exit codes: 0 every order went through (stored or not high-value);
//! 1 at least one order was rejected (its line and reason are printed);
//! 2 the command could not run (bad arguments, manifest, plugin or input);
//! for `plugin check` and `plugin build`, 1 means the plugin does not fit
//! the contract (or, for `build`, does not compile); for `plugin test`, 1
//! means a fixture case failed; for `replay`, 1 means an order flipped and
//! `--fail-on-flips` was given; for `dlq redrive`, 1 means a message was
//! left behind.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use orderflow_host::{Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod author;
mod chunks;
#[cfg(feature = "aws")]
mod dlq;
mod inputs;
#[cfg(feature = "aws")]
mod operator;
mod replay;
mod run;

#[derive(Parser)]
#[command(
    name = "orderflow",
    version,
    about = "Run orders through orderflow's rule and transform plugins."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run orders (JSON Lines or a JSON array; `-` for stdin) through the
    /// embedded pipeline: rules, an in-process topic and queue, transforms,
    /// and a store on disk. Streamed on every core (`--jobs`), each report
    /// printed in input order.
    Run(run::Args),
    /// Write realistic orders as JSON Lines from a fixed seed (the
    /// benchmark workload): 1-8 lines, five currencies, about a fifth
    /// high-value under the example rules, e-mail and phone attributes.
    Gen {
        /// How many orders.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// The same seed always gives the same orders.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Compare a candidate rule set with a baseline over a history of orders
    /// (JSON Lines of wire orders or decision-log records, plain or gzip):
    /// which orders would flip, through which rules.
    Replay(replay::Args),
    /// Tools for plugin authors.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Operate the plugin set live in S3: publish, roll back, see what is live.
    /// Honours the usual AWS configuration (profile, region, AWS_ENDPOINT_URL).
    #[cfg(feature = "aws")]
    Plugins {
        #[command(flatten)]
        location: operator::Location,
        #[command(subcommand)]
        command: operator::PluginsCommand,
    },
    /// The dead-letter queue: what is there and why, and a redrive after a
    /// fix. Honours the usual AWS configuration, like `plugins`.
    #[cfg(feature = "aws")]
    Dlq {
        #[command(flatten)]
        queues: dlq::Queues,
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin crate (outside any workspace, with the SDK vendored):
    /// a working example, fixtures, and a README on building and publishing.
    New {
        name: String,
        #[arg(long, value_enum)]
        kind: author::new::NewKind,
        /// The folder to create the crate in.
        #[arg(long, default_value = ".")]
        path: PathBuf,
    },
    /// Build a plugin crate into a component (adds the wasm target if it is
    /// missing); prints its path, size, sha256, world and compile time.
    /// Exit 1: it did not compile or does not fit the contract.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run a plugin through the real host over its fixtures
    /// (`<dir>/fixtures/*.json`), with each case's logs and cost. Exit 1: a
    /// case failed; 2: the run could not start.
    Test {
        /// The plugin crate, built first unless --wasm is given.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// A component built elsewhere (in any language) to test instead.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// The fixtures' folder [default: <dir>/fixtures].
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// The plugin's manifest entry (JSON), for what it asks beyond the
        /// defaults: a WASI grant, its own limits. Each case's `config` wins.
        #[arg(long)]
        entry: Option<PathBuf>,
        /// Check verdicts and fields only, not each case's `max_fuel`: for a
        /// twin in another language run over the fixtures of the original.
        #[arg(long)]
        no_fuel_limits: bool,
        /// One JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Tell whether a component fits the contract: its world, size and load time.
    Check {
        wasm: PathBuf,
        /// Configuration to try it with, as JSON.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Its manifest entry (JSON), for a WASI grant or limits of its own.
        #[arg(long)]
        entry: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Gen { count, seed } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            orderflow_workload::write_orders(&mut out, count, seed)
                .context("writing orders to stdout")
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Replay(args) => replay::run(args),
        Command::Plugin { command } => match command {
            PluginCommand::New { name, kind, path } => {
                author::new::new(&name, kind, &path).map(|dir| {
                    println!(
                        "created {}: build it with `orderflow plugin build {0}`",
                        dir.display()
                    );
                    ExitCode::SUCCESS
                })
            }
            PluginCommand::Build { dir } => author::build::build(&dir),
            PluginCommand::Test {
                dir,
                wasm,
                fixtures,
                entry,
                no_fuel_limits,
                json,
            } => author::test::test(author::test::Args {
                dir,
                wasm,
                fixtures,
                entry,
                fuel_limits: !no_fuel_limits,
                json,
            }),
            PluginCommand::Check {
                wasm,
                config,
                entry,
            } => check(&wasm, &config, entry.as_deref()),
        },
        #[cfg(feature = "aws")]
        Command::Plugins { location, command } => operator::plugins(location, command),
        #[cfg(feature = "aws")]
        Command::Dlq { queues, command } => dlq::dlq(queues, command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The per-user cache directory (never one inside the working directory,
/// which may be a checkout someone else prepared).
pub(crate) fn user_cache_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })
        .map(|d| d.join("orderflow"))
}

/// `sha256:` and 12 hex digits: enough to tell revisions apart and to
/// give back to `--to`, `show` or `diff`.
pub(crate) fn short(revision: &str) -> String {
    revision.chars().take("sha256:".len() + 12).collect()
}

fn check(wasm: &Path, config: &str, entry: Option<&Path>) -> Result<ExitCode> {
    let config: serde_json::Value =
        serde_json::from_str(config).context("--config is not valid JSON")?;
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 8,
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let entry = entry.map(author::read_entry).transpose()?;
    let c = orderflow_host::check_plugin(&runtime, &bytes, &config, entry.as_ref());
    println!("plugin:   {}", wasm.display());
    println!("size:     {} bytes (sha256 {})", c.size_bytes, c.sha256);
    println!(
        "compile:  {:.1} ms (cold load; a cached artifact loads in well under 1 ms)",
        c.compile_micros as f64 / 1000.0
    );
    if !c.interface.is_empty() {
        println!("shape:    {}", c.interface);
    }
    match c.world {
        Some(world) => {
            println!("fits:     {world}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            for p in &c.problems {
                println!("problem:  {p}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
