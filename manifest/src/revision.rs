//! A manifest's revision: the name of what it decides, not of its bytes.

use crate::{Manifest, PluginSpec, sha256_hex};
use serde_json::{Value, json};

impl Manifest {
    /// `sha256:<hex>` of a canonical serialisation of what decides an
    /// order's fate: for each chain, in order, each plugin's name, version,
    /// sha256, config, limit overrides, `on_error` and WASI grant.
    ///
    /// Why not the hash of the manifest file: the same plugins and
    /// configuration are written out in several forms — a build step's
    /// locked manifest with `threshold.wasm`, the operator's published one
    /// with content-addressed `threshold-1a2b3c4d.wasm` names and defaults
    /// filled in, a test's pretty-printed copy — and a decision's revision
    /// must be the same in all of them, so an embedded run and a published
    /// one can be compared and a decision traced to its rule set whichever
    /// copy served it. So the `wasm` path (where the bytes are, pinned by
    /// the sha256 anyway), whitespace and key order are left out, and
    /// everything that changes behaviour is in: a changed configuration,
    /// plugin, limit or order of plugins is a new revision.
    pub fn revision(&self) -> String {
        let chain = |specs: &[PluginSpec]| -> Vec<Value> { specs.iter().map(canonical).collect() };
        let content = json!({
            "rules": chain(&self.rules),
            "transforms": chain(&self.transforms),
        });
        let mut text = String::new();
        write_sorted(&content, &mut text);
        format!("sha256:{}", sha256_hex(text.as_bytes()))
    }
}

/// A plugin's part of the revision. Limits are written in full (an absent
/// override as `null`), so `{}` and a missing `limits` are the same content.
/// What was added to the manifest later (the code caps, the WASI grant) is
/// written only when set, so a manifest that does not use it keeps the
/// revision it had before: a host upgrade does not make every stored
/// decision name a rule set that never existed.
fn canonical(p: &PluginSpec) -> Value {
    let l = &p.limits;
    let mut content = json!({
        "name": p.name,
        "version": p.version,
        "sha256": p.sha256,
        "config": p.config,
        "limits": {
            "fuel": l.fuel,
            "timeout_ms": l.timeout_ms,
            "memory_bytes": l.memory_bytes,
            "max_output_bytes": l.max_output_bytes,
            "max_calls_per_instance": l.max_calls_per_instance,
        },
        "on_error": p.on_error,
    });
    for (name, value) in [
        ("max_functions", l.max_functions),
        ("max_code_bytes", l.max_code_bytes),
    ] {
        if let Some(v) = value {
            content["limits"][name] = v.into();
        }
    }
    if !p.wasi.is_none() {
        content["wasi"] = json!(p.wasi);
    }
    content
}

/// Compact JSON with every object's keys sorted, whatever order the map
/// keeps them in (serde_json's `preserve_order` feature may be on in a
/// build that links this crate).
fn write_sorted(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_sorted(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::Manifest;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn manifest() -> Manifest {
        let text = format!(
            r#"{{
              "rules": [
                {{"name": "threshold", "version": "1.0.0", "wasm": "threshold.wasm", "sha256": "{A}",
                  "config": {{"minimum_minor": {{"EUR": 100, "USD": 120}}}}, "limits": {{"fuel": 1000}}}},
                {{"name": "vip", "version": "1.0.0", "wasm": "vip.wasm", "sha256": "{B}", "on_error": "skip"}}
              ],
              "transforms": [{{"name": "normalize", "version": "1.0.0", "wasm": "normalize.wasm", "sha256": "{A}"}}]
            }}"#
        );
        Manifest::parse(text.as_bytes(), "m.json").unwrap().manifest
    }

    #[test]
    fn the_revision_ignores_where_the_wasm_is_and_how_the_file_is_written() {
        let m = manifest();
        let mut published = m.clone();
        for (i, p) in published.plugins_mut().enumerate() {
            p.wasm = format!("objects/{}-{i:08}.wasm", p.name);
        }
        assert_eq!(m.revision(), published.revision());

        // Compact instead of pretty, keys in another order, defaults spelled out.
        let rewritten = format!(
            r#"{{"transforms":[{{"sha256":"{A}","wasm":"n.wasm","version":"1.0.0","name":"normalize","config":{{}},"on_error":"reject","limits":{{}}}}],
               "rules":[{{"on_error":"reject","limits":{{"fuel":1000}},"config":{{"minimum_minor":{{"USD":120,"EUR":100}}}},"sha256":"{A}","wasm":"t.wasm","version":"1.0.0","name":"threshold"}},
                        {{"name":"vip","version":"1.0.0","wasm":"v.wasm","sha256":"{B}","on_error":"skip"}}]}}"#
        );
        let rewritten = Manifest::parse(rewritten.as_bytes(), "m.json").unwrap();
        assert_eq!(rewritten.revision, m.revision());
        assert_eq!(
            Manifest::parse(m.to_json_pretty().as_bytes(), "m.json")
                .unwrap()
                .revision,
            m.revision()
        );
    }

    /// The revision of a manifest that uses none of the later additions is
    /// the one it had before them (computed by the code before they were
    /// added), so stored decisions keep naming their rule set.
    #[test]
    fn a_manifest_without_the_later_fields_keeps_its_revision() {
        assert_eq!(
            manifest().revision(),
            "sha256:dec2c418561148ea46d588e972fc3cfcfe67ebeb590a08d4f84867e3747da51a"
        );
    }

    /// A named edit of a manifest.
    type Change = (&'static str, Box<dyn Fn(&mut Manifest)>);

    #[test]
    fn any_change_that_decides_is_a_new_revision() {
        let m = manifest();
        let base = m.revision();
        let changed: Vec<Change> = vec![
            (
                "config",
                Box::new(|m| m.rules[0].config["minimum_minor"]["EUR"] = 101.into()),
            ),
            ("hash", Box::new(|m| m.rules[1].sha256 = A.into())),
            ("version", Box::new(|m| m.rules[1].version = "1.0.1".into())),
            ("name", Box::new(|m| m.rules[1].name = "vip2".into())),
            ("order", Box::new(|m| m.rules.reverse())),
            ("limits", Box::new(|m| m.rules[0].limits.fuel = Some(1001))),
            (
                "new limit",
                Box::new(|m| m.rules[1].limits.timeout_ms = Some(5)),
            ),
            (
                "on_error",
                Box::new(|m| m.rules[1].on_error = crate::OnError::Reject),
            ),
            ("chain", Box::new(|m| m.rules.push(m.transforms.remove(0)))),
            (
                "code cap",
                Box::new(|m| m.rules[0].limits.max_functions = Some(20_000)),
            ),
            (
                "code bytes cap",
                Box::new(|m| m.rules[0].limits.max_code_bytes = Some(8 << 20)),
            ),
            (
                "wasi",
                Box::new(|m| m.rules[1].wasi = crate::Wasi::Deterministic),
            ),
        ];
        let mut seen = std::collections::BTreeSet::from([base.clone()]);
        for (what, change) in changed {
            let mut other = m.clone();
            change(&mut other);
            let revision = other.revision();
            assert_ne!(
                revision, base,
                "a change of {what} must change the revision"
            );
            assert!(seen.insert(revision), "{what} collides with another change");
        }
    }
}
