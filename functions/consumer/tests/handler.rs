//! The consumer handler without Lambda or AWS: the example transforms from
//! a manifest in a directory, an in-memory store, and SQS events parsed
//! from the JSON Lambda delivers.

use aws_lambda_events::sqs::SqsEvent;
use orderflow_aws::{DirSource, PluginCache};
use orderflow_consumer::{Consumer, HandlerError};
use orderflow_host::item::Value as ItemValue;
use orderflow_host::manifest::sha256_hex;
use orderflow_host::{
    HighValueMessage, Item, Manifest, Order, PublishedDecision, Runtime, RuntimeConfig,
    TransformChain,
};
use orderflow_pipeline::{ItemStore, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

fn wasm_dir() -> &'static std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        orderflow_plugin_build::build(&["normalize", "redact-pii"]).unwrap();
        orderflow_plugin_build::output_dir()
    })
}

fn lay_out(dir: &Path) {
    let mut m: Manifest = serde_json::from_value(json!({"transforms": [
        {"name": "normalize", "version": "1.0.0", "wasm": "normalize.wasm"},
        {"name": "redact-pii", "version": "1.0.0", "wasm": "redact-pii.wasm", "config": {"keys": ["email"]}}
    ]}))
    .unwrap();
    for spec in &mut m.transforms {
        let bytes = std::fs::read(wasm_dir().join(&spec.wasm)).unwrap();
        spec.sha256 = sha256_hex(&bytes);
        std::fs::write(dir.join(&spec.wasm), bytes).unwrap();
    }
    std::fs::write(dir.join("manifest.json"), m.to_json_pretty()).unwrap();
}

/// Items by key; `fail_for` makes writes of one order fail retryably.
#[derive(Default)]
struct MemoryStore {
    items: Mutex<BTreeMap<(String, String), Item>>,
    fail_for: Option<String>,
}

impl ItemStore for MemoryStore {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        if self.fail_for.as_deref() == Some(item.order_id.as_str()) {
            return Err(StoreError {
                message: "ThrottlingException".into(),
                retryable: true,
            });
        }
        self.items.lock().unwrap().insert(
            (item.order_id.clone(), item.timestamp.clone()),
            item.clone(),
        );
        Ok(())
    }
}

fn consumer(dir: &Path, fail_for: Option<&str>) -> Consumer<MemoryStore> {
    let rt = Runtime::new(RuntimeConfig {
        max_instances: 8,
        ..Default::default()
    })
    .unwrap();
    let plugins: PluginCache<TransformChain> = PluginCache::new(
        DirSource::new(dir.join("manifest.json")),
        rt,
        Duration::from_secs(60),
    );
    Consumer::new(
        Arc::new(plugins),
        MemoryStore {
            fail_for: fail_for.map(String::from),
            ..Default::default()
        },
    )
}

/// A message body as the producer publishes it.
fn message(order_id: &str) -> String {
    let order = Order::from_json(&format!(
        r#"{{"order_id": "{order_id}", "customer_id": "cust-42", "created_at": "2026-11-24T10:15:00Z", "currency": "eur", "total_minor": 125000, "lines": [{{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 62500}}], "attributes": {{"email": "ana@example.com"}}}}"#
    ))
    .unwrap();
    let decision = PublishedDecision {
        revision: "sha256:abc".into(),
        high_value: true,
        attributes: BTreeMap::new(),
        reasons: vec!["threshold: yes".into()],
    };
    HighValueMessage { order, decision }.to_json()
}

fn envelope(body: &str) -> String {
    json!({"Type": "Notification", "MessageId": "5f1c", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
           "Message": body, "Timestamp": "2026-11-24T10:15:01.000Z", "SignatureVersion": "1"})
    .to_string()
}

