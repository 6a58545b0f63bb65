//! The transform chain: each transform in manifest order reshapes the item.
//! A failure stops that order with the plugin's reason (or, with
//! `on_error: skip`, is recorded and the item goes on unchanged).

use crate::bindings::{self, transform::exports::orderflow::plugin::transform as wit};
use crate::error::{Failure, LoadError, PluginError};
use crate::item::{Field, Item, KEY_FIELDS, Value};
use crate::limits::ELEMENT_BYTES;
use crate::manifest::{LoadedManifest, OnError, PluginSpec};
use crate::sandbox::{Cost, Runtime, Sandbox};
use crate::{PluginInfo, load_specs};
use serde::Serialize;

const MAX_FIELD_NAME: usize = 255;

pub struct TransformPlugin {
    pub name: String,
    pub version: String,
    on_error: OnError,
    sandbox: Sandbox<bindings::transform::TransformPlugin>,
}

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
        size += ELEMENT_BYTES + f.name.len() as u64;
        let value = match f.value {
            wit::Value::Text(s) => {
                size += s.len() as u64;
                Value::Text(s)
            }
            wit::Value::Integer(i) => Value::Integer(i),
            wit::Value::Boolean(b) => Value::Boolean(b),
            wit::Value::TextList(l) => {
                size += l
                    .iter()
                    .map(|s| ELEMENT_BYTES + s.len() as u64)
                    .sum::<u64>();
                Value::TextList(l)
            }
            wit::Value::TextMap(m) => {
                size += m
                    .iter()
                    .map(|(k, v)| ELEMENT_BYTES + (k.len() + v.len()) as u64)
                    .sum::<u64>();
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
        out.push(Field {
            name: f.name,
            value,
        });
    }
    if size > limit {
        return Err(Failure::OutputTooLarge { size, limit });
    }
    Ok(out)
}

impl TransformPlugin {
    pub fn load(
        runtime: &Runtime,
        spec: &PluginSpec,
        wasm: &[u8],
    ) -> Result<TransformPlugin, LoadError> {
        let sandbox = Sandbox::load(runtime, &runtime.transform_linker, spec, wasm)?;
        Ok(TransformPlugin {
            name: spec.name.clone(),
            version: spec.version.clone(),
            on_error: spec.on_error,
            sandbox,
        })
    }

    pub fn apply(&self, item: &Item) -> Result<(Vec<Field>, Cost), PluginError> {
        let fail = |failure| PluginError {
            plugin: self.sandbox.plugin.to_string(),
            failure,
        };
        let fields: Vec<wit::Field> = item
            .fields
            .iter()
            .map(|f| wit::Field {
                name: f.name.clone(),
                value: to_wit(&f.value),
            })
            .collect();
        let (answer, cost) = self
            .sandbox
            .call(None, |plugin, store| {
                plugin.orderflow_plugin_transform().call_apply(
                    &mut *store,
                    &item.order_id,
                    &item.timestamp,
                    &fields,
                )
            })
            .map_err(fail)?;
        let out = answer.map_err(|message| fail(Failure::refused(&message)))?;
        Ok((
            from_wit(out, self.sandbox.limits.max_output_bytes).map_err(fail)?,
            cost,
        ))
    }
}

/// The transform chain of one manifest revision.
pub struct TransformChain {
    pub revision: String,
    pub transforms: Vec<TransformPlugin>,
    pub loaded: Vec<PluginInfo>,
}

impl TransformChain {
    pub fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
    ) -> Result<TransformChain, LoadError> {
        let (transforms, loaded) =
            load_specs(&manifest.manifest.transforms, wasm, |spec, bytes| {
                let t = TransformPlugin::load(runtime, spec, bytes)?;
                let kind = t.sandbox.load_kind;
                Ok((t, kind))
            })?;
        Ok(TransformChain {
            revision: manifest.revision.clone(),
            transforms,
            loaded,
        })
    }

    /// Runs every transform in order. The first failure with
    /// `on_error: reject` stops the order: its error is returned with the
    /// trace so far.
    pub fn apply(&self, mut item: Item) -> (Result<Item, PluginError>, Vec<TransformTrace>) {
        let mut trace = Vec::with_capacity(self.transforms.len());
        for t in &self.transforms {
            match t.apply(&item) {
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
                        fuel: 0,
                        micros: 0,
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
