//! Against a moto server: the S3 plugin source (conditional GET), the
//! operator's publish / status / rollback, and a function's plugin cache
//! following them.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use orderflow_aws::operator::OperatorError;
use orderflow_aws::{PluginLocation, PluginStore, S3Source, clients};
use orderflow_host::RuleSet;
use orderflow_host::manifest::LockError;
use orderflow_pipeline::reload::{ManifestFetch, PluginCache, PluginSource, RefreshErrorKind};
use orderflow_test_support::manifests::{built, runtime, threshold_and_transforms};
use orderflow_test_support::moto::MotoServer;
use orderflow_test_support::orders::{parsed, priced};
use std::path::PathBuf;
use std::time::Duration;

const BUCKET: &str = "orderflow-test-plugins";

async fn bucket(moto: &MotoServer) -> aws_sdk_s3::Client {
    let sdk = moto.sdk_config().await;
    let s3 = clients::s3(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3
}

/// The example plugins, built.
fn wasm_dir() -> PathBuf {
    built(orderflow_plugin_build::EXAMPLES)
}

/// Uploads bytes as the live manifest, bypassing publish.
async fn put_manifest(s3: &aws_sdk_s3::Client, bytes: Vec<u8>) {
    s3.put_object()
        .bucket(BUCKET)
        .key("plugins/manifest.json")
        .body(bytes.into())
        .send()
        .await
        .unwrap();
}

fn location() -> PluginLocation {
    PluginLocation::new(BUCKET, "plugins/manifest.json")
}

#[tokio::test]
async fn the_s3_source_answers_not_modified_for_an_unchanged_manifest() {
    let moto = MotoServer::start().unwrap();
    let s3 = bucket(&moto).await;
    let source = S3Source::new(s3.clone(), location());
    let e = source.fetch_manifest(None).await.unwrap_err();
    assert!(e.missing, "{e}");
    assert_eq!(
        e.object,
        "s3://orderflow-test-plugins/plugins/manifest.json"
    );

    put_manifest(&s3, b"{}".to_vec()).await;
    let ManifestFetch::Fetched(first) = source.fetch_manifest(None).await.unwrap() else {
        panic!("expected the object")
    };
    assert_eq!(first.bytes, b"{}");
    let etag = first.etag.clone().expect("S3 gives an ETag");
    assert!(first.version_id.is_some(), "the bucket is versioned");
    assert!(first.last_modified.is_some());
    assert_eq!(
        source.fetch_manifest(Some(&etag)).await.unwrap(),
        ManifestFetch::NotModified
    );

    put_manifest(&s3, b"{\"rules\": []}".to_vec()).await;
    let ManifestFetch::Fetched(second) = source.fetch_manifest(Some(&etag)).await.unwrap() else {
        panic!("changed")
    };
    assert_ne!(second.etag, first.etag);

    let e = source.fetch_wasm("nope.wasm").await.unwrap_err();
    assert!(e.missing && e.object.ends_with("/plugins/nope.wasm"), "{e}");
}

#[tokio::test]
async fn publish_status_and_rollback_and_a_running_function_follows() {
    let moto = MotoServer::start().unwrap();
    let s3 = bucket(&moto).await;
    let store = PluginStore::new(s3.clone(), location());
    let rt = runtime(16);
    let rules: PluginCache<RuleSet> = PluginCache::new(
        S3Source::new(s3.clone(), location()),
        rt.clone(),
        Duration::ZERO,
    );

    assert!(matches!(
        store.status(None).await,
        Err(OperatorError::NoLiveManifest { .. })
    ));
    assert!(matches!(
        store.rollback(None).await,
        Err(OperatorError::NoLiveManifest { .. })
    ));

    // First publish: every plugin uploaded under a content-addressed key.
    let first = store
        .publish(&threshold_and_transforms(100_000), &wasm_dir(), Some(&rt))
        .await
        .unwrap();
    assert!(first.changed && first.previous.is_none());
    assert_eq!(first.plugins.len(), 3);
    for p in &first.plugins {
        assert!(p.uploaded, "{p:?}");
        assert_eq!(p.key, format!("plugins/{}-{}.wasm", p.name, &p.sha256[..8]));
    }
    assert_eq!(
        first.copy_key,
        format!(
            "plugins/manifests/{}.json",
            &first.revision["sha256:".len()..]
        )
    );
    let live = rules.current().await.unwrap();
    assert_eq!(live.revision, first.revision);
    assert!(
        live.set
            .evaluate(&parsed(&priced("ord-1001", 100_000)))
            .high_value
    );

    let status = store.status(None).await.unwrap();
    assert_eq!(status.revision, first.revision);
    assert_eq!(status.action.as_deref(), Some("publish"));
    assert!(status.previous.is_none());
    assert!(
        status.version_id.is_some()
            && status.last_modified.is_some()
            && status.published_at.is_some()
    );
    assert!(
        status
            .plugins
            .iter()
            .all(|p| p.present && p.size.unwrap() > 0),
        "{:?}",
        status.plugins
    );
    assert_eq!(status.plugins[0].name, "threshold");
    assert_eq!(status.plugins[0].version, "1.0.0");

    // The same source again changes nothing and uploads nothing.
    let again = store
        .publish(&threshold_and_transforms(100_000), &wasm_dir(), None)
        .await
        .unwrap();
    assert!(!again.changed && again.plugins.iter().all(|p| !p.uploaded));
    assert_eq!(again.revision, first.revision);

    // A rule change: same plugin bytes (nothing uploaded), new revision.
    let second = store
        .publish(&threshold_and_transforms(50_000), &wasm_dir(), Some(&rt))
        .await
        .unwrap();
    assert!(second.changed);
    assert_eq!(second.previous.as_deref(), Some(first.revision.as_str()));
    assert!(second.plugins.iter().all(|p| !p.uploaded));
    assert!(
        rules
            .current()
            .await
            .unwrap()
            .set
            .evaluate(&parsed(&priced("ord-1001", 60_000)))
            .high_value
    );
    let status = store.status(None).await.unwrap();
    assert_eq!(status.previous.as_deref(), Some(first.revision.as_str()));
    assert_eq!(status.history.len(), 2);

    // Roll back: the first revision is live again, byte for byte.
    let back = store.rollback(None).await.unwrap();
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        (second.revision.as_str(), first.revision.as_str())
    );
    let status = store.status(None).await.unwrap();
    assert_eq!(status.revision, first.revision);
    assert_eq!(status.action.as_deref(), Some("rollback"));
    let live = rules.current().await.unwrap();
    assert_eq!(live.revision, first.revision);
    assert!(
        !live
            .set
            .evaluate(&parsed(&priced("ord-1001", 60_000)))
            .high_value
    );

    // Nothing before the first revision.
    assert!(matches!(
        store.rollback(None).await,
        Err(OperatorError::NoPrevious { .. })
    ));
    // Forward again by (a prefix of) the revision.
    let hex = &second.revision["sha256:".len()..];
    let fwd = store.rollback(Some(&hex[..10])).await.unwrap();
    assert_eq!(fwd.to, second.revision);
    assert!(matches!(
        store.rollback(Some("sha256:0000000000")).await,
        Err(OperatorError::UnknownRevision { .. })
    ));
    assert_eq!(rules.current().await.unwrap().revision, second.revision);
}

