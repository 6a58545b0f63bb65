//! The sample order and variations of it.

use orderflow_host::Order;
use serde_json::{Value, json};
use std::sync::Arc;

/// One valid EUR order of 1250.00 from customer `cust-42`, with an email
/// attribute for the PII transforms to find.
pub const ORDER: &str = include_str!("../../samples/order.json");

/// [`ORDER`] as JSON.
pub fn order_value() -> Value {
    serde_json::from_str(ORDER).expect("samples/order.json is JSON")
}

/// [`ORDER`] with the top-level fields of `patch` replaced.
pub fn order_with(patch: Value) -> Value {
    let mut v = order_value();
    for (k, val) in patch.as_object().expect("a patch is an object") {
        v[k] = val.clone();
    }
    v
}

/// [`ORDER`] under another id, for `total_minor` in one line (so the
/// total still matches its lines).
pub fn priced(order_id: &str, total_minor: u64) -> Value {
    order_with(json!({
        "order_id": order_id,
        "total_minor": total_minor,
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total_minor}],
    }))
}

/// A validated order, as the stages take it.
pub fn parsed(order: &Value) -> Arc<Order> {
    Arc::new(Order::from_json(&order.to_string()).expect("a valid test order"))
}

/// `n` copies of [`ORDER`] as JSON Lines, ids `ord-0` … `ord-<n-1>`.
pub fn order_lines(n: usize) -> String {
    (0..n)
        .map(|i| order_with(json!({"order_id": format!("ord-{i}")})).to_string() + "\n")
        .collect()
}

/// The largest order validation accepts: every cap of
/// `orderflow_host::order::caps` reached, with the longest ids and
/// numbers; high-value in EUR. `past` adds one line more than the cap.
pub fn largest(past: bool) -> Value {
    use orderflow_host::order::caps::*;
    let lines = MAX_LINES + usize::from(past);
    // u32::MAX of each at 8,000,000 minor units: the sum stays within i64.
    let (quantity, unit_price) = (u32::MAX, 8_000_000u64);
    let line = |i: usize| json!({"sku": format!("{i:0>width$}", width = MAX_SKU_BYTES), "quantity": quantity, "unit_price_minor": unit_price});
    let attributes: serde_json::Map<String, Value> = (0..MAX_ATTRIBUTES)
        .map(|i| {
            let name = format!("attr{i:0>width$}", width = MAX_ATTRIBUTE_NAME_BYTES - 4);
            (name, Value::from("v".repeat(MAX_ATTRIBUTE_VALUE_BYTES)))
        })
        .collect();
    order_with(json!({
        "order_id": format!("ord-{}", "9".repeat(124)),
        "customer_id": format!("cust-{}", "4".repeat(123)),
        "total_minor": u64::from(quantity) * unit_price * lines as u64,
        "lines": (0..lines).map(line).collect::<Vec<_>>(),
        "attributes": attributes,
    }))
}
