//! Normalizes the stored item so reports and dashboards need no per-currency
//! logic of their own:
//!
//! - `Currency` is upper-cased (orders may arrive with `"eur"`);
//! - `ItemCount` (integer) is added: the sum of the quantities in `Lines`;
//! - `DisplayTotal` (text) is added: `TotalMinor` rendered in major units
//!   with the currency's ISO-4217 minor-unit exponent, e.g. `"1250.00 EUR"`,
//!   `"150000 JPY"`, `"12.345 KWD"`.
//!
//! Every other field passes through unchanged and in its place. An
//! `ItemCount` or `DisplayTotal` already present is replaced, so applying the
//! transform to its own output (a redelivered message) changes nothing.
//!
//! Configuration: `{}`, or `{"display_total": false}` to leave out
//! `DisplayTotal`. `Currency`, `TotalMinor` and `Lines` are required either
//! way: an item this transform cannot vouch for is refused, not stored.

use orderflow_plugin_sdk::{
    Field, Fields, Line, Transform, Value, export_transform, parse_config, remove_field, set_field,
};

const CURRENCY: &str = "Currency";
const TOTAL_MINOR: &str = "TotalMinor";
const LINES: &str = "Lines";
const ITEM_COUNT: &str = "ItemCount";
const DISPLAY_TOTAL: &str = "DisplayTotal";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    #[serde(default = "yes")]
    display_total: bool,
}

fn yes() -> bool {
    true
}

impl Transform for Normalize {
    fn configure(config: &str) -> Result<Self, String> {
        parse_config(config)
    }

    fn apply(
        &self,
        _order_id: &str,
        _timestamp: &str,
        fields: Vec<Field>,
    ) -> Result<Vec<Field>, String> {
        let currency = fields.text(CURRENCY)?.to_ascii_uppercase();
        let iso = iso_currency::Currency::from_code(&currency)
            .ok_or_else(|| format!("field {CURRENCY}: unknown ISO-4217 currency {currency:?}"))?;
        let total_minor = fields.integer(TOTAL_MINOR)?;
        let item_count = item_count(fields.text(LINES)?)?;

        let mut out = fields;
        set_field(&mut out, CURRENCY, Value::Text(currency.clone()));
        set_field(&mut out, ITEM_COUNT, Value::Integer(item_count));
        if self.display_total {
            // A currency without minor units (gold, SDR …: ISO lists no
            // exponent) is counted in whole units.
            let exponent = iso.exponent().unwrap_or(0);
            let shown = display_total(total_minor, exponent, &currency);
            set_field(&mut out, DISPLAY_TOTAL, Value::Text(shown));
        } else {
            remove_field(&mut out, DISPLAY_TOTAL);
        }
        Ok(out)
    }
}

export_transform!(Normalize);

/// Sum of the line quantities in the `Lines` JSON array.
fn item_count(json: &str) -> Result<i64, String> {
    let lines: Vec<Line> = serde_json::from_str(json)
        .map_err(|e| format!("field {LINES} is not a JSON array of order lines: {e}"))?;
    // u32 quantities: a sum over fewer than 2^31 lines cannot overflow i64.
    Ok(lines.iter().map(|l| i64::from(l.quantity)).sum())
}

