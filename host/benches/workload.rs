//! The three example rules over realistic orders (`orderflow gen`'s
//! workload: 1-8 lines, five currencies, a 50-customer VIP list), each path
//! timed over the same orders in one run and reported as a ratio to a
//! baseline measured in that run:
//!
//! - parse: the host's validated `Order::from_json` against a plain serde
//!   parse of the same JSON (serde's derive on the same `Order`, which
//!   checks nothing; the SDK's `TestOrder` now validates like the host);
//! - rules: serde parse + the rules compiled natively (the baseline), then
//!   the host's validated parse + the wasm rule chain, with instances
//!   reused (orders decided one at a time, and in batches of 100 as the
//!   producer and `orderflow run` decide them: each rule is then called
//!   once per 16 orders, contract 0.2.0), and with a fresh instance per
//!   order (the default: from each plugin's pre-initialised snapshot), and
//!   fresh without the snapshot (`configure` per instance, as before
//!   `RuntimeConfig::preinit`).
//!
//! Each path runs 5 times (`ORDERFLOW_BENCH_ROUNDS`), interleaved with the others so a drift in
//! the machine's speed hits them alike; the fastest round counts. Native and
//! wasm verdicts are compared order by order first: a speed means nothing
//! if the answers differ.
//!
//! Run: `cargo bench -p orderflow-host --bench workload` (orders:
//! `ORDERFLOW_BENCH_ORDERS`, default 20000).

mod common;

use common::{View, rule_set_of};
use orderflow_host::{Order, RuleSet, Runtime, RuntimeConfig};
use orderflow_plugin_sdk::{OrderView, Rule};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Orders decided together on the batched path: what one producer
/// invocation holds at most.
const BATCH: usize = 100;

