//! The item persisted for a high-value order, before and after transforms.
//!
//! Field names are the stored attribute names (DynamoDB style, PascalCase).
//! The key — `OrderId` and `Timestamp`, the order's own creation time — is
//! kept apart from the fields so no transform can change it: a redelivered
//! message must write the same key, never a second item.

use crate::order::Order;
use crate::rules::Decision;
use orderflow_wire::PublishedDecision;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    Integer(i64),
    Boolean(bool),
    TextList(Vec<String>),
    TextMap(std::collections::BTreeMap<String, String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

impl Field {
    /// What the field counts towards `max_output_bytes`: the bytes of its
    /// strings plus [`ELEMENT_BYTES`](crate::limits::ELEMENT_BYTES) for
    /// the field and for each list item and map entry.
    pub fn output_bytes(&self) -> u64 {
        use crate::limits::ELEMENT_BYTES;
        let value = match &self.value {
            Value::Text(s) => s.len() as u64,
            Value::Integer(_) | Value::Boolean(_) => 0,
            Value::TextList(l) => l.iter().map(|s| ELEMENT_BYTES + s.len() as u64).sum(),
            Value::TextMap(m) => m
                .iter()
                .map(|(k, v)| ELEMENT_BYTES + (k.len() + v.len()) as u64)
                .sum(),
        };
        ELEMENT_BYTES + self.name.len() as u64 + value
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub order_id: String,
    pub timestamp: String,
    pub fields: Vec<Field>,
}

pub const KEY_FIELDS: [&str; 2] = ["OrderId", "Timestamp"];

impl Item {
    /// The item as the pipeline first shapes it from an order and its decision.
    pub fn new(order: &Order, decision: &PublishedDecision) -> Item {
        let text = |s: &str| Value::Text(s.to_string());
        let mut fields = vec![
            Field {
                name: "CustomerId".into(),
                value: text(&order.customer_id),
            },
            Field {
                name: "Currency".into(),
                value: text(&order.currency),
            },
            Field {
                name: "TotalMinor".into(),
                // Validation keeps totals within i64.
                value: Value::Integer(i64::try_from(order.total_minor).unwrap_or(i64::MAX)),
            },
            Field {
                name: "Lines".into(),
                value: Value::Text(serde_json::to_string(&order.lines).expect("lines serialise")),
            },
            Field {
                name: "HighValue".into(),
                value: Value::Boolean(decision.high_value),
            },
            Field {
                name: "RuleSetRevision".into(),
                value: text(&decision.revision),
            },
            Field {
                name: "Reasons".into(),
                value: Value::TextList(decision.reasons.clone()),
            },
        ];
        if !order.attributes.is_empty() {
            fields.push(Field {
                name: "Attributes".into(),
                value: Value::TextMap(order.attributes.clone()),
            });
        }
        if !decision.attributes.is_empty() {
            fields.push(Field {
                name: "RuleAttributes".into(),
                value: Value::TextMap(decision.attributes.clone()),
            });
        }
        Item {
            order_id: order.order_id.clone(),
            timestamp: order.created_at.clone(),
            fields,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// The item as one JSON object, key included: how the embedded store
    /// keeps it and how the CLI shows it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("OrderId".into(), self.order_id.clone().into());
        map.insert("Timestamp".into(), self.timestamp.clone().into());
        for f in &self.fields {
            map.insert(
                f.name.clone(),
                serde_json::to_value(&f.value).expect("values serialise"),
            );
        }
        serde_json::Value::Object(map)
    }

    /// What the item's fields count towards a transform's
    /// `max_output_bytes`: a transform that passes them through returns at
    /// least this much.
    pub fn output_bytes(&self) -> u64 {
        self.fields.iter().map(Field::output_bytes).sum()
    }

    /// Approximate stored size (names plus values), for DynamoDB's 400 KB cap.
    pub fn size_bytes(&self) -> usize {
        let value = |v: &Value| match v {
            Value::Text(s) => s.len(),
            Value::Integer(_) => 21,
            Value::Boolean(_) => 1,
            Value::TextList(l) => l.iter().map(|s| s.len() + 1).sum(),
            Value::TextMap(m) => m.iter().map(|(k, v)| k.len() + v.len() + 2).sum(),
        };
        self.order_id.len()
            + self.timestamp.len()
            + 16
            + self
                .fields
                .iter()
                .map(|f| f.name.len() + value(&f.value))
                .sum::<usize>()
    }
}

impl From<&Decision> for PublishedDecision {
    fn from(d: &Decision) -> Self {
        PublishedDecision {
            revision: d.revision.clone(),
            high_value: d.high_value,
            attributes: d.attributes.clone(),
            reasons: d.reasons.clone(),
        }
    }
}
