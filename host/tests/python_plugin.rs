//! The rule written in Python (`plugins/python-threshold`, built with
//! componentize-py) in the same host as its Rust twin (`plugins/threshold`):
//! the same decisions (verdict, reason, attributes) on the fixture cases
//! and on generated orders, and loaded only with its manifest entry's WASI
//! grant and code limits. Each test also prints what the Python rule costs
//! next to the Rust one (`cargo test -- --nocapture`).

mod support;

use orderflow_host::limits::LimitOverrides;
use orderflow_host::rules::{RulePlugin, Verdict};
use orderflow_host::{Cost, LoadError, Order};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use support::python::{load, python_threshold_spec, python_wasm};
use support::*;

/// The example manifest's configuration of the threshold rule.
fn example_config() -> Value {
    json!({"minimum_minor": {"EUR": 100000, "USD": 120000, "GBP": 90000, "CHF": 100000, "JPY": 15000000}})
}

fn rust_twin(config: &Value) -> RulePlugin {
    let path = orderflow_plugin_build::build(&["threshold"]).expect("threshold builds");
    let wasm = std::fs::read(&path[0]).unwrap();
    let mut spec = spec("threshold", "threshold", config.clone());
    spec.sha256 = orderflow_host::manifest::sha256_hex(&wasm);
    load(&spec, &wasm).expect("the Rust twin loads")
}

/// Both twins under one configuration, or `None` where Python is not built.
fn twins(config: &Value) -> Option<(RulePlugin, RulePlugin)> {
    let wasm = python_wasm("python-threshold")?;
    let spec = python_threshold_spec(&wasm, config.clone());
    let python = load(&spec, &wasm).unwrap_or_else(|e| panic!("{e}"));
    Some((rust_twin(config), python))
}

fn decide(rule: &RulePlugin, order: &Arc<Order>) -> (Verdict, Cost) {
    rule.evaluate(order)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", rule.name, order.order_id))
}

/// A fixture case: an order (wire JSON), the rule's configuration, and
/// the expected verdict. The same files fit `orderflow plugin test`.
struct Case {
    name: String,
    order: Arc<Order>,
    config: Value,
    expect: Verdict,
}

fn cases() -> Vec<Case> {
    let dir = orderflow_plugin_build::workspace_root().join("plugins/python-threshold/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let cases: Vec<Case> = files
        .iter()
        .map(|path| {
            let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let expect = &v["expect"];
            Case {
                name: path.file_stem().unwrap().to_string_lossy().into(),
                order: order(&v["order"].to_string()),
                config: v["config"].clone(),
                expect: Verdict {
                    high_value: expect["high_value"].as_bool().unwrap(),
                    reason: expect["reason"].as_str().unwrap().into(),
                    attributes: expect["attributes"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().into()))
                        .collect(),
                },
            }
        })
        .collect();
    assert!(
        cases.len() >= 5,
        "the fixture set is there: {}",
        dir.display()
    );
    cases
}

#[test]
fn the_python_rule_and_its_rust_twin_pass_the_same_fixtures() {
    for case in cases() {
        let Some((rust, python)) = twins(&case.config) else {
            return;
        };
        let (r, rust_cost) = decide(&rust, &case.order);
        let (p, python_cost) = decide(&python, &case.order);
        assert_eq!(r, case.expect, "case {}: the Rust twin", case.name);
        assert_eq!(p, case.expect, "case {}: the Python rule", case.name);
        eprintln!(
            "case {}: Rust {} fuel, Python {} fuel",
            case.name, rust_cost.fuel, python_cost.fuel
        );
    }
}

#[test]
fn the_twins_decide_alike_on_500_generated_orders() {
    let Some((rust, python)) = twins(&example_config()) else {
        return;
    };
    let mut rng = orderflow_workload::Rng::new(9);
    let orders: Vec<Arc<Order>> = (0..500)
        .map(|i| order(&orderflow_workload::order(&mut rng, i).to_string()))
        .collect();
    let mut high_value = 0;
    let (mut rust_micros, mut python_micros, mut python_fuel) = (0, 0, 0);
    for o in &orders {
        let (r, rc) = decide(&rust, o);
        let (p, pc) = decide(&python, o);
        assert_eq!(p, r, "order {}", o.order_id);
        high_value += usize::from(r.high_value);
        rust_micros += rc.micros;
        python_micros += pc.micros;
        python_fuel += pc.fuel;
    }
    assert!(
        (20..480).contains(&high_value),
        "the orders exercise both verdicts: {high_value} high-value"
    );
    eprintln!(
        "500 orders, fresh instances: Rust {} µs/order, Python {} µs/order ({} fuel/order)",
        rust_micros / 500,
        python_micros / 500,
        python_fuel / 500
    );
}

