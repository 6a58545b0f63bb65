//! Masks e-mail addresses and phone numbers before the item is stored, so
//! the orders table (and every report and export built on it) never holds
//! them in the clear.
//!
//! Values live in the text-map fields `Attributes` (from the order) and
//! `RuleAttributes` (attached by rules); entries whose key is configured are
//! masked in both, all other entries and fields pass through unchanged.
//! Keys match ASCII case-insensitively: `Email` is as personal as `email`,
//! and over-masking is the safe mistake here.
//!
//! Masking depends on the value, not the key, so any configured key gets a
//! sensible mask:
//! - a value with an `@` is an e-mail address: the first character of the
//!   local part and the domain stay, `ana@example.com` → `a***@example.com`;
//! - anything else keeps only its last two digits: `+49 170 1234567` →
//!   `***67` (`***` when it has fewer than two).
//!
//! Both masks are fixed points (masking a masked value changes nothing), so
//! a redelivered item is stored the same way. No error message ever quotes
//! a value: errors name the field and its type only.
//!
//! Configuration: `{"keys": ["email", "phone"]}`; `{}` means exactly that.

use orderflow_plugin_sdk::{
    Field, Fields, LogLevel, Transform, Value, export_transform, log, parse_config, set_field,
};

/// The fields whose entries are masked.
const MASKED_FIELDS: [&str; 2] = ["Attributes", "RuleAttributes"];

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactPii {
    #[serde(default = "default_keys")]
    keys: Vec<String>,
}

fn default_keys() -> Vec<String> {
    vec!["email".into(), "phone".into()]
}

impl Transform for RedactPii {
    /// An empty key list would mask nothing while the manifest says PII is
    /// redacted: refuse it rather than store personal data silently.
    fn configure(config: &str) -> Result<Self, String> {
        let r: RedactPii = parse_config(config)?;
        if r.keys.is_empty() {
            return Err("invalid configuration: keys names no attribute to mask".into());
        }
        if r.keys.iter().any(|k| k.trim().is_empty()) {
            return Err("invalid configuration: keys contains an empty key".into());
        }
        Ok(r)
    }

