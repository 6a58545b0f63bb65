//! A cold function with pre-initialisation on (the functions' default)
//! starts every plugin from the snapshot artifact `publish` made, with
//! nothing compiled; it falls back, saying so, when the snapshot is not for
//! its engine or its configuration, or when its bytes are not the pinned
//! ones.

use crate::env::*;
use orderflow_aws::function::runtime_config;
use orderflow_host::manifest::Artifact;
use orderflow_host::{LoadKind, Manifest, PluginInfo, Runtime, RuntimeConfig, Target};
use orderflow_test_support::logs::Captured;
use serde_json::{Value, json};
use std::sync::Arc;

/// A function's engine as Lambda builds it (pre-initialising), with a
/// fresh disk cache: what a cold start has.
fn function_runtime(target: Target) -> (Arc<Runtime>, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 32,
        target,
        ..runtime_config(cache.path().to_path_buf())
    })
    .unwrap();
    assert!(runtime_config(cache.path().to_path_buf()).preinit);
    (runtime, cache)
}

/// Each plugin's name, load kind, fallback reason, and whether its
/// instances start configured.
fn loaded(plugins: &[PluginInfo]) -> Vec<(String, LoadKind, Option<&'static str>, bool)> {
    plugins
        .iter()
        .map(|p| {
            let reason = p.fallback.as_ref().map(|f| f.kind());
            (p.name.clone(), p.load, reason, p.preinitialized)
        })
        .collect()
}

/// A cold producer's rules as it loaded them for one order.
async fn cold_rules(env: &Env, target: Target, id: &str) -> Vec<PluginInfo> {
    let (runtime, _cache) = function_runtime(target);
    let producer = env.stack.producer(runtime);
    let r = invoke(&producer, json!(order(id, "EUR", 500_000))).await;
    assert_eq!(count(&r, "published"), 1, "it decides as before: {r}");
    producer.plugins.current().await.unwrap().set.loaded.clone()
}

/// The WARN lines saying a plugin's artifact was not used.
fn fallbacks(logs: &Captured) -> Vec<Value> {
    logs.json_lines()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("precompiled artifact not used"))
        })
        .collect()
}

fn snapshot_of<'a>(manifest: &'a Manifest, plugin: &str, engine: &str) -> &'a Artifact {
    let (_, spec) = manifest.plugins().find(|(_, s)| s.name == plugin).unwrap();
    spec.artifacts
        .iter()
        .find(|a| a.engine == engine && a.preinit.is_some())
        .unwrap()
}

