//! The order, as it travels on the wire and as plugins see it.
//!
//! One JSON shape everywhere (files, events, messages); parsing is strict
//! (unknown fields are errors that name them) and validation checks what a
//! rule would otherwise have to distrust: known currency, positive
//! quantities, a total that matches its lines.

pub mod caps;
mod error;
mod parse;
pub mod redact;

pub use error::OrderError;
use error::invalid;
pub use parse::{Parsed, parse_orders};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An order line. Money is integer minor units of the order's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_minor: u64,
}

/// A validated order. Construct with [`Order::from_json`] or [`Order::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    /// RFC 3339, UTC, as given on the wire.
    pub created_at: String,
    /// ISO-4217 alphabetic code as given (any case; `normalize` canonicalises).
    pub currency: String,
    pub total_minor: u64,
    pub lines: Vec<Line>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// `created_at` as seconds since the epoch, filled in by validation.
    #[serde(skip)]
    created_at_secs: i64,
}

/// Identifiers become storage keys and file names: keep them to a safe
/// alphabet, and never start one with '.' (no `.` or `..` path segments).
/// The error names the offending character, not the value: a customer id
/// that is really an e-mail address must not reach the logs.
fn check_id(field: &str, value: &str) -> Result<(), OrderError> {
    const RULE: &str =
        "must be 1-128 characters of letters, digits, '-', '_', '.', ':', not starting with '.'";
    let problem = if value.is_empty() {
        Some("it is empty".to_string())
    } else if value.len() > 128 {
        Some(format!("it has {} bytes", value.len()))
    } else if value.starts_with('.') {
        Some("it starts with '.'".to_string())
    } else {
        value
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
            .map(|(i, c)| format!("character {} is {c:?}", i + 1))
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(invalid(field, format!("{RULE} ({problem})"))),
    }
}

/// Whether `value` is a well-formed order or customer id; an id that is not
/// may be anything (an e-mail address), so it is kept out of logs.
pub fn is_valid_id(value: &str) -> bool {
    check_id("id", value).is_ok()
}

impl Order {
    /// Parses and validates one order from its wire JSON.
    pub fn from_json(json: &str) -> Result<Order, OrderError> {
        // serde would also accept a struct written as an array; the wire
        // format is an object.
        if !json.trim_start().starts_with('{') {
            return Err(OrderError::Json("an order must be a JSON object".into()));
        }
        // The plain deserialiser first: tracking the path of every field
        // costs as much as the parse itself, and only an error needs it.
        match Order::deserialize(&mut serde_json::Deserializer::from_str(json)) {
            Ok(order) => order.validate(),
            Err(_) => Self::deserialize_checked(&mut serde_json::Deserializer::from_str(json)),
        }
    }

    /// As [`from_json`](Self::from_json), from JSON a caller has already
    /// parsed (a Lambda event), without writing it out and reading it again.
    pub fn from_value(value: &serde_json::Value) -> Result<Order, OrderError> {
        if !value.is_object() {
            return Err(OrderError::Json("an order must be a JSON object".into()));
        }
        match Order::deserialize(value) {
            Ok(order) => order.validate(),
            Err(_) => Self::deserialize_checked(value),
        }
    }

