#![allow(dead_code)] // each bench uses its own part of this module
//! What the host's benchmarks share: the native view of an order and a
//! rule set built from plugin names and configurations.

use orderflow_host::limits::LimitOverrides;
use orderflow_host::manifest::sha256_hex;
use orderflow_host::{Manifest, Order, PluginSpec, RuleSet, Runtime, wasm_from_dir};
use orderflow_plugin_sdk::{Line, OrderView};

/// The host's order seen through the SDK's trait, for the native path.
pub struct View<'a>(pub &'a Order);

impl OrderView for View<'_> {
    fn order_id(&self) -> String {
        self.0.order_id.clone()
    }
    fn customer_id(&self) -> String {
        self.0.customer_id.clone()
    }
    fn created_at(&self) -> i64 {
        self.0.created_at_secs()
    }
    fn currency(&self) -> String {
        self.0.currency.clone()
    }
    fn total_minor(&self) -> u64 {
        self.0.total_minor
    }
    fn line_count(&self) -> u32 {
        self.0.lines.len() as u32
    }
    fn lines(&self) -> Vec<Line> {
        self.0
            .lines
            .iter()
            .map(|l| Line {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect()
    }
    fn max_line_quantity(&self) -> u32 {
        self.0.max_line_quantity()
    }
    fn attribute(&self, name: &str) -> Option<String> {
        self.0.attributes.get(name).cloned()
    }
}

pub fn rule_set_of(
    runtime: &Runtime,
    dir: &std::path::Path,
    reuse: bool,
    configs: Vec<(&'static str, serde_json::Value)>,
) -> RuleSet {
    let rules = configs
        .into_iter()
        .enumerate()
        .map(|(i, (name, config))| PluginSpec {
            name: format!("{name}-{i}"),
            version: "1.0.0".into(),
            wasm: format!("{name}.wasm"),
            sha256: sha256_hex(&std::fs::read(dir.join(format!("{name}.wasm"))).unwrap()),
            config,
            limits: LimitOverrides {
                // The most the host allows: a fresh instance every 1,000 orders.
                max_calls_per_instance: reuse
                    .then_some(orderflow_host::limits::MAX_CALLS_PER_INSTANCE),
                ..Default::default()
            },
            on_error: Default::default(),
            wasi: Default::default(),
            artifacts: Vec::new(),
        })
        .collect();
    let text = Manifest {
        rules,
        transforms: vec![],
        ..Default::default()
    }
    .to_json_pretty();
    let manifest = Manifest::parse(text.as_bytes(), "bench").unwrap();
    RuleSet::load(runtime, &manifest, &wasm_from_dir(dir)).unwrap()
}