// One thread: the log subscriber below is this thread's, and the plugin
// cache logs from the task that awaits the load.
#[tokio::test(flavor = "current_thread")]
async fn a_cold_function_starts_from_published_snapshots_and_falls_back_saying_why() {
    let env = env(|_| {}).await;
    let (source, _) = example();
    env.publish(source).await;
    let live = status_manifest(&env).await;
    for (_, spec) in live.plugins() {
        let snapshots: Vec<&Artifact> = spec
            .artifacts
            .iter()
            .filter(|a| a.preinit.is_some())
            .collect();
        assert_eq!(snapshots.len(), 2, "one per target: {spec:?}");
        assert!(snapshots.iter().all(|a| a.object.contains("-preinit-")));
    }

    // Cold producer and consumer: every plugin from its snapshot, nothing
    // compiled, every instance configured from the start.
    let (runtime, _cache) = function_runtime(Target::Portable);
    let engine = runtime.engine_key().to_string();
    let producer = env.stack.producer(runtime.clone());
    let r = invoke(&producer, json!(order("ord-snap", "EUR", 500_000))).await;
    assert_eq!(count(&r, "published"), 1, "{r}");
    let from_snapshots = |specs: &[orderflow_host::PluginSpec]| {
        specs
            .iter()
            .map(|s| (s.name.clone(), LoadKind::Snapshot, None, true))
            .collect::<Vec<_>>()
    };
    let rules = producer.plugins.current().await.unwrap();
    assert_eq!(loaded(&rules.set.loaded), from_snapshots(&live.rules));
    let consumer = env.stack.consumer(runtime);
    assert_eq!(env.drain(&consumer).await.deleted, 1);
    let transforms = consumer.plugins.current().await.unwrap();
    assert_eq!(
        loaded(&transforms.set.loaded),
        from_snapshots(&live.transforms)
    );
    let items = env.stack.items().await.unwrap();
    assert_eq!(ids(&items), ["ord-snap"]);

    let logs = Captured::default();
    let _logged =
        tracing::subscriber::set_default(orderflow_aws::telemetry::json_subscriber(logs.clone()));

    // A tampered snapshot is refused by its hash before it is deserialised:
    // that plugin is compiled and snapshotted at load, the others are not.
    let tampered = snapshot_of(&live, "vip-customer", &engine);
    let plain = live.rules[1].artifact(&engine).unwrap();
    let key = env.stack.plugin_location().key(&tampered.object);
    let other = env
        .stack
        .s3
        .get_object()
        .bucket(&env.stack.bucket)
        .key(env.stack.plugin_location().key(&plain.object))
        .send()
        .await
        .unwrap();
    let other = other.body.collect().await.unwrap().to_vec();
    env.stack
        .s3
        .put_object()
        .bucket(&env.stack.bucket)
        .key(key)
        .body(other.into())
        .send()
        .await
        .unwrap();
    let rules = cold_rules(&env, Target::Portable, "ord-tampered").await;
    assert_eq!(
        loaded(&rules),
        [
            ("threshold".into(), LoadKind::Snapshot, None, true),
            (
                "vip-customer".into(),
                LoadKind::Compiled,
                Some("hash_mismatch"),
                true
            ),
            ("bulk-quantity".into(), LoadKind::Snapshot, None, true),
        ]
    );
    let lines = fallbacks(&logs);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (
            &lines[0]["level"],
            &lines[0]["plugin"],
            &lines[0]["reason"],
            &lines[0]["load"]
        ),
        (
            &json!("WARN"),
            &json!("vip-customer"),
            &json!("hash_mismatch"),
            &json!("compiled")
        )
    );

    // Another engine (an upgraded wasmtime): no artifact is for it, so
    // every plugin is compiled and snapshotted at load, with the line.
    let rules = cold_rules(&env, Target::Native, "ord-native").await;
    assert!(
        rules.iter().all(|p| p.load == LoadKind::Compiled
            && p.preinitialized
            && p.fallback.as_ref().map(|f| f.kind()) == Some("no_artifact_for_engine")),
        "{:?}",
        loaded(&rules)
    );
    let lines = fallbacks(&logs);
    assert_eq!(lines.len(), 1 + live.rules.len(), "{lines:?}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l["reason"] == "no_artifact_for_engine")
    );

    // Another configuration than the snapshot's (a manifest edited without
    // publishing): the plain artifact, then a snapshot made at load.
    let mut edited = serde_json::to_value(&live).unwrap();
    edited["rules"][0]["config"]["minimum_minor"]["EUR"] = json!(400_000);
    env.stack
        .put_manifest_raw(edited.to_string().into_bytes())
        .await
        .unwrap();
    let before = fallbacks(&logs).len();
    let rules = cold_rules(&env, Target::Portable, "ord-config").await;
    assert_eq!(
        loaded(&rules)[..2],
        [
            (
                "threshold".into(),
                LoadKind::Precompiled,
                Some("no_snapshot"),
                true
            ),
            (
                "vip-customer".into(),
                LoadKind::Compiled,
                Some("hash_mismatch"),
                true
            ),
        ]
    );
    let lines = fallbacks(&logs);
    let said: Vec<(&Value, &Value, &Value)> = lines[before..]
        .iter()
        .map(|l| (&l["plugin"], &l["reason"], &l["load"]))
        .collect();
    assert_eq!(
        said,
        [
            (
                &json!("threshold"),
                &json!("no_snapshot"),
                &json!("precompiled")
            ),
            (
                &json!("vip-customer"),
                &json!("hash_mismatch"),
                &json!("compiled")
            ),
        ]
    );
}
