//! The plugins the local stack publishes: the example manifest, built.

use anyhow::{Context, Result};
use orderflow_host::{Manifest, Precompiler};
use orderflow_test_support::manifests::packages;
use std::sync::{Arc, OnceLock};

/// The example manifest the local stack publishes when the workspace has
/// no `plugins/manifest.json` to read: that file, compiled in, so there is
/// one example rule set. Plugin paths are the built files' names.
pub fn example_manifest() -> Manifest {
    Manifest::parse_source(
        include_bytes!("../../../plugins/manifest.json"),
        "plugins/manifest.json",
    )
    .expect("the example manifest is valid")
}

/// Builds the plugins a source manifest names; returns their directory.
pub fn build_plugins(manifest: &Manifest) -> Result<std::path::PathBuf> {
    let names = packages(manifest);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    orderflow_plugin_build::build(&refs).context("building the plugins")?;
    Ok(orderflow_plugin_build::output_dir())
}

/// One precompiler for the process: it keeps what it compiled, so the many
/// publishes of one test run compile each plugin once per target.
pub fn precompiler() -> Arc<Precompiler> {
    static PRECOMPILER: OnceLock<Arc<Precompiler>> = OnceLock::new();
    PRECOMPILER
        .get_or_init(|| Arc::new(Precompiler::for_functions().expect("the function targets")))
        .clone()
}
