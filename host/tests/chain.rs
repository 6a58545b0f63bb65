//! The example plugins through the host, the chain semantics, loading from
//! a manifest, and the compiled-artifact cache.

mod support;

use orderflow_host::manifest::sha256_hex;
use orderflow_host::rules::Outcome;
use orderflow_host::{
    Item, LoadError, LoadKind, OnError, PublishedDecision, RuleSet, Runtime, RuntimeConfig,
    item::Value, wasm_from_dir,
};
use serde_json::json;
use support::*;

fn examples() -> Vec<orderflow_host::PluginSpec> {
    vec![
        spec(
            "threshold",
            "threshold",
            json!({"minimum_minor": {"EUR": 100000, "USD": 120000}}),
        ),
        spec(
            "vip-customer",
            "vip-customer",
            json!({"customers": {"cust-7": "gold"}}),
        ),
        spec(
            "bulk-quantity",
            "bulk-quantity",
            json!({"min_quantity": 10}),
        ),
    ]
}

fn rules(specs: Vec<orderflow_host::PluginSpec>) -> RuleSet {
    load_rules(specs).expect("rules load")
}

#[test]
fn each_example_rule_decides_through_the_host() {
    let set = rules(examples());
    let d = set.evaluate(&order(ORDER));
    assert!(d.high_value);
    let outcomes: Vec<_> = d
        .trace
        .iter()
        .map(|t| (t.plugin.as_str(), t.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("threshold", Outcome::HighValue),
            ("vip-customer", Outcome::NotHighValue),
            ("bulk-quantity", Outcome::NotHighValue)
        ]
    );
    assert_eq!(
        d.reasons[0],
        "threshold: total 125000 EUR >= minimum 100000"
    );
    assert!(d.trace.iter().all(|t| t.fuel > 0));

    let vip = set.evaluate(&order_with(json!({"customer_id": "cust-7", "total_minor": 1000, "lines": [{"sku": "S", "quantity": 1, "unit_price_minor": 1000}]})));
    assert!(vip.high_value);
    assert_eq!(vip.attributes.get("tier").map(String::as_str), Some("gold"));

    let bulk = set.evaluate(&order_with(json!({"total_minor": 1200, "lines": [{"sku": "BOLT", "quantity": 12, "unit_price_minor": 100}]})));
    assert!(bulk.high_value);
    assert!(bulk.reasons[2].contains("BOLT"), "{:?}", bulk.reasons);

    let small = set.evaluate(&order_with(json!({"total_minor": 100, "lines": [{"sku": "S", "quantity": 1, "unit_price_minor": 100}]})));
    assert!(!small.high_value);
    assert!(small.attributes.is_empty());
    assert_eq!(small.revision, set.revision);
}

#[test]
fn any_rule_marks_high_value_and_the_earlier_rule_wins_an_attribute_conflict() {
    let set = rules(vec![
        spec(
            "vip-a",
            "vip-customer",
            json!({"customers": {"cust-42": "gold"}}),
        ),
        spec(
            "vip-b",
            "vip-customer",
            json!({"customers": {"cust-42": "silver"}}),
        ),
        spec(
            "never",
            "threshold",
            json!({"minimum_minor": {"EUR": 999999999}}),
        ),
    ]);
    let d = set.evaluate(&order(ORDER));
    assert!(d.high_value, "one rule is enough");
    assert_eq!(
        d.attributes["tier"], "gold",
        "the earlier rule in the manifest wins"
    );
    assert_eq!(d.conflicts.len(), 1);
    assert_eq!(
        d.conflicts[0].kept,
        ("vip-a".to_string(), "gold".to_string())
    );
    assert_eq!(
        d.conflicts[0].dropped,
        ("vip-b".to_string(), "silver".to_string())
    );
    assert_eq!(d.trace.len(), 3, "no short-circuit: every rule is traced");
}

#[test]
fn on_error_skip_goes_on_and_reject_stops() {
    let mut failing = spec("flaky", "hostile-rule", json!({"behaviour": "fail"}));
    failing.on_error = OnError::Skip;
    let mut specs = vec![failing.clone()];
    specs.extend(examples());
    let d = rules(specs).evaluate(&order(ORDER));
    assert!(d.rejected.is_none());
    assert!(d.high_value, "the other rules still decide");
    assert!(
        matches!(&d.trace[0].outcome, Outcome::Failed { skipped: true, error, .. } if error.contains("refused on purpose"))
    );

    failing.on_error = OnError::Reject;
    let mut specs = vec![failing];
    specs.extend(examples());
    let d = rules(specs).evaluate(&order(ORDER));
    assert!(!d.high_value);
    assert_eq!(
        d.rejected.unwrap().error,
        "plugin flaky@1.0.0: refused: refused on purpose"
    );
    assert_eq!(d.trace.len(), 1, "reject stops the chain");
}

