//! `orderflow run`: orders through the embedded pipeline, streamed (see
//! `orderflow_pipeline::embedded::stream`) on every core, each order's
//! report printed in input order as soon as the orders before it are done.

use crate::chunks::Chunks;
use crate::short;
use anyhow::Result;
use orderflow_host::{
    RuleSet, Runtime, RuntimeConfig, TransformChain, read_manifest, wasm_from_dir,
};
use orderflow_pipeline::embedded::stream::{self, CHUNK, Embedded, Options};
use orderflow_pipeline::embedded::{OrderReport, OrderStatus};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    orders: Vec<PathBuf>,
    /// The plugin manifest (hashes filled in; `cargo xtask plugins` writes
    /// the example one).
    #[arg(
        long,
        env = "ORDERFLOW_MANIFEST",
        default_value = "target/example-plugins/manifest.json"
    )]
    manifest: PathBuf,
    /// Where stored items go, one JSON file per (OrderId, Timestamp).
    #[arg(long, env = "ORDERFLOW_STORE", default_value = ".orderflow/store")]
    store: PathBuf,
    /// Compiled-plugin cache, so a second run does not compile
    /// [default: $XDG_CACHE_HOME/orderflow, or ~/.cache/orderflow]. It
    /// holds native code, so it must be private to this user.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// One JSON object per order instead of a summary line.
    #[arg(long)]
    json: bool,
    /// Worker threads [default: one per core]. The output is the same
    /// for any number.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    jobs: usize,
    /// Configure each plugin once and start every order's fresh instance
    /// from a snapshot of it: about 100 µs less per order, for two more
    /// compiles per plugin on a cold cache. `auto`: when the input files
    /// hold 4 MiB or more (some 10,000 orders).
    #[arg(long, value_enum, default_value_t = Preinit::Auto)]
    preinit: Preinit,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Preinit {
    Auto,
    Always,
    Never,
}

/// Input files this large repay the snapshots' compiles many times over.
const PREINIT_FROM_BYTES: u64 = 4 << 20;

impl Preinit {
    fn wanted(self, inputs: &[PathBuf]) -> bool {
        match self {
            Preinit::Always => true,
            Preinit::Never => false,
            // stdin's length is unknown: it counts as small.
            Preinit::Auto => {
                let bytes: u64 = inputs
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum();
                bytes >= PREINIT_FROM_BYTES
            }
        }
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !args.manifest.exists() {
        anyhow::bail!(
            "no manifest at {}: build the example plugins with `cargo xtask plugins`, or pass --manifest",
            args.manifest.display()
        );
    }
    let options = Options::with_jobs(args.jobs);
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: args.cache_dir.clone().or_else(crate::user_cache_dir),
        // Every worker holds an instance of each plugin while it runs one.
        max_instances: 128.max(options.jobs as u32 * 32),
        preinit: args.preinit.wanted(&args.orders),
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let manifest = read_manifest(&args.manifest)?;
    let dir = args.manifest.parent().unwrap_or(Path::new("."));
    let rules = RuleSet::load(&runtime, &manifest, &wasm_from_dir(dir))?;
    let transforms = TransformChain::load(&runtime, &manifest, &wasm_from_dir(dir))?;
    let loaded: Vec<_> = rules.loaded.iter().chain(&transforms.loaded).collect();
    let compiled = loaded
        .iter()
        .filter(|p| p.load == orderflow_host::LoadKind::Compiled)
        .count();
    let load_ms = loaded.iter().map(|p| p.load_micros).sum::<u64>() as f64 / 1000.0;

    let mut chunks = Chunks::open(&args.orders, CHUNK)?;
    let names = chunks.names();
    let stages = Embedded {
        rules: &rules,
        transforms: &transforms,
        store: &args.store,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut counts = [0usize; 4];
    let mut written: std::io::Result<()> = Ok(());
    let stats = stream::run_chunks(&stages, &mut chunks, options, |&input, report| {
        counts[match report.status {
            OrderStatus::Stored => 0,
            OrderStatus::NotHighValue => 1,
            OrderStatus::Rejected => 2,
            OrderStatus::Failed => 3,
        }] += 1;
        if written.is_ok() {
            written = print(&mut out, &report, &names[input], &rules.revision, args.json);
        }
    });
    written?;
    out.flush()?;
    if let Some(e) = chunks.error {
        return Err(e);
    }
    if !args.json {
        let failed = match counts[3] {
            0 => String::new(),
            n => format!(", {n} failed (transient: run them again)"),
        };
        writeln!(
            out,
            "{} orders: {} stored, {} not high-value, {} rejected{failed} (rule set {}; store {})",
            stats.orders,
            counts[0],
            counts[1],
            counts[2],
            short(&manifest.revision),
            args.store.display()
        )?;
        writeln!(
            out,
            "{} plugins loaded in {load_ms:.1} ms ({compiled} compiled, {} from the artifact cache)",
            loaded.len(),
            loaded.len() - compiled
        )?;
    }
    Ok(if counts[2] + counts[3] == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One order's report: a JSON object, or a summary line.
fn print(
    out: &mut impl Write,
    report: &OrderReport,
    source: &str,
    revision: &str,
    json: bool,
) -> std::io::Result<()> {
    if !json {
        return writeln!(out, "{}", summary(report, source));
    }
    let mut v = serde_json::to_value(report)?;
    v["source"] = source.into();
    // Every result names the rule set it met; an order refused before any
    // rule saw it (an invalid line) has an empty trace.
    v["revision"] = revision.into();
    v["trace"] = match &report.producer.decision {
        Some(d) => serde_json::to_value(&d.trace)?,
        None => serde_json::Value::Array(Vec::new()),
    };
    writeln!(out, "{v}")
}

fn summary(r: &OrderReport, source: &str) -> String {
    let at = format!("{source}:{}", r.line.unwrap_or(0));
    let id = r.order_id.as_deref().unwrap_or("-");
    match r.status {
        OrderStatus::Rejected => format!(
            "{id:<10} REJECTED   {at}: {}",
            r.error.as_deref().unwrap_or("")
        ),
        OrderStatus::Failed => format!(
            "{id:<10} FAILED     {at}: {}",
            r.error.as_deref().unwrap_or("")
        ),
        status @ (OrderStatus::Stored | OrderStatus::NotHighValue) => {
            let verdict = if r.high_value {
                "HIGH-VALUE"
            } else {
                "standard"
            };
            let attrs: Vec<String> = r
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let stored = if status == OrderStatus::Stored {
                "stored"
            } else {
                ""
            };
            format!(
                "{id:<10} {verdict:<10} {stored:<6} {:<22} {}",
                if attrs.is_empty() {
                    "-".to_string()
                } else {
                    attrs.join(",")
                },
                r.reasons.join("; ")
            )
        }
    }
}
