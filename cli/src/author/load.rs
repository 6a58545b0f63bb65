//! Loading one component as a plugin of the world it implements, the way
//! the pipeline loads it, for `plugin build` and `plugin test`.

use orderflow_host::manifest::sha256_hex;
use orderflow_host::rules::RulePlugin;
use orderflow_host::transforms::TransformPlugin;
use orderflow_host::{LoadError, OnError, PluginSpec};

/// Which world a component implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Rule,
    Transform,
}

impl Kind {
    pub fn world(self) -> &'static str {
        match self {
            Kind::Rule => "orderflow:plugin/rule-plugin@0.2.0",
            Kind::Transform => "orderflow:plugin/transform-plugin@0.2.0",
        }
    }
}

pub enum Loaded {
    Rule(RulePlugin),
    Transform(TransformPlugin),
}

/// A manifest entry for `wasm`, as an operator would write it: `entry`'s
/// grant and limits when one is given, the defaults otherwise.
pub fn spec(
    name: &str,
    wasm: &[u8],
    config: &serde_json::Value,
    entry: Option<&PluginSpec>,
) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        version: "0.0.0".into(),
        wasm: format!("{name}.wasm"),
        sha256: sha256_hex(wasm),
        config: config.clone(),
        limits: entry.map(|e| e.limits).unwrap_or_default(),
        on_error: OnError::Reject,
        wasi: entry.map(|e| e.wasi).unwrap_or_default(),
        artifacts: Vec::new(),
    }
}

pub fn load(
    runtime: &orderflow_host::Runtime,
    kind: Kind,
    spec: &PluginSpec,
    wasm: &[u8],
) -> Result<Loaded, LoadError> {
    Ok(match kind {
        Kind::Rule => Loaded::Rule(RulePlugin::load(runtime, spec, wasm)?),
        Kind::Transform => Loaded::Transform(TransformPlugin::load(runtime, spec, wasm)?),
    })
}

/// The world `wasm` implements, whatever its configure makes of `{}`: a
/// refused configuration (or a trap while configuring) means it linked as
/// that world. The error says why it fits neither, naming the plugin.
pub fn world_of(
    runtime: &orderflow_host::Runtime,
    spec: &PluginSpec,
    wasm: &[u8],
) -> Result<Kind, String> {
    let name = &spec.name;
    let fits = |kind| match load(runtime, kind, spec, wasm) {
        Ok(_) | Err(LoadError::Config { .. } | LoadError::Start { .. }) => Ok(kind),
        Err(e) => Err(e),
    };
    match fits(Kind::Rule) {
        Ok(kind) => Ok(kind),
        Err(rule @ LoadError::WrongWorld { .. }) => match fits(Kind::Transform) {
            Ok(kind) => Ok(kind),
            Err(transform @ LoadError::WrongWorld { .. }) => Err(format!(
                "plugin {name}: implements neither the rule nor the transform world \
                 (as a rule: {rule}; as a transform: {transform})"
            )),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}
