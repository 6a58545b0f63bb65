//! The shadow a live manifest names: loaded beside the live rules with the
//! same checks, and never in their way.

use orderflow_host::{Manifest, RuleSet};
use orderflow_pipeline::reload::{PluginCache, RefreshErrorKind, Shadow};
use orderflow_test_support::manifests::{
    dir_cache, lay_out, lay_out_shadowed, threshold_and_transforms,
};
use orderflow_test_support::orders::{parsed, priced};
use std::time::Duration;

fn high_value(set: &RuleSet, eur: u64) -> bool {
    set.evaluate(&parsed(&priced("ord-1", eur))).high_value
}

fn cache(dir: &std::path::Path) -> PluginCache<RuleSet> {
    dir_cache(dir, Duration::from_secs(3600))
}

#[tokio::test]
async fn the_candidate_loads_beside_the_live_set_and_goes_with_the_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let (live, candidate) = lay_out_shadowed(
        dir.path(),
        &threshold_and_transforms(100_000),
        &threshold_and_transforms(50_000),
    );
    let c = cache(dir.path());
    let loaded = c.current().await.unwrap();
    assert_eq!(
        loaded.revision, live,
        "the shadow does not change the revision"
    );
    let shadow = loaded.shadow.candidate().expect("the candidate loaded");
    assert_eq!(shadow.revision, candidate);
    assert!(!high_value(&loaded.set, 60_000) && high_value(&shadow.set, 60_000));

    // Turning the shadow off reloads the same live revision without it.
    lay_out(dir.path(), &threshold_and_transforms(100_000));
    c.refresh_now().await.unwrap();
    let now = c.current().await.unwrap();
    assert_eq!(now.revision, live);
    assert!(matches!(now.shadow, Shadow::Off));
}

#[tokio::test]
async fn a_candidate_that_cannot_load_leaves_the_live_set_serving_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (live, candidate) = lay_out_shadowed(
        dir.path(),
        &threshold_and_transforms(100_000),
        &threshold_and_transforms(50_000),
    );
    let kept = dir.path().join(format!(
        "manifests/{}.json",
        candidate.strip_prefix("sha256:").unwrap()
    ));
    let bytes = std::fs::read(&kept).unwrap();
    std::fs::remove_file(&kept).unwrap();
    let c = cache(dir.path());
    let loaded = c.current().await.unwrap();
    assert_eq!(loaded.revision, live);
    assert!(high_value(&loaded.set, 100_000), "the live set serves");
    let Shadow::Failed { revision, error } = &loaded.shadow else {
        panic!("the candidate is missing")
    };
    assert_eq!(
        (revision, error.kind),
        (&candidate, RefreshErrorKind::Fetch)
    );
    assert!(
        c.status().await.last_error.is_none(),
        "the live set is fine"
    );

    // Still being uploaded: the next check tries again, and finds it.
    std::fs::write(&kept, &bytes).unwrap();
    c.refresh_now().await.unwrap();
    let now = c.current().await.unwrap();
    assert_eq!(
        now.shadow.candidate().map(|s| &s.revision),
        Some(&candidate)
    );

    // A kept copy whose content is another revision is refused.
    let other = Manifest::parse(&bytes, "x").unwrap().manifest;
    let mut other = other;
    other.rules[0].config["minimum_minor"]["EUR"] = 1.into();
    std::fs::write(&kept, other.to_json_pretty()).unwrap();
    let fresh = cache(dir.path());
    let served = fresh.current().await.unwrap();
    assert!(
        matches!(&served.shadow, Shadow::Failed { error, .. } if error.kind == RefreshErrorKind::HashMismatch),
        "a candidate is exactly the revision named"
    );
    assert!(
        !high_value(&served.set, 60_000),
        "and the live set serves alone"
    );
}
