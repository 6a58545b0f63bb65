//! `orderflow plugin build`: any plugin crate to a component, through the
//! same code path as `cargo xtask plugins` and the tests
//! (`orderflow-plugin-build`), then loaded by the real host to say what it
//! is and what it costs to compile here.

use super::load;
use anyhow::{Context, Result};
use orderflow_host::{Runtime, RuntimeConfig};
use orderflow_plugin_build::BuildError;
use std::path::Path;
use std::process::ExitCode;

/// Exit 0 built and fits the contract; 1 the crate did not compile or its
/// component does not fit (the compiler's output is above, or the contract
/// error names the plugin); 2 nothing could be tried.
pub fn build(dir: &Path) -> Result<ExitCode> {
    let built = match orderflow_plugin_build::build_crate(dir, false) {
        Ok(built) => built,
        Err(
            e @ (BuildError::Cargo { .. }
            | BuildError::NotAPlugin { .. }
            | BuildError::Componentize { .. }),
        ) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e).with_context(|| format!("building {}", dir.display())),
    };
    let bytes =
        std::fs::read(&built.wasm).with_context(|| format!("reading {}", built.wasm.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 8,
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let check = orderflow_host::check_plugin(&runtime, &bytes, &serde_json::json!({}), None);
    println!("plugin:   {}", built.package);
    println!("built:    {}", built.wasm.display());
    println!("size:     {} bytes", check.size_bytes);
    println!("sha256:   {}", check.sha256);
    println!(
        "build:    {:.1} s (cargo, plugin profile, wasm32-unknown-unknown)",
        built.build_time.as_secs_f64()
    );
    println!(
        "compile:  {:.1} ms on this host (a cold load; a cached artifact loads in well under 1 ms)",
        check.compile_micros as f64 / 1000.0
    );
    let spec = load::spec(&built.package, &bytes, &serde_json::json!({}), None);
    match load::world_of(&runtime, &spec, &bytes) {
        Ok(kind) => {
            println!("world:    {}", kind.world());
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            println!("problem:  {problem}");
            Ok(ExitCode::from(1))
        }
    }
}
