//! Shared by orderflow-aws's tests: the example plugins (built once per
//! test process), source manifests, and manifests laid out in a directory.
#![allow(dead_code)]

use orderflow_host::manifest::sha256_hex;
use orderflow_host::{Manifest, PluginSpec, Runtime, RuntimeConfig};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub const ORDER: &str = r#"{"order_id": "ord-1001", "customer_id": "cust-42", "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 125000, "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 62500}], "attributes": {"channel": "web", "email": "ana@example.com"}}"#;

/// Builds the example plugins; returns their directory.
pub fn wasm_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        orderflow_plugin_build::build(orderflow_plugin_build::EXAMPLES).expect("plugins build");
        orderflow_plugin_build::output_dir()
    })
}

fn spec(name: &str, config: serde_json::Value) -> PluginSpec {
    serde_json::from_value(
        json!({"name": name, "version": "1.0.0", "wasm": format!("{name}.wasm"), "config": config}),
    )
    .unwrap()
}

/// A source manifest as an operator writes it (no hashes): the threshold
/// rule with a EUR minimum, and both example transforms.
pub fn source(eur_minimum: u64) -> Manifest {
    Manifest {
        rules: vec![spec(
            "threshold",
            json!({"minimum_minor": {"EUR": eur_minimum}}),
        )],
        transforms: vec![spec("normalize", json!({})), spec("redact-pii", json!({}))],
    }
}

/// Lays a source manifest out in `dir` as a function would read it: the
/// plugins copied next to it and their hashes filled in. Returns the path.
pub fn lay_out(dir: &Path, source: &Manifest) -> PathBuf {
    let mut m = source.clone();
    for spec in m.rules.iter_mut().chain(m.transforms.iter_mut()) {
        let bytes = std::fs::read(wasm_dir().join(&spec.wasm)).unwrap();
        spec.sha256 = sha256_hex(&bytes);
        std::fs::write(dir.join(&spec.wasm), bytes).unwrap();
    }
    let path = dir.join("manifest.json");
    std::fs::write(&path, m.to_json_pretty()).unwrap();
    path
}

pub fn runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 16,
        ..Default::default()
    })
    .expect("runtime")
}

pub fn order(json: &str) -> Arc<orderflow_host::Order> {
    Arc::new(orderflow_host::Order::from_json(json).unwrap())
}

pub fn order_total(eur: u64) -> Arc<orderflow_host::Order> {
    let mut v: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    v["total_minor"] = json!(eur);
    v["lines"] = json!([{"sku": "SKU-1", "quantity": 1, "unit_price_minor": eur}]);
    order(&v.to_string())
}
