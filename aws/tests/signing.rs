//! Against a moto server: signed rule sets. With a public key configured, a
//! function's plugin cache takes only manifests that key signed, never one
//! older than the set it serves, and keeps the last good set otherwise.

use orderflow_aws::{PluginLocation, PluginStore, S3Source, clients};
use orderflow_host::RuleSet;
use orderflow_pipeline::reload::{ManifestSigner, PluginCache, RefreshErrorKind};
use orderflow_test_support::manifests::{built, runtime, threshold_and_transforms};
use orderflow_test_support::moto::MotoServer;
use std::collections::HashMap;
use std::time::Duration;

const BUCKET: &str = "orderflow-test-signed";
const KEY: &str = "plugins/manifest.json";

fn location() -> PluginLocation {
    PluginLocation::new(BUCKET, KEY)
}

async fn live_object(s3: &aws_sdk_s3::Client) -> (Vec<u8>, HashMap<String, String>) {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .unwrap();
    let meta = out.metadata().cloned().unwrap_or_default();
    (out.body.collect().await.unwrap().to_vec(), meta)
}

async fn put_live(s3: &aws_sdk_s3::Client, bytes: Vec<u8>, meta: &HashMap<String, String>) {
    s3.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(bytes.into())
        .set_metadata(Some(meta.clone()))
        .send()
        .await
        .unwrap();
}

/// The set serving is still `serving`, and why the new manifest was refused.
async fn refused(rules: &PluginCache<RuleSet>, serving: &str) -> String {
    assert_eq!(rules.current().await.unwrap().revision, serving);
    let e = rules.status().await.last_error.expect("an error");
    assert_eq!(e.kind, RefreshErrorKind::Signature, "{e}");
    e.message
}

fn signer(seed: u8) -> ManifestSigner {
    ManifestSigner::from_seed([seed; 32])
}

#[tokio::test]
async fn only_a_good_signature_at_a_new_sequence_goes_live() {
    let moto = MotoServer::start().unwrap();
    let s3 = clients::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let wasm = built(orderflow_plugin_build::EXAMPLES);
    let store = PluginStore::new(s3.clone(), location()).signing(signer(1));
    let key = signer(1).public_key();
    let rules: PluginCache<RuleSet> = PluginCache::new(
        S3Source::new(s3.clone(), location()),
        runtime(16),
        Duration::ZERO,
    )
    .verifying(Some(key.clone()));

    // A good signature goes live; status names the key.
    let a = store
        .publish(&threshold_and_transforms(100_000), &wasm, None)
        .await
        .unwrap();
    assert_eq!(rules.current().await.unwrap().revision, a.revision);
    assert_eq!(rules.status().await.sequence, Some(1));
    let status = store.status(None).await.unwrap();
    assert_eq!(status.signed_by.as_deref(), Some(key.key_id().as_str()));
    let (a_bytes, a_meta) = live_object(&s3).await;

    // Unsigned: the same set's bytes with another threshold, no metadata.
    let mut other: serde_json::Value = serde_json::from_slice(&a_bytes).unwrap();
    other["rules"][0]["config"] = serde_json::json!({"minimum_minor": {"EUR": 1}});
    let other = serde_json::to_vec(&other).unwrap();
    put_live(&s3, other.clone(), &HashMap::new()).await;
    let m = refused(&rules, &a.revision).await;
    assert!(m.contains("not signed"), "{m}");

    // Tampered: A's signature and sequence over changed bytes (other bytes
    // than the unsigned one's, whose ETag is remembered as refused).
    let tampered = String::from_utf8(other.clone())
        .unwrap()
        .replace("\"EUR\":1", "\"EUR\":2");
    assert_ne!(tampered.as_bytes(), other.as_slice());
    put_live(&s3, tampered.into_bytes(), &a_meta).await;
    let m = refused(&rules, &a.revision).await;
    assert!(m.contains("does not match"), "{m}");

    // Signed by another key.
    let intruder = PluginStore::new(s3.clone(), location()).signing(signer(2));
    intruder
        .publish(&threshold_and_transforms(300_000), &wasm, None)
        .await
        .unwrap();
    let m = refused(&rules, &a.revision).await;
    assert!(m.contains("not by the configured key"), "{m}");

    // A newer set signed by the key goes live.
    let b = store
        .publish(&threshold_and_transforms(200_000), &wasm, None)
        .await
        .unwrap();
    assert_eq!(rules.current().await.unwrap().revision, b.revision);
    let b_sequence = rules.status().await.sequence.unwrap();
    assert!(b_sequence > 1);

    let (b_bytes, b_meta) = live_object(&s3).await;

    // Replay of A's signed object (sequence 1) while B serves: refused.
    put_live(&s3, a_bytes.clone(), &a_meta).await;
    let m = refused(&rules, &b.revision).await;
    assert!(m.contains("older"), "{m}");
    assert_eq!(rules.status().await.sequence, Some(b_sequence));

    // B's object back as the store wrote it; a rollback to A is signed at
    // a new, higher sequence, and goes live.
    put_live(&s3, b_bytes, &b_meta).await;
    store.rollback(Some(&a.revision)).await.unwrap();
    assert_eq!(rules.current().await.unwrap().revision, a.revision);
    let running = rules.status().await.sequence.unwrap();
    assert!(running > b_sequence, "{running} > {b_sequence}");
}

#[tokio::test]
async fn a_tampered_plugin_under_a_good_signature_is_refused_by_its_hash() {
    let moto = MotoServer::start().unwrap();
    let s3 = clients::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let wasm = built(orderflow_plugin_build::EXAMPLES);
    let store = PluginStore::new(s3.clone(), location()).signing(signer(1));
    let a = store
        .publish(&threshold_and_transforms(100_000), &wasm, None)
        .await
        .unwrap();
    let threshold = &a.plugins[0].key;
    let other = &a.plugins[1].key;
    let bytes = s3
        .get_object()
        .bucket(BUCKET)
        .key(other)
        .send()
        .await
        .unwrap();
    let bytes = bytes.body.collect().await.unwrap().to_vec();
    s3.put_object()
        .bucket(BUCKET)
        .key(threshold)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
    let rules: PluginCache<RuleSet> = PluginCache::new(
        S3Source::new(s3.clone(), location()),
        runtime(16),
        Duration::ZERO,
    )
    .verifying(Some(signer(1).public_key()));
    let e = rules.current().await.err().expect("nothing loads");
    assert_eq!(e.kind, RefreshErrorKind::HashMismatch, "{e}");
}