    fn apply(
        &self,
        _order_id: &str,
        _timestamp: &str,
        mut fields: Vec<Field>,
    ) -> Result<Vec<Field>, String> {
        let mut masked = 0;
        for name in MASKED_FIELDS {
            if fields.find(name)?.is_none() {
                continue;
            }
            let entries = fields
                .text_map(name)?
                .iter()
                .map(|(k, v)| {
                    if self.masks(k) {
                        masked += 1;
                        (k.clone(), mask(v))
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect();
            set_field(&mut fields, name, Value::TextMap(entries));
        }
        // How many, never which: the values are what this plugin hides.
        log(LogLevel::Debug, &format!("masked {masked} values"));
        Ok(fields)
    }
}

export_transform!(RedactPii);

impl RedactPii {
    fn masks(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }
}

/// The masked form of one value (see the crate docs).
fn mask(value: &str) -> String {
    if let Some((local, domain)) = value.rsplit_once('@') {
        // A `*` is never kept, so an already masked `***@d` stays as it is.
        let first = local
            .chars()
            .next()
            .filter(|&c| c != '*')
            .map(String::from)
            .unwrap_or_default();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    match digits.len() {
        0 | 1 => "***".into(),
        n => format!("***{}{}", digits[n - 2], digits[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_plugin_sdk::testing::refused;

    fn transform() -> RedactPii {
        RedactPii::configure("{}").unwrap()
    }

    fn map(entries: &[(&str, &str)]) -> Value {
        Value::TextMap(entries.iter().map(|&(k, v)| (k.into(), v.into())).collect())
    }

    #[test]
    fn masks_email_and_phone_in_attributes() {
        let fields = vec![
            Field::new("CustomerId", Value::Text("cust-42".into())),
            Field::new(
                "Attributes",
                map(&[
                    ("email", "ana@example.com"),
                    ("phone", "+49 170 1234567"),
                    ("channel", "web"),
                ]),
            ),
        ];
        let out = transform().apply("o", "t", fields.clone()).unwrap();
        assert_eq!(out[0], fields[0]);
        assert_eq!(
            out[1],
            Field::new(
                "Attributes",
                map(&[
                    ("email", "a***@example.com"),
                    ("phone", "***67"),
                    ("channel", "web")
                ])
            )
        );
    }

    #[test]
    fn masks_rule_attributes_too_and_passes_other_fields() {
        let fields = vec![
            Field::new(
                "RuleAttributes",
                map(&[("tier", "gold"), ("Email", "bo@shop.example")]),
            ),
            Field::new("Notes", Value::Text("call +49 170 1234567".into())),
            Field::new("Tags", Value::TextList(vec!["ana@example.com".into()])),
        ];
        let out = transform().apply("o", "t", fields.clone()).unwrap();
        assert_eq!(
            out[0],
            Field::new(
                "RuleAttributes",
                map(&[("tier", "gold"), ("Email", "b***@shop.example")])
            )
        );
        assert_eq!(out[1..], fields[1..]);
    }

    #[test]
    fn masks_only_configured_keys() {
        let t = RedactPii::configure(r#"{"keys": ["contact"]}"#).unwrap();
        let out = t
            .apply(
                "o",
                "t",
                vec![Field::new(
                    "Attributes",
                    map(&[("contact", "ana@x.org"), ("email", "ana@x.org")]),
                )],
            )
            .unwrap();
        assert_eq!(
            out[0].value,
            map(&[("contact", "a***@x.org"), ("email", "ana@x.org")])
        );
    }

    #[test]
    fn mask_edge_cases() {
        assert_eq!(mask("@example.com"), "***@example.com");
        assert_eq!(mask("élodie@exemple.fr"), "é***@exemple.fr");
        assert_eq!(mask("a@b@example.com"), "a***@example.com");
        assert_eq!(mask("5"), "***");
        assert_eq!(mask("unknown"), "***");
        assert_eq!(mask(""), "***");
        assert_eq!(mask("(030) 1234-56 78"), "***78");
    }

    #[test]
    fn masking_is_idempotent() {
        for v in ["ana@example.com", "+49 170 1234567", "x", "@d", "*@d", "12"] {
            let once = mask(v);
            assert_eq!(mask(&once), once, "{v}");
        }
    }

    #[test]
    fn absent_fields_are_fine() {
        let fields = vec![Field::new("Currency", Value::Text("EUR".into()))];
        assert_eq!(transform().apply("o", "t", fields.clone()).unwrap(), fields);
    }

    #[test]
    fn ill_typed_field_is_refused_without_quoting_its_value() {
        let secret = "ana@example.com";
        let e = transform()
            .apply(
                "o",
                "t",
                vec![Field::new("Attributes", Value::Text(secret.into()))],
            )
            .unwrap_err();
        assert_eq!(e, "field Attributes must be a text-map, got text");
        let e = transform()
            .apply(
                "o",
                "t",
                vec![Field::new(
                    "RuleAttributes",
                    Value::TextList(vec![secret.into()]),
                )],
            )
            .unwrap_err();
        assert_eq!(e, "field RuleAttributes must be a text-map, got text-list");
    }

    #[test]
    fn bad_configuration_names_the_problem() {
        let e = refused(RedactPii::configure(r#"{"keys": []}"#));
        assert!(e.contains("names no attribute"), "{e}");
        let e = refused(RedactPii::configure(r#"{"keys": ["email", " "]}"#));
        assert!(e.contains("empty key"), "{e}");
        let e = refused(RedactPii::configure(r#"{"fields": ["email"]}"#));
        assert!(e.contains("unknown field `fields`"), "{e}");
    }
}
