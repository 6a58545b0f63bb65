//! The fixture format of `orderflow plugin test`: one JSON file per case in
//! the crate's `fixtures/`, easy to write by hand. A rule's case:
//!
//! ```json
//! {
//!   "about": "a listed customer is high-value and gets its tier",
//!   "config": {"customers": {"cust-7": "gold"}},
//!   "order": {"order_id": "ord-1", "customer_id": "cust-7", "created_at": "2026-11-24T10:15:00Z",
//!             "currency": "EUR", "total_minor": 100,
//!             "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": 100}]},
//!   "expect": {"high_value": true, "reason": "customer cust-7 is a gold VIP",
//!              "attributes": {"tier": "gold"}},
//!   "max_fuel": 50000
//! }
//! ```
//!
//! A transform's case gives the item's `fields` (a JSON string is text, an
//! integer is an integer, `true`/`false` a boolean, a list of strings a
//! text-list, an object of strings a text-map; in the order given) and
//! expects `fields`; `order_id` and `timestamp`, the item's key, default to
//! [`ORDER_ID`] and [`TIMESTAMP`]. Either kind may instead expect
//! `{"error": "…"}`: the call (or `configure`) must fail with a message
//! containing that text. `config` defaults to `{}`; `reason` and
//! `attributes` are checked only when given; `max_fuel` fails the case when
//! the call costs more.

use orderflow_host::item::{Field, Value};
use orderflow_host::order::Order;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub const ORDER_ID: &str = "ord-1";
pub const TIMESTAMP: &str = "2026-11-24T10:15:00Z";

/// One case, checked: a rule's or a transform's.
#[derive(Debug)]
pub struct Fixture {
    pub name: String,
    pub about: Option<String>,
    pub config: serde_json::Value,
    pub max_fuel: Option<u64>,
    pub input: Input,
    pub expect: Expect,
}

