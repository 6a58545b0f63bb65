//! The plugin cache's refresh and keep-last-good logic, with the manifest
//! and plugins in a directory (the S3 source is exercised in orderflow-aws's
//! s3.rs and the end-to-end tests).

use orderflow_host::{RuleSet, TransformChain};
use orderflow_pipeline::reload::{
    BoxFuture, DirSource, ManifestFetch, PluginCache, PluginSource, RefreshErrorKind, Refreshed,
    SourceError,
};
use orderflow_test_support::manifests::{
    built, dir_cache, lay_out, runtime, threshold_and_transforms,
};
use orderflow_test_support::orders::{parsed, priced};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

fn cache(dir: &std::path::Path, refresh: Duration) -> PluginCache<RuleSet> {
    dir_cache(dir, refresh)
}

fn high_value(set: &RuleSet, eur: u64) -> bool {
    set.evaluate(&parsed(&priced("ord-1001", eur))).high_value
}

#[tokio::test]
async fn loads_once_then_serves_from_memory_until_the_interval_passes() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = cache(dir.path(), Duration::from_secs(3600));
    let first = c.current().await.unwrap();
    assert!(first.revision.starts_with("sha256:"));
    assert!(high_value(&first.set, 100_000) && !high_value(&first.set, 99_999));
    let again = c.current().await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    let s = c.status().await;
    assert_eq!((s.checks, s.swaps, s.not_modified), (1, 1, 0), "{s:?}");

    // A change is not seen before the interval…
    lay_out(dir.path(), &threshold_and_transforms(10_000));
    assert_eq!(c.current().await.unwrap().revision, first.revision);
    // …but is on a forced check.
    assert!(matches!(
        c.refresh_now().await.unwrap(),
        Refreshed::Swapped { .. }
    ));
    assert!(high_value(&c.current().await.unwrap().set, 10_000));
}

#[tokio::test]
async fn refresh_zero_checks_every_event_and_swaps_on_change() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = cache(dir.path(), Duration::ZERO);
    let old = c.current().await.unwrap();
    let same = c.current().await.unwrap();
    assert_eq!(same.revision, old.revision);
    let s = c.status().await;
    assert_eq!(
        (s.checks, s.not_modified, s.swaps, s.wasm_fetches),
        (2, 1, 1, 1),
        "{s:?}"
    );

    lay_out(dir.path(), &threshold_and_transforms(50_000));
    let new = c.current().await.unwrap();
    assert_ne!(new.revision, old.revision);
    assert!(high_value(&new.set, 60_000));
    // An event that started on the old set finishes on it.
    assert!(!high_value(&old.set, 60_000));
    // The plugin bytes did not change: nothing was fetched again.
    assert_eq!(c.status().await.wasm_fetches, 1);
}

#[tokio::test]
async fn a_plugin_whose_bytes_differ_from_the_manifest_keeps_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = cache(dir.path(), Duration::ZERO);
    let good = c.current().await.unwrap().revision.clone();

    // The manifest pins other bytes than the object holds (a new hash for
    // the same key, as an upload in the wrong order would leave it).
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["rules"][0]["sha256"] = json!("0".repeat(64));
    m["rules"][0]["config"] = json!({"minimum_minor": {"EUR": 1}});
    std::fs::write(&path, m.to_string()).unwrap();
    let served = c.current().await.unwrap();
    assert_eq!(served.revision, good, "the last good set stays");
    let s = c.status().await;
    let e = s.last_error.expect("the failure is reported");
    assert_eq!(e.kind, RefreshErrorKind::HashMismatch);
    assert!(
        e.message.contains("threshold") && e.message.contains("refusing"),
        "{e}"
    );
    // Not permanent: the next check tries again (the object may be re-uploaded).
    let fetches = s.wasm_fetches;
    c.current().await.unwrap();
    assert_eq!(c.status().await.wasm_fetches, fetches + 1);
}

#[tokio::test]
async fn a_manifest_that_does_not_parse_is_refused_once_and_not_retried_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = cache(dir.path(), Duration::ZERO);
    let good = c.current().await.unwrap().revision.clone();

    std::fs::write(&path, b"{\"rules\": [{\"name\": ").unwrap();
    assert_eq!(c.current().await.unwrap().revision, good);
    let s = c.status().await;
    assert_eq!(
        s.last_error.as_ref().unwrap().kind,
        RefreshErrorKind::Manifest
    );
    assert!(
        s.last_error
            .as_ref()
            .unwrap()
            .message
            .contains("manifest.json"),
        "{:?}",
        s.last_error
    );
    // Same bytes again: a 304, no second attempt, still reported.
    assert_eq!(c.current().await.unwrap().revision, good);
    let s2 = c.status().await;
    assert_eq!(s2.not_modified, s.not_modified + 1);
    assert_eq!(s2.failures, s.failures);
    assert!(s2.last_error.is_some());

    // A fixed manifest is picked up and clears the error.
    lay_out(dir.path(), &threshold_and_transforms(70_000));
    let fixed = c.current().await.unwrap();
    assert_ne!(fixed.revision, good);
    assert!(c.status().await.last_error.is_none());
}

#[tokio::test]
async fn a_plugin_that_refuses_its_configuration_keeps_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = cache(dir.path(), Duration::ZERO);
    let good = c.current().await.unwrap().revision.clone();

    let mut bad = threshold_and_transforms(100_000);
    bad.rules[0].config = json!({"minimum_minor": {}});
    lay_out(dir.path(), &bad);
    assert_eq!(c.current().await.unwrap().revision, good);
    let e = c.status().await.last_error.unwrap();
    assert_eq!(e.kind, RefreshErrorKind::Load);
    assert!(e.message.contains("configuration refused"), "{e}");
}

