//! How large an order may be. The caps come from the end of the pipeline:
//! an accepted order must fit every stage after the producer, or it is
//! published (its caller told `published`) and then fails in the consumer
//! on every delivery. The tightest stage is a transform's answer, capped
//! by the manifest's `max_output_bytes`, 64 KiB by default: the stored
//! item passes through each transform whole, so the item that the order
//! becomes must fit with room to spare.
//!
//! The budget, in the units the host counts a transform's answer in (the
//! bytes of every string, plus 8 for each field, list item and map entry):
//!
//! | part of the item                     | at most                          |
//! |--------------------------------------|----------------------------------|
//! | `Lines` (JSON text), per line        | 73 + [`MAX_SKU_BYTES`] = 137     |
//! | all lines                            | 250 × 137 = 34,250               |
//! | `Attributes`, per entry              | 8 + 64 + 256 = 328               |
//! | all attributes                       | 32 × 328 = 10,496                |
//! | ids, currency, total, field names    | under 512                        |
//! | the order's part in all              | under 45,300                     |
//! | left for the decision and transforms | over 20,000 of 65,536            |
//!
//! The host's and pipeline's tests check the arithmetic against the real
//! item, SNS's 256 KiB message and DynamoDB's 400 KB item.

use crate::error::invalid;
use crate::{Order, OrderError};

/// Lines an order may have.
pub const MAX_LINES: usize = 250;
/// Bytes of one SKU.
pub const MAX_SKU_BYTES: usize = 64;
/// Attributes an order may carry.
pub const MAX_ATTRIBUTES: usize = 32;
/// Bytes of one attribute's name.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 64;
/// Bytes of one attribute's value.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 256;

/// The order is within every cap; the error names the field and the cap,
/// and says why the cap is there.
pub(crate) fn check(order: &Order) -> Result<(), OrderError> {
    const WHY: &str = "the most the stored item has room for";
    if order.lines.len() > MAX_LINES {
        return Err(invalid(
            "lines",
            format!(
                "{} lines, more than the {MAX_LINES} an order may have ({WHY}): split the order",
                order.lines.len()
            ),
        ));
    }
    for (i, line) in order.lines.iter().enumerate() {
        if line.sku.len() > MAX_SKU_BYTES {
            return Err(invalid(
                format!("lines[{i}].sku"),
                format!(
                    "{} bytes, more than the {MAX_SKU_BYTES} a SKU may have",
                    line.sku.len()
                ),
            ));
        }
    }
    if order.attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(
            "attributes",
            format!(
                "{} attributes, more than the {MAX_ATTRIBUTES} an order may carry ({WHY})",
                order.attributes.len()
            ),
        ));
    }
    for (i, (name, value)) in order.attributes.iter().enumerate() {
        // Named by position: the name itself may be anything.
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_BYTES {
            return Err(invalid(
                "attributes",
                format!(
                    "the name of attribute {} (in name order) has {} bytes: it must have 1 to \
                     {MAX_ATTRIBUTE_NAME_BYTES}",
                    i + 1,
                    name.len()
                ),
            ));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_BYTES {
            let field = if crate::redact::is_plain_name(name) {
                format!("attributes.{name}")
            } else {
                "attributes.<key>".into()
            };
            return Err(invalid(
                field,
                format!(
                    "{} bytes, more than the {MAX_ATTRIBUTE_VALUE_BYTES} an attribute's value may have",
                    value.len()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{SAMPLE, err, with};

    #[test]
    fn the_caps_are_inclusive_and_one_past_is_refused_by_name() {
        let line = serde_json::json!({"sku": "S".repeat(MAX_SKU_BYTES), "quantity": 1, "unit_price_minor": 1});
        let attributes: serde_json::Map<String, serde_json::Value> = (0..MAX_ATTRIBUTES)
            .map(|i| {
                let name = format!("{i:0>width$}", width = MAX_ATTRIBUTE_NAME_BYTES);
                (name, "v".repeat(MAX_ATTRIBUTE_VALUE_BYTES).into())
            })
            .collect();
        let order = |lines: usize, attributes: &serde_json::Map<String, serde_json::Value>| {
            let mut v: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
            v["lines"] = serde_json::Value::Array(vec![line.clone(); lines]);
            v["total_minor"] = lines.into();
            v["attributes"] = attributes.clone().into();
            v.to_string()
        };
        let largest = Order::from_json(&order(MAX_LINES, &attributes)).unwrap();
        assert_eq!(
            (largest.lines.len(), largest.attributes.len()),
            (MAX_LINES, MAX_ATTRIBUTES)
        );
        assert_eq!(
            err(&order(MAX_LINES + 1, &attributes)),
            "lines: 251 lines, more than the 250 an order may have (the most the stored item \
             has room for): split the order"
        );
        let mut more = attributes.clone();
        more.insert("extra".into(), "v".into());
        assert!(err(&order(1, &more)).starts_with("attributes: 33 attributes, more than the 32"));
        let mut long_value = serde_json::Map::new();
        long_value.insert(
            "note".into(),
            "v".repeat(MAX_ATTRIBUTE_VALUE_BYTES + 1).into(),
        );
        assert_eq!(
            err(&order(1, &long_value)),
            "attributes.note: 257 bytes, more than the 256 an attribute's value may have"
        );
        let mut long_name = serde_json::Map::new();
        long_name.insert("n".repeat(MAX_ATTRIBUTE_NAME_BYTES + 1), "v".into());
        assert!(err(&order(1, &long_name)).contains("has 65 bytes: it must have 1 to 64"));
        let long_sku = with(
            "lines.0.sku",
            &format!("\"{}\"", "S".repeat(MAX_SKU_BYTES + 1)),
        );
        assert_eq!(
            err(&long_sku),
            "lines[0].sku: 65 bytes, more than the 64 a SKU may have"
        );
    }
}
