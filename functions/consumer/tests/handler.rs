//! The consumer handler without Lambda or AWS: the example transforms from
//! a manifest in a directory, an in-memory store, and SQS events parsed
//! from the JSON Lambda delivers.

use aws_lambda_events::sqs::SqsEvent;
use orderflow_consumer::{Consumer, HandlerError};
use orderflow_host::item::Value as ItemValue;
use orderflow_host::{HighValueMessage, Manifest, Order, PublishedDecision, TransformChain};
use orderflow_pipeline::reload::PluginCache;
use orderflow_test_support::manifests::{self, dir_cache, spec};
use orderflow_test_support::orders::order_with;
use orderflow_test_support::ports::{MemoryStore, Throttle, ThrottledStore};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Both example transforms, redacting emails, laid out in `dir`.
fn lay_out(dir: &Path) {
    let transforms = vec![
        spec("normalize", json!({})),
        spec("redact-pii", json!({"keys": ["email"]})),
    ];
    manifests::lay_out(
        dir,
        &Manifest {
            rules: vec![],
            transforms,
            ..Default::default()
        },
    );
}

/// An in-memory store; `throttled` makes every write of that order fail retryably.
/// A consumer over a manifest laid out in a directory of its own (kept
/// alive by the returned guard).
fn consumer(throttled: Option<&str>) -> (tempfile::TempDir, Consumer<ThrottledStore<MemoryStore>>) {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let plugins: PluginCache<TransformChain> = dir_cache(dir.path(), Duration::from_secs(60));
    let throttle = match throttled {
        Some(order_id) => Throttle::Order(order_id.into()),
        None => Throttle::Never,
    };
    let consumer = Consumer::new(
        Arc::new(plugins),
        ThrottledStore::new(MemoryStore::default(), throttle),
    );
    (dir, consumer)
}

/// A message body as the producer publishes it (a lowercase currency for
/// normalize to fix).
fn message(order_id: &str) -> String {
    let order = order_with(json!({"order_id": order_id, "currency": "eur"}));
    let order = Order::from_json(&order.to_string()).unwrap();
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
    let (_dir, c) = consumer(None);
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

    let items = c.store.inner.items.lock().unwrap();
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
    let (_dir, c) = consumer(None);
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
    assert_eq!(c.store.inner.items.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_write_returns_its_record_not_the_batch() {
    let (_dir, c) = consumer(Some("ord-2"));
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
    assert_eq!(c.store.inner.items.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_whole_batch_fails_only_when_a_record_cannot_be_named_or_nothing_loads() {
    let (dir, c) = consumer(None);
    // Nothing to load yet.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let body = message("ord-1");
    let e = c.handle(event(&[("m1", Some(&body))])).await.unwrap_err();
    assert!(matches!(e, HandlerError::Plugins(_)), "{e}");
    assert!(c.store.inner.items.lock().unwrap().is_empty());

    lay_out(dir.path());
    let mut no_id = event(&[("m1", Some(&body)), ("m2", Some(&body))]);
    no_id.records[1].message_id = None;
    let e = c.handle(no_id).await.unwrap_err();
    assert!(matches!(e, HandlerError::NoMessageId { index: 1 }), "{e}");
    assert!(
        c.store.inner.items.lock().unwrap().is_empty(),
        "nothing was written"
    );
}

#[tokio::test]
async fn an_empty_batch_is_answered_with_no_failures() {
    let (_dir, c) = consumer(None);
    let r = c.handle(event(&[])).await.unwrap();
    assert!(r.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dead_letter_queue_at_once_with_its_reason() {
    use orderflow_test_support::ports::MemoryDeadLetters;
    let (_dir, c) = consumer(None);
    let c = c.with_dead_letters(MemoryDeadLetters::default());
    let good = message("ord-1");
    let bad_order = message("ord-2")
        .replace("\"EUR\"", "\"XXX\"")
        .replace("\"eur\"", "\"xx\"");
    let r = c
        .handle(event(&[
            ("m1", Some(&good)),
            ("m2", Some("{not json")),
            ("m3", Some(&bad_order)),
        ]))
        .await
        .unwrap();
    assert!(
        failures(&r).is_empty(),
        "nothing is retried: {:?}",
        failures(&r)
    );
    let letters = c.dead_letters.letters.lock().unwrap().clone();
    let by_id: Vec<(&str, Option<&str>, &str)> = letters
        .iter()
        .map(|l| {
            (
                l.message_id.as_str(),
                l.order_id.as_deref(),
                l.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(by_id.len(), 2, "{by_id:?}");
    assert_eq!(by_id[0].0, "m2");
    assert!(by_id[0].2.starts_with("malformed message"), "{by_id:?}");
    assert_eq!(letters[0].body, "{not json", "the body as it arrived");
    assert_eq!(by_id[1].0, "m3");
    assert!(by_id[1].2.contains("currency"), "{by_id:?}");
    assert_eq!(c.store.inner.items.lock().unwrap().len(), 1);

    // A retryable failure is not dead-lettered; a dead-letter queue that
    // refuses sends the permanent one back to the queue instead.
    let (_dir, c) = consumer(Some("ord-1"));
    let c = c.with_dead_letters(MemoryDeadLetters::refusing());
    let r = c
        .handle(event(&[("m1", Some(&good)), ("m2", Some("{not json"))]))
        .await
        .unwrap();
    assert_eq!(failures(&r), ["m1", "m2"]);
}