#[tokio::test]
async fn a_missing_plugin_keeps_the_last_good_set_until_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let path = lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = cache(dir.path(), Duration::ZERO);
    let good = c.current().await.unwrap().revision.clone();

    // A manifest naming an object not uploaded yet.
    let bulk = std::fs::read(built(&["bulk-quantity"]).join("bulk-quantity.wasm")).unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["rules"].as_array_mut().unwrap().push(json!({
        "name": "bulk-quantity", "version": "1.0.0", "wasm": "bulk-quantity-v2.wasm",
        "sha256": orderflow_host::manifest::sha256_hex(&bulk), "config": {"min_quantity": 10}
    }));
    std::fs::write(&path, m.to_string()).unwrap();
    assert_eq!(c.current().await.unwrap().revision, good);
    let e = c.status().await.last_error.unwrap();
    assert_eq!(e.kind, RefreshErrorKind::Fetch);
    assert!(e.message.contains("bulk-quantity-v2.wasm"), "{e}");

    // Not permanent: once the object is there, the next check loads it.
    std::fs::write(dir.path().join("bulk-quantity-v2.wasm"), bulk).unwrap();
    let now = c.current().await.unwrap();
    assert_ne!(now.revision, good);
    assert_eq!(now.set.plugins.len(), 2);
    assert!(c.status().await.last_error.is_none());
}

#[tokio::test]
async fn without_any_good_set_the_error_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), Duration::from_secs(3600));
    let e = c.current().await.err().expect("nothing to serve");
    assert_eq!(e.kind, RefreshErrorKind::Fetch);
    assert!(e.message.contains("manifest.json"), "{e}");

    std::fs::write(dir.path().join("manifest.json"), br#"{"rules": 5}"#).unwrap();
    let e = c.current().await.err().expect("still nothing to serve");
    assert_eq!(e.kind, RefreshErrorKind::Manifest);
    // Retried on every event while nothing is loaded, whatever the interval.
    lay_out(dir.path(), &threshold_and_transforms(100_000));
    assert!(c.current().await.is_ok());
}

#[tokio::test]
async fn the_consumer_side_fetches_only_transforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = lay_out(dir.path(), &threshold_and_transforms(100_000));
    std::fs::remove_file(dir.path().join("threshold.wasm")).unwrap();
    let c: PluginCache<TransformChain> =
        PluginCache::new(DirSource::new(path), runtime(16), Duration::ZERO);
    let chain = c.current().await.unwrap();
    assert_eq!(chain.set.plugins.len(), 2);
    assert_eq!(c.status().await.wasm_fetches, 2);
}

#[tokio::test]
async fn events_arriving_together_on_a_cold_cache_share_one_check() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path(), &threshold_and_transforms(100_000));
    let c = Arc::new(cache(dir.path(), Duration::from_secs(3600)));
    let mut events = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = c.clone();
        events.spawn(async move { c.current().await.unwrap() });
    }
    let served = events.join_all().await;
    assert!(served.iter().all(|s| Arc::ptr_eq(s, &served[0])));
    let s = c.status().await;
    assert_eq!((s.checks, s.swaps, s.wasm_fetches), (1, 1, 1), "{s:?}");
}

/// A directory whose manifest requests after the first wait for a permit.
struct Gated {
    inner: DirSource,
    gate: Arc<Semaphore>,
    requests: Arc<AtomicUsize>,
}

impl PluginSource for Gated {
    fn manifest_name(&self) -> String {
        self.inner.manifest_name()
    }
    fn object_name(&self, relative: &str) -> String {
        self.inner.object_name(relative)
    }
    fn fetch_manifest<'a>(
        &'a self,
        if_none_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ManifestFetch, SourceError>> {
        Box::pin(async move {
            if self.requests.fetch_add(1, Ordering::SeqCst) > 0 {
                self.gate.acquire().await.unwrap().forget();
            }
            self.inner.fetch_manifest(if_none_match).await
        })
    }
    fn fetch_wasm<'a>(&'a self, relative: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        self.inner.fetch_wasm(relative)
    }
}

#[tokio::test]
async fn a_refresh_in_flight_does_not_hold_up_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = lay_out(dir.path(), &threshold_and_transforms(100_000));
    let gate = Arc::new(Semaphore::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let gated = Gated {
        inner: DirSource::new(path),
        gate: gate.clone(),
        requests: requests.clone(),
    };
    let c: Arc<PluginCache<RuleSet>> = Arc::new(PluginCache::new(
        gated,
        runtime(16),
        Duration::from_millis(500),
    ));
    let first = c.current().await.unwrap();
    lay_out(dir.path(), &threshold_and_transforms(10_000));
    tokio::time::sleep(Duration::from_millis(550)).await;

    // An event finds a check due and starts it; the manifest request hangs.
    let refreshing = tokio::spawn({
        let c = c.clone();
        async move { c.current().await.unwrap() }
    });
    while requests.load(Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    // Meanwhile events are served the set in place, without waiting.
    for _ in 0..3 {
        let served = tokio::time::timeout(Duration::from_secs(5), c.current())
            .await
            .expect("not held up by the refresh")
            .unwrap();
        assert!(Arc::ptr_eq(&served, &first));
    }
    gate.add_permits(1);
    let refreshed = refreshing.await.unwrap();
    assert_ne!(refreshed.revision, first.revision);
    assert_eq!(c.status().await.checks, 2, "one check for all of them");
    // Counted before the next event: loading the new set may itself outlast
    // the interval (a slow machine, pre-initialised snapshots), and then
    // that event checks again, which must not wait on a closed gate.
    gate.add_permits(Semaphore::MAX_PERMITS / 2);
    assert_eq!(c.current().await.unwrap().revision, refreshed.revision);
}