#[test]
fn a_bad_configuration_is_refused_by_both_with_the_same_words() {
    let Some(wasm) = python_wasm("python-threshold") else {
        return;
    };
    let path = orderflow_plugin_build::build(&["threshold"]).expect("threshold builds");
    let rust_wasm = std::fs::read(&path[0]).unwrap();
    for (config, words) in [
        (
            json!({"minimum": 5}),
            "invalid configuration: unknown field `minimum`",
        ),
        (
            json!({"minimum_minor": {}}),
            "minimum_minor names no currency",
        ),
        (
            json!({}),
            "invalid configuration: missing field `minimum_minor`",
        ),
    ] {
        let mut rust_spec = spec("threshold", "threshold", config.clone());
        rust_spec.sha256 = orderflow_host::manifest::sha256_hex(&rust_wasm);
        let rust = load(&rust_spec, &rust_wasm).err().expect("refused");
        let python = load(&python_threshold_spec(&wasm, config.clone()), &wasm)
            .err()
            .expect("refused");
        for e in [&rust, &python] {
            assert!(matches!(e, LoadError::Config { .. }), "{config}: {e}");
            assert!(e.to_string().contains(words), "{config}: {e}");
        }
    }
}

#[test]
fn without_the_wasi_grant_the_python_rule_is_refused_naming_it() {
    let Some(wasm) = python_wasm("python-threshold") else {
        return;
    };
    let mut spec = python_threshold_spec(&wasm, example_config());
    spec.wasi = Default::default();
    let e = load(&spec, &wasm).err().expect("refused without the grant");
    let msg = e.to_string();
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{msg}");
    assert!(
        msg.starts_with(
            "plugin python-threshold@1.0.0: does not implement the world \
             orderflow:plugin/rule-plugin@0.2.0: it imports wasi:"
        ),
        "{msg}"
    );
    assert!(msg.contains("which the host does not provide"), "{msg}");
    assert!(
        msg.contains(r#""wasi": "deterministic""#),
        "says how to ask: {msg}"
    );

    // Its code limits are its own: without them, the defaults refuse it
    // before it is compiled.
    let mut spec = python_threshold_spec(&wasm, example_config());
    spec.limits = LimitOverrides {
        max_functions: None,
        max_code_bytes: None,
        ..spec.limits
    };
    let e = load(&spec, &wasm)
        .err()
        .expect("refused at the default caps");
    assert!(matches!(e, LoadError::TooMuchCode { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("functions, more than the 10000 a plugin may have"),
        "{e}"
    );
}

/// What loading and running each twin costs: a cold compile, a load from
/// the compiled cache, and an order on a fresh and on a reused instance.
/// Printed for BENCHMARKS.md; asserted only loosely (a shared machine).
#[test]
fn what_each_twin_costs() {
    let Some(wasm) = python_wasm("python-threshold") else {
        return;
    };
    let rust_path = orderflow_plugin_build::build(&["threshold"]).expect("threshold builds");
    let rust_wasm = std::fs::read(&rust_path[0]).unwrap();
    let mut rust_spec = spec("threshold", "threshold", example_config());
    rust_spec.sha256 = orderflow_host::manifest::sha256_hex(&rust_wasm);
    let python_spec = python_threshold_spec(&wasm, example_config());
    let o = order(ORDER);
    for (name, spec, bytes) in [
        ("rust", &rust_spec, &rust_wasm[..]),
        ("python", &python_spec, &wasm[..]),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let runtime = |dir: &std::path::Path| {
            orderflow_host::Runtime::new(orderflow_host::RuntimeConfig {
                cache_dir: Some(dir.join("cache")),
                max_instances: 8,
                ..Default::default()
            })
            .unwrap()
        };
        let started = Instant::now();
        let cold = RulePlugin::load(&runtime(cache.path()), spec, bytes).unwrap();
        let cold_ms = started.elapsed().as_millis();
        let started = Instant::now();
        let warm = RulePlugin::load(&runtime(cache.path()), spec, bytes).unwrap();
        let cached_ms = started.elapsed().as_millis();
        drop(cold);
        let fresh = per_order(&warm, &o, 20);
        let mut reused_spec = spec.clone();
        reused_spec.limits.max_calls_per_instance = Some(u32::MAX);
        let reused = RulePlugin::load(&runtime(cache.path()), &reused_spec, bytes).unwrap();
        let reused_cost = per_order(&reused, &o, 200);
        eprintln!(
            "cost {name}: {} bytes; load {cold_ms} ms compiled, {cached_ms} ms from the cache; \
             per order {} µs fresh, {} µs reused; {} fuel",
            bytes.len(),
            fresh.micros,
            reused_cost.micros,
            reused_cost.fuel
        );
    }
}

/// The median cost of `n` orders.
fn per_order(rule: &RulePlugin, o: &Arc<Order>, n: usize) -> Cost {
    let mut costs: Vec<Cost> = (0..n).map(|_| decide(rule, o).1).collect();
    costs.sort_by_key(|c| c.micros);
    costs[n / 2]
}
