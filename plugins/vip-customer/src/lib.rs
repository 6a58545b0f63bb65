//! High-value when the order's customer is on a configured VIP list, and
//! tags the order with that customer's tier so downstream systems (support
//! routing, fulfilment priority) can act on it without a second lookup.
//!
//! Configuration: `{"customers": {"cust-42": "gold", "cust-7": "platinum"}}`.
//! Customer ids are matched exactly: they are opaque identifiers, and folding
//! case could make two different customers share a tier.

use orderflow_plugin_sdk::{OrderView, Rule, Verdict, export_rule, parse_config};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipCustomer {
    /// Customer id → tier name.
    customers: BTreeMap<String, String>,
}

impl Rule for VipCustomer {
    /// Refuses a list that could never match or would attach a meaningless
    /// tier: better to fail at load time than to silently classify nothing.
    fn configure(config: &str) -> Result<Self, String> {
        let v: VipCustomer = parse_config(config)?;
        if v.customers.is_empty() {
            return Err("invalid configuration: customers names no customer".into());
        }
        for (id, tier) in &v.customers {
            if id.trim().is_empty() {
                return Err("invalid configuration: customers has an empty customer id".into());
            }
            if tier.trim().is_empty() {
                return Err(format!(
                    "invalid configuration: customer {id} has an empty tier"
                ));
            }
        }
        Ok(v)
    }

    /// Reads only the customer id: one host call per order.
    fn evaluate(&self, order: &dyn OrderView) -> Result<Verdict, String> {
        let customer = order.customer_id();
        Ok(match self.customers.get(&customer) {
            Some(tier) => Verdict::high_value(format!("customer {customer} is a {tier} VIP"))
                .with_attribute("tier", tier.as_str()),
            None => Verdict::not_high_value(format!("customer {customer} is not on the VIP list")),
        })
    }
}

export_rule!(VipCustomer);

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_plugin_sdk::testing::{TestOrder, refused};

    fn rule() -> VipCustomer {
        VipCustomer::configure(r#"{"customers": {"cust-42": "gold", "cust-7": "platinum"}}"#)
            .unwrap()
    }

    fn order(customer: &str) -> TestOrder {
        TestOrder::from_json(&format!(
            r#"{{"order_id":"o","customer_id":"{customer}","created_at":"2026-11-24T10:15:00Z",
                "currency":"EUR","total_minor":100,
                "lines":[{{"sku":"S","quantity":1,"unit_price_minor":100}}]}}"#
        ))
    }

    /// An order whose customer id the pipeline would refuse (it validates
    /// ids before any rule runs): the rule must not match it either.
    struct RawCustomer(&'static str);

    impl OrderView for RawCustomer {
        fn order_id(&self) -> String {
            "o".into()
        }
        fn customer_id(&self) -> String {
            self.0.into()
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
            0
        }
        fn lines(&self) -> Vec<orderflow_plugin_sdk::Line> {
            Vec::new()
        }
        fn max_line_quantity(&self) -> u32 {
            0
        }
        fn attribute(&self, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn listed_customer_is_high_value_with_tier() {
        let v = rule().evaluate(&order("cust-42")).unwrap();
        assert!(v.high_value, "{v:?}");
        assert_eq!(v.reason, "customer cust-42 is a gold VIP");
        assert_eq!(v.attributes, vec![("tier".to_string(), "gold".to_string())]);

        let v = rule().evaluate(&order("cust-7")).unwrap();
        assert_eq!(
            v.attributes,
            vec![("tier".to_string(), "platinum".to_string())]
        );
    }

    #[test]
    fn unlisted_customer_is_not_high_value_and_gets_no_attributes() {
        let v = rule().evaluate(&order("cust-1")).unwrap();
        assert!(!v.high_value);
        assert_eq!(v.reason, "customer cust-1 is not on the VIP list");
        assert!(v.attributes.is_empty());
    }

    #[test]
    fn customer_ids_match_exactly() {
        assert!(!rule().evaluate(&order("CUST-42")).unwrap().high_value);
        assert!(
            !rule()
                .evaluate(&RawCustomer("cust-42 "))
                .unwrap()
                .high_value
        );
    }

    #[test]
    fn bad_configuration_names_the_problem() {
        let e = refused(VipCustomer::configure(r#"{"customers": {}}"#));
        assert!(e.contains("names no customer"), "{e}");
        let e = refused(VipCustomer::configure(r#"{"customers": {"cust-42": ""}}"#));
        assert!(e.contains("customer cust-42 has an empty tier"), "{e}");
        let e = refused(VipCustomer::configure(r#"{"customers": {"": "gold"}}"#));
        assert!(e.contains("empty customer id"), "{e}");
        let e = refused(VipCustomer::configure(r#"{"vips": {"cust-42": "gold"}}"#));
        assert!(e.contains("unknown field `vips`"), "{e}");
        let e = refused(VipCustomer::configure(r#"{"customers": ["cust-42"]}"#));
        assert!(e.starts_with("invalid configuration"), "{e}");
    }
}
