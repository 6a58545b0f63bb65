//! The body of a message on the high-value topic. The consumer is an input
//! like any other: it re-validates what it reads, whoever sent it.

use orderflow_order::{Order, OrderError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The part of a decision that travels with a published order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedDecision {
    pub revision: String,
    pub high_value: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// The order and its decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighValueMessage {
    pub order: Order,
    pub decision: PublishedDecision,
}

impl HighValueMessage {
    /// Parses and re-validates a message body; errors name the field, as the
    /// order parser's do, never its value.
    pub fn from_json(body: &str) -> Result<HighValueMessage, OrderError> {
        let de = &mut serde_json::Deserializer::from_str(body);
        let m: HighValueMessage =
            serde_path_to_error::deserialize(de).map_err(OrderError::from_path_error)?;
        Ok(HighValueMessage {
            order: m.order.validate()?,
            decision: m.decision,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("messages serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(order: serde_json::Value) -> String {
        serde_json::json!({
            "order": order,
            "decision": {"revision": "sha256:ab", "high_value": true, "attributes": {"tier": "gold"}},
        })
        .to_string()
    }

    fn order() -> serde_json::Value {
        serde_json::json!({
            "order_id": "ord-1", "customer_id": "c-1", "currency": "EUR",
            "total_minor": 250000, "created_at": "2026-12-01T10:00:00Z",
            "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 250000}],
        })
    }

    #[test]
    fn a_message_reads_back_from_its_own_json() {
        let m = HighValueMessage::from_json(&message(order())).unwrap();
        assert_eq!(m.decision.attributes["tier"], "gold");
        assert_eq!(HighValueMessage::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn the_order_inside_is_validated_again() {
        let mut bad = order();
        bad["total_minor"] = 1.into();
        let e = HighValueMessage::from_json(&message(bad)).unwrap_err();
        assert!(e.to_string().contains("total"), "{e}");
    }

    #[test]
    fn unknown_fields_are_named_by_their_path() {
        let mut m: serde_json::Value = serde_json::from_str(&message(order())).unwrap();
        m["decision"]["extra"] = 1.into();
        let e = HighValueMessage::from_json(&m.to_string()).unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
    }
}
