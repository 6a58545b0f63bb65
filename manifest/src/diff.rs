//! What changes between two manifests, plugin by plugin, so an operator sees
//! a threshold change before it goes live (two revisions that differ only in
//! one number look the same in a list of plugin names).
//!
//! Plugins are matched by chain and name. Their fields are compared as JSON
//! leaves, so a field added to [`PluginSpec`](crate::PluginSpec) later shows
//! up here without a change to this file.

use crate::{Chain, Manifest, PluginSpec};
use serde::Serialize;
use serde_json::Value;

/// One plugin's change between two manifests.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PluginChange {
    Added {
        chain: Chain,
        name: String,
        position: usize,
    },
    Removed {
        chain: Chain,
        name: String,
    },
    Changed {
        chain: Chain,
        name: String,
        /// Where it was and is in its chain, when that moved (order decides:
        /// the first rule to fail on `reject` stops the chain).
        #[serde(skip_serializing_if = "Option::is_none")]
        moved: Option<(usize, usize)>,
        fields: Vec<FieldChange>,
    },
}

/// One leaf that differs, e.g. `config.minimum_minor.EUR`: 100000 → 50000.
/// `None` is a field one side does not have.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Every plugin that was added, removed or changed from `before` to
/// `after`, rules first, each chain in `after`'s order (removed ones last).
pub fn diff(before: &Manifest, after: &Manifest) -> Vec<PluginChange> {
    let mut changes = Vec::new();
    for (chain, old, new) in [
        (Chain::Rules, &before.rules, &after.rules),
        (Chain::Transforms, &before.transforms, &after.transforms),
    ] {
        let position = |list: &[PluginSpec], name: &str| list.iter().position(|p| p.name == name);
        for (at, spec) in new.iter().enumerate() {
            let name = spec.name.clone();
            let Some(was) = position(old, &spec.name) else {
                changes.push(PluginChange::Added {
                    chain,
                    name,
                    position: at,
                });
                continue;
            };
            let mut fields = Vec::new();
            leaves("", &to_value(&old[was]), &to_value(spec), &mut fields);
            let moved = (was != at).then_some((was, at));
            if moved.is_some() || !fields.is_empty() {
                changes.push(PluginChange::Changed {
                    chain,
                    name,
                    moved,
                    fields,
                });
            }
        }
        for spec in old {
            if position(new, &spec.name).is_none() {
                changes.push(PluginChange::Removed {
                    chain,
                    name: spec.name.clone(),
                });
            }
        }
    }
    changes
}

/// How the shadow named by the manifest changes, as a `shadow.revision`
/// field (not a plugin change: it does not change what decides).
pub fn shadow_change(before: &Manifest, after: &Manifest) -> Option<FieldChange> {
    let revision = |m: &Manifest| m.shadow.as_ref().map(|s| Value::from(s.revision.clone()));
    let (b, a) = (revision(before), revision(after));
    (b != a).then(|| FieldChange {
        path: "shadow.revision".into(),
        before: b,
        after: a,
    })
}

fn to_value(spec: &PluginSpec) -> Value {
    serde_json::to_value(spec).unwrap_or(Value::Null)
}

/// Collects the leaves under `path` that differ. Objects are walked key by
/// key; anything else (numbers, strings, arrays) is compared whole.
fn leaves(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => leaves(&sub, x, y, out),
                    (x, y) => out.push(FieldChange {
                        path: sub,
                        before: x.cloned(),
                        after: y.cloned(),
                    }),
                }
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            path: path.to_string(),
            before: Some(a.clone()),
            after: Some(b.clone()),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(rules: Value) -> Manifest {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    fn rule(name: &str, config: Value) -> Value {
        json!({"name": name, "version": "0.1.0", "wasm": format!("{name}.wasm"), "sha256": "ab", "config": config})
    }

    #[test]
    fn a_threshold_change_names_the_leaf_and_both_values() {
        let a = manifest(json!([rule(
            "threshold",
            json!({"minimum_minor": {"EUR": 100000, "USD": 1}})
        )]));
        let b = manifest(json!([rule(
            "threshold",
            json!({"minimum_minor": {"EUR": 50000, "USD": 1}})
        )]));
        assert_eq!(
            diff(&a, &b),
            vec![PluginChange::Changed {
                chain: Chain::Rules,
                name: "threshold".into(),
                moved: None,
                fields: vec![FieldChange {
                    path: "config.minimum_minor.EUR".into(),
                    before: Some(json!(100000)),
                    after: Some(json!(50000)),
                }],
            }]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn a_shadow_change_is_one_field() {
        let a = manifest(json!([rule("a", json!({}))]));
        let mut b = a.clone();
        b.shadow = Some(crate::Shadow {
            revision: "sha256:cd".into(),
        });
        assert!(diff(&a, &b).is_empty(), "no plugin changed");
        assert_eq!(
            shadow_change(&a, &b),
            Some(FieldChange {
                path: "shadow.revision".into(),
                before: None,
                after: Some(json!("sha256:cd")),
            })
        );
        assert_eq!(shadow_change(&b, &b), None);
    }

    #[test]
    fn added_removed_moved_and_new_fields_are_all_reported() {
        let a = manifest(json!([
            rule("a", json!({})),
            rule("b", json!({})),
            rule("gone", json!({}))
        ]));
        let mut limited = rule("a", json!({}));
        limited["limits"] = json!({"fuel": 5});
        let b = manifest(json!([
            rule("b", json!({})),
            limited,
            rule("new", json!({}))
        ]));
        let changes = diff(&a, &b);
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(
            matches!(&changes[0], PluginChange::Changed { name, moved: Some((1, 0)), fields, .. } if name == "b" && fields.is_empty())
        );
        let PluginChange::Changed {
            name,
            moved,
            fields,
            ..
        } = &changes[1]
        else {
            panic!("{changes:#?}")
        };
        assert_eq!((name.as_str(), *moved), ("a", Some((0, 1))));
        assert_eq!(fields[0].path, "limits");
        assert_eq!(fields[0].before, None);
        assert!(
            matches!(&changes[2], PluginChange::Added { name, position: 2, .. } if name == "new")
        );
        assert!(matches!(&changes[3], PluginChange::Removed { name, .. } if name == "gone"));
    }
}
