//! Against a moto server: publish uploads precompiled artifacts beside the
//! plugins, and a function's cold start deserialises them; an engine they
//! were not built for, or bytes they are not, fall back to compiling.

use orderflow_aws::function::runtime_config;
use orderflow_aws::{PluginLocation, PluginStore, S3Source, clients};
use orderflow_host::artifact::FUNCTION_TARGETS;
use orderflow_host::{
    Fallback, LoadKind, Manifest, PluginInfo, Precompiler, RuleSet, Runtime, RuntimeConfig,
    TransformChain,
};
use orderflow_pipeline::reload::{PluginCache, PluginSet};
use orderflow_test_support::manifests::{built, threshold_and_transforms};
use orderflow_test_support::moto::MotoServer;
use std::sync::Arc;
use std::time::Duration;

const BUCKET: &str = "orderflow-test-artifacts";

fn location() -> PluginLocation {
    PluginLocation::new(BUCKET, "plugins/manifest.json")
}

/// A function's cold start: a fresh runtime and cache, the first load.
async fn cold_start<T: PluginSet>(
    s3: &aws_sdk_s3::Client,
    runtime: Arc<Runtime>,
) -> Vec<PluginInfo> {
    let cache: PluginCache<T> = PluginCache::new(
        S3Source::new(s3.clone(), location()),
        runtime,
        Duration::ZERO,
    );
    cache.current().await.unwrap().set.plugins().to_vec()
}

/// The functions' engine without pre-initialisation: the plain artifacts
/// (the snapshot ones are the local stack's `e2e::snapshots`).
fn portable() -> (Arc<Runtime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 16,
        preinit: false,
        ..runtime_config(dir.path().join("cache"))
    })
    .unwrap();
    (runtime, dir)
}

fn kinds(plugins: &[PluginInfo]) -> Vec<(&str, LoadKind)> {
    plugins.iter().map(|p| (p.name.as_str(), p.load)).collect()
}

#[tokio::test]
async fn a_cold_function_loads_the_published_artifacts_and_falls_back_to_compiling() {
    let moto = MotoServer::start().unwrap();
    let s3 = clients::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let source: Manifest = threshold_and_transforms(100_000);
    let dir = built(orderflow_plugin_build::EXAMPLES);

    // Published first without artifacts (an older publisher), then with:
    // the same revision, now listing them.
    let plain = PluginStore::new(s3.clone(), location());
    let without = plain.publish(&source, &dir, None).await.unwrap();
    assert!(
        without
            .manifest
            .plugins()
            .all(|(_, s)| s.artifacts.is_empty())
    );
    let store = plain.precompiling(Arc::new(Precompiler::for_functions().unwrap()));
    let report = store.publish(&source, &dir, None).await.unwrap();
    assert_eq!(
        report.revision, without.revision,
        "artifacts do not change the revision"
    );
    assert!(report.changed, "the live manifest now lists them");
    let status = store.status(None).await.unwrap();
    assert_eq!(status.revision, report.revision);
    assert_eq!(
        status.history.len(),
        1,
        "no new history entry: {:?}",
        status.history
    );
    assert!(status.problems.is_empty(), "{:?}", status.problems);
    assert_eq!(report.artifacts_uploaded, 3 * 2 * FUNCTION_TARGETS.len());

    // Each plugin lists one artifact per target, and one snapshot per
    // target, their objects beside the wasm.
    for (_, spec) in report.manifest.plugins() {
        for snapshot in [false, true] {
            let targets: Vec<&str> = spec
                .artifacts
                .iter()
                .filter(|a| a.preinit.is_some() == snapshot)
                .map(|a| a.target.as_str())
                .collect();
            assert_eq!(targets, FUNCTION_TARGETS, "{} {snapshot}", spec.name);
        }
        for a in &spec.artifacts {
            let stem = spec.wasm.strip_suffix(".wasm").unwrap();
            assert!(
                a.object.starts_with(stem) && a.object.ends_with(".cwasm"),
                "{}",
                a.object
            );
            let object = s3
                .get_object()
                .bucket(BUCKET)
                .key(format!("plugins/{}", a.object))
                .send()
                .await
                .unwrap();
            let bytes = object.body.collect().await.unwrap().to_vec();
            assert_eq!(orderflow_host::manifest::sha256_hex(&bytes), a.sha256);
        }
    }
    // A re-publish finds them there.
    let again = store.publish(&source, &dir, None).await.unwrap();
    assert_eq!((again.changed, again.artifacts_uploaded), (false, 0));

    // The functions' engine: every plugin precompiled, none compiled.
    let (rt, _dir) = portable();
    let rules = cold_start::<RuleSet>(&s3, rt.clone()).await;
    let transforms = cold_start::<TransformChain>(&s3, rt).await;
    assert_eq!(kinds(&rules), [("threshold", LoadKind::Precompiled)]);
    assert_eq!(
        kinds(&transforms),
        [
            ("normalize", LoadKind::Precompiled),
            ("redact-pii", LoadKind::Precompiled)
        ]
    );
    assert!(
        rules
            .iter()
            .chain(&transforms)
            .all(|p| p.fallback.is_none())
    );

    // An engine tuned to this CPU has another key: it compiles, and says why.
    let native = Runtime::new(RuntimeConfig {
        max_instances: 16,
        ..Default::default()
    })
    .unwrap();
    let rules = cold_start::<RuleSet>(&s3, native).await;
    assert_eq!(kinds(&rules), [("threshold", LoadKind::Compiled)]);
    assert!(
        matches!(&rules[0].fallback, Some(Fallback::NoneForEngine { .. })),
        "{:?}",
        rules[0].fallback
    );

    // An artifact object that is not the bytes the manifest pins is not loaded.
    let (rt, _dir) = portable();
    let threshold = &report.manifest.rules[0];
    let mine = threshold.artifact(rt.engine_key()).unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key(format!("plugins/{}", mine.object))
        .body(b"not native code".to_vec().into())
        .send()
        .await
        .unwrap();
    let rules = cold_start::<RuleSet>(&s3, rt).await;
    assert_eq!(kinds(&rules), [("threshold", LoadKind::Compiled)]);
    assert!(
        matches!(&rules[0].fallback, Some(Fallback::HashMismatch { expected, .. }) if *expected == mine.sha256),
        "{:?}",
        rules[0].fallback
    );

    // A missing one neither.
    s3.delete_object()
        .bucket(BUCKET)
        .key(format!("plugins/{}", mine.object))
        .send()
        .await
        .unwrap();
    let (rt, _dir) = portable();
    let rules = cold_start::<RuleSet>(&s3, rt).await;
    assert_eq!(kinds(&rules), [("threshold", LoadKind::Compiled)]);
    assert_eq!(
        rules[0].fallback.as_ref().map(Fallback::kind),
        Some("fetch")
    );
}
