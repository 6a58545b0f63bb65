//! The embedded pipeline end to end, as `orderflow run` drives it (orders
//! read in chunks, parsed and validated, decided, queued, transformed,
//! stored as JSON files, reported in input order on every core), over
//! `orderflow gen`'s workload, against a native build of the same pipeline:
//! the same reader, parse, streaming, item, store and report, with the
//! example rules and transforms compiled natively from their own crates
//! (and the message body serialised as the embedded queue does).
//!
//! Each path runs in a child process of its own (this bench run again), so
//! its peak RSS is its own: the child reads `VmHWM` from
//! `/proc/self/status` at the end (what `getrusage`'s `ru_maxrss` and
//! `/usr/bin/time -v` report). Orders/s is the run alone, after the plugins
//! are loaded; the load is reported apart. Every row is a ratio to the
//! native row of the same run.
//!
//! Run: `cargo bench -p orderflow-pipeline --bench run` (orders:
//! `ORDERFLOW_BENCH_ORDERS`, default 20000; workers: `ORDERFLOW_BENCH_JOBS`,
//! default one per core).

#[path = "../../host/benches/common/mod.rs"]
mod common;

use orderflow_host::order::Parsed;
use orderflow_host::{
    HighValueMessage, Item, LoadedManifest, PublishedDecision, RuleSet, Runtime, RuntimeConfig,
    TransformChain, read_manifest, wasm_from_dir,
};
use orderflow_pipeline::ItemStore;
use orderflow_pipeline::embedded::stream::{self, CHUNK, Chunk, Embedded, Options, Stages};
use orderflow_pipeline::embedded::{FileStore, OrderReport, OrderStatus};
use orderflow_pipeline::producer::{ProducerOutcome, ProducerResult};
use orderflow_plugin_sdk::{Rule, Transform};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// `warm` first fills the compiled-plugin caches (the plugins', the
/// snapshots'), so no timed path compiles and no peak RSS holds cranelift's.
const PATHS: [&str; 5] = [
    "warm",
    "native",
    "embedded",
    "embedded-preinit",
    "embedded-1-job",
];

