//! `cold-start`: what a cold producer pays before its first decision, with
//! precompiled artifacts and without.
//!
//! Starts moto, creates the stack from template.yaml, publishes the example
//! plugins (with artifacts, as `orderflow plugins publish` does), then
//! starts itself as a child process, again and again: each child is a cold
//! producer (SDK clients, the functions' engine with an empty disk cache,
//! the plugin set from the bucket) that decides one order and prints what
//! its plugins cost to load. The parent times each child from spawn to
//! that line.
//!
//! - `snapshot`: the functions' engine as they run it (pre-initialising):
//!   every plugin from its snapshot artifact, nothing compiled;
//! - `portable`: the functions' engine without pre-initialisation; every
//!   plugin is precompiled;
//! - `native`: an engine tuned to this CPU, whose key no artifact has, so
//!   every plugin is compiled (what every cold start paid before);
//! - `native-preinit`: the same, pre-initialising: each plugin compiled and
//!   snapshotted at load (the fallback when no artifact is for the engine).
//!
//! usage: cold-start [RUNS]   (default 5 per mode; BENCHMARKS.md has figures)

use anyhow::{Context, Result};
use orderflow_aws::function::runtime_config;
use orderflow_aws::{PluginLocation, S3Source};
use orderflow_host::order::Order;
use orderflow_host::{RuleSet, Runtime, RuntimeConfig, Target};
use orderflow_local_stack::{Stack, StackSettings, build_plugins, example_manifest, unique_stage};
use orderflow_pipeline::reload::PluginCache;
use orderflow_test_support::moto::{MotoServer, sdk_config_for};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORDER: &str = include_str!("../../../../samples/order.json");

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("--child") => rt.block_on(child(&args[1..])),
        runs => rt.block_on(parent(runs.map_or(Ok(5), str::parse)?)),
    }
}

/// One cold producer: `--child MODE ENDPOINT BUCKET MANIFEST_KEY`.
async fn child(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let [mode, endpoint, bucket, key] = args else {
        anyhow::bail!("--child MODE ENDPOINT BUCKET MANIFEST_KEY");
    };
    let target = if mode.starts_with("native") {
        Target::Native
    } else {
        Target::Portable
    };
    let preinit = matches!(mode.as_str(), "snapshot" | "native-preinit");
    let sdk = sdk_config_for(endpoint).await;
    let cache = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeConfig {
        target,
        preinit,
        ..runtime_config(cache.path().to_path_buf())
    })
    .map_err(anyhow::Error::msg)?;
    let engine = started.elapsed();
    let source = S3Source::new(
        orderflow_aws::clients::s3(&sdk),
        PluginLocation::new(bucket, key),
    );
    let rules: PluginCache<RuleSet> = PluginCache::new(source, runtime, Duration::from_secs(60));
    let loading = Instant::now();
    let loaded = rules.current().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let load = loading.elapsed();
    let order = Arc::new(Order::from_json(ORDER).context("the sample order")?);
    let decision = loaded.set.evaluate(&order);
    let micros = started.elapsed().as_micros() as u64;
    let plugins: Vec<Value> = loaded
        .set
        .loaded
        .iter()
        .map(|p| json!({"name": p.name, "load": p.load, "micros": p.load_micros}))
        .collect();
    println!(
        "{}",
        json!({"high_value": decision.high_value, "micros": micros, "plugins": plugins,
               "engine_micros": engine.as_micros() as u64, "set_micros": load.as_micros() as u64})
    );
    Ok(())
}

async fn parent(runs: usize) -> Result<()> {
    let moto = MotoServer::start()?;
    let endpoint = moto.endpoint();
    let sdk = sdk_config_for(&endpoint).await;
    let stack = Stack::create(&sdk, StackSettings::new(unique_stage("cold"))).await?;
    let source = example_manifest();
    let dir = build_plugins(&source)?;
    let t = Instant::now();
    let published = stack.plugin_store().publish(&source, &dir, None).await?;
    eprintln!(
        "published {} with {} artifacts in {} ms",
        published.revision,
        published.artifacts_uploaded,
        t.elapsed().as_millis()
    );
    println!(
        "| mode | spawn to first decision, ms (median of {runs}) | in process | SDK + engine | plugin set (fetch + load) | per plugin: load kind, ms |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for mode in ["snapshot", "portable", "native", "native-preinit"] {
        let mut totals = Vec::new();
        let mut inside = Vec::new();
        let mut engine = Vec::new();
        let mut set = Vec::new();
        let mut plugins: BTreeMap<String, (String, Vec<u64>)> = BTreeMap::new();
        for _ in 0..runs {
            let (wall, report) = spawn(mode, &endpoint, &stack)?;
            totals.push(wall);
            inside.push(report["micros"].as_u64().unwrap_or(0));
            engine.push(report["engine_micros"].as_u64().unwrap_or(0));
            set.push(report["set_micros"].as_u64().unwrap_or(0));
            for p in report["plugins"].as_array().into_iter().flatten() {
                let entry = plugins
                    .entry(p["name"].as_str().unwrap_or("?").into())
                    .or_default();
                entry.0 = p["load"].as_str().unwrap_or("?").into();
                entry.1.push(p["micros"].as_u64().unwrap_or(0));
            }
        }
        let per_plugin: Vec<String> = plugins
            .iter_mut()
            .map(|(name, (kind, micros))| {
                format!("{name} {kind} {:.2}", median(micros) as f64 / 1e3)
            })
            .collect();
        let ms = |v: &mut Vec<u64>| median(v) as f64 / 1e3;
        println!(
            "| {mode} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            ms(&mut totals),
            ms(&mut inside),
            ms(&mut engine),
            ms(&mut set),
            per_plugin.join("; ")
        );
    }
    Ok(())
}

/// Runs one child; returns microseconds from spawn to its report, and the report.
fn spawn(mode: &str, endpoint: &str, stack: &Stack) -> Result<(u64, Value)> {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--child",
            mode,
            endpoint,
            &stack.bucket,
            &stack.manifest_key,
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let wall = started.elapsed().as_micros() as u64;
    anyhow::ensure!(child.wait()?.success(), "the {mode} child failed");
    Ok((
        wall,
        serde_json::from_str(&line).with_context(|| format!("child said {line:?}"))?,
    ))
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}
