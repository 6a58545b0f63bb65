//! High-value when any single order line reaches a configured quantity: a
//! bulk purchase is worth a human look even when its total is modest. Marks
//! such orders with the attribute `("bulk", "true")`.
//!
//! Configuration: `{"min_quantity": 10}` (at least 1).
//!
//! The decision uses `max_line_quantity`, one cheap host call returning a
//! number. The full line list (a string and a record per line to lower into
//! the plugin) is read only for high-value orders, to name the SKU in the
//! reason an operator reads.

use orderflow_plugin_sdk::{OrderView, Rule, Verdict, export_rule, parse_config};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkQuantity {
    min_quantity: u32,
}

impl Rule for BulkQuantity {
    /// A minimum of 0 would make every order (even one without lines) bulk,
    /// which is certainly a configuration mistake.
    fn configure(config: &str) -> Result<Self, String> {
        let b: BulkQuantity = parse_config(config)?;
        if b.min_quantity == 0 {
            return Err("invalid configuration: min_quantity must be at least 1".into());
        }
        Ok(b)
    }

    fn evaluate(&self, order: &dyn OrderView) -> Result<Verdict, String> {
        let min = self.min_quantity;
        let max = order.max_line_quantity();
        if max < min {
            return Ok(Verdict::not_high_value(format!(
                "largest line quantity {max} < {min}"
            )));
        }
        // Name the line that carries the largest quantity (the first one if
        // several do), so the reason agrees with the number that decided.
        let reason = match order.lines().into_iter().find(|l| l.quantity == max) {
            Some(line) => format!("line {} has quantity {max} >= {min}", line.sku),
            None => format!("largest line quantity {max} >= {min}"),
        };
        Ok(Verdict::high_value(reason).with_attribute("bulk", "true"))
    }
}

export_rule!(BulkQuantity);

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_plugin_sdk::Line;
    use orderflow_plugin_sdk::testing::refused;
    use std::cell::Cell;

    fn rule(min: u32) -> BulkQuantity {
        BulkQuantity::configure(&format!(r#"{{"min_quantity": {min}}}"#)).unwrap()
    }

    /// An order that counts how often `lines` is read, to prove the rule
    /// reads the cheap maximum first and the lines only when needed.
    struct CountingOrder {
        lines: Vec<Line>,
        lines_calls: Cell<u32>,
    }

    impl CountingOrder {
        fn new(quantities: &[(&str, u32)]) -> Self {
            let lines = quantities
                .iter()
                .map(|&(sku, quantity)| Line {
                    sku: sku.into(),
                    quantity,
                    unit_price_minor: 100,
                })
                .collect();
            Self {
                lines,
                lines_calls: Cell::new(0),
            }
        }
    }

    impl OrderView for CountingOrder {
        fn order_id(&self) -> String {
            "o".into()
        }
        fn customer_id(&self) -> String {
            "c".into()
        }
        fn created_at(&self) -> i64 {
            0
        }
        fn currency(&self) -> String {
            "EUR".into()
        }
        fn total_minor(&self) -> u64 {
            0
        }
        fn line_count(&self) -> u32 {
            self.lines.len() as u32
        }
        fn lines(&self) -> Vec<Line> {
            self.lines_calls.set(self.lines_calls.get() + 1);
            self.lines.clone()
        }
        fn max_line_quantity(&self) -> u32 {
            self.lines.iter().map(|l| l.quantity).max().unwrap_or(0)
        }
        fn attribute(&self, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn line_at_the_minimum_is_bulk_and_named() {
        let order = CountingOrder::new(&[("SKU-1", 2), ("SKU-9", 12), ("SKU-3", 5)]);
        let v = rule(10).evaluate(&order).unwrap();
        assert!(v.high_value, "{v:?}");
        assert_eq!(v.reason, "line SKU-9 has quantity 12 >= 10");
        assert_eq!(v.attributes, vec![("bulk".to_string(), "true".to_string())]);

        let v = rule(12).evaluate(&order).unwrap();
        assert!(v.high_value);
        assert_eq!(v.reason, "line SKU-9 has quantity 12 >= 12");
    }

    #[test]
    fn below_the_minimum_does_not_read_lines() {
        let order = CountingOrder::new(&[("SKU-1", 3), ("SKU-2", 1)]);
        let v = rule(10).evaluate(&order).unwrap();
        assert!(!v.high_value);
        assert_eq!(v.reason, "largest line quantity 3 < 10");
        assert!(v.attributes.is_empty());
        assert_eq!(order.lines_calls.get(), 0);
    }

    #[test]
    fn order_without_lines_is_not_bulk() {
        let v = rule(1).evaluate(&CountingOrder::new(&[])).unwrap();
        assert!(!v.high_value);
        assert_eq!(v.reason, "largest line quantity 0 < 1");
    }

    #[test]
    fn several_lines_at_the_maximum_name_the_first() {
        let order = CountingOrder::new(&[("A", 1), ("B", 20), ("C", 20)]);
        assert_eq!(
            rule(10).evaluate(&order).unwrap().reason,
            "line B has quantity 20 >= 10"
        );
        assert_eq!(order.lines_calls.get(), 1);
    }

    #[test]
    fn works_on_wire_json_orders() {
        let order = orderflow_plugin_sdk::testing::TestOrder::from_json(
            r#"{"order_id":"o","customer_id":"c","created_at":"2026-11-24T10:15:00Z",
                "currency":"EUR","total_minor":12,
                "lines":[{"sku":"SKU-9","quantity":12,"unit_price_minor":1}]}"#,
        );
        assert!(rule(10).evaluate(&order).unwrap().high_value);
    }

    #[test]
    fn bad_configuration_names_the_problem() {
        let e = refused(BulkQuantity::configure(r#"{"min_quantity": 0}"#));
        assert!(e.contains("at least 1"), "{e}");
        let e = refused(BulkQuantity::configure(r#"{"min_quantity": -1}"#));
        assert!(e.starts_with("invalid configuration"), "{e}");
        let e = refused(BulkQuantity::configure(r#"{"min_qty": 5}"#));
        assert!(e.contains("unknown field `min_qty`"), "{e}");
        let e = refused(BulkQuantity::configure("{}"));
        assert!(e.contains("missing field `min_quantity`"), "{e}");
    }
}
