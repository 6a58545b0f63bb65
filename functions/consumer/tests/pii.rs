//! No personal data reaches the consumer's log on any error path:
//! messages carrying an e-mail address, a phone number and a card number
//! go through malformed bodies and envelopes, invalid orders, failing
//! transforms and a store whose error quotes the item; the function's JSON
//! log, at `debug`, holds none of them. (A test process of its own: it
//! installs a global logger.)

use aws_lambda_events::sqs::SqsEvent;
use orderflow_consumer::Consumer;
use orderflow_host::{Item, Manifest, PluginSpec, TransformChain};
use orderflow_pipeline::{ItemStore, StoreError};
use orderflow_test_support::logs::Captured;
use orderflow_test_support::manifests::{self, dir_cache, spec};
use orderflow_test_support::orders::order_with;
use orderflow_test_support::ports::MemoryStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const EMAIL: &str = "pii-ana@mail.test";
const PHONE: &str = "+49 151 5550123";
const CARD: &str = "4111111111111111";

/// What must not appear anywhere in the log.
const NEEDLES: [&str; 5] = ["pii-ana", "mail.test", "5550123", "4915155", "41111111"];

/// A store that refuses every write with a message quoting the item, as
/// a service's validation error may.
struct QuotingStore;

impl ItemStore for QuotingStore {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        Err(StoreError {
            message: format!("ValidationException: invalid item {item:?}"),
            retryable: false,
        })
    }
}

/// A message as the producer publishes it, with `order` patched.
fn message(order_id: &str, patch: Value) -> String {
    let mut order = order_with(json!({
        "order_id": order_id,
        "attributes": {"email": EMAIL, "phone": PHONE, "card": CARD},
    }));
    for (k, v) in patch.as_object().unwrap() {
        order[k] = v.clone();
    }
    json!({
        "order": order,
        "decision": {"revision": "sha256:abc", "high_value": true, "attributes": {"tier": EMAIL}, "reasons": [EMAIL]},
    })
    .to_string()
}

fn event(bodies: &[String]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m{i}"), "receiptHandle": format!("rh-{i}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "eventSource": "aws:sqs", "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn consumer<S: ItemStore>(
    transforms: Vec<PluginSpec>,
    store: S,
) -> (tempfile::TempDir, Consumer<S>) {
    let dir = tempfile::tempdir().unwrap();
    manifests::lay_out(
        dir.path(),
        &Manifest {
            rules: vec![],
            transforms,
            ..Default::default()
        },
    );
    let plugins: Arc<_> = Arc::new(dir_cache::<TransformChain>(
        dir.path(),
        Duration::from_secs(60),
    ));
    (dir, Consumer::new(plugins, store))
}

fn hostile(behaviour: &str) -> PluginSpec {
    spec("hostile-transform", json!({"behaviour": behaviour}))
}

#[tokio::test]
async fn no_error_path_logs_personal_data() {
    // SAFETY: set before any thread of this test process reads the environment.
    unsafe { std::env::set_var("RUST_LOG", "debug") };
    let logs = Captured::default();
    tracing::subscriber::set_global_default(orderflow_aws::telemetry::json_subscriber(
        logs.clone(),
    ))
    .unwrap();
    let examples = || {
        vec![
            spec("normalize", json!({})),
            spec("redact-pii", json!({"keys": ["email"]})),
        ]
    };
    let envelope = |kind: &str, message: &str| {
        json!({"Type": kind, "MessageId": "x", "Message": message}).to_string()
    };
    let mut bodies = vec![
        message("ord-good", json!({})),
        format!("{{not json {EMAIL}"),
        EMAIL.to_string(),
        envelope(EMAIL, "hello"),
        envelope("Notification", EMAIL),
        json!({"order": EMAIL, "decision": EMAIL}).to_string(),
    ];
    for field in [
        "customer_id",
        "created_at",
        "currency",
        "total_minor",
        "lines",
        "attributes",
    ] {
        for pii in [json!(EMAIL), json!(PHONE)] {
            bodies.push(message(&format!("ord-{field}"), json!({ field: pii })));
        }
    }
    let invalid = bodies.len() - 1;

    // Malformed and invalid messages; the good one stored.
    let (_d1, c) = consumer(examples(), MemoryStore::default());
    let r = c.handle(event(&bodies)).await.unwrap();
    assert_eq!(r.batch_item_failures.len(), invalid);
    assert_eq!(c.store.items.lock().unwrap().len(), 1);
    // A store whose error quotes the item.
    let (_d2, c) = consumer(examples(), QuotingStore);
    let r = c.handle(event(&bodies[..1])).await.unwrap();
    assert_eq!(r.batch_item_failures.len(), 1);
    // Transforms that fail and overflow.
    for behaviour in ["fail", "oversized", "loop"] {
        let (_d, c) = consumer(vec![hostile(behaviour)], MemoryStore::default());
        let r = c.handle(event(&bodies[..1])).await.unwrap();
        assert_eq!(r.batch_item_failures.len(), 1, "{behaviour}");
    }

    let text = logs.text();
    let lines = logs.json_lines();
    let count = |message: &str| {
        lines
            .iter()
            .filter(|l| l["message"].as_str().unwrap_or_default().contains(message))
            .count()
    };
    // Every path was taken, and logged.
    assert!(count("malformed message") >= invalid, "{text}");
    assert!(
        count("item stored") == 1 && count("store: ValidationException") >= 1,
        "{text}"
    );
    assert!(count("transform failed") >= 3, "{text}");
    assert!(
        count("record returned to the queue") >= invalid + 4,
        "{text}"
    );
    for needle in NEEDLES {
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
        assert!(hits.is_empty(), "{needle} is in the log: {hits:#?}");
    }
}
