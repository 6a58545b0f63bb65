//! High-value when the order total is at or above a configured minimum for
//! its currency. Configuration: `{"minimum_minor": {"EUR": 100000, "USD": 120000}}`.
//! An order in a currency without a minimum is not high-value, and says so.

use orderflow_plugin_sdk::{OrderView, Rule, Verdict, export_rule, parse_config};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    minimum_minor: BTreeMap<String, u64>,
}

impl Rule for Threshold {
    fn configure(config: &str) -> Result<Self, String> {
        let t: Threshold = parse_config(config)?;
        if t.minimum_minor.is_empty() {
            return Err("invalid configuration: minimum_minor names no currency".into());
        }
        Ok(t)
    }

    fn evaluate(&self, order: &dyn OrderView) -> Result<Verdict, String> {
        let currency = order.currency().to_ascii_uppercase();
        let total = order.total_minor();
        Ok(match self.minimum_minor.get(&currency) {
            Some(&min) if total >= min => {
                Verdict::high_value(format!("total {total} {currency} >= minimum {min}"))
            }
            Some(&min) => {
                Verdict::not_high_value(format!("total {total} {currency} < minimum {min}"))
            }
            None => Verdict::not_high_value(format!("no minimum configured for {currency}")),
        })
    }
}

export_rule!(Threshold);

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_plugin_sdk::testing::{TestOrder, refused};

    fn rule() -> Threshold {
        Threshold::configure(r#"{"minimum_minor": {"EUR": 100000, "JPY": 150000}}"#).unwrap()
    }

    fn order(currency: &str, total: u64) -> TestOrder {
        TestOrder::from_json(&format!(
            r#"{{"order_id":"o","customer_id":"c","created_at":"2026-11-24T10:15:00Z",
                "currency":"{currency}","total_minor":{total},
                "lines":[{{"sku":"S","quantity":1,"unit_price_minor":{total}}}]}}"#
        ))
    }

    #[test]
    fn at_the_minimum_is_high_value() {
        let v = rule().evaluate(&order("EUR", 100000)).unwrap();
        assert!(v.high_value, "{v:?}");
        assert_eq!(v.reason, "total 100000 EUR >= minimum 100000");
    }

    #[test]
    fn one_minor_unit_below_is_not() {
        assert!(!rule().evaluate(&order("EUR", 99999)).unwrap().high_value);
    }

    #[test]
    fn minimum_is_per_currency_and_case_insensitive() {
        assert!(rule().evaluate(&order("jpy", 150000)).unwrap().high_value);
        let v = rule().evaluate(&order("USD", 10_000_000)).unwrap();
        assert!(!v.high_value);
        assert_eq!(v.reason, "no minimum configured for USD");
    }

    #[test]
    fn bad_configuration_names_the_problem() {
        let e = refused(Threshold::configure(r#"{"minimum": 5}"#));
        assert!(e.contains("unknown field `minimum`"), "{e}");
        let e = refused(Threshold::configure(r#"{"minimum_minor": {}}"#));
        assert!(e.contains("names no currency"), "{e}");
    }
}
