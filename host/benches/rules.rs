//! The three example rules per order, side by side in one run:
//!
//! - `native`: parse the order's JSON (every pipeline pays that) and run the
//!   same rule code compiled natively (the plugin crates are also rlibs);
//! - `wasm/fresh`: parse, then the rule chain through the host with a fresh
//!   instance per order (the default isolation);
//! - `wasm/reused`: the same with instances reused across orders
//!   (`max_calls_per_instance`).
//!
//! The summary prints each wasm path as a ratio to the native baseline
//! measured in this same run. Run: `cargo bench -p orderflow-host --bench rules`.

mod common;

use common::{View, rule_set_of};
use criterion::Criterion;
use orderflow_host::{Order, RuleSet, Runtime, RuntimeConfig};
use orderflow_plugin_sdk::Rule;
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;

const ORDER: &str = include_str!("../../samples/order.json");

fn configs() -> [(&'static str, serde_json::Value); 3] {
    [
        (
            "threshold",
            json!({"minimum_minor": {"EUR": 100000, "USD": 120000}}),
        ),
        (
            "vip-customer",
            json!({"customers": {"cust-7": "gold", "cust-42": "silver"}}),
        ),
        ("bulk-quantity", json!({"min_quantity": 10})),
    ]
}

fn rule_set(runtime: &Runtime, dir: &std::path::Path, reuse: bool) -> RuleSet {
    rule_set_of(runtime, dir, reuse, configs().to_vec())
}

fn estimate_ns(id: &str) -> Option<f64> {
    let path = orderflow_plugin_build::target_dir()
        .join("criterion")
        .join(id)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut names: Vec<&str> = configs().iter().map(|(n, _)| *n).collect();
    names.push("hostile-rule");
    orderflow_plugin_build::build(&names).expect("plugins build");
    let dir = orderflow_plugin_build::output_dir();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let fresh = rule_set(&runtime, &dir, false);
    let reused = rule_set(&runtime, &dir, true);
    // The floor: three calls of a rule that reads nothing and answers a
    // constant, to tell the host's fixed cost per call from the rules' own work.
    let noop = || ("hostile-rule", json!({"behaviour": "ok"}));
    let floor = rule_set_of(&runtime, &dir, true, vec![noop(), noop(), noop()]);
    let [t, v, b] = configs();
    let native_threshold = threshold::Threshold::configure(&t.1.to_string()).unwrap();
    let native_vip = vip_customer::VipCustomer::configure(&v.1.to_string()).unwrap();
    let native_bulk = bulk_quantity::BulkQuantity::configure(&b.1.to_string()).unwrap();

    // Both paths must agree before their speed means anything.
    let order = Arc::new(Order::from_json(ORDER).unwrap());
    let native_high = [
        native_threshold.evaluate(&View(&order)).unwrap().high_value,
        native_vip.evaluate(&View(&order)).unwrap().high_value,
        native_bulk.evaluate(&View(&order)).unwrap().high_value,
    ];
    let wasm_high: Vec<bool> = fresh
        .evaluate(&order)
        .trace
        .iter()
        .map(|t| t.outcome == orderflow_host::rules::Outcome::HighValue)
        .collect();
    assert_eq!(
        native_high.to_vec(),
        wasm_high,
        "native and wasm rules disagree"
    );

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("rules_per_order");
    g.bench_function("native", |bench| {
        bench.iter(|| {
            let order = Order::from_json(black_box(ORDER)).unwrap();
            let view = View(&order);
            let verdicts = [
                native_threshold.evaluate(&view).unwrap(),
                native_vip.evaluate(&view).unwrap(),
                native_bulk.evaluate(&view).unwrap(),
            ];
            black_box(verdicts.iter().any(|v| v.high_value))
        })
    });
    g.bench_function("wasm_fresh", |bench| {
        bench.iter(|| {
            let order = Arc::new(Order::from_json(black_box(ORDER)).unwrap());
            black_box(fresh.evaluate(&order).high_value)
        })
    });
    g.bench_function("wasm_reused", |bench| {
        bench.iter(|| {
            let order = Arc::new(Order::from_json(black_box(ORDER)).unwrap());
            black_box(reused.evaluate(&order).high_value)
        })
    });
    g.bench_function("wasm_call_floor", |bench| {
        bench.iter(|| {
            let order = Arc::new(Order::from_json(black_box(ORDER)).unwrap());
            black_box(floor.evaluate(&order).high_value)
        })
    });
    g.finish();
    c.final_summary();

    if let Some(native) = estimate_ns("rules_per_order/native") {
        println!("\nratios to the native baseline measured in this run (median, lower is better):");
        println!("  native        {:>9.0} ns   1.00x", native);
        for id in ["wasm_fresh", "wasm_reused", "wasm_call_floor"] {
            if let Some(ns) = estimate_ns(&format!("rules_per_order/{id}")) {
                println!("  {id:<13} {ns:>9.0} ns   {:.2}x", ns / native);
            }
        }
    }
}