fn main() {
    if let Ok(path) = std::env::var("ORDERFLOW_BENCH_CHILD") {
        return child(&path);
    }
    let count: u64 = env_or("ORDERFLOW_BENCH_ORDERS", 20_000);
    let work = tempfile::tempdir().unwrap();
    let orders = work.path().join("orders.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&orders).unwrap());
    orderflow_workload::write_orders(&mut out, count, 1).unwrap();
    out.flush().unwrap();
    let root = orderflow_plugin_build::workspace_root();
    let manifest = orderflow_plugin_build::lock_manifest(
        &root.join("plugins/manifest.json"),
        &orderflow_plugin_build::target_dir().join("bench-run-plugins"),
    )
    .expect("example plugins build");

    println!("{count} orders, {} workers (cpu: {})", jobs(), cpu_model());
    let mut native = 0.0;
    for path in PATHS {
        let store = work.path().join(format!("store-{path}"));
        let out = Command::new(std::env::current_exe().unwrap())
            .env("ORDERFLOW_BENCH_CHILD", path)
            .env("ORDERFLOW_BENCH_INPUT", &orders)
            .env("ORDERFLOW_BENCH_MANIFEST", &manifest)
            .env("ORDERFLOW_BENCH_STORE", &store)
            .env("ORDERFLOW_BENCH_CACHE", work.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let figures: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        let [per_sec, rss_kib, load_ms, stored] = figures[..] else {
            panic!("{path}: {line}")
        };
        if path == "warm" {
            continue;
        }
        if path == "native" {
            native = per_sec;
        }
        println!(
            "{path:<18} {per_sec:>9.0} orders/s ({:>5.1}x the native time)  peak RSS {:>6.1} MiB  load {load_ms:>7.1} ms  {stored} stored",
            native / per_sec,
            rss_kib / 1024.0,
        );
    }
}

/// One path over the orders: prints orders/s, peak RSS (KiB), load (ms)
/// and the number stored.
fn child(path: &str) {
    let var = |name: &str| PathBuf::from(std::env::var_os(name).expect(name));
    let (input, store) = (var("ORDERFLOW_BENCH_INPUT"), var("ORDERFLOW_BENCH_STORE"));
    let manifest = read_manifest(&var("ORDERFLOW_BENCH_MANIFEST")).unwrap();
    let started = Instant::now();
    let dir = var("ORDERFLOW_BENCH_MANIFEST")
        .parent()
        .unwrap()
        .to_path_buf();
    let (runtime, chains);
    if path == "warm" {
        for preinit in [false, true] {
            let runtime = Runtime::new(RuntimeConfig {
                cache_dir: Some(var("ORDERFLOW_BENCH_CACHE")),
                preinit,
                ..Default::default()
            })
            .unwrap();
            RuleSet::load(&runtime, &manifest, &wasm_from_dir(&dir)).unwrap();
            TransformChain::load(&runtime, &manifest, &wasm_from_dir(&dir)).unwrap();
        }
        return println!("0 0 0 0");
    }
    let stages: Box<dyn Stages + '_> = if path == "native" {
        Box::new(Native::new(&manifest, &store))
    } else {
        runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(var("ORDERFLOW_BENCH_CACHE")),
            max_instances: 128.max(jobs() as u32 * 32),
            preinit: path == "embedded-preinit",
            ..Default::default()
        })
        .unwrap();
        chains = (
            RuleSet::load(&runtime, &manifest, &wasm_from_dir(&dir)).unwrap(),
            TransformChain::load(&runtime, &manifest, &wasm_from_dir(&dir)).unwrap(),
        );
        Box::new(Embedded {
            rules: &chains.0,
            transforms: &chains.1,
            store: &store,
        })
    };
    let jobs = if path == "embedded-1-job" { 1 } else { jobs() };
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let mut sink = std::io::sink();
    let mut stored = 0;
    let stats = stream::run_chunks(
        &*stages,
        chunks(&input),
        Options::with_jobs(jobs),
        |_, r| {
            stored += usize::from(r.status == OrderStatus::Stored);
            writeln!(sink, "{}", serde_json::to_value(&r).unwrap()).unwrap();
        },
    );
    let per_sec = stats.orders as f64 / started.elapsed().as_secs_f64();
    println!("{per_sec} {} {load_ms} {stored}", peak_rss_kib());
}

/// The orders file as `orderflow run` reads JSON Lines: chunks of lines.
fn chunks(input: &Path) -> impl Iterator<Item = ((), Chunk)> {
    let mut lines = std::io::BufReader::new(std::fs::File::open(input).unwrap())
        .lines()
        .enumerate();
    std::iter::from_fn(move || {
        let chunk: Vec<(usize, String)> = lines
            .by_ref()
            .take(CHUNK)
            .map(|(i, l)| (i + 1, l.unwrap()))
            .collect();
        (!chunk.is_empty()).then_some(((), Chunk::Lines(chunk)))
    })
}

/// The example plugins compiled natively, configured from the manifest.
struct Native {
    revision: String,
    threshold: threshold::Threshold,
    vip: vip_customer::VipCustomer,
    bulk: bulk_quantity::BulkQuantity,
    normalize: normalize::Normalize,
    redact: redact_pii::RedactPii,
    store: FileStore,
}

impl Native {
    fn new(manifest: &LoadedManifest, store: &Path) -> Native {
        let m = &manifest.manifest;
        let config = |specs: &[orderflow_host::PluginSpec], name: &str| {
            specs
                .iter()
                .find(|s| s.name == name)
                .unwrap()
                .config
                .to_string()
        };
        Native {
            revision: manifest.revision.clone(),
            threshold: threshold::Threshold::configure(&config(&m.rules, "threshold")).unwrap(),
            vip: vip_customer::VipCustomer::configure(&config(&m.rules, "vip-customer")).unwrap(),
            bulk: bulk_quantity::BulkQuantity::configure(&config(&m.rules, "bulk-quantity"))
                .unwrap(),
            normalize: normalize::Normalize::configure(&config(&m.transforms, "normalize"))
                .unwrap(),
            redact: redact_pii::RedactPii::configure(&config(&m.transforms, "redact-pii")).unwrap(),
            store: FileStore::new(store),
        }
    }

