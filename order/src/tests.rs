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
    assert!(err(&with("created_at", "\"yesterday\"")).starts_with("created_at: not an RFC 3339"));
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
        err(&with("total_minor", "12.5")).starts_with("total_minor: invalid type: floating point")
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