#[tokio::test]
async fn history_is_append_only_and_rollbacks_walk_back_through_it() {
    let moto = MotoServer::start().unwrap();
    let store = PluginStore::new(bucket(&moto).await, location());
    let publish = async |minimum| {
        store
            .publish(&threshold_and_transforms(minimum), &wasm_dir(), None)
            .await
            .unwrap()
            .revision
    };
    let a = publish(100_000).await;
    let b = publish(50_000).await;
    // Publishing an old revision again is a new entry, not a rewrite of A's past.
    assert_eq!(publish(100_000).await, a);

    let back = store.rollback(None).await.unwrap();
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        (a.as_str(), b.as_str())
    );
    let back = store.rollback(None).await.unwrap();
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        (b.as_str(), a.as_str())
    );
    assert!(matches!(
        store.rollback(None).await,
        Err(OperatorError::NoPrevious { .. })
    ));

    let status = store.status(None).await.unwrap();
    assert_eq!(
        (status.revision.as_str(), status.sequence),
        (a.as_str(), Some(5))
    );
    let seen: Vec<(u64, &str, &str)> = status
        .history
        .iter()
        .map(|e| (e.sequence, e.action.as_str(), e.revision.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (5, "rollback", a.as_str()),
            (4, "rollback", b.as_str()),
            (3, "publish", a.as_str()),
            (2, "publish", b.as_str()),
            (1, "publish", a.as_str()),
        ]
    );
    assert!(status.previous.is_none(), "{status:?}");
}

