//! Run plugin logic natively, on orders written in the project's wire JSON.

use crate::{Line, OrderView};
pub use orderflow_order::{Order, OrderError};

/// An order for native tests: the pipeline's wire JSON, validated by the
/// host's own code (`orderflow-order`), so a test order is one the
/// pipeline would accept, and `created_at` is the time the host hands a
/// rule, not 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOrder(Order);

impl TestOrder {
    /// Parses and validates wire JSON; panics with the host's message (the
    /// field at fault) on an order the pipeline would refuse, as a test should.
    pub fn from_json(json: &str) -> Self {
        Self::parse(json).unwrap_or_else(|e| panic!("bad test order: {e}"))
    }

    /// As [`from_json`](Self::from_json), returning the host's refusal.
    pub fn parse(json: &str) -> Result<Self, OrderError> {
        Order::from_json(json).map(TestOrder)
    }

    /// The validated order itself.
    pub fn order(&self) -> &Order {
        &self.0
    }
}

impl OrderView for TestOrder {
    fn order_id(&self) -> String {
        self.0.order_id.clone()
    }
    fn customer_id(&self) -> String {
        self.0.customer_id.clone()
    }
    fn created_at(&self) -> i64 {
        self.0.created_at_secs()
    }
    fn currency(&self) -> String {
        self.0.currency.clone()
    }
    fn total_minor(&self) -> u64 {
        self.0.total_minor
    }
    fn line_count(&self) -> u32 {
        self.0.lines.len() as u32
    }
    fn lines(&self) -> Vec<Line> {
        self.0
            .lines
            .iter()
            .map(|l| Line {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect()
    }
    fn max_line_quantity(&self) -> u32 {
        self.0.max_line_quantity()
    }
    fn attribute(&self, name: &str) -> Option<String> {
        self.0.attributes.get(name).cloned()
    }
}

/// The message a plugin refused with, e.g. `refused(MyRule::configure("{}"))`;
/// panics when it was accepted, since the test expected a refusal.
pub fn refused<T>(result: Result<T, String>) -> String {
    match result {
        Ok(_) => panic!("accepted, but a refusal was expected"),
        Err(message) => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"{"order_id": "ord-1", "customer_id": "cust-42",
        "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 125000,
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 62500}],
        "attributes": {"channel": "web"}}"#;

    #[test]
    fn a_test_order_is_the_wire_order_with_its_time() {
        let o = TestOrder::from_json(ORDER);
        assert_eq!(o.created_at(), 1_795_515_300);
        assert_eq!(o.max_line_quantity(), 2);
        assert_eq!(o.attribute("channel").as_deref(), Some("web"));
        assert_eq!(o.lines()[0].sku, "SKU-1");
    }

    #[test]
    fn a_test_order_is_refused_as_the_host_refuses_it() {
        let unknown = ORDER.replace("\"attributes\"", "\"discount\": 5, \"attributes\"");
        let e = TestOrder::parse(&unknown).unwrap_err().to_string();
        assert!(e.starts_with("discount: unknown field `discount`"), "{e}");
        let no_time = ORDER.replace("\"created_at\": \"2026-11-24T10:15:00Z\",", "");
        let e = TestOrder::parse(&no_time).unwrap_err().to_string();
        assert!(e.contains("missing field `created_at`"), "{e}");
        let wrong_total = ORDER.replace("125000", "1");
        assert!(TestOrder::parse(&wrong_total).is_err());
    }
}