/// An SQS event as Lambda delivers it (parsed from its JSON, as the runtime does).
fn event(records: &[(&str, Option<&str>)]) -> SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| {
            let mut r = json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795515301000"},
                "messageAttributes": {"revision": {"stringValue": "sha256:abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"}},
                "md5OfBody": "x", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orderflow-dev-high-value", "awsRegion": "us-east-1"
            });
            if let Some(b) = body {
                r["body"] = json!(b);
            }
            r
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(r: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn raw_and_enveloped_bodies_are_stored_and_only_bad_records_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let c = consumer(dir.path(), None);
    let raw = message("ord-1");
    let wrapped = envelope(&message("ord-2"));
    let confirm = json!({"Type": "SubscriptionConfirmation", "Message": "confirm"}).to_string();
    let r = c
        .handle(event(&[
            ("m1", Some(&raw)),
            ("m2", Some(&wrapped)),
            ("m3", Some("{not json")),
            ("m4", None),
            ("m5", Some(&confirm)),
        ]))
        .await
        .unwrap();
    assert_eq!(failures(&r), ["m3", "m4", "m5"]);
    let serialized = serde_json::to_value(&r).unwrap();
    assert_eq!(
        serialized["batchItemFailures"][0],
        json!({"itemIdentifier": "m3"}),
        "the shape Lambda reads"
    );

    let items = c.store.items.lock().unwrap();
    assert_eq!(items.len(), 2);
    for item in items.values() {
        assert_eq!(
            item.get("Currency"),
            Some(&ItemValue::Text("EUR".into())),
            "normalized"
        );
        assert_eq!(
            item.get("DisplayTotal"),
            Some(&ItemValue::Text("1250.00 EUR".into()))
        );
        let ItemValue::TextMap(attrs) = item.get("Attributes").unwrap() else {
            panic!("a map")
        };
        assert_eq!(attrs["email"], "a***@example.com", "redacted");
    }
}

#[tokio::test]
async fn a_message_delivered_twice_leaves_one_item() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let c = consumer(dir.path(), None);
    let body = message("ord-1");
    let e = event(&[("m1", Some(&body)), ("m1-again", Some(&body))]);
    assert!(
        c.handle(e.clone())
            .await
            .unwrap()
            .batch_item_failures
            .is_empty()
    );
    assert!(c.handle(e).await.unwrap().batch_item_failures.is_empty());
    assert_eq!(c.store.items.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_write_returns_its_record_not_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let c = consumer(dir.path(), Some("ord-2"));
    let (a, b, d) = (message("ord-1"), message("ord-2"), message("ord-3"));
    let (r, results) = c
        .handle_with_results(event(&[
            ("m1", Some(&a)),
            ("m2", Some(&b)),
            ("m3", Some(&d)),
        ]))
        .await
        .unwrap();
    assert_eq!(failures(&r), ["m2"]);
    let failed = serde_json::to_value(&results[1]).unwrap();
    assert_eq!(
        (failed["status"].as_str(), failed["permanent"].as_bool()),
        (Some("failed"), Some(false)),
        "{failed}"
    );
    assert_eq!(c.store.items.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_whole_batch_fails_only_when_a_record_cannot_be_named_or_nothing_loads() {
    let dir = tempfile::tempdir().unwrap();
    let c = consumer(dir.path(), None);
    let body = message("ord-1");
    let e = c.handle(event(&[("m1", Some(&body))])).await.unwrap_err();
    assert!(matches!(e, HandlerError::Plugins(_)), "{e}");
    assert!(c.store.items.lock().unwrap().is_empty());

    lay_out(dir.path());
    let mut no_id = event(&[("m1", Some(&body)), ("m2", Some(&body))]);
    no_id.records[1].message_id = None;
    let e = c.handle(no_id).await.unwrap_err();
    assert!(matches!(e, HandlerError::NoMessageId { index: 1 }), "{e}");
    assert!(
        c.store.items.lock().unwrap().is_empty(),
        "nothing was written"
    );
}

#[tokio::test]
async fn an_empty_batch_is_answered_with_no_failures() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let r = consumer(dir.path(), None).handle(event(&[])).await.unwrap();
    assert!(r.batch_item_failures.is_empty());
}
