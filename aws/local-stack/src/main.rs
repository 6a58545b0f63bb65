//! `local-stack`: the whole AWS pipeline on a local moto server.
//!
//! Starts moto on a free loopback port (or uses `AWS_ENDPOINT_URL` if set),
//! creates the resources from template.yaml with `deploy/local_stack.py`,
//! builds and publishes the plugins,
//! runs the producer handler on the sample orders, drives the consumer
//! handler like an SQS event source mapping, and prints what landed in the
//! table. See aws/README.md.

use anyhow::{Context, Result, bail};
use orderflow_host::{Manifest, Runtime, RuntimeConfig};
use orderflow_local_stack::{Stack, StackSettings, build_plugins, example_manifest, unique_stage};
use orderflow_producer::Request;
use orderflow_test_support::moto::{self, MotoServer, sdk_config_for};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: local-stack [--orders FILE] [--manifest FILE] [--json] [--keep]

  --orders FILE     orders to send, JSON Lines or a JSON array
                    (default: samples/orders.jsonl)
  --manifest FILE   source plugin manifest, plugins named by built file
                    (default: plugins/manifest.json, or a built-in example)
  --json            print the table's items as JSON Lines only
  --keep            keep the moto server running until Enter is pressed
  AWS_ENDPOINT_URL  use this endpoint instead of starting moto
  ORDERFLOW_PYTHON  Python for deploy/local_stack.py (default: deploy/.venv/lint,
                    made by `cargo xtask setup`, else python3)
  RUST_LOG          log filter (default: warn)";

struct Args {
    orders: Option<PathBuf>,
    manifest: Option<PathBuf>,
    json: bool,
    keep: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        orders: None,
        manifest: None,
        json: false,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--orders" => a.orders = Some(it.next().context("--orders needs a file")?.into()),
            "--manifest" => a.manifest = Some(it.next().context("--manifest needs a file")?.into()),
            "--json" => a.json = true,
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(a)
}

/// The orders sent when the workspace has no `samples/orders.jsonl` to
/// read: that file, compiled in, so there is one sample set.
const BUILTIN_ORDERS: &str = include_str!("../../../samples/orders.jsonl");

/// The orders of a JSON Lines document or a JSON array, as JSON values; a
/// line that is not JSON stays a string (the producer rejects it, by position).
fn order_values(text: &str) -> Result<Vec<serde_json::Value>> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).context("the orders file is not a JSON array");
    }
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|_| serde_json::Value::String(l.to_string()))
        })
        .collect())
}

