//! A cold function deserialises the artifacts `publish` precompiled, and
//! compiles (saying so) when its engine is not the one they were built for.

use crate::env::*;
use orderflow_aws::function::runtime_config;
use orderflow_host::{LoadKind, PluginInfo, Runtime, RuntimeConfig, Target};
use orderflow_test_support::logs::Captured;
use serde_json::json;
use std::sync::Arc;

/// A function's engine as Lambda builds it, with a fresh disk cache: what
/// a cold start has; without pre-initialisation, which takes the snapshot
/// artifacts instead (`snapshots`).
fn function_runtime(target: Target, cache: &tempfile::TempDir) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 32,
        target,
        preinit: false,
        ..runtime_config(cache.path().to_path_buf())
    })
    .unwrap()
}

fn kinds(plugins: &[PluginInfo]) -> Vec<(String, LoadKind)> {
    plugins.iter().map(|p| (p.name.clone(), p.load)).collect()
}

fn all(manifest: &[orderflow_host::PluginSpec], kind: LoadKind) -> Vec<(String, LoadKind)> {
    manifest.iter().map(|s| (s.name.clone(), kind)).collect()
}

// One thread: the log subscriber below is this thread's, and the plugin
// cache logs from the task that awaits the load.
#[tokio::test(flavor = "current_thread")]
async fn a_cold_function_loads_precompiled_artifacts_and_compiles_after_the_engine_changes() {
    let env = env(|_| {}).await;
    let (source, _) = example();
    let revision = env.publish(source).await;
    let live = status_manifest(&env).await;
    assert!(
        live.plugins()
            .all(|(_, s)| s.artifacts.iter().filter(|a| a.preinit.is_none()).count() == 2),
        "{live:?}"
    );

    // The functions' engine: every plugin of both functions precompiled.
    let cache = tempfile::tempdir().unwrap();
    let runtime = function_runtime(Target::Portable, &cache);
    let producer = env.stack.producer(runtime.clone());
    let r = invoke(&producer, json!(order("ord-pre", "EUR", 500_000))).await;
    assert_eq!(
        (r["revision"].as_str(), count(&r, "published")),
        (Some(revision.as_str()), 1)
    );
    let rules = producer.plugins.current().await.unwrap();
    assert_eq!(
        kinds(&rules.set.loaded),
        all(&live.rules, LoadKind::Precompiled)
    );
    let consumer = env.stack.consumer(runtime);
    let drained = env.drain(&consumer).await;
    assert_eq!(drained.deleted, 1);
    let transforms = consumer.plugins.current().await.unwrap();
    assert_eq!(
        kinds(&transforms.set.loaded),
        all(&live.transforms, LoadKind::Precompiled)
    );

    // The engine changes (here: tuned to this CPU, as an upgraded wasmtime
    // would also have another key): no artifact is for it, so each plugin
    // is compiled, with a warning naming it and why.
    let logs = Captured::default();
    let _logged =
        tracing::subscriber::set_default(orderflow_aws::telemetry::json_subscriber(logs.clone()));
    let cache = tempfile::tempdir().unwrap();
    let runtime = function_runtime(Target::Native, &cache);
    let producer = env.stack.producer(runtime.clone());
    let r = invoke(&producer, json!(order("ord-native", "EUR", 500_000))).await;
    assert_eq!(count(&r, "published"), 1, "it decides as before: {r}");
    let rules = producer.plugins.current().await.unwrap();
    assert_eq!(
        kinds(&rules.set.loaded),
        all(&live.rules, LoadKind::Compiled)
    );
    let fallbacks: Vec<serde_json::Value> = logs
        .json_lines()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("precompiled artifact not used"))
        })
        .collect();
    let named: Vec<&str> = fallbacks
        .iter()
        .map(|l| l["plugin"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = live.rules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(named, expected, "{fallbacks:?}");
    for line in &fallbacks {
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["reason"], "no_artifact_for_engine");
        assert_eq!(line["load"], "compiled");
        assert_eq!(line["engine"], runtime.engine_key());
    }
}
