//! The plugins the local stack publishes: the example manifest, built.

use anyhow::{Context, Result};
use orderflow_host::Manifest;
use orderflow_test_support::manifests::packages;

/// The example manifest the local stack publishes when the workspace has
/// no `plugins/manifest.json`: plugin paths are the built files' names.
pub fn example_manifest() -> Manifest {
    let json = serde_json::json!({
        "rules": [
            {"name": "threshold", "version": "1.0.0", "wasm": "threshold.wasm",
             "config": {"minimum_minor": {"EUR": 100000, "USD": 120000, "GBP": 90000, "JPY": 15000000}}},
            {"name": "vip-customer", "version": "1.0.0", "wasm": "vip-customer.wasm",
             "config": {"customers": {"cust-42": "gold", "cust-7": "platinum"}}},
            {"name": "bulk-quantity", "version": "1.0.0", "wasm": "bulk-quantity.wasm", "config": {"min_quantity": 10}}
        ],
        "transforms": [
            {"name": "normalize", "version": "1.0.0", "wasm": "normalize.wasm"},
            {"name": "redact-pii", "version": "1.0.0", "wasm": "redact-pii.wasm", "config": {"keys": ["email", "phone"]}}
        ]
    });
    serde_json::from_value(json).expect("the example manifest is valid")
}

/// Builds the plugins a source manifest names; returns their directory.
pub fn build_plugins(manifest: &Manifest) -> Result<std::path::PathBuf> {
    let names = packages(manifest);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    orderflow_plugin_build::build(&refs).context("building the plugins")?;
    Ok(orderflow_plugin_build::output_dir())
}