#[tokio::test]
async fn publish_checks_before_it_uploads_anything() {
    let moto = MotoServer::start().unwrap();
    let s3 = bucket(&moto).await;
    let store = PluginStore::new(s3.clone(), location());

    let mut refused = threshold_and_transforms(100_000);
    refused.rules[0].config = serde_json::json!({"minimum_minor": {}});
    let e = store
        .publish(&refused, &wasm_dir(), Some(&runtime(16)))
        .await
        .unwrap_err();
    assert!(matches!(e, OperatorError::Load(_)), "{e}");
    assert!(e.to_string().contains("configuration refused"), "{e}");

    let mut pinned = threshold_and_transforms(100_000);
    pinned.rules[0].sha256 = "a".repeat(64);
    let e = store.publish(&pinned, &wasm_dir(), None).await.unwrap_err();
    assert!(
        matches!(e, OperatorError::Lock(LockError::HashMismatch { .. })),
        "{e}"
    );

    let mut missing = threshold_and_transforms(100_000);
    missing.rules[0].wasm = "nope.wasm".into();
    assert!(matches!(
        store
            .publish(&missing, &wasm_dir(), None)
            .await
            .unwrap_err(),
        OperatorError::Lock(LockError::Read { .. })
    ));

    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert!(
        listed.contents().is_empty(),
        "nothing was uploaded: {:?}",
        listed.contents()
    );
}

#[tokio::test]
async fn a_function_keeps_its_rules_when_the_live_manifest_goes_bad() {
    let moto = MotoServer::start().unwrap();
    let s3 = bucket(&moto).await;
    let store = PluginStore::new(s3.clone(), location());
    let good = store
        .publish(&threshold_and_transforms(100_000), &wasm_dir(), None)
        .await
        .unwrap();
    let rules: PluginCache<RuleSet> = PluginCache::new(
        S3Source::new(s3.clone(), location()),
        runtime(16),
        Duration::ZERO,
    );
    assert_eq!(rules.current().await.unwrap().revision, good.revision);

    // Wrong sha256 for the threshold plugin, uploaded by hand.
    let mut bad: serde_json::Value = serde_json::to_value(&good.manifest).unwrap();
    bad["rules"][0]["sha256"] = serde_json::json!("f".repeat(64));
    put_manifest(&s3, bad.to_string().into_bytes()).await;
    assert_eq!(rules.current().await.unwrap().revision, good.revision);
    assert_eq!(
        rules.status().await.last_error.unwrap().kind,
        RefreshErrorKind::HashMismatch
    );
    // The operator's health check sees it too, by plugin, with and without loading.
    let rt = runtime(16);
    for verify in [None, Some(&*rt)] {
        let status = store.status(verify).await.unwrap();
        assert!(
            status.problems.len() == 1 && status.problems[0].starts_with("plugin threshold: "),
            "{:?}",
            status.problems
        );
    }
    // A missing plugin object is a problem; the set is healthy when all is there.
    put_manifest(&s3, serde_json::to_vec(&good.manifest).unwrap()).await;
    assert!(store.status(Some(&rt)).await.unwrap().problems.is_empty());
    let gone = &good.plugins[1].key;
    s3.delete_object()
        .bucket(BUCKET)
        .key(gone)
        .send()
        .await
        .unwrap();
    let status = store.status(None).await.unwrap();
    assert_eq!(
        status.problems,
        [format!(
            "plugin {} is missing: no {gone}",
            good.plugins[1].name
        )]
    );

    // Not JSON at all.
    put_manifest(&s3, b"<html>".to_vec()).await;
    assert_eq!(rules.current().await.unwrap().revision, good.revision);
    assert_eq!(
        rules.status().await.last_error.unwrap().kind,
        RefreshErrorKind::Manifest
    );
    // status refuses to describe it, naming the object.
    let e = store.status(None).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("s3://orderflow-test-plugins/plugins/manifest.json"),
        "{e}"
    );

    // Deleted.
    s3.delete_object()
        .bucket(BUCKET)
        .key("plugins/manifest.json")
        .send()
        .await
        .unwrap();
    assert_eq!(rules.current().await.unwrap().revision, good.revision);
    assert_eq!(
        rules.status().await.last_error.unwrap().kind,
        RefreshErrorKind::Fetch
    );
}
