//! The plugins written in Python, built with componentize-py (cached by the
//! hash of their inputs) and loaded with their manifest entry's WASI grant
//! and limits. Where componentize-py cannot be installed, [`python_wasm`]
//! says so and gives `None`, and the tests that need it pass without
//! running.

use orderflow_host::rules::RulePlugin;
use orderflow_host::{LoadError, PluginSpec, Runtime, RuntimeConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A built component's bytes, or `None` where it cannot be built here.
type Built = Option<Arc<Vec<u8>>>;

/// The component of the Python plugin `package`, or `None` (with the reason
/// printed) where its toolchain cannot be installed.
pub fn python_wasm(package: &'static str) -> Built {
    static BUILT: OnceLock<Mutex<HashMap<&'static str, Built>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    built
        .entry(package)
        .or_insert_with(|| match orderflow_plugin_build::build_python(package) {
            Ok(path) => Some(Arc::new(
                std::fs::read(path).expect("the component was written"),
            )),
            Err(e @ orderflow_plugin_build::PythonBuildError::Unavailable(_)) => {
                eprintln!("SKIPPED: {package} is not built on this machine: {e}");
                None
            }
            Err(e) => panic!("{e}"),
        })
        .clone()
}

/// `plugins/python-threshold/plugin.json`: the Python rule's manifest entry
/// (its WASI grant and limits), for `wasm`, with `config`.
pub fn python_threshold_spec(wasm: &[u8], config: Value) -> PluginSpec {
    let path =
        orderflow_plugin_build::workspace_root().join("plugins/python-threshold/plugin.json");
    let entry = std::fs::read(&path).unwrap();
    let mut spec: PluginSpec = serde_json::from_slice(&entry).expect("plugin.json is an entry");
    spec.sha256 = orderflow_host::manifest::sha256_hex(wasm);
    spec.config = config;
    spec
}

/// One runtime per test process, with an on-disk compile cache under
/// target/: the interpreter compiles once per machine, not once per test.
pub fn cached_runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Runtime::new(RuntimeConfig {
                cache_dir: Some(orderflow_plugin_build::target_dir().join("python-plugin-cache")),
                max_instances: 32,
                ..Default::default()
            })
            .expect("runtime")
        })
        .clone()
}

/// Loads into [`cached_runtime`], one load at a time: the tests of a file
/// run in parallel, and the first loads of one component would otherwise
/// each compile it (20 s of both cores for the interpreter).
pub fn load(spec: &PluginSpec, wasm: &[u8]) -> Result<RulePlugin, LoadError> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    RulePlugin::load(&cached_runtime(), spec, wasm)
}
