//! Plugin manifests for tests: specs of the example plugins, the plugins
//! built once per process, and a manifest laid out in a directory with its
//! plugins and hashes, as a function reads it.

use orderflow_host::{Manifest, PluginSpec, RuleSet, Runtime, RuntimeConfig, TransformChain};
use orderflow_pipeline::reload::{DirSource, PluginCache, PluginSet};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Builds the plugin packages not built yet by this process; returns the
/// directory the built `<package>.wasm` files are in.
pub fn built(packages: &[&str]) -> PathBuf {
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !built.contains(*p))
        .collect();
    if !missing.is_empty() {
        orderflow_plugin_build::build(&missing).expect("the plugins build");
        built.extend(missing.iter().map(|p| p.to_string()));
    }
    orderflow_plugin_build::output_dir()
}

/// A spec for the built plugin `package`, named after it, without a hash.
pub fn spec(package: &str, config: Value) -> PluginSpec {
    serde_json::from_value(json!({
        "name": package, "version": "1.0.0", "wasm": format!("{package}.wasm"), "config": config
    }))
    .expect("a valid spec")
}

/// A source manifest as an operator writes it (no hashes): the threshold
/// rule with a EUR minimum, and both example transforms.
pub fn threshold_and_transforms(eur_minimum: u64) -> Manifest {
    Manifest {
        rules: vec![spec(
            "threshold",
            json!({"minimum_minor": {"EUR": eur_minimum}}),
        )],
        transforms: vec![spec("normalize", json!({})), spec("redact-pii", json!({}))],
        ..Default::default()
    }
}

/// The plugin packages a manifest names (`threshold.wasm` → `threshold`).
pub fn packages(manifest: &Manifest) -> Vec<String> {
    let mut out: Vec<String> = manifest
        .rules
        .iter()
        .chain(&manifest.transforms)
        .map(|s| {
            let file = s.wasm.rsplit('/').next().unwrap_or(&s.wasm);
            file.strip_suffix(".wasm").unwrap_or(file).to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Lays a source manifest out in `dir` as a function reads it: its
/// plugins built, locked (hashes filled in) by the manifest crate, and
/// written next to it. Returns the manifest's path (`dir/manifest.json`).
pub fn lay_out(dir: &Path, source: &Manifest) -> PathBuf {
    let names = packages(source);
    let wasm_dir = built(&names.iter().map(String::as_str).collect::<Vec<_>>());
    source
        .lock("test manifest", &wasm_dir)
        .expect("the test manifest locks")
        .write_to(dir)
        .expect("the test manifest is written")
}

/// Lays out `live` in `dir` naming `candidate` as its shadow, as the
/// operator publishes them: the candidate kept as `manifests/<hex>.json`,
/// both sets' plugins under content-addressed names beside the live
/// manifest. Returns both revisions (live, candidate).
pub fn lay_out_shadowed(dir: &Path, live: &Manifest, candidate: &Manifest) -> (String, String) {
    let lock = |source: &Manifest| {
        let names = packages(source);
        let wasm_dir = built(&names.iter().map(String::as_str).collect::<Vec<_>>());
        source
            .lock("test manifest", &wasm_dir)
            .expect("the test manifest locks")
            .content_addressed()
    };
    let kept = lock(candidate);
    let candidate_revision = kept.manifest.revision.clone();
    let shadow = orderflow_host::manifest::Shadow {
        revision: candidate_revision.clone(),
    };
    let written = kept.write_to(dir).expect("the candidate is written");
    let copy = dir.join(shadow.manifest_path());
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::rename(written, copy).unwrap();
    let mut locked = lock(live);
    locked.manifest.manifest.shadow = Some(shadow);
    locked.write_to(dir).expect("the live manifest is written");
    (locked.manifest.revision, candidate_revision)
}

/// Both chains of a source manifest, loaded in one runtime of their own:
/// its plugins built and locked in memory (the hashes checked on load as
/// in production), no files written.
pub fn load(source: &Manifest) -> (RuleSet, TransformChain) {
    let names = packages(source);
    let wasm_dir = built(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let locked = source
        .lock("test manifest", &wasm_dir)
        .expect("the test manifest locks");
    let wasm = |spec: &PluginSpec| Ok(locked.wasm[&spec.sha256].clone());
    let runtime = runtime(32);
    (
        RuleSet::load(&runtime, &locked.manifest, &wasm).expect("the rules load"),
        TransformChain::load(&runtime, &locked.manifest, &wasm).expect("the transforms load"),
    )
}

/// A plugin cache over the manifest laid out in `dir` (`dir/manifest.json`).
pub fn dir_cache<T: PluginSet>(dir: &Path, refresh: Duration) -> PluginCache<T> {
    PluginCache::new(
        DirSource::new(dir.join("manifest.json")),
        runtime(16),
        refresh,
    )
}

/// A wasm runtime for tests, without a disk cache.
pub fn runtime(max_instances: u32) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances,
        ..Default::default()
    })
    .expect("a runtime")
}