    /// Deserialises with the failing field's path in the error, then
    /// validates: the slow path, run once the plain parse has failed.
    fn deserialize_checked<'de>(
        de: impl serde::Deserializer<'de, Error = serde_json::Error>,
    ) -> Result<Order, OrderError> {
        let order: Order =
            serde_path_to_error::deserialize(de).map_err(OrderError::from_path_error)?;
        order.validate()
    }

    /// Checks the invariants serde cannot, and fills in derived fields.
    pub fn validate(mut self) -> Result<Order, OrderError> {
        check_id("order_id", &self.order_id)?;
        check_id("customer_id", &self.customer_id)?;
        let at = time::OffsetDateTime::parse(
            &self.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| {
            invalid(
                "created_at",
                format!("not an RFC 3339 timestamp ({e}), e.g. 2026-11-24T10:15:00Z"),
            )
        })?;
        if !at.offset().is_utc() {
            return Err(invalid(
                "created_at",
                format!("must be UTC (Z or +00:00), not the offset {}", at.offset()),
            ));
        }
        self.created_at_secs = at.unix_timestamp();
        if iso_currency::Currency::from_code(&self.currency.to_ascii_uppercase()).is_none() {
            // Three letters cannot be personal data, and name the typo.
            let given = if self.currency.len() == 3
                && self.currency.bytes().all(|b| b.is_ascii_alphabetic())
            {
                format!(" {:?}", self.currency)
            } else {
                format!(
                    " (a 3-letter code such as \"EUR\", not {} characters)",
                    self.currency.chars().count()
                )
            };
            return Err(invalid(
                "currency",
                format!("unknown ISO-4217 currency code{given}"),
            ));
        }
        if self.lines.is_empty() {
            return Err(invalid("lines", "an order needs at least one line"));
        }
        caps::check(&self)?;
        let mut sum: u64 = 0;
        for (i, line) in self.lines.iter().enumerate() {
            if line.sku.is_empty() {
                return Err(invalid(format!("lines[{i}].sku"), "must not be empty"));
            }
            if line.quantity == 0 {
                return Err(invalid(
                    format!("lines[{i}].quantity"),
                    "must be at least 1",
                ));
            }
            let amount = line
                .unit_price_minor
                .checked_mul(line.quantity.into())
                .and_then(|a| sum.checked_add(a))
                .ok_or_else(|| invalid(format!("lines[{i}]"), "amount overflows"))?;
            sum = amount;
        }
        // Stored as a DynamoDB number and handed to transforms as an s64.
        if sum > i64::MAX as u64 {
            return Err(invalid(
                "total_minor",
                format!(
                    "the lines add up to more than the largest total stored ({})",
                    i64::MAX
                ),
            ));
        }
        // Neither amount is repeated: a number typed into an amount may be
        // a phone or card number.
        if sum != self.total_minor {
            return Err(invalid(
                "total_minor",
                format!(
                    "does not match the lines: it must be the sum of quantity × unit_price_minor ({} than that sum)",
                    if self.total_minor > sum {
                        "more"
                    } else {
                        "less"
                    }
                ),
            ));
        }
        Ok(self)
    }

    /// Seconds since the Unix epoch, UTC.
    pub fn created_at_secs(&self) -> i64 {
        self.created_at_secs
    }

    pub fn max_line_quantity(&self) -> u32 {
        self.lines.iter().map(|l| l.quantity).max().unwrap_or(0)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an order always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{"order_id": "ord-1001", "customer_id": "cust-42", "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 125000, "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 62500}], "attributes": {"channel": "web", "country": "DE", "email": "ana@example.com"}}"#;

    pub(crate) fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let patch: serde_json::Value = serde_json::from_str(value).unwrap();
        let mut target = &mut v;
        let parts: Vec<&str> = field.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            target = match p.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*p],
            };
        }
        target[parts[parts.len() - 1]] = patch;
        v.to_string()
    }

    /// The error for `json`, which an already parsed value must get too
    /// (the producer parses Lambda events before it sees their orders).
    pub(crate) fn err(json: &str) -> String {
        let e = Order::from_json(json).unwrap_err().to_string();
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
            assert_eq!(
                Order::from_value(&value).unwrap_err().to_string(),
                e,
                "{json}"
            );
        }
        e
    }

    #[test]
    fn the_documented_example_parses() {
        let o = Order::from_json(SAMPLE).unwrap();
        assert_eq!(o.total_minor, 125000);
        assert_eq!(o.created_at_secs(), 1_795_515_300);
        assert_eq!(o.attributes["country"], "DE");
        assert_eq!(Order::from_json(&o.to_json()).unwrap(), o, "round trip");
        let value: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(Order::from_value(&value).unwrap(), o, "from a parsed value");
    }

    #[test]
    fn attributes_are_optional() {
        let mut v: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        v.as_object_mut().unwrap().remove("attributes");
        assert!(
            Order::from_json(&v.to_string())
                .unwrap()
                .attributes
                .is_empty()
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(&with("lines.0.quantity", "-2")),
            "lines[0].quantity: invalid value: integer, expected u32"
        );
        assert_eq!(
            err(&with("lines.0.quantity", "0")),
            "lines[0].quantity: must be at least 1"
        );
        assert_eq!(
            err(&with("currency", "\"EUX\"")),
            "currency: unknown ISO-4217 currency code \"EUX\""
        );
        assert_eq!(
            err(&with("total_minor", "125001")),
            "total_minor: does not match the lines: it must be the sum of quantity × \
             unit_price_minor (more than that sum)"
        );
        assert!(
            err(&with("created_at", "\"2026-11-24T10:15:00+01:00\""))
                .starts_with("created_at: must be UTC")
        );
        assert!(
            err(&with("created_at", "\"yesterday\"")).starts_with("created_at: not an RFC 3339")
        );
        assert_eq!(
            err(&with("order_id", "\"a/b\"")),
            "order_id: must be 1-128 characters of letters, digits, '-', '_', '.', ':', \
             not starting with '.' (character 2 is '/')"
        );
        for dots in ["\".\"", "\"..\"", "\".hidden\""] {
            assert!(
                err(&with("order_id", dots)).ends_with("(it starts with '.')"),
                "{dots}"
            );
        }
        // The value itself is not repeated: it may be personal data.
        let e = err(&with("customer_id", "\"ana@example.com\""));
        assert!(
            e.ends_with("(character 4 is '@')") && !e.contains("example"),
            "{e}"
        );
        let huge = serde_json::json!({
            "order_id": "o", "customer_id": "c", "created_at": "2026-11-24T10:15:00Z",
            "currency": "EUR", "total_minor": 9_223_372_036_854_775_808u64,
            "lines": [{"sku": "S", "quantity": 1, "unit_price_minor": 9_223_372_036_854_775_808u64}]
        });
        assert!(
            err(&huge.to_string())
                .starts_with("total_minor: the lines add up to more than the largest total"),
            "{}",
            err(&huge.to_string())
        );
        assert!(
            err(&with("total_minor", "12.5"))
                .starts_with("total_minor: invalid type: floating point")
        );
    }

    #[test]
    fn no_error_repeats_the_value_given() {
        const EMAIL: &str = "\"ana.pii@example.com\"";
        const PHONE: &str = "4915112345678";
        let mut cases: Vec<(String, &str)> = [
            "order_id",
            "customer_id",
            "created_at",
            "currency",
            "total_minor",
            "lines",
            "lines.0.quantity",
            "lines.0.unit_price_minor",
            "attributes",
        ]
        .iter()
        .map(|f| (with(f, EMAIL), *f))
        .collect();
        for f in [
            "total_minor",
            "lines.0.unit_price_minor",
            "currency",
            "attributes.phone",
        ] {
            cases.push((with(f, PHONE), f));
        }
        let keyed = SAMPLE.replacen("\"channel\": \"web\"", "\"ana.pii@example.com\": 1", 1);
        cases.push((keyed, "an attribute keyed by an address"));
        let unknown = SAMPLE.replacen("{", "{\"+4915112345678\": 1, ", 1);
        cases.push((unknown, "an unknown field named by a number"));
        for (json, what) in cases {
            let e = err(&json);
            assert!(
                !e.contains("pii") && !e.contains("example") && !e.contains(PHONE),
                "{what}: {e}"
            );
        }
        assert_eq!(
            err(&with("currency", EMAIL)),
            "currency: unknown ISO-4217 currency code (a 3-letter code such as \"EUR\", \
             not 19 characters)"
        );
        assert_eq!(
            err(&with("lines.0.quantity", EMAIL)),
            "lines[0].quantity: invalid type: string, expected u32"
        );
        assert!(
            err(&with("attributes.email", PHONE))
                .starts_with("attributes.email: invalid type: integer")
        );
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let e = err(&with("discount", "5"));
        assert!(e.starts_with("discount: unknown field `discount`"), "{e}");
        let mut v: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        v.as_object_mut().unwrap().remove("customer_id");
        assert!(err(&v.to_string()).contains("missing field `customer_id`"));
        assert!(err("{not json").starts_with("invalid order JSON"));
        assert_eq!(
            err(r#"["ord-1", "cust-1"]"#),
            "invalid order JSON: an order must be a JSON object"
        );
    }
}
