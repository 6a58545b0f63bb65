//! orderflow's engine: orders, the plugin manifest, and the wasmtime sandbox
//! that runs rule and transform plugins.
//!
//! It knows nothing of Lambda or AWS: the embedded pipeline, the Lambdas
//! and the tests all drive it the same way —
//!
//! 1. build one [`Runtime`] per process (engine, linkers, caches);
//! 2. load a [`RuleSet`] / [`TransformChain`] from a [`Manifest`] (hashes
//!    verified, components type-checked, configurations tried);
//! 3. per order: [`RuleSet::evaluate`] gives a [`Decision`] with its trace;
//!    per stored item: [`TransformChain::apply`].

mod bindings;
mod cache;
pub mod error;
pub mod item;
pub mod limits;
pub mod manifest;
pub mod order;
pub mod rules;
mod sandbox;
pub mod transforms;

pub use error::{Failure, LoadError, PluginError};
pub use item::{HighValueMessage, Item, PublishedDecision};
pub use limits::Limits;
pub use manifest::{LoadedManifest, Manifest, OnError, PluginSpec};
pub use order::Order;
pub use rules::{Decision, RuleSet};
pub use sandbox::{Cost, LoadKind, Runtime, RuntimeConfig};
pub use transforms::TransformChain;

use std::path::Path;
use std::time::Instant;

/// What was loaded, and what it cost: the cold-start figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    #[serde(serialize_with = "ser_kind")]
    pub load: LoadKind,
    pub load_micros: u64,
}

fn ser_kind<S: serde::Serializer>(k: &LoadKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match k {
        LoadKind::Compiled => "compiled",
        LoadKind::FromDiskCache => "disk_cache",
        LoadKind::InProcess => "in_process",
    })
}

fn load_specs<P>(
    specs: &[PluginSpec],
    wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
    load: impl Fn(&PluginSpec, &[u8]) -> Result<(P, LoadKind), LoadError>,
) -> Result<(Vec<P>, Vec<PluginInfo>), LoadError> {
    let mut plugins = Vec::with_capacity(specs.len());
    let mut infos = Vec::with_capacity(specs.len());
    for spec in specs {
        let started = Instant::now();
        let bytes = wasm(spec)?;
        let (plugin, kind) = load(spec, &bytes)?;
        infos.push(PluginInfo {
            name: spec.name.clone(),
            version: spec.version.clone(),
            sha256: spec.sha256.clone(),
            load: kind,
            load_micros: started.elapsed().as_micros() as u64,
        });
        plugins.push(plugin);
    }
    Ok((plugins, infos))
}

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
        let path = dir.join(&spec.wasm);
        std::fs::read(&path).map_err(|source| LoadError::Read { plugin: spec.name.clone(), path, source })
    }
}
