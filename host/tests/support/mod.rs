//! Shared by the host's end-to-end tests: builds the plugins from source
//! (once per test process) and writes manifests for them.
#![allow(dead_code)]

pub mod logs;
pub mod python;
pub mod wasm_code;

use orderflow_host::manifest::sha256_hex;
use orderflow_host::rules::RulePlugin;
use orderflow_host::{
    LoadError, LoadedManifest, Manifest, Order, PluginSpec, RuleSet, Runtime, RuntimeConfig,
    TransformChain, wasm_from_dir,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub const ORDER: &str = include_str!("../../../samples/order.json");

/// Builds every example and fixture plugin; returns their directory.
pub fn plugin_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let all: Vec<&str> = orderflow_plugin_build::EXAMPLES
            .iter()
            .chain(orderflow_plugin_build::FIXTURES)
            .copied()
            .collect();
        orderflow_plugin_build::build(&all).expect("plugins build");
        orderflow_plugin_build::output_dir()
    })
}

pub fn wasm(package: &str) -> Vec<u8> {
    std::fs::read(plugin_dir().join(format!("{package}.wasm"))).expect("plugin was built")
}

/// A manifest entry for a built plugin, its hash filled in.
pub fn spec(name: &str, package: &str, config: serde_json::Value) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        version: "1.0.0".into(),
        wasm: format!("{package}.wasm"),
        sha256: sha256_hex(&wasm(package)),
        config,
        limits: Default::default(),
        on_error: Default::default(),
        wasi: Default::default(),
        artifacts: Vec::new(),
    }
}

pub fn manifest(rules: Vec<PluginSpec>, transforms: Vec<PluginSpec>) -> LoadedManifest {
    let json = Manifest {
        rules,
        transforms,
        ..Default::default()
    }
    .to_json_pretty();
    Manifest::parse(json.as_bytes(), "test-manifest.json").expect("test manifests are valid")
}

/// A rule chain of built plugins, in a runtime of its own.
pub fn load_rules(rules: Vec<PluginSpec>) -> Result<RuleSet, LoadError> {
    RuleSet::load(
        &runtime(),
        &manifest(rules, vec![]),
        &wasm_from_dir(plugin_dir()),
    )
}

/// A transform chain of built plugins, in a runtime of its own.
pub fn load_transforms(transforms: Vec<PluginSpec>) -> Result<TransformChain, LoadError> {
    TransformChain::load(
        &runtime(),
        &manifest(vec![], transforms),
        &wasm_from_dir(plugin_dir()),
    )
}

pub fn runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 32,
        ..Default::default()
    })
    .expect("runtime")
}

pub fn order(json: &str) -> Arc<Order> {
    Arc::new(Order::from_json(json).expect("valid test order"))
}

pub fn order_with(patch: serde_json::Value) -> Arc<Order> {
    let mut v: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    order(&v.to_string())
}

/// Instance slots of a hostile test's runtime: few, so that a slot leaked
/// by a failure shows as a capacity failure within a handful of attempts.
pub const POOL_SLOTS: u32 = 4;

/// A runtime of [`POOL_SLOTS`] instance slots.
pub fn small_runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: POOL_SLOTS,
        ..Default::default()
    })
    .expect("runtime")
}

/// The host serves the next order: a well-behaved plugin loaded into the
/// same runtime after a hostile one answers real verdicts, on more orders
/// than the pool has slots (a slot the hostile plugin leaked would show).
pub fn serves_next(runtime: &Runtime) {
    let threshold = spec(
        "threshold",
        "threshold",
        json!({"minimum_minor": {"EUR": 100000}}),
    );
    let rule = RulePlugin::load(runtime, &threshold, &wasm("threshold"))
        .expect("a good plugin loads beside the hostile one");
    for (call, total) in (0..POOL_SLOTS as u64 + 2).zip([125_000, 99_999].into_iter().cycle()) {
        let o = order_with(json!({
            "total_minor": total,
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total}]
        }));
        let (v, _) = rule
            .evaluate(&o)
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        assert_eq!(v.high_value, total >= 100_000, "call {call}: {}", v.reason);
    }
}
