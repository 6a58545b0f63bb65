//! The consumer's [`ItemStore`] on DynamoDB: one `PutItem` per item, keyed
//! by `OrderId` (hash, S) and `Timestamp` (range, S). A put replaces the item
//! with the same key, so a message delivered twice leaves one item.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_host::item::{Item, Value};
use orderflow_pipeline::{ItemStore, StoreError};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }
}

/// An item field as a DynamoDB attribute. Lists are `L` of `S` rather than
/// string sets (`SS`): a set may not be empty, drops duplicates and forgets
/// the order, and a rule's reasons are an ordered list.
pub fn attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Text(s) => AttributeValue::S(s.clone()),
        Value::Integer(i) => AttributeValue::N(i.to_string()),
        Value::Boolean(b) => AttributeValue::Bool(*b),
        Value::TextList(l) => {
            AttributeValue::L(l.iter().map(|s| AttributeValue::S(s.clone())).collect())
        }
        Value::TextMap(m) => AttributeValue::M(
            m.iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect(),
        ),
    }
}

/// The whole item, key included.
pub fn attributes(item: &Item) -> HashMap<String, AttributeValue> {
    let mut map = HashMap::with_capacity(item.fields.len() + 2);
    map.insert(
        "OrderId".to_string(),
        AttributeValue::S(item.order_id.clone()),
    );
    map.insert(
        "Timestamp".to_string(),
        AttributeValue::S(item.timestamp.clone()),
    );
    for f in &item.fields {
        map.insert(f.name.clone(), attribute(&f.value));
    }
    map
}

/// A stored item back as JSON, in the shape of [`Item::to_json`] (numbers
/// that fit an i64 become JSON integers), for reports and tests.
pub fn to_json(attrs: &HashMap<String, AttributeValue>) -> serde_json::Value {
    fn value(v: &AttributeValue) -> serde_json::Value {
        match v {
            AttributeValue::S(s) => s.clone().into(),
            AttributeValue::N(n) => match n.parse::<i64>() {
                Ok(i) => i.into(),
                Err(_) => n
                    .parse::<f64>()
                    .map(Into::into)
                    .unwrap_or_else(|_| n.clone().into()),
            },
            AttributeValue::Bool(b) => (*b).into(),
            AttributeValue::Null(_) => serde_json::Value::Null,
            AttributeValue::L(l) => l.iter().map(value).collect::<Vec<_>>().into(),
            AttributeValue::Ss(l) => l.clone().into(),
            AttributeValue::Ns(l) => l.clone().into(),
            AttributeValue::M(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                serde_json::Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), value(&m[k])))
                        .collect(),
                )
            }
            other => format!("{other:?}").into(),
        }
    }
    let mut keys: Vec<&String> = attrs.keys().collect();
    keys.sort();
    serde_json::Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), value(&attrs[k])))
            .collect(),
    )
}

/// Whether a failed write may succeed later: throttling, capacity, conflicts
/// and server-side errors may; a missing table or a refused item will not.
pub fn retryable(code: Option<&str>, status: Option<u16>) -> bool {
    const RETRYABLE: &[&str] = &[
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionConflictException",
        "ReplicatedWriteConflictException",
    ];
    code.is_some_and(|c| RETRYABLE.contains(&c)) || status.is_some_and(|s| s == 429 || s >= 500)
}

/// Classifies an SDK error: transport failures (timeouts, connection
/// errors, unreadable responses) are retryable, a request that could not
/// even be built is not.
pub fn store_error<E>(action: &str, table: &str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = match err {
        SdkError::ServiceError(e) => retryable(e.err().code(), Some(e.raw().status().as_u16())),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    };
    StoreError {
        message: format!("DynamoDB {action} on {table}: {}", DisplayErrorContext(err)),
        retryable,
    }
}

impl ItemStore for DynamoStore {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes(item)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error("PutItem", &self.table, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_host::item::Field;

    #[test]
    fn values_map_to_dynamodb_types() {
        let map = [("a".to_string(), "1".to_string())].into_iter().collect();
        let item = Item {
            order_id: "ord-1".into(),
            timestamp: "2026-11-24T10:15:00Z".into(),
            fields: vec![
                Field {
                    name: "T".into(),
                    value: Value::Text("x".into()),
                },
                Field {
                    name: "I".into(),
                    value: Value::Integer(-42),
                },
                Field {
                    name: "B".into(),
                    value: Value::Boolean(true),
                },
                Field {
                    name: "L".into(),
                    value: Value::TextList(vec!["b".into(), "a".into(), "b".into()]),
                },
                Field {
                    name: "M".into(),
                    value: Value::TextMap(map),
                },
            ],
        };
        let a = attributes(&item);
        assert_eq!(a["OrderId"], AttributeValue::S("ord-1".into()));
        assert_eq!(
            a["Timestamp"],
            AttributeValue::S("2026-11-24T10:15:00Z".into())
        );
        assert_eq!(a["T"], AttributeValue::S("x".into()));
        assert_eq!(a["I"], AttributeValue::N("-42".into()));
        assert_eq!(a["B"], AttributeValue::Bool(true));
        assert_eq!(
            a["L"],
            AttributeValue::L(vec![
                AttributeValue::S("b".into()),
                AttributeValue::S("a".into()),
                AttributeValue::S("b".into())
            ])
        );
        assert_eq!(
            a["M"],
            AttributeValue::M(
                [("a".to_string(), AttributeValue::S("1".into()))]
                    .into_iter()
                    .collect()
            )
        );
        assert_eq!(
            to_json(&a),
            item.to_json(),
            "reading an item back gives the item's JSON"
        );
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        assert!(retryable(
            Some("ProvisionedThroughputExceededException"),
            Some(400)
        ));
        assert!(retryable(Some("ThrottlingException"), Some(400)));
        assert!(retryable(Some("RequestLimitExceeded"), Some(400)));
        assert!(retryable(None, Some(500)));
        assert!(retryable(None, Some(503)));
        assert!(retryable(Some("Whatever"), Some(429)));
        assert!(!retryable(Some("ResourceNotFoundException"), Some(400)));
        assert!(!retryable(Some("ValidationException"), Some(400)));
        assert!(!retryable(
            Some("ConditionalCheckFailedException"),
            Some(400)
        ));
        assert!(!retryable(None, None));
    }
}
