//! Properties of the manifest parser over generated input (proptest, so
//! they run on stable and in CI; the cargo-fuzz target in `fuzz/` searches
//! the same ground longer): no input makes it panic, and a manifest that
//! parses keeps its revision through every serialisation of it.

use orderflow_manifest::Manifest;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, nested a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A plugin entry that passes the checks, with a few optional fields.
fn plugin(name: String) -> impl Strategy<Value = Value> {
    (
        "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        "[0-9a-f]{64}",
        any_json(),
        prop::option::of(prop::sample::select(vec!["reject", "skip"])),
        prop::option::of(1..=1_000_000u64),
    )
        .prop_map(move |(version, sha256, config, on_error, fuel)| {
            let mut p = json!({"name": name, "version": version,
                               "wasm": format!("{name}.wasm"), "sha256": sha256,
                               "config": config});
            if let Some(on_error) = on_error {
                p["on_error"] = json!(on_error);
            }
            if let Some(fuel) = fuel {
                p["limits"] = json!({"fuel": fuel});
            }
            p
        })
}

/// Manifests that pass the checks: distinct names across both chains.
fn valid_manifest() -> impl Strategy<Value = Value> {
    prop::collection::btree_set("[a-z][a-z0-9_-]{0,12}", 0..6)
        .prop_flat_map(|names| {
            let names: Vec<String> = names.into_iter().collect();
            let split = 0..=names.len();
            (Just(names), split)
        })
        .prop_flat_map(|(names, split)| {
            let plugins: Vec<_> = names.into_iter().map(plugin).collect();
            (plugins, Just(split))
        })
        .prop_map(|(plugins, split)| {
            let (rules, transforms) = plugins.split_at(split);
            json!({"rules": rules, "transforms": transforms})
        })
}

/// A manifest's shape with any values in it: what gets past JSON syntax
/// and into serde and the checks.
fn manifest_shaped() -> impl Strategy<Value = Value> {
    let entry = prop::collection::btree_map(
        prop::sample::select(vec![
            "name",
            "version",
            "wasm",
            "sha256",
            "config",
            "limits",
            "on_error",
            "wasi",
            "artifacts",
            "other",
        ]),
        any_json(),
        0..8,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    .boxed();
    (
        prop::collection::vec(entry.clone(), 0..3),
        prop::collection::vec(entry, 0..3),
        prop::option::of(any_json()),
    )
        .prop_map(|(rules, transforms, shadow)| {
            let mut m = json!({"rules": rules, "transforms": transforms});
            if let Some(shadow) = shadow {
                m["shadow"] = shadow;
            }
            m
        })
}

/// Parsing `bytes` either fails or gives a manifest whose revision every
/// serialisation of it keeps.
fn revision_is_stable(bytes: &[u8]) -> Result<(), TestCaseError> {
    let _ = Manifest::parse_source(bytes, "generated");
    let Ok(loaded) = Manifest::parse(bytes, "generated") else {
        return Ok(());
    };
    prop_assert_eq!(&loaded.revision, &loaded.manifest.revision());
    let pretty = loaded.manifest.to_json_pretty();
    let compact = serde_json::to_vec(&loaded.manifest).unwrap();
    for text in [pretty.as_bytes(), &compact[..]] {
        let again = Manifest::parse(text, "re-serialised").expect("its own JSON parses");
        prop_assert_eq!(&again.revision, &loaded.revision);
        prop_assert_eq!(&again.manifest, &loaded.manifest);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_are_parsed_or_refused_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        revision_is_stable(&bytes)?;
    }

    #[test]
    fn any_json_is_parsed_or_refused_never_a_panic(value in prop_oneof![any_json(), manifest_shaped()]) {
        revision_is_stable(value.to_string().as_bytes())?;
    }

    #[test]
    fn a_valid_manifest_parses_and_its_revision_is_stable(value in valid_manifest()) {
        let bytes = serde_json::to_vec_pretty(&value).unwrap();
        prop_assert!(Manifest::parse(&bytes, "generated").is_ok(), "{}", value);
        revision_is_stable(&bytes)?;
    }

    #[test]
    fn key_order_and_whitespace_do_not_change_the_revision(value in valid_manifest()) {
        let compact = Manifest::parse(value.to_string().as_bytes(), "compact").unwrap();
        let pretty = Manifest::parse(&serde_json::to_vec_pretty(&value).unwrap(), "pretty").unwrap();
        prop_assert_eq!(compact.revision, pretty.revision);
    }
}
