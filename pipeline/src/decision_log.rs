//! One record of the decision log: an order as the producer decided it.
//!
//! The log is JSON Lines, one [`DecisionRecord`] a line:
//!
//! ```json
//! {"order": {"order_id": "ord-1001", …the wire order…}, "revision": "sha256:…",
//!  "high_value": true, "attributes": {"tier": "gold"},
//!  "reasons": ["threshold: total 125000 EUR >= minimum 100000", …]}
//! ```
//!
//! The order is kept in its wire JSON, exactly as it arrived, so that
//! `orderflow replay` can run it through another rule set: a rule's answer
//! depends only on the order and the rule set, so the log plus a manifest is
//! enough to know what that manifest would have decided. The decision is
//! kept too, so a replay can tell when its baseline is not the rule set that
//! really decided (the record's `revision`, and a `high_value` that the
//! baseline does not reproduce).

use orderflow_host::{Decision, Order};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// One decided order. Only orders that reached the rule chain are logged:
/// an order refused by validation has no decision.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    /// The order in its wire JSON (validated again by whoever reads it).
    pub order: Box<RawValue>,
    /// The manifest revision (`sha256:…`) of the rule set that decided.
    pub revision: String,
    pub high_value: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// `plugin: reason`, one per rule that answered.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Set when a rule with `on_error: reject` refused the order: its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

impl DecisionRecord {
    pub fn new(order: &Order, decision: &Decision) -> DecisionRecord {
        DecisionRecord {
            order: RawValue::from_string(order.to_json()).expect("an order serialises to JSON"),
            revision: decision.revision.clone(),
            high_value: decision.high_value,
            attributes: decision.attributes.clone(),
            reasons: decision.reasons.clone(),
            rejected: decision.rejected.as_ref().map(|r| r.error.clone()),
        }
    }

    /// The record as one line of the log (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a decision record serialises")
    }

    /// Whether a line of JSON is a decision record rather than a bare wire
    /// order: a record has an `order` object, an order never has that field.
    pub fn is_record(line: &str) -> bool {
        #[derive(Deserialize)]
        struct Probe<'a> {
            #[serde(borrow, default)]
            order: Option<&'a RawValue>,
        }
        serde_json::from_str::<Probe>(line).is_ok_and(|p| p.order.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = include_str!("../../samples/order.json");

    fn decision(order: &Order) -> Decision {
        Decision {
            order_id: order.order_id.clone(),
            revision: "sha256:abc".into(),
            high_value: true,
            attributes: BTreeMap::from([("tier".into(), "gold".into())]),
            reasons: vec!["threshold: big".into()],
            conflicts: Vec::new(),
            rejected: None,
            trace: Vec::new(),
        }
    }

    #[test]
    fn a_record_round_trips_and_keeps_the_wire_order() {
        let order = Order::from_json(ORDER).unwrap();
        let line = DecisionRecord::new(&order, &decision(&order)).to_json_line();
        assert!(DecisionRecord::is_record(&line), "{line}");
        let back: DecisionRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(Order::from_json(back.order.get()).unwrap(), order);
        assert_eq!(back.revision, "sha256:abc");
        assert!(back.high_value);
        assert_eq!(back.attributes["tier"], "gold");
        assert_eq!(back.reasons, ["threshold: big"]);
        assert_eq!(back.rejected, None);
        assert!(!line.contains("\"rejected\""), "{line}");
    }

    #[test]
    fn a_bare_order_is_not_a_record() {
        assert!(!DecisionRecord::is_record(ORDER));
        assert!(!DecisionRecord::is_record("not json"));
        assert!(!DecisionRecord::is_record(r#"{"order": null}"#));
    }
}