/// Rounds per path, unless `ORDERFLOW_BENCH_ROUNDS` says otherwise (more
/// rounds, so that a profile of one path is not mostly the checks above).
fn rounds() -> usize {
    std::env::var("ORDERFLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn configs() -> Vec<(&'static str, serde_json::Value)> {
    let mut vips: serde_json::Map<String, serde_json::Value> = (0..47)
        .map(|i| (format!("cust-{}", 2000 + i), json!("silver")))
        .collect();
    for (id, tier) in [
        ("cust-7", "gold"),
        ("cust-13", "platinum"),
        ("cust-88", "gold"),
    ] {
        vips.insert(id.into(), json!(tier));
    }
    vec![
        (
            "threshold",
            json!({"minimum_minor": {"EUR": 100000, "USD": 120000, "GBP": 90000, "CHF": 100000, "JPY": 15000000}}),
        ),
        ("vip-customer", json!({"customers": vips})),
        ("bulk-quantity", json!({"min_quantity": 10})),
    ]
}

struct Native {
    threshold: threshold::Threshold,
    vip: vip_customer::VipCustomer,
    bulk: bulk_quantity::BulkQuantity,
}

impl Native {
    fn high_value(&self, order: &dyn OrderView) -> bool {
        let verdicts = [
            self.threshold.evaluate(order).unwrap(),
            self.vip.evaluate(order).unwrap(),
            self.bulk.evaluate(order).unwrap(),
        ];
        verdicts.iter().any(|v| v.high_value)
    }
}

/// The fastest of `rounds()` runs of each path over all orders, interleaved.
/// `ORDERFLOW_BENCH_ONLY` (a part of a path's name) times only the paths
/// that match, e.g. to profile one of them under `perf record`.
fn time_paths(paths: &[(&str, &dyn Fn())]) -> Vec<Duration> {
    let only = std::env::var("ORDERFLOW_BENCH_ONLY").unwrap_or_default();
    let mut best = vec![Duration::MAX; paths.len()];
    for _ in 0..rounds() {
        for (i, (name, run)) in paths.iter().enumerate() {
            if !name.contains(only.as_str()) {
                continue;
            }
            let started = Instant::now();
            run();
            best[i] = best[i].min(started.elapsed());
        }
    }
    best
}

fn main() {
    let count: u64 = std::env::var("ORDERFLOW_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut text = Vec::new();
    orderflow_workload::write_orders(&mut text, count, 1).unwrap();
    let lines: Vec<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();

    let names: Vec<&str> = configs().iter().map(|(n, _)| *n).collect();
    orderflow_plugin_build::build(&names).expect("plugins build");
    let dir = orderflow_plugin_build::output_dir();
    let runtime = Runtime::new(RuntimeConfig {
        preinit: true,
        ..Default::default()
    })
    .unwrap();
    let fresh: RuleSet = rule_set_of(&runtime, &dir, false, configs());
    let reused: RuleSet = rule_set_of(&runtime, &dir, true, configs());
    // The fresh path as it was before snapshots: `configure` per instance.
    let no_snapshot = Runtime::new(RuntimeConfig {
        preinit: false,
        ..Default::default()
    })
    .unwrap();
    let unsnapshotted: RuleSet = rule_set_of(&no_snapshot, &dir, false, configs());
    assert!(fresh.loaded.iter().all(|p| p.preinitialized));
    assert!(!unsnapshotted.loaded.iter().any(|p| p.preinitialized));
    let c = configs();
    let native = Native {
        threshold: threshold::Threshold::configure(&c[0].1.to_string()).unwrap(),
        vip: vip_customer::VipCustomer::configure(&c[1].1.to_string()).unwrap(),
        bulk: bulk_quantity::BulkQuantity::configure(&c[2].1.to_string()).unwrap(),
    };

    let expected: Vec<bool> = lines
        .iter()
        .map(|line| native.high_value(&View(&plain(line))))
        .collect();
    for (line, &expected) in lines.iter().zip(&expected) {
        let order = Arc::new(Order::from_json(line).unwrap());
        assert_eq!(fresh.evaluate(&order).high_value, expected, "{line}");
        assert_eq!(reused.evaluate(&order).high_value, expected, "{line}");
        assert_eq!(
            unsnapshotted.evaluate(&order).high_value,
            expected,
            "{line}"
        );
    }
    let high = expected.iter().filter(|&&h| h).count();
    for (chunk, expected) in lines.chunks(BATCH).zip(expected.chunks(BATCH)) {
        let orders: Vec<Arc<Order>> = chunk
            .iter()
            .map(|l| Arc::new(Order::from_json(l).unwrap()))
            .collect();
        let decisions = reused.evaluate_batch(&orders, None);
        for ((line, d), &expected) in chunk.iter().zip(decisions).zip(expected) {
            assert_eq!(d.high_value, expected, "batched: {line}");
        }
    }

    let serde_parse = || {
        for line in &lines {
            black_box(plain(black_box(line)));
        }
    };
    let validated_parse = || {
        for line in &lines {
            black_box(Order::from_json(black_box(line)).unwrap());
        }
    };
    let native_rules = || {
        for line in &lines {
            black_box(native.high_value(&View(&plain(black_box(line)))));
        }
    };
    let chain = |set: &RuleSet| {
        for line in &lines {
            let order = Arc::new(Order::from_json(black_box(line)).unwrap());
            black_box(set.evaluate(&order).high_value);
        }
    };
    let batched = |set: &RuleSet| {
        for chunk in lines.chunks(BATCH) {
            let orders: Vec<Arc<Order>> = chunk
                .iter()
                .map(|l| Arc::new(Order::from_json(black_box(l)).unwrap()))
                .collect();
            for d in set.evaluate_batch(&orders, None) {
                black_box(d.high_value);
            }
        }
    };
    let paths: [(&str, &dyn Fn()); 7] = [
        ("serde parse", &serde_parse),
        ("validated parse", &validated_parse),
        ("native: serde parse + rules", &native_rules),
        ("wasm reused, batches of 100", &|| batched(&reused)),
        ("wasm reused: parse + chain", &|| chain(&reused)),
        ("wasm fresh: parse + chain", &|| chain(&fresh)),
        ("wasm fresh, no snapshot", &|| chain(&unsnapshotted)),
    ];
    let best = time_paths(&paths);
    let ns = |d: Duration| d.as_nanos() as f64 / lines.len() as f64;

    println!(
        "{} generated orders (seed 1), {high} high-value; fastest of {} rounds, ns per order:",
        lines.len(),
        rounds()
    );
    // What a cold load costs with and without the snapshots (each set was
    // loaded into a runtime of its own, compiling every plugin).
    let load_ms =
        |set: &RuleSet| set.loaded.iter().map(|p| p.load_micros).sum::<u64>() as f64 / 1e3;
    println!(
        "  cold load of the three rules: {:.1} ms with snapshots, {:.1} ms without",
        load_ms(&fresh),
        load_ms(&unsnapshotted)
    );
    let baselines = [0, 0, 2, 2, 2, 2, 2];
    for (i, (name, _)) in paths.iter().enumerate() {
        let base = paths[baselines[i]].0;
        let ratio = ns(best[i]) / ns(best[baselines[i]]);
        if best[i] == Duration::MAX {
            continue;
        }
        println!(
            "  {name:<30} {:>9.0} ns   {ratio:>6.2}x {base}",
            ns(best[i])
        );
    }
}

/// A plain serde parse, no validation: the baseline the host's validated
/// parse is measured against.
fn plain(line: &str) -> Order {
    serde_json::from_str(line).expect("the workload's orders parse")
}
