//! Properties of the order parser over generated input (proptest, so they
//! run on stable and in CI; the cargo-fuzz target in `fuzz/` searches the
//! same ground longer): no input makes it panic, and a valid order
//! survives `to_json` and back unchanged.

use orderflow_order::{Line, Order};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, nested a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
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

/// An order's fields, each the right type but otherwise anything: the
/// shapes that get past serde and into validation.
fn order_shaped() -> impl Strategy<Value = Value> {
    let line = (".{0,8}", any::<u32>(), any::<u64>())
        .prop_map(|(sku, q, p)| json!({"sku": sku, "quantity": q, "unit_price_minor": p}));
    (
        ".{0,12}",
        ".{0,12}",
        prop_oneof![
            ".{0,25}".boxed(),
            Just("2026-11-24T10:15:00Z".to_string()).boxed()
        ],
        prop_oneof!["[A-Za-z]{0,4}".boxed(), Just("EUR".to_string()).boxed()],
        any::<u64>(),
        prop::collection::vec(line, 0..4),
        prop::collection::btree_map(".{0,6}", ".{0,6}", 0..3),
    )
        .prop_map(|(id, customer, at, currency, total, lines, attributes)| {
            json!({"order_id": id, "customer_id": customer, "created_at": at,
                   "currency": currency, "total_minor": total, "lines": lines,
                   "attributes": attributes})
        })
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}"
}

/// A valid order: ids in the id alphabet, a UTC timestamp, a real
/// currency, and a total that is the lines' sum.
fn valid_order() -> impl Strategy<Value = Value> {
    let line = ("[A-Z0-9-]{1,16}", 1..=1_000u32, 0..=10_000_000u64);
    (
        id(),
        id(),
        0..=4_102_444_800i64,
        prop::sample::select(vec!["EUR", "usd", "GBP", "JPY", "chf"]),
        prop::collection::vec(line, 1..8),
        prop::collection::btree_map("[a-z][a-z0-9_]{0,15}", "[ -~]{0,40}", 0..5),
    )
        .prop_map(|(id, customer, secs, currency, lines, attributes)| {
            let at = time::OffsetDateTime::from_unix_timestamp(secs)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            let lines: Vec<Line> = lines
                .into_iter()
                .map(|(sku, quantity, unit_price_minor)| Line {
                    sku,
                    quantity,
                    unit_price_minor,
                })
                .collect();
            let total: u64 = lines
                .iter()
                .map(|l| l.unit_price_minor * u64::from(l.quantity))
                .sum();
            json!({"order_id": id, "customer_id": customer, "created_at": at,
                   "currency": currency, "total_minor": total, "lines": lines,
                   "attributes": attributes})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_parsed_or_refused_never_a_panic(text in ".{0,200}") {
        let _ = Order::from_json(&text);
        let _ = Order::from_json(&format!("{{{text}"));
    }

    #[test]
    fn any_json_is_parsed_or_refused_never_a_panic(value in prop_oneof![any_json(), order_shaped()]) {
        let from_text = Order::from_json(&value.to_string());
        let from_value = Order::from_value(&value);
        // The two ways in agree on what is an order.
        prop_assert_eq!(from_text.is_ok(), from_value.is_ok());
    }

    #[test]
    fn a_valid_order_round_trips_through_to_json(value in valid_order()) {
        let order = Order::from_json(&value.to_string()).expect("a valid order");
        let again = Order::from_json(&order.to_json()).expect("its own JSON parses");
        prop_assert_eq!(&again, &order);
        prop_assert_eq!(again.created_at_secs(), order.created_at_secs());
        prop_assert_eq!(again.to_json(), order.to_json());
    }
}
