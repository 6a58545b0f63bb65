//! `orderflow replay`: what a candidate rule set would decide differently
//! from a baseline over a history of orders. The engine is
//! `orderflow-replay`; this is arguments, progress, output and exit code.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use orderflow_host::{RuleSet, Runtime, RuntimeConfig};
use orderflow_replay::Options;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The rule set decisions are compared against: a manifest file, or
    /// with --bucket a revision published there (`live`, `sha256:…` or 8+
    /// hex digits).
    #[arg(long)]
    baseline: String,
    /// The rule set under test: a manifest file, or with --bucket a
    /// revision published there.
    #[arg(long)]
    candidate: String,
    /// The plugin bucket, for a --baseline or --candidate that is not a
    /// file: its manifest and plugins are downloaded and hash-checked.
    #[cfg(feature = "aws")]
    #[arg(long)]
    bucket: Option<String>,
    /// The live manifest's key in --bucket; revisions are kept beside it.
    #[cfg(feature = "aws")]
    #[arg(long, default_value = "plugins/manifest.json")]
    manifest_key: String,
    /// JSON Lines of wire orders or decision-log records, plain or gzip;
    /// `-` is stdin.
    #[arg(required = true)]
    orders: Vec<String>,
    /// Print one JSON summary instead of the text report.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report (charts, example orders).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Exit 1 when any order's high-value decision flipped.
    #[arg(long)]
    fail_on_flips: bool,
    /// Worker threads [default: one per core], as for `orderflow run`.
    /// The report is the same for any number.
    #[arg(
        long,
        alias = "threads",
        default_value_t = 0,
        hide_default_value = true
    )]
    jobs: usize,
    /// Example orders shown per kind of difference.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Compiled-plugin cache, as for `orderflow run`.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Where the rule sets come from: files, and a bucket's revisions.
struct Sources {
    tokio: tokio::runtime::Runtime,
    #[cfg(feature = "aws")]
    store: Option<orderflow_aws::operator::PluginStore>,
}

impl Sources {
    fn new(args: &Args) -> Result<Sources> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        #[cfg(feature = "aws")]
        let store = args.bucket.as_ref().map(|bucket| {
            let sdk = tokio.block_on(orderflow_aws::clients::sdk_config());
            orderflow_aws::operator::PluginStore::new(
                orderflow_aws::clients::s3(&sdk),
                orderflow_aws::config::PluginLocation::new(
                    bucket.clone(),
                    args.manifest_key.clone(),
                ),
            )
        });
        #[cfg(not(feature = "aws"))]
        let _ = args;
        Ok(Sources {
            tokio,
            #[cfg(feature = "aws")]
            store,
        })
    }

    /// A manifest file; with a bucket, a revision published there when no
    /// such file exists.
    fn load(&self, runtime: &Runtime, role: &str, manifest: &str) -> Result<RuleSet> {
        let path = Path::new(manifest);
        #[cfg(feature = "aws")]
        if let (false, Some(store)) = (path.exists(), &self.store) {
            let bucket = &store.location().bucket;
            return self
                .tokio
                .block_on(store.rules_at(manifest, runtime))
                .with_context(|| {
                    format!("loading the {role} rule set {manifest} from s3://{bucket}")
                });
        }
        if !path.exists() {
            bail!("no {role} manifest at {}", path.display());
        }
        orderflow_replay::load_rule_set(runtime, path)
            .with_context(|| format!("loading the {role} rule set {}", path.display()))
    }
}

/// A spinner with the count and rate, only when a person is watching.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} lines replayed ({per_sec}, {elapsed})")
            .expect("a valid progress template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let threads = match args.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: args.cache_dir.clone().or_else(crate::user_cache_dir),
        // Every worker holds an instance of each rule while it evaluates.
        max_instances: 128.max(threads as u32 * 32),
        // Configured once per rule, not once per order: a million orders
        // repay the snapshots' compiles many times over.
        preinit: true,
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let sources = Sources::new(&args)?;
    let baseline = sources.load(&runtime, "baseline", &args.baseline)?;
    let candidate = sources.load(&runtime, "candidate", &args.candidate)?;
    let inputs = sources
        .tokio
        .block_on(crate::inputs::resolve(&args.orders))?;
    let inputs = &inputs.inputs;

    let bar = progress_bar();
    let tick = |n: u64| {
        if let Some(bar) = &bar {
            bar.inc(n)
        }
    };
    let options = Options {
        threads,
        examples: args.examples,
        progress: Some(&tick),
    };
    let summary = orderflow_replay::replay(&baseline, &candidate, inputs, &options);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = summary?;
    if summary.orders == 0 && summary.invalid.count == 0 {
        bail!("no orders in the input (JSON Lines of orders or decision-log records)");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", orderflow_replay::text::render(&summary));
    }
    if let Some(path) = &args.html {
        std::fs::write(path, orderflow_replay::html::render(&summary))
            .with_context(|| format!("writing the HTML report {}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    Ok(if args.fail_on_flips && summary.flipped() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