/// `minor` in major units with `exponent` decimals, then the code:
/// (125000, 2, "EUR") → "1250.00 EUR"; (150000, 0, "JPY") → "150000 JPY".
fn display_total(minor: i64, exponent: u16, code: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    // unsigned_abs and u128 keep i64::MIN and any exponent from overflowing.
    let abs = u128::from(minor.unsigned_abs());
    if exponent == 0 {
        return format!("{sign}{abs} {code}");
    }
    let scale = 10u128.checked_pow(u32::from(exponent)).unwrap_or(u128::MAX);
    let width = usize::from(exponent);
    format!("{sign}{}.{:0width$} {code}", abs / scale, abs % scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_plugin_sdk::testing::refused;

    fn transform() -> Normalize {
        Normalize::configure("{}").unwrap()
    }

    fn item(currency: &str, total: i64, lines: &str) -> Vec<Field> {
        vec![
            Field::new("CustomerId", Value::Text("cust-42".into())),
            Field::new(CURRENCY, Value::Text(currency.into())),
            Field::new(TOTAL_MINOR, Value::Integer(total)),
            Field::new(LINES, Value::Text(lines.into())),
            Field::new(
                "Attributes",
                Value::TextMap(vec![("channel".into(), "web".into())]),
            ),
        ]
    }

    const LINES_3_AND_2: &str = r#"[{"sku":"A","quantity":3,"unit_price_minor":100},
                                    {"sku":"B","quantity":2,"unit_price_minor":50}]"#;

    fn get<'a>(fields: &'a [Field], name: &str) -> &'a Value {
        &fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
            .value
    }

    #[test]
    fn normalizes_currency_counts_items_and_displays_total() {
        let input = item("eur", 125000, LINES_3_AND_2);
        let out = transform().apply("o-1", "t", input.clone()).unwrap();
        assert_eq!(get(&out, CURRENCY), &Value::Text("EUR".into()));
        assert_eq!(get(&out, ITEM_COUNT), &Value::Integer(5));
        assert_eq!(get(&out, DISPLAY_TOTAL), &Value::Text("1250.00 EUR".into()));
        // Everything else is untouched and in its place.
        assert_eq!(out.len(), input.len() + 2);
        for (i, f) in input.iter().enumerate().filter(|(_, f)| f.name != CURRENCY) {
            assert_eq!(&out[i], f);
        }
    }

    #[test]
    fn display_total_uses_the_iso_exponent() {
        let shown = |code: &str, total: i64| {
            let out = transform()
                .apply("o", "t", item(code, total, "[]"))
                .unwrap();
            get(&out, DISPLAY_TOTAL).clone()
        };
        assert_eq!(shown("JPY", 150000), Value::Text("150000 JPY".into()));
        assert_eq!(shown("KWD", 12345), Value::Text("12.345 KWD".into()));
        assert_eq!(shown("EUR", 5), Value::Text("0.05 EUR".into()));
        assert_eq!(shown("CLF", 12345), Value::Text("1.2345 CLF".into()));
        assert_eq!(shown("XAU", 3), Value::Text("3 XAU".into()));
    }

    #[test]
    fn display_total_formats_edge_amounts() {
        assert_eq!(display_total(0, 2, "EUR"), "0.00 EUR");
        assert_eq!(display_total(-1250, 2, "EUR"), "-12.50 EUR");
        assert_eq!(
            display_total(i64::MIN, 2, "EUR"),
            "-92233720368547758.08 EUR"
        );
        assert_eq!(display_total(i64::MAX, 0, "JPY"), "9223372036854775807 JPY");
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let once = transform()
            .apply("o", "t", item("eur", 125000, LINES_3_AND_2))
            .unwrap();
        let twice = transform().apply("o", "t", once.clone()).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn display_total_can_be_turned_off() {
        let t = Normalize::configure(r#"{"display_total": false}"#).unwrap();
        let out = t
            .apply("o", "t", item("eur", 125000, LINES_3_AND_2))
            .unwrap();
        assert!(out.iter().all(|f| f.name != DISPLAY_TOTAL), "{out:?}");
        assert_eq!(get(&out, ITEM_COUNT), &Value::Integer(5));
    }

    #[test]
    fn missing_or_ill_typed_fields_are_named() {
        let err = |fields: Vec<Field>| transform().apply("o", "t", fields).unwrap_err();
        let without = |name: &str| {
            item("EUR", 1, "[]")
                .into_iter()
                .filter(|f| f.name != name)
                .collect::<Vec<_>>()
        };
        let with = |name: &str, value: Value| {
            item("EUR", 1, "[]")
                .into_iter()
                .map(|f| {
                    if f.name == name {
                        Field::new(name, value.clone())
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(err(without(CURRENCY)), "field Currency is missing");
        assert_eq!(err(without(TOTAL_MINOR)), "field TotalMinor is missing");
        assert_eq!(err(without(LINES)), "field Lines is missing");
        assert_eq!(
            err(with(CURRENCY, Value::Integer(978))),
            "field Currency must be text, got integer"
        );
        assert_eq!(
            err(with(TOTAL_MINOR, Value::Text("12.50".into()))),
            "field TotalMinor must be integer, got text"
        );
        assert_eq!(
            err(with(LINES, Value::TextList(vec![]))),
            "field Lines must be text, got text-list"
        );
        let mut dup = item("EUR", 1, "[]");
        dup.push(Field::new(CURRENCY, Value::Text("USD".into())));
        assert_eq!(err(dup), "field Currency appears more than once");
    }

    #[test]
    fn unknown_currency_and_bad_lines_are_refused() {
        let e = transform()
            .apply("o", "t", item("eurx", 1, "[]"))
            .unwrap_err();
        assert_eq!(e, r#"field Currency: unknown ISO-4217 currency "EURX""#);
        let e = transform()
            .apply("o", "t", item("ABC", 1, "[]"))
            .unwrap_err();
        assert!(e.starts_with("field Currency: unknown"), "{e}");
        let e = transform()
            .apply("o", "t", item("EUR", 1, "not json"))
            .unwrap_err();
        assert!(
            e.starts_with("field Lines is not a JSON array of order lines"),
            "{e}"
        );
        let e = transform()
            .apply("o", "t", item("EUR", 1, r#"[{"sku":"A"}]"#))
            .unwrap_err();
        assert!(e.contains("missing field `quantity`"), "{e}");
    }

    #[test]
    fn bad_configuration_names_the_problem() {
        let e = refused(Normalize::configure(r#"{"display": false}"#));
        assert!(e.contains("unknown field `display`"), "{e}");
        let e = refused(Normalize::configure(r#"{"display_total": "no"}"#));
        assert!(e.starts_with("invalid configuration"), "{e}");
    }
}