    fn one(&self, parsed: Parsed, rt: &tokio::runtime::Runtime) -> OrderReport {
        let mut report = OrderReport {
            line: Some(parsed.line),
            order_id: parsed.order_id.clone(),
            high_value: false,
            attributes: Default::default(),
            reasons: Vec::new(),
            status: OrderStatus::NotHighValue,
            error: None,
            producer: ProducerResult {
                line: Some(parsed.line),
                order_id: parsed.order_id,
                outcome: ProducerOutcome::NotHighValue,
                decision: None,
                order: None,
                message: None,
            },
        };
        let order = match parsed.order {
            Ok(o) => o,
            Err(e) => {
                report.status = OrderStatus::Rejected;
                report.error = Some(e.to_string());
                return report;
            }
        };
        let view = common::View(&order);
        let verdicts = [
            ("threshold", self.threshold.evaluate(&view)),
            ("vip-customer", self.vip.evaluate(&view)),
            ("bulk-quantity", self.bulk.evaluate(&view)),
        ];
        for (name, v) in verdicts {
            let v = v.unwrap();
            report.high_value |= v.high_value;
            report.reasons.push(format!("{name}: {}", v.reason));
            for (k, val) in v.attributes {
                report.attributes.entry(k).or_insert(val);
            }
        }
        if !report.high_value {
            return report;
        }
        let decision = PublishedDecision {
            revision: self.revision.clone(),
            high_value: true,
            attributes: report.attributes.clone(),
            reasons: report.reasons.clone(),
        };
        let item = Item::new(&order, &decision);
        // What the embedded queue carries: the message's wire form.
        std::hint::black_box(HighValueMessage { order, decision }.to_json());
        let fields = item.fields.iter().map(to_sdk).collect();
        let fields = self
            .normalize
            .apply(&item.order_id, &item.timestamp, fields)
            .unwrap();
        let fields = self
            .redact
            .apply(&item.order_id, &item.timestamp, fields)
            .unwrap();
        let item = Item {
            fields: fields.into_iter().map(from_sdk).collect(),
            ..item
        };
        rt.block_on(self.store.put(&item)).unwrap();
        report.status = OrderStatus::Stored;
        report
    }
}

impl Stages for Native {
    fn run(&self, orders: Vec<Parsed>) -> Vec<OrderReport> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        orders.into_iter().map(|p| self.one(p, &rt)).collect()
    }
}

fn to_sdk(f: &orderflow_host::item::Field) -> orderflow_plugin_sdk::Field {
    use orderflow_host::item::Value as H;
    use orderflow_plugin_sdk::Value as S;
    let value = match &f.value {
        H::Text(s) => S::Text(s.clone()),
        H::Integer(i) => S::Integer(*i),
        H::Boolean(b) => S::Boolean(*b),
        H::TextList(l) => S::TextList(l.clone()),
        H::TextMap(m) => S::TextMap(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
    };
    orderflow_plugin_sdk::Field::new(f.name.clone(), value)
}

fn from_sdk(f: orderflow_plugin_sdk::Field) -> orderflow_host::item::Field {
    use orderflow_host::item::Value as H;
    use orderflow_plugin_sdk::Value as S;
    let value = match f.value {
        S::Text(s) => H::Text(s),
        S::Integer(i) => H::Integer(i),
        S::Boolean(b) => H::Boolean(b),
        S::TextList(l) => H::TextList(l),
        S::TextMap(m) => H::TextMap(m.into_iter().collect()),
    };
    orderflow_host::item::Field {
        name: f.name,
        value,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn jobs() -> usize {
    Options::with_jobs(env_or("ORDERFLOW_BENCH_JOBS", 0)).jobs
}

/// This process's peak resident set, in KiB.
fn peak_rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
