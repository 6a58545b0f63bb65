//! The consumer's [`ItemStore`] on DynamoDB, keyed by `OrderId` (hash, S)
//! and `Timestamp` (range, S). A put replaces the item with the same key,
//! so a message delivered twice leaves one item. A batch is written with
//! `BatchWriteItem`, 25 items a call; what the service leaves unprocessed
//! is sent again with backoff and jitter, within a bounded budget, and only
//! what is still unwritten after it is reported failed (the SDK retries a
//! throttled call itself, but not the unprocessed items of a successful one).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
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

/// `BatchWriteItem`'s limit.
pub const BATCH_ITEMS: usize = 25;
/// Attempts at the unprocessed items of one batch (the first call included).
pub const BATCH_ATTEMPTS: u32 = 6;

/// Full-jitter exponential backoff: up to 25 ms, 50 ms, … capped at 800 ms
/// (about 1.5 s in all for [`BATCH_ATTEMPTS`]).
fn backoff(attempt: u32) -> std::time::Duration {
    let cap = (25u64 << attempt.min(5)).min(800);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    std::time::Duration::from_millis(nanos % (cap + 1))
}

/// The keys of the items a `BatchWriteItem` left unprocessed.
fn unprocessed_keys(out: &BatchWriteItemOutput, table: &str) -> Vec<(String, String)> {
    let requests = out.unprocessed_items().and_then(|u| u.get(table));
    requests
        .into_iter()
        .flatten()
        .filter_map(|w| {
            let item = w.put_request()?.item();
            let s = |name: &str| item.get(name)?.as_s().ok().cloned();
            Some((s("OrderId")?, s("Timestamp")?))
        })
        .collect()
}

impl DynamoStore {
    /// Writes up to [`BATCH_ITEMS`] items with distinct keys.
    async fn write_batch(&self, items: &[&Item]) -> Vec<Result<(), StoreError>> {
        let key = |i: &Item| (i.order_id.clone(), i.timestamp.clone());
        let mut pending: HashMap<(String, String), WriteRequest> = HashMap::new();
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(attributes(item)))
                .build();
            let request = WriteRequest::builder()
                .put_request(put.expect("an item is set"))
                .build();
            pending.insert(key(item), request);
        }
        let mut failure: Option<StoreError> = None;
        for attempt in 0..BATCH_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let requests: Vec<WriteRequest> = pending.values().cloned().collect();
            let sent = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await;
            let out = match sent {
                Ok(out) => out,
                Err(e) => {
                    let e = store_error("BatchWriteItem", &self.table, &e);
                    let retry = e.retryable;
                    failure = Some(e);
                    if retry {
                        continue;
                    }
                    break;
                }
            };
            let unprocessed = unprocessed_keys(&out, &self.table);
            pending.retain(|k, _| unprocessed.contains(k));
            failure = (!pending.is_empty()).then(|| StoreError {
                message: format!(
                    "DynamoDB BatchWriteItem on {}: still unprocessed (throttled) after {} attempts",
                    self.table,
                    attempt + 1
                ),
                retryable: true,
            });
        }
        items
            .iter()
            .map(|item| match (&failure, pending.contains_key(&key(item))) {
                (Some(e), true) => Err(e.clone()),
                _ => Ok(()),
            })
            .collect()
    }
}

impl ItemStore for DynamoStore {
    /// One `BatchWriteItem` per 25 items. A batch may not name one key
    /// twice (a message delivered twice in one SQS batch): a repeat goes
    /// into the next call, so the last one written wins, as with `PutItem`.
    async fn put_all(&self, items: &[&Item]) -> Vec<Result<(), StoreError>> {
        let mut results: Vec<Option<Result<(), StoreError>>> = vec![None; items.len()];
        let mut left: Vec<usize> = (0..items.len()).collect();
        while !left.is_empty() {
            let mut batch: Vec<usize> = Vec::new();
            let mut keys = std::collections::HashSet::new();
            left.retain(|&i| {
                let fits = batch.len() < BATCH_ITEMS
                    && keys.insert((&items[i].order_id, &items[i].timestamp));
                if fits {
                    batch.push(i);
                }
                !fits
            });
            let chunk: Vec<&Item> = batch.iter().map(|&i| items[i]).collect();
            // Boxed: the SDK call's future is deep enough to overflow the
            // compiler's layout depth inside the Lambda runtime's future.
            let written = Box::pin(self.write_batch(&chunk)).await;
            for (i, r) in batch.into_iter().zip(written) {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every item answered"))
            .collect()
    }

    /// Through `BatchWriteItem` too: the consumer's role may not `PutItem`.
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        let mut one = self.put_all(&[item]).await;
        one.pop().expect("one answer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moto never leaves items unprocessed, so this rule is tested here.
    #[test]
    fn unprocessed_items_are_found_by_their_key() {
        let item = |id: &str| Item {
            order_id: id.into(),
            timestamp: "2026-11-24T10:15:00Z".into(),
            fields: vec![],
        };
        let put = |id: &str| {
            let p = PutRequest::builder()
                .set_item(Some(attributes(&item(id))))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(p).build()
        };
        let out = BatchWriteItemOutput::builder()
            .unprocessed_items("orders", vec![put("ord-2"), put("ord-5")])
            .build();
        let ts = "2026-11-24T10:15:00Z".to_string();
        assert_eq!(
            unprocessed_keys(&out, "orders"),
            [("ord-2".to_string(), ts.clone()), ("ord-5".to_string(), ts)]
        );
        assert!(unprocessed_keys(&out, "other").is_empty());
        assert!(unprocessed_keys(&BatchWriteItemOutput::builder().build(), "orders").is_empty());
    }

    #[test]
    fn backoff_is_jittered_below_a_growing_cap() {
        for attempt in 1..BATCH_ATTEMPTS {
            let cap = (25u64 << attempt.min(5)).min(800);
            assert!(backoff(attempt) <= std::time::Duration::from_millis(cap));
        }
    }
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