#[derive(Debug)]
pub enum Input {
    Order(Order),
    Item {
        order_id: String,
        timestamp: String,
        fields: Vec<Field>,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum Expect {
    Verdict {
        high_value: bool,
        reason: Option<String>,
        attributes: Option<BTreeMap<String, String>>,
    },
    Fields(Vec<Field>),
    /// The call or `configure` fails with a message containing this.
    Error(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    about: Option<String>,
    #[serde(default = "empty_object")]
    config: serde_json::Value,
    order: Option<serde_json::Value>,
    order_id: Option<String>,
    timestamp: Option<String>,
    fields: Option<FieldList>,
    expect: ExpectFile,
    max_fuel: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    high_value: Option<bool>,
    reason: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    fields: Option<FieldList>,
    error: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Fields in the order written (a JSON object read entry by entry, so no
/// map reorders them).
struct FieldList(Vec<Field>);

impl<'de> Deserialize<'de> for FieldList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FieldList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of field name to value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FieldList, A::Error> {
                let mut fields = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    fields.push(Field { name, value });
                }
                Ok(FieldList(fields))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// Every `*.json` in `dir`, by file name. A fixture that cannot be read is
/// an error naming its file: a test run must never pass by skipping it.
pub fn read_dir(dir: &Path) -> Result<Vec<Fixture>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read fixtures in {}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no fixtures (*.json) in {}", dir.display()));
    }
    paths.iter().map(|p| read(p)).collect()
}

pub fn read(path: &Path) -> Result<Fixture, String> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&name, &text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(name: &str, text: &str) -> Result<Fixture, String> {
    let f: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let input = match (f.order, f.fields) {
        (Some(order), None) => {
            if f.order_id.is_some() || f.timestamp.is_some() {
                return Err("order_id and timestamp belong to a transform's case (fields)".into());
            }
            Input::Order(Order::from_value(&order).map_err(|e| format!("order: {e}"))?)
        }
        (None, Some(fields)) => Input::Item {
            order_id: f.order_id.unwrap_or_else(|| ORDER_ID.into()),
            timestamp: f.timestamp.unwrap_or_else(|| TIMESTAMP.into()),
            fields: fields.0,
        },
        _ => return Err("give either an order (a rule's case) or fields (a transform's)".into()),
    };
    let e = f.expect;
    let expect = match (e.error, e.high_value, e.fields, &input) {
        (Some(error), None, None, _) if e.reason.is_none() && e.attributes.is_none() => {
            Expect::Error(error)
        }
        (None, Some(high_value), None, Input::Order(_)) => Expect::Verdict {
            high_value,
            reason: e.reason,
            attributes: e.attributes,
        },
        (None, None, Some(fields), Input::Item { .. })
            if e.reason.is_none() && e.attributes.is_none() =>
        {
            Expect::Fields(fields.0)
        }
        (_, _, _, Input::Order(_)) => {
            return Err("expect: a rule's case expects high_value (with reason and \
                        attributes if you like), or an error"
                .into());
        }
        (_, _, _, Input::Item { .. }) => {
            return Err("expect: a transform's case expects fields, or an error".into());
        }
    };
    Ok(Fixture {
        name: name.into(),
        about: f.about,
        config: f.config,
        max_fuel: f.max_fuel,
        input,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"{"order_id": "ord-1", "customer_id": "cust-7",
        "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 100,
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": 100}]}"#;

    #[test]
    fn a_rule_case_reads_its_order_with_the_hosts_validation() {
        let f = parse(
            "vip",
            &format!(r#"{{"order": {ORDER}, "expect": {{"high_value": true, "attributes": {{"tier": "gold"}}}}, "max_fuel": 9}}"#),
        )
        .unwrap();
        assert!(matches!(&f.input, Input::Order(o) if o.created_at_secs() == 1_795_515_300));
        assert_eq!(f.config, serde_json::json!({}));
        assert_eq!(f.max_fuel, Some(9));
        assert!(matches!(
            f.expect,
            Expect::Verdict {
                high_value: true,
                reason: None,
                ..
            }
        ));
        let bad = ORDER.replace("\"total_minor\": 100", "\"total_minor\": 5");
        let e = parse(
            "x",
            &format!(r#"{{"order": {bad}, "expect": {{"high_value": true}}}}"#),
        )
        .unwrap_err();
        // The total is not repeated (a number typed there may be personal).
        assert!(
            e.starts_with("order: total_minor: does not match the lines") && !e.contains('5'),
            "{e}"
        );
    }

    #[test]
    fn a_transform_case_keeps_its_fields_in_order() {
        let f = parse(
            "n",
            r#"{"fields": {"Zeta": "a", "Alpha": 3, "Tags": ["x"], "Map": {"k": "v"}, "On": true},
                "expect": {"fields": {"Zeta": "A"}}}"#,
        )
        .unwrap();
        let Input::Item {
            order_id, fields, ..
        } = &f.input
        else {
            panic!("{f:?}")
        };
        assert_eq!(order_id, ORDER_ID);
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Zeta", "Alpha", "Tags", "Map", "On"]);
        assert_eq!(fields[1].value, Value::Integer(3));
        assert_eq!(fields[4].value, Value::Boolean(true));
    }

    #[test]
    fn a_case_that_mixes_kinds_or_misspells_is_refused() {
        let e = parse("x", r#"{"fields": {}, "expect": {"high_value": true}}"#).unwrap_err();
        assert!(e.contains("a transform's case expects fields"), "{e}");
        let e = parse("x", r#"{"expect": {"error": "x"}}"#).unwrap_err();
        assert!(e.contains("either an order"), "{e}");
        let e = parse(
            "x",
            r#"{"fields": {}, "expect": {"fields": {}}, "max_feul": 1}"#,
        )
        .unwrap_err();
        assert!(e.contains("unknown field `max_feul`"), "{e}");
    }
}
