//! A running producer picks up rule changes and keeps its rules through bad ones.

use crate::env::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_producer_picks_up_a_rule_change_and_survives_a_bad_one() {
    // Deployed to check the manifest on every event (ORDERFLOW_REFRESH_SECONDS=0).
    let env = env(|s| {
        s.parameter("RefreshSeconds", "0");
    })
    .await;
    assert_eq!(env.stack.refresh, Duration::ZERO);
    let first = env.publish(&with_eur_minimum(100_000)).await;
    let producer = env.producer();
    let consumer = env.consumer();
    let mid = |id: &str| json!(order(id, "EUR", 50_000));

    let r = invoke(&producer, mid("ord-a")).await;
    assert_eq!(
        (r["revision"].as_str().unwrap(), count(&r, "not_high_value")),
        (first.as_str(), 1)
    );

    // A new minimum, published while the producer keeps running.
    let second = env.publish(&with_eur_minimum(40_000)).await;
    let r = invoke(&producer, mid("ord-b")).await;
    assert_eq!(
        (r["revision"].as_str().unwrap(), count(&r, "published")),
        (second.as_str(), 1)
    );

    // Bad manifests: each leaves the last good rule set in place.
    let unhashed: Value =
        serde_json::from_slice(&std::fs::read(root().join("plugins/manifest.json")).unwrap())
            .unwrap();
    let mut wrong_hash = serde_json::to_value(&status_manifest(&env).await).unwrap();
    wrong_hash["rules"][0]["sha256"] = json!("0".repeat(64));
    wrong_hash["rules"][0]["config"]["minimum_minor"]["EUR"] = json!(1);
    let mut missing = serde_json::to_value(&status_manifest(&env).await).unwrap();
    missing["rules"][0]["wasm"] = json!("threshold-00000000.wasm");
    missing["rules"][0]["sha256"] = json!("1".repeat(64));
    let mut refused = serde_json::to_value(&status_manifest(&env).await).unwrap();
    refused["rules"][0]["config"] = json!({"minimum_minor": {}});
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("wrong sha256", wrong_hash.to_string().into_bytes()),
        ("missing object", missing.to_string().into_bytes()),
        ("configuration refused", refused.to_string().into_bytes()),
        ("no hashes", unhashed.to_string().into_bytes()),
        ("not JSON", b"<html>oops</html>".to_vec()),
    ];
    for (what, bytes) in bad {
        env.stack.put_manifest_raw(bytes).await.unwrap();
        let r = invoke(&producer, mid(&format!("ord-{}", what.replace(' ', "-")))).await;
        assert_eq!(
            r["revision"],
            json!(second),
            "{what}: the last good rule set stays"
        );
        assert_eq!(count(&r, "published"), 1, "{what}: and decides as before");
        assert!(
            producer.plugins.status().await.last_error.is_some(),
            "{what}: the failure is reported"
        );
    }

    // Recovery: a good publish is picked up again.
    let third = env.publish(&with_eur_minimum(60_000)).await;
    let r = invoke(&producer, mid("ord-c")).await;
    assert_eq!(
        (r["revision"].as_str().unwrap(), count(&r, "not_high_value")),
        (third.as_str(), 1)
    );
    assert!(producer.plugins.status().await.last_error.is_none());

    // Every published order carries the revision that decided it.
    env.drain(&consumer).await;
    let items = env.stack.items().await.unwrap();
    assert_eq!(ids(&items).len(), 6, "{:?}", ids(&items));
    assert!(items.iter().all(|i| i["RuleSetRevision"] == json!(second)));
}
