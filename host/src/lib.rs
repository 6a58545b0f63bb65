//! orderflow's engine: orders, and the wasmtime sandbox that runs rule and
//! transform plugins. The manifest model is `orderflow-manifest`'s
//! (re-exported as [`manifest`]), so tools that only edit manifests need no
//! engine.
//!
//! It knows nothing of Lambda or AWS: the embedded pipeline, the Lambdas
//! and the tests all drive it the same way —
//!
//! 1. build one [`Runtime`] per process (engine, linkers, caches);
//! 2. load a [`RuleSet`] / [`TransformChain`] from a [`Manifest`] (hashes
//!    verified, components type-checked, configurations tried): both are
//!    chains of one generic [`Plugin`], a rule or a transform by its world;
//! 3. per order: [`RuleSet::evaluate`] gives a [`Decision`] with its trace;
//!    per stored item: [`TransformChain::apply`].

pub mod artifact;
mod bindings;
mod cache;
mod decision;
pub mod error;
mod interface;
pub mod item;
pub mod plugin;
pub mod precheck;
mod preinit;
pub mod rules;
mod runtime;
mod sandbox;
mod snapshot;
mod store;
pub mod transforms;
mod wasi;
mod world;

/// The manifest model lives in its own crate, free of wasmtime; these
/// re-exports keep `orderflow_host::manifest::…` and `…::limits::…` paths.
pub use orderflow_manifest::{self as manifest, limits};

/// The wire order and its validation live in their own crate, shared with
/// the plugin SDK's native tests; `orderflow_host::order::…` paths stay.
pub use orderflow_order as order;

pub use artifact::{Fallback, Precompiler};
pub use error::{Failure, LoadError, PluginError};
pub use item::Item;
pub use limits::Limits;
pub use manifest::{LoadedManifest, Manifest, OnError, PluginSpec};
pub use order::Order;
pub use orderflow_wire::{self as wire, HighValueMessage, PublishedDecision};
pub use plugin::{Chain, Plugin, PluginInfo};
pub use rules::{Decision, RuleSet};
pub use runtime::{LoadKind, Runtime, RuntimeConfig, Target};
pub use sandbox::Cost;
pub use transforms::TransformChain;

use std::path::Path;
use std::time::Instant;

/// Reads a manifest file; its plugins' `wasm` paths are relative to it.
pub fn read_manifest(path: &Path) -> Result<LoadedManifest, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        plugin: "(manifest)".into(),
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Manifest::parse(&bytes, &path.display().to_string())?)
}

/// Fetches plugin bytes from the directory a manifest file sits in.
pub fn wasm_from_dir(dir: &Path) -> impl Fn(&PluginSpec) -> Result<Vec<u8>, LoadError> + '_ {
    move |spec| {
        let path = spec.wasm_path(dir);
        std::fs::read(&path).map_err(|source| LoadError::Read {
            plugin: spec.name.clone(),
            path,
            source,
        })
    }
}

/// What `orderflow plugin check` tells an author about a component.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PluginCheck {
    pub size_bytes: usize,
    pub sha256: String,
    /// Time to compile the component from scratch (a cold load).
    pub compile_micros: u64,
    /// The orderflow world it implements, if any.
    pub world: Option<&'static str>,
    /// What it imports and exports.
    pub interface: String,
    /// Why it does not fit the contract (empty when it does).
    pub problems: Vec<String>,
}

/// Checks a component against the contract: does it compile, which world
/// does it implement, does it accept `config`. `entry` is its manifest
/// entry when it asks for more than the defaults (a WASI grant, its own
/// limits), as an interpreter-based plugin does.
pub fn check_plugin(
    runtime: &Runtime,
    wasm: &[u8],
    config: &serde_json::Value,
    entry: Option<&PluginSpec>,
) -> PluginCheck {
    let sha256 = manifest::sha256_hex(wasm);
    let limits = entry.map(|e| e.limits).unwrap_or_default();
    if let Err(e) = precheck::check(
        "candidate",
        wasm,
        &limits.apply(runtime.config.default_limits),
    ) {
        return PluginCheck {
            size_bytes: wasm.len(),
            sha256,
            compile_micros: 0,
            world: None,
            interface: String::new(),
            problems: vec![e.to_string()],
        };
    }
    let started = Instant::now();
    let compiled = wasmtime::component::Component::new(&runtime.engine, wasm);
    let compile_micros = started.elapsed().as_micros() as u64;
    let mut check = PluginCheck {
        size_bytes: wasm.len(),
        sha256: sha256.clone(),
        compile_micros,
        world: None,
        interface: String::new(),
        problems: Vec::new(),
    };
    let component = match compiled {
        Ok(c) => c,
        Err(e) => {
            check
                .problems
                .push(format!("not a valid WebAssembly component: {e:#}"));
            return check;
        }
    };
    check.interface = interface::describe(&runtime.engine, &component);
    let spec = PluginSpec {
        name: "candidate".into(),
        version: "0.0.0".into(),
        wasm: "candidate.wasm".into(),
        sha256,
        config: config.clone(),
        limits,
        on_error: OnError::Reject,
        wasi: entry.map(|e| e.wasi).unwrap_or_default(),
        artifacts: Vec::new(),
    };
    let as_rule = fits::<bindings::rule::RulePlugin>(runtime, &spec, wasm);
    let as_transform = fits::<bindings::transform::TransformPlugin>(runtime, &spec, wasm);
    match (as_rule, as_transform) {
        (Ok(world), _) | (_, Ok(world)) => check.world = Some(world),
        // Neither: say why for both, since the author may have meant either.
        (
            Err(rule @ LoadError::WrongWorld { .. }),
            Err(transform @ LoadError::WrongWorld { .. }),
        ) => {
            check
                .problems
                .push("implements neither the rule nor the transform world".into());
            check.problems.push(format!("as a rule: {rule}"));
            check.problems.push(format!("as a transform: {transform}"));
        }
        (Err(LoadError::WrongWorld { .. }), Err(e)) | (Err(e), _) => {
            check.problems.push(e.to_string())
        }
    }
    check
}

/// The name of world `W` if `wasm` loads as a plugin of it.
fn fits<W: sandbox::World>(
    runtime: &Runtime,
    spec: &PluginSpec,
    wasm: &[u8],
) -> Result<&'static str, LoadError> {
    Plugin::<W>::load(runtime, spec, wasm).map(|_| W::NAME)
}
