//! The transform chain: each transform in manifest order reshapes the item.
//! A failure stops that order with the plugin's reason (or, with
//! `on_error: skip`, is recorded and the item goes on unchanged).

use crate::bindings::{self, transform::exports::orderflow::plugin::transform as wit};
use crate::error::{Failure, PluginError};
use crate::item::{Field, Item, KEY_FIELDS, Value};
use crate::manifest::{Manifest, OnError, PluginSpec};
use crate::plugin::{Chain, Plugin};
use crate::runtime::Runtime;
use crate::sandbox::{Cost, World, bindings_glue};
use crate::store::State;
use serde::Serialize;
use wasmtime::Store;
use wasmtime::component::Linker;

const MAX_FIELD_NAME: usize = 255;

/// One loaded transform plugin.
pub type TransformPlugin = Plugin<bindings::transform::TransformPlugin>;

/// What one transform did to one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransformTrace {
    pub plugin: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub fuel: u64,
    pub micros: u64,
}

fn to_wit(v: &Value) -> wit::Value {
    match v {
        Value::Text(s) => wit::Value::Text(s.clone()),
        Value::Integer(i) => wit::Value::Integer(*i),
        Value::Boolean(b) => wit::Value::Boolean(*b),
        Value::TextList(l) => wit::Value::TextList(l.clone()),
        Value::TextMap(m) => {
            wit::Value::TextMap(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }
    }
}

/// Converts a plugin's fields back, refusing what could corrupt the item.
fn from_wit(fields: Vec<wit::Field>, limit: u64) -> Result<Vec<Field>, Failure> {
    let invalid = |message: String| Failure::Invalid { message };
    let mut size: u64 = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        if f.name.is_empty()
            || f.name.len() > MAX_FIELD_NAME
            || f.name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "field name {:?} is empty, too long or has control characters",
                crate::error::plugin_text(&f.name, 64)
            )));
        }
        if KEY_FIELDS.contains(&f.name.as_str()) {
            return Err(invalid(format!(
                "field {} is the item's key, which transforms may not set",
                f.name
            )));
        }
        if !seen.insert(f.name.clone()) {
            return Err(invalid(format!(
                "field {} is returned twice",
                crate::error::plugin_text(&f.name, 64)
            )));
        }
        let value = match f.value {
            wit::Value::Text(s) => Value::Text(s),
            wit::Value::Integer(i) => Value::Integer(i),
            wit::Value::Boolean(b) => Value::Boolean(b),
            wit::Value::TextList(l) => Value::TextList(l),
            wit::Value::TextMap(m) => {
                let n = m.len();
                let map: std::collections::BTreeMap<_, _> = m.into_iter().collect();
                if map.len() != n {
                    return Err(invalid(format!(
                        "field {} has a map with a repeated key",
                        crate::error::plugin_text(&f.name, 64)
                    )));
                }
                Value::TextMap(map)
            }
        };
        let field = Field {
            name: f.name,
            value,
        };
        size += field.output_bytes();
        out.push(field);
    }
    if size > limit {
        return Err(Failure::OutputTooLarge { size, limit });
    }
    Ok(out)
}

impl TransformPlugin {
    /// Runs the transform on one item and checks the fields it returns.
    pub fn apply(&self, item: &Item) -> Result<(Vec<Field>, Cost), PluginError> {
        self.call(item, None)
    }
}

impl World for bindings::transform::TransformPlugin {
    bindings_glue!(
        bindings::transform::TransformPluginPre<State>,
        orderflow_plugin_transform
    );
    const NAME: &'static str = "orderflow:plugin/transform-plugin@0.2.0";
    type Input = Item;
    type Answer = Result<Vec<wit::Field>, String>;
    type Output = Vec<Field>;
    fn linker(runtime: &Runtime) -> &Linker<State> {
        &runtime.transform_linker
    }
    fn specs(manifest: &Manifest) -> &[PluginSpec] {
        &manifest.transforms
    }
    fn call(
        &self,
        store: &mut Store<State>,
        item: &Item,
    ) -> wasmtime::Result<Result<Vec<wit::Field>, String>> {
        let fields: Vec<wit::Field> = item
            .fields
            .iter()
            .map(|f| wit::Field {
                name: f.name.clone(),
                value: to_wit(&f.value),
            })
            .collect();
        self.orderflow_plugin_transform().call_apply(
            store,
            &item.order_id,
            &item.timestamp,
            &fields,
        )
    }
    fn accept(
        answer: Result<Vec<wit::Field>, String>,
        _item: &Item,
        max_output_bytes: u64,
    ) -> Result<Vec<Field>, Failure> {
        from_wit(answer.map_err(|m| Failure::refused(&m))?, max_output_bytes)
    }
}

/// The transform chain of one manifest revision.
pub type TransformChain = Chain<bindings::transform::TransformPlugin>;

impl TransformChain {
    /// Runs every transform in order. The first failure with
    /// `on_error: reject` stops the order: its error is returned with the
    /// trace so far.
    pub fn apply(&self, item: Item) -> (Result<Item, PluginError>, Vec<TransformTrace>) {
        self.apply_until(item, None)
    }

    /// As [`apply`](Self::apply), with every call's deadline cut to what
    /// is left before `until`.
    pub fn apply_until(
        &self,
        mut item: Item,
        until: Option<std::time::Instant>,
    ) -> (Result<Item, PluginError>, Vec<TransformTrace>) {
        let mut trace = Vec::with_capacity(self.plugins.len());
        for t in &self.plugins {
            match t.call(&item, until) {
                Ok((fields, cost)) => {
                    item.fields = fields;
                    trace.push(TransformTrace {
                        plugin: t.name.clone(),
                        version: t.version.clone(),
                        error: None,
                        fuel: cost.fuel,
                        micros: cost.micros,
                    });
                }
                Err(e) => {
                    trace.push(TransformTrace {
                        plugin: t.name.clone(),
                        version: t.version.clone(),
                        error: Some(e.to_string()),
                        fuel: e.cost.fuel,
                        micros: e.cost.micros,
                    });
                    tracing::warn!(
                        order_id = %item.order_id, plugin = %e.plugin, limit = e.failure.kind(),
                        skipped = t.on_error == OnError::Skip, revision = %self.revision, "transform failed: {}", e.failure
                    );
                    if t.on_error == OnError::Reject {
                        return (Err(e), trace);
                    }
                }
            }
        }
        (Ok(item), trace)
    }
}