/// Counts of producer results by status.
fn count_by_status(results: &[orderflow_producer::OrderResult]) -> HashMap<&'static str, usize> {
    use orderflow_pipeline::producer::ProducerOutcome::*;
    let mut m = HashMap::new();
    for r in results {
        let k = match r.outcome {
            Published { .. } => "published",
            NotHighValue => "not_high_value",
            Rejected { .. } => "rejected",
            Failed { .. } => "failed",
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Human-readable logs on stderr (stdout carries the items); `RUST_LOG`
/// unset or invalid means `warn`.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> Result<()> {
    init_logs();
    let args = args()?;
    let shared_endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty());
    if let (true, Some(endpoint)) = (args.keep, &shared_endpoint) {
        bail!(
            "--keep keeps the moto server this command starts, but AWS_ENDPOINT_URL={endpoint} is set, \
             so none is started and there is nothing to keep (that server stays up as long as you run it); \
             drop --keep, or unset AWS_ENDPOINT_URL"
        );
    }
    let root = orderflow_plugin_build::workspace_root();
    let started = Instant::now();

    // Inputs.
    let manifest_path = args
        .manifest
        .clone()
        .or_else(|| Some(root.join("plugins/manifest.json")).filter(|p| p.exists()));
    let source: Manifest = match &manifest_path {
        Some(p) => serde_json::from_slice(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{} is not a plugin manifest", p.display()))?,
        None => example_manifest(),
    };
    let orders_path = args
        .orders
        .clone()
        .or_else(|| Some(root.join("samples/orders.jsonl")).filter(|p| p.exists()));
    let orders_text = match &orders_path {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => BUILTIN_ORDERS.to_string(),
    };
    let say = |s: String| {
        if !args.json {
            eprintln!("{s}")
        }
    };
    say(format!(
        "manifest: {}\norders:   {}",
        manifest_path
            .as_ref()
            .map_or("built-in example".into(), |p| p.display().to_string()),
        orders_path
            .as_ref()
            .map_or("built-in sample".into(), |p| p.display().to_string())
    ));

    // Endpoint.
    let (moto, endpoint) = match shared_endpoint {
        Some(e) => (None, e),
        None => {
            let m = MotoServer::start().context("starting moto")?;
            let e = m.endpoint();
            (Some(m), e)
        }
    };
    say(format!(
        "endpoint: {endpoint}{}",
        if moto.is_some() {
            " (moto, started for this run)"
        } else {
            " (AWS_ENDPOINT_URL)"
        }
    ));
    let sdk = sdk_config_for(&endpoint).await;
    // A moto of its own holds only this run's stack; a shared endpoint may
    // hold earlier runs' stacks (and their items).
    let stage = if moto.is_some() {
        "local".to_string()
    } else {
        unique_stage("local")
    };
    let t = Instant::now();
    let stack = Stack::create(&sdk, StackSettings::new(stage)).await?;
    say(format!(
        "stack:    {} from template.yaml in {} ms (deploy/local_stack.py: {})",
        stack.settings.stack_name,
        t.elapsed().as_millis(),
        stack
            .log
            .lines()
            .last()
            .unwrap_or_default()
            .trim_start_matches("local-stack: ")
    ));
    say(format!(
        "          s3://{}, table {}, topic {}, queue {} (DLQ after {} receives)",
        stack.bucket, stack.table, stack.topic_arn, stack.queue_url, stack.max_receive_count
    ));

    // Plugins.
    let t = Instant::now();
    let wasm_dir = build_plugins(&source)?;
    let cache = std::env::temp_dir().join("orderflow-cache");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache),
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let published = stack
        .plugin_store()
        .publish(&source, &wasm_dir, Some(&runtime))
        .await?;
    say(format!(
        "plugins:  {} published in {} ms:",
        published.revision,
        t.elapsed().as_millis()
    ));
    for p in &published.plugins {
        say(format!(
            "          {:9} {}@{} -> s3://{}/{}",
            p.kind, p.name, p.version, stack.bucket, p.key
        ));
    }

    // Producer: the orders go in as direct invocations of up to 100, so the
    // handler parses them exactly as it parses a Lambda event.
    let producer = stack.producer(runtime.clone());
    let raw = order_values(&orders_text)?;
    let mut results = Vec::new();
    for chunk in raw.chunks(orderflow_producer::MAX_ORDERS) {
        let event = serde_json::json!({ "orders": chunk });
        let Request::Direct(orders) = orderflow_producer::parse_event(&event)? else {
            unreachable!("a direct event")
        };
        let offset = results.len();
        let response = producer.process(orders).await?;
        results.extend(response.results.into_iter().map(|mut r| {
            r.index += offset;
            r
        }));
    }
    let counts = count_by_status(&results);
    say(format!("producer: {} orders: {:?}", results.len(), counts));
    for r in &results {
        say(format!(
            "          #{}: {} {}",
            r.index + 1,
            r.order_id.as_deref().unwrap_or("-"),
            serde_json::to_string(&r.outcome)?
        ));
    }

    // Consumer, driven like the event source mapping.
    let consumer = stack.consumer(runtime.clone());
    let drain = stack
        .event_source()
        .drain(&consumer, Duration::from_secs(120))
        .await?;
    say(format!(
        "consumer: {} invocation(s), {} record(s), {} stored, {} returned to the queue",
        drain.invocations, drain.received, drain.deleted, drain.failed
    ));
    let dead = stack.dead_letters().await?;
    if !dead.is_empty() {
        say(format!("DLQ:      {} message(s)", dead.len()));
    }

    // What landed.
    let items = stack.items().await?;
    if args.json {
        for item in &items {
            println!("{item}");
        }
    } else {
        println!("{} item(s) in table {}:", items.len(), stack.table);
        for item in &items {
            println!("{}", serde_json::to_string_pretty(item)?);
        }
        eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    }

    if args.keep && moto.is_some() {
        eprintln!(
            "moto is still running; reach it with any AWS client (moto accepts any credentials) in another shell:\n  \
             export AWS_ENDPOINT_URL={endpoint} AWS_REGION={} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}\n  \
             e.g. orderflow plugins --bucket {} status\npress Enter to stop it",
            moto::REGION,
            moto::ACCESS_KEY,
            moto::ACCESS_KEY,
            stack.bucket
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    drop(moto);
    Ok(())
}
