//! Pre-initialised plugins: `configure` runs once at load and every fresh
//! instance starts from a snapshot of the configured one. The snapshot must
//! keep per-order isolation (no order sees another's state), answer as the
//! plain plugin does, and follow its configuration (a new configuration is
//! a new snapshot, never a stale one from the cache).

mod support;

use orderflow_host::limits::LimitOverrides;
use orderflow_host::rules::RulePlugin;
use orderflow_host::{Runtime, RuntimeConfig};
use serde_json::json;
use std::path::Path;
use support::*;

/// A runtime of [`POOL_SLOTS`] instance slots, with snapshots.
fn small_preinit_runtime() -> std::sync::Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: POOL_SLOTS,
        preinit: true,
        ..Default::default()
    })
    .unwrap()
}

fn stateful(runtime: &Runtime, max_calls: Option<u32>) -> RulePlugin {
    let mut s = spec("hostile", "hostile-rule", json!({"behaviour": "stateful"}));
    s.limits = LimitOverrides {
        max_calls_per_instance: max_calls,
        ..Default::default()
    };
    RulePlugin::load(runtime, &s, &wasm("hostile-rule")).expect("loads")
}

fn calls(rule: &RulePlugin, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            rule.evaluate(&order(ORDER)).unwrap().0.attributes[0]
                .1
                .clone()
        })
        .collect()
}

#[test]
fn a_fresh_snapshot_instance_does_not_see_a_previous_orders_state() {
    let runtime = small_preinit_runtime();
    let fresh = stateful(&runtime, None);
    assert!(
        fresh.preinitialized(),
        "the default path starts from a snapshot"
    );
    // More orders than the pool has slots: every slot is used again, and
    // each order still finds the count the snapshot holds (none), plus one.
    let n = POOL_SLOTS as usize * 3;
    assert_eq!(calls(&fresh, n), vec!["1"; n], "no state survives an order");

    // The same snapshot with reuse: state lives within an instance (the
    // count goes up), and a new instance starts from the snapshot again.
    let reused = stateful(&runtime, Some(3));
    assert!(reused.preinitialized());
    assert_eq!(calls(&reused, 7), ["1", "2", "3", "1", "2", "3", "1"]);
    serves_next(&runtime);
}

#[test]
fn a_snapshot_answers_as_the_plain_plugin_does() {
    let vips = json!({"customers": {"cust-42": "gold", "cust-7": "silver"}});
    let load = |preinit| {
        let runtime = Runtime::new(RuntimeConfig {
            preinit,
            max_instances: 8,
            ..Default::default()
        })
        .unwrap();
        let s = spec("vip", "vip-customer", vips.clone());
        let rule = RulePlugin::load(&runtime, &s, &wasm("vip-customer")).unwrap();
        assert_eq!(rule.preinitialized(), preinit);
        (runtime, rule)
    };
    let ((_a, snapshot), (_b, plain)) = (load(true), load(false));
    for customer in ["cust-42", "cust-7", "cust-1"] {
        let o = order_with(json!({ "customer_id": customer }));
        for _ in 0..3 {
            let (a, b) = (snapshot.evaluate(&o).unwrap(), plain.evaluate(&o).unwrap());
            assert_eq!(a.0, b.0, "{customer}");
        }
    }
}

/// Compiled components in a cache directory: the plugins' own, and the
/// snapshots' (in `preinit/`).
fn entries(dir: &Path) -> (usize, usize) {
    let count = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("cwasm".as_ref()))
            .count()
    };
    (count(dir), count(&dir.join("preinit")))
}

#[test]
fn a_configuration_change_makes_a_new_snapshot() {
    let cache = tempfile::tempdir().unwrap();
    let load = |minimum: u64| {
        // A runtime per load, as a new process would be: only the disk
        // cache carries anything over.
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            max_instances: 8,
            preinit: true,
            ..Default::default()
        })
        .unwrap();
        let s = spec(
            "threshold",
            "threshold",
            json!({"minimum_minor": {"EUR": minimum}}),
        );
        let rule = RulePlugin::load(&runtime, &s, &wasm("threshold")).unwrap();
        assert!(rule.preinitialized());
        let o = order_with(json!({
            "total_minor": 100_000,
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": 100_000}]
        }));
        // Twice: the load-time instance, then one from the snapshot.
        let verdicts: Vec<bool> = (0..2)
            .map(|_| rule.evaluate(&o).unwrap().0.high_value)
            .collect();
        (verdicts, entries(cache.path()))
    };
    assert_eq!(
        load(100_000),
        (vec![true, true], (1, 1)),
        "the plugin and its snapshot"
    );
    assert_eq!(
        load(100_000),
        (vec![true, true], (1, 1)),
        "the same snapshot again"
    );
    assert_eq!(
        load(100_001),
        (vec![false, false], (1, 2)),
        "a new configuration, a new snapshot that answers by it"
    );
}

/// Snapshots are native code like the plugins' artifacts: kept only in a
/// cache directory that is private, never beside a shared one.
#[cfg(unix)]
#[test]
fn no_snapshot_is_kept_in_a_shared_cache_directory() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(shared.clone()),
        max_instances: 8,
        preinit: true,
        ..Default::default()
    })
    .unwrap();
    let s = spec(
        "threshold",
        "threshold",
        json!({"minimum_minor": {"EUR": 100}}),
    );
    let rule = RulePlugin::load(&runtime, &s, &wasm("threshold")).unwrap();
    assert!(rule.preinitialized(), "snapshotted all the same, in memory");
    assert!(rule.evaluate(&order(ORDER)).unwrap().0.high_value);
    assert!(!shared.join("preinit").exists());
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
}