#[test]
fn a_sha256_mismatch_refuses_the_plugin() {
    let mut s = spec(
        "threshold",
        "threshold",
        json!({"minimum_minor": {"EUR": 1}}),
    );
    s.sha256 = sha256_hex(b"something else");
    let e = load_rules(vec![s]).err().unwrap();
    assert!(matches!(e, LoadError::HashMismatch { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("plugin threshold@1.0.0: sha256 mismatch"),
        "{e}"
    );
}

#[test]
fn a_missing_plugin_is_named() {
    let mut s = spec("threshold", "threshold", json!({}));
    s.wasm = "nowhere.wasm".into();
    let e = load_rules(vec![s]).err().unwrap();
    assert!(
        e.to_string().starts_with("plugin threshold: cannot read"),
        "{e}"
    );
    assert!(e.to_string().contains("nowhere.wasm"), "{e}");
}

#[test]
fn a_bad_configuration_is_refused_at_load_time_with_the_plugins_words() {
    let s = spec("threshold", "threshold", json!({"minimum": 5}));
    let e = load_rules(vec![s]).err().unwrap();
    assert!(matches!(e, LoadError::Config { .. }));
    assert!(e.to_string().contains("plugin threshold@1.0.0: configuration refused: invalid configuration: unknown field `minimum`"), "{e}");
}

#[test]
fn transforms_shape_the_item_in_order() {
    let chain = load_transforms(vec![
        spec("normalize", "normalize", json!({})),
        spec("redact-pii", "redact-pii", json!({})),
    ])
    .unwrap();
    let o = order_with(
        json!({"currency": "eur", "attributes": {"email": "ana@example.com", "phone": "+49 170 1234567", "country": "DE"}}),
    );
    let decision = PublishedDecision {
        revision: "sha256:x".into(),
        high_value: true,
        attributes: Default::default(),
        reasons: vec![],
    };
    let (item, trace) = chain.apply(Item::new(&o, &decision));
    let item = item.unwrap();
    assert_eq!(trace.len(), 2);
    assert_eq!(item.get("Currency"), Some(&Value::Text("EUR".into())));
    assert_eq!(item.get("ItemCount"), Some(&Value::Integer(2)));
    assert_eq!(
        item.get("DisplayTotal"),
        Some(&Value::Text("1250.00 EUR".into()))
    );
    let Some(Value::TextMap(attrs)) = item.get("Attributes") else {
        panic!("attributes kept")
    };
    assert_eq!(attrs["email"], "a***@example.com");
    assert_eq!(attrs["phone"], "***67");
    assert_eq!(attrs["country"], "DE");
    assert_eq!(
        (item.order_id.as_str(), item.timestamp.as_str()),
        ("ord-1001", "2026-11-24T10:15:00Z")
    );
}

#[test]
fn a_failing_transform_stops_the_order_with_its_reason() {
    let chain = load_transforms(vec![
        spec("normalize", "normalize", json!({})),
        spec("bad", "hostile-transform", json!({"behaviour": "fail"})),
    ])
    .unwrap();
    let decision = PublishedDecision {
        revision: "r".into(),
        high_value: true,
        attributes: Default::default(),
        reasons: vec![],
    };
    let (item, trace) = chain.apply(Item::new(&order(ORDER), &decision));
    assert_eq!(
        item.unwrap_err().to_string(),
        "plugin bad@1.0.0: refused: refused on purpose"
    );
    assert_eq!(trace.len(), 2);
}

#[test]
fn the_disk_cache_makes_a_warm_start_skip_compilation() {
    let dir = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        max_instances: 8,
        ..Default::default()
    };
    let m = manifest(examples(), vec![]);
    let load = |rt: &Runtime| RuleSet::load(rt, &m, &wasm_from_dir(plugin_dir())).unwrap();
    // A load kind for every plugin of a load.
    let kinds = |set: &RuleSet| set.loaded.iter().map(|p| p.load).collect::<Vec<_>>();
    let all = |kind| vec![kind; examples().len()];
    let cold = load(&Runtime::new(config()).unwrap());
    assert_eq!(kinds(&cold), all(LoadKind::Compiled));
    let rt = Runtime::new(config()).unwrap();
    let warm = load(&rt);
    assert_eq!(kinds(&warm), all(LoadKind::FromDiskCache));
    assert_eq!(
        warm.evaluate(&order(ORDER)).high_value,
        cold.evaluate(&order(ORDER)).high_value
    );
    let again = load(&rt);
    assert_eq!(kinds(&again), all(LoadKind::InProcess));

    // A corrupted artifact is detected by its hash and recompiled, never loaded.
    let artifacts = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect::<Vec<_>>()
    };
    assert_eq!(artifacts().len(), examples().len());
    for path in artifacts() {
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let healed = load(&Runtime::new(config()).unwrap());
    assert_eq!(kinds(&healed), all(LoadKind::Compiled));

    // An entry someone else could have written is native code we cannot
    // vouch for: refused and recompiled, however good its hash.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in artifacts() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let refused = load(&Runtime::new(config()).unwrap());
        assert_eq!(kinds(&refused), all(LoadKind::Compiled));
    }
}
