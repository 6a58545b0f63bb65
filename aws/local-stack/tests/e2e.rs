//! The AWS pipeline end to end on a moto server, through the real handlers
//! and the real SDK clients: plugins published to S3, the producer handler
//! publishing to SNS, SNS delivering raw to SQS, an emulated event source
//! mapping invoking the consumer handler, items in DynamoDB.
//!
//! Each test starts its own moto server (about a second) and creates the
//! stack from template.yaml on it with `deploy/local_stack.py` (a few
//! seconds), under a stage name of its own.

use aws_lambda_events::sqs::SqsEvent;
use orderflow_aws::{DynamoStore, SnsPublisher};
use orderflow_consumer::Consumer;
use orderflow_host::order::parse_orders;
use orderflow_host::{Manifest, Runtime};
use orderflow_local_stack::{Drain, Stack, StackSettings, build_plugins, unique_stage};
use orderflow_pipeline::{ItemStore, Publisher};
use orderflow_producer::Producer;
use orderflow_test_support::events::{http_body, http_post};
use orderflow_test_support::manifests;
use orderflow_test_support::moto::MotoServer;
use orderflow_test_support::orders::priced;
use orderflow_test_support::ports::{FlakyPublisher, Throttle, ThrottledStore};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const DRAIN: Duration = Duration::from_secs(90);

fn root() -> PathBuf {
    orderflow_plugin_build::workspace_root()
}

/// The example manifest (plugins/manifest.json), its plugins built once.
fn example() -> &'static (Manifest, PathBuf) {
    static EXAMPLE: OnceLock<(Manifest, PathBuf)> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let m: Manifest =
            serde_json::from_slice(&std::fs::read(root().join("plugins/manifest.json")).unwrap())
                .unwrap();
        let dir = build_plugins(&m).unwrap();
        (m, dir)
    })
}

/// The example manifest with the threshold rule's EUR minimum changed.
fn with_eur_minimum(minimum: u64) -> Manifest {
    let mut m = example().0.clone();
    m.rules[0].config["minimum_minor"]["EUR"] = json!(minimum);
    m
}

fn sample_orders() -> Vec<Value> {
    std::fs::read_to_string(root().join("samples/orders.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The sample order, from a customer no VIP rule names.
fn order(id: &str, currency: &str, total: u64) -> Value {
    let mut o = priced(id, total);
    o["currency"] = json!(currency);
    o["customer_id"] = json!("cust-500");
    o
}

fn runtime() -> Arc<Runtime> {
    manifests::runtime(32)
}

struct Env {
    _moto: MotoServer,
    stack: Stack,
    runtime: Arc<Runtime>,
}

async fn env(settings: impl FnOnce(&mut StackSettings)) -> Env {
    let moto = MotoServer::start().unwrap();
    let mut s = StackSettings::new(unique_stage("e2e"));
    settings(&mut s);
    let stack = Stack::create(&moto.sdk_config().await, s).await.unwrap();
    Env {
        _moto: moto,
        stack,
        runtime: runtime(),
    }
}

impl Env {
    async fn publish(&self, source: &Manifest) -> String {
        self.stack
            .plugin_store()
            .publish(source, &example().1, Some(&self.runtime))
            .await
            .unwrap()
            .revision
    }

    fn producer(&self) -> Producer<SnsPublisher> {
        self.stack.producer(self.runtime.clone())
    }

    fn consumer(&self) -> Consumer<DynamoStore> {
        self.stack.consumer(self.runtime.clone())
    }

    /// Runs the event source mapping until the queue is empty.
    async fn drain(&self, consumer: &Consumer<impl ItemStore>) -> Drain {
        self.stack
            .event_source()
            .drain(consumer, DRAIN)
            .await
            .unwrap()
    }
}

/// A direct invocation, answered as Lambda would return it.
async fn invoke(producer: &Producer<impl Publisher>, event: Value) -> Value {
    producer.handle(event).await.unwrap()
}

fn published(r: &Value) -> Vec<String> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] == "published")
        .map(|x| x["order_id"].as_str().unwrap().to_string())
        .collect()
}

fn count(r: &Value, status: &str) -> u64 {
    r["summary"][status].as_u64().unwrap()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["OrderId"].as_str().unwrap().to_string())
        .collect()
}

/// What the embedded (in-process) pipeline stores for the same orders and
/// manifest: the AWS pipeline must store the same items.
async fn embedded_items(source: &Manifest, orders: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = manifests::lay_out(dir.path(), source);
    let loaded = orderflow_host::read_manifest(&path).unwrap();
    let rt = runtime();
    let wasm = orderflow_host::wasm_from_dir(dir.path());
    let rules = orderflow_host::RuleSet::load(&rt, &loaded, &wasm).unwrap();
    let transforms = orderflow_host::TransformChain::load(&rt, &loaded, &wasm).unwrap();
    let text: String = orders.iter().map(|o| o.to_string() + "\n").collect();
    let store = dir.path().join("items");
    orderflow_pipeline::embedded::run(&rules, &transforms, &store, parse_orders(&text)).await;
    let mut items = orderflow_pipeline::embedded::FileStore::new(&store)
        .items()
        .unwrap();
    items.sort_by_key(|i| i["OrderId"].as_str().unwrap().to_string());
    items
}

fn without_revision(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            let mut i = i.clone();
            i.as_object_mut().unwrap().remove("RuleSetRevision");
            i
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_value_orders_land_in_the_table_transformed_once_each() {
    let env = env(|_| {}).await;
    let revision = env.publish(&example().0).await;
    let producer = env.producer();
    let consumer = env.consumer();

    // A batch by direct invocation, one order over the HTTP API.
    let orders = sample_orders();
    let (http_order, batch) = orders.split_last().unwrap();
    let response = invoke(&producer, json!({ "orders": batch })).await;
    assert_eq!(response["revision"], json!(revision));
    assert_eq!(response["results"].as_array().unwrap().len(), batch.len());
    assert_eq!(
        count(&response, "failed") + count(&response, "rejected"),
        0,
        "{}",
        response["summary"]
    );
    let mut expected = published(&response);
    assert!(
        !expected.is_empty() && count(&response, "not_high_value") > 0,
        "{}",
        response["summary"]
    );

    let http = producer
        .handle(http_post(&http_order.to_string()))
        .await
        .unwrap();
    assert_eq!(http["statusCode"], 200, "{http}");
    expected.extend(published(&http_body(&http)));
    expected.sort();

    let drain = env.drain(&consumer).await;
    assert_eq!(
        (drain.received, drain.deleted, drain.failed),
        (expected.len(), expected.len(), 0)
    );
    let items = env.stack.items().await.unwrap();
    assert_eq!(ids(&items), expected, "exactly the high-value orders");
    let sent: HashMap<&str, &Value> = orders
        .iter()
        .map(|o| (o["order_id"].as_str().unwrap(), &o["attributes"]))
        .collect();
    let mut redacted = 0;
    for item in &items {
        assert_eq!(item["RuleSetRevision"], json!(revision));
        assert_eq!(item["HighValue"], json!(true));
        assert!(
            item["DisplayTotal"].is_string() && item["ItemCount"].is_i64(),
            "normalize ran: {item}"
        );
        // Each PII attribute the order was sent with is stored, redacted.
        let attrs = item["Attributes"].as_object().unwrap();
        let sent = sent[item["OrderId"].as_str().unwrap()];
        for key in ["email", "phone"]
            .into_iter()
            .filter(|k| sent.get(k).is_some())
        {
            let stored = attrs
                .get(key)
                .unwrap_or_else(|| panic!("{key} was sent and is stored: {item}"));
            assert!(
                stored.as_str().unwrap().contains("***") && *stored != sent[key],
                "redact-pii ran: {item}"
            );
            redacted += 1;
        }
    }
    assert!(redacted > 0, "the sample orders carry PII to redact");
    // The same items as the in-process pipeline stores for the same input.
    let embedded = embedded_items(&example().0, &orders).await;
    assert_eq!(without_revision(&items), without_revision(&embedded));

    // Delivered twice: the event source mapping invokes the consumer, the
    // delete is lost, the message comes back after its visibility timeout.
    let again = invoke(&producer, json!({ "orders": batch })).await;
    assert_eq!(published(&again).len(), published(&response).len());
    let mapping = env.stack.event_source();
    let event: SqsEvent = mapping
        .receive(1)
        .await
        .unwrap()
        .expect("messages are waiting");
    // Raw message delivery: the body is the producer's message, its
    // attributes are SQS message attributes.
    let record = &event.records[0];
    assert!(
        record.body.as_deref().unwrap().starts_with("{\"order\":"),
        "{:?}",
        record.body
    );
    assert_eq!(
        record.message_attributes["revision"]
            .string_value
            .as_deref(),
        Some(revision.as_str())
    );
    let first = consumer.handle(event.clone()).await.unwrap();
    assert!(first.batch_item_failures.is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let drain = mapping.drain(&consumer, DRAIN).await.unwrap();
    assert_eq!(
        drain.received,
        published(&again).len(),
        "every message once more, the redelivered ones included"
    );
    let after = env.stack.items().await.unwrap();
    assert_eq!(after, items, "redelivery and republishing change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_end_in_the_dead_letter_queue_after_the_receive_limit() {
    let env = env(|_| {}).await;
    // The template's MaxReceiveCount, as the queue's RedrivePolicy has it.
    let receives = env.stack.max_receive_count as usize;
    assert!(receives >= 2, "{receives}");
    env.publish(&example().0).await;
    let producer = env.producer();
    let consumer = env.consumer();

    let good = invoke(&producer, json!(order("ord-good", "EUR", 500_000))).await;
    assert_eq!(count(&good, "published"), 1);
    env.stack.send_raw("this is not JSON").await.unwrap();
    let envelope = json!({"Type": "Notification", "MessageId": "m", "TopicArn": env.stack.topic_arn,
                          "Message": json!({"order": {"order_id": "ord-bad"}, "decision": {}}).to_string()});
    env.stack.send_raw(&envelope.to_string()).await.unwrap();

    let drain = env.drain(&consumer).await;
    assert!(
        drain.invocation_errors.is_empty(),
        "{:?}",
        drain.invocation_errors
    );
    assert_eq!(drain.deleted, 1, "only the good message is deleted");
    assert_eq!(
        drain.failed,
        2 * receives,
        "each bad message is reported on each of its {receives} receives"
    );
    let reasons: HashSet<String> = drain
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            orderflow_pipeline::consumer::ConsumerOutcome::Failed {
                reason,
                permanent: true,
            } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.starts_with("malformed message")),
        "{reasons:?}"
    );

    assert_eq!(ids(&env.stack.items().await.unwrap()), ["ord-good"]);
    let mut dead = env.stack.dead_letters().await.unwrap();
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0], "this is not JSON");
    assert!(
        dead[1].contains("ord-bad"),
        "the SNS-enveloped one: {}",
        dead[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_producer_picks_up_a_rule_change_and_survives_a_bad_one() {
    // Deployed to check the manifest on every event (ORDERFLOW_REFRESH_SECONDS=0).
    let env = env(|s| {
        s.parameter("RefreshSeconds", "0");
    })
    .await;
    assert_eq!(env.stack.refresh, Duration::ZERO);
    let first = env.publish(&with_eur_minimum(100_000)).await;
    let producer = env.producer();
    let consumer = env.consumer();
    let mid = |id: &str| json!(order(id, "EUR", 50_000));

    let r = invoke(&producer, mid("ord-a")).await;
    assert_eq!(
        (r["revision"].as_str().unwrap(), count(&r, "not_high_value")),
        (first.as_str(), 1)
    );

    // A new minimum, published while the producer keeps running.
    let second = env.publish(&with_eur_minimum(40_000)).await;
    let r = invoke(&producer, mid("ord-b")).await;
    assert_eq!(
        (r["revision"].as_str().unwrap(), count(&r, "published")),
        (second.as_str(), 1)
    );

    // Bad manifests: each leaves the last good rule set in place.
    let unhashed: Value =
        serde_json::from_slice(&std::fs::read(root().join("plugins/manifest.json")).unwrap())
            .unwrap();
    let mut wrong_hash = serde_json::to_value(&status_manifest(&env).await).unwrap();
    wrong_hash["rules"][0]["sha256"] = json!("0".repeat(64));
    wrong_hash["rules"][0]["config"]["minimum_minor"]["EUR"] = json!(1);
    let mut missing = serde_json::to_value(&status_manifest(&env).await).unwrap();
    missing["rules"][0]["wasm"] = json!("threshold-00000000.wasm");
    missing["rules"][0]["sha256"] = json!("1".repeat(64));
    let mut refused = serde_json::to_value(&status_manifest(&env).await).unwrap();
    refused["rules"][0]["config"] = json!({"minimum_minor": {}});
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("wrong sha256", wrong_hash.to_string().into_bytes()),
        ("missing object", missing.to_string().into_bytes()),
        ("configuration refused", refused.to_string().into_bytes()),
        ("no hashes", unhashed.to_string().into_bytes()),
        ("not JSON", b"<html>oops</html>".to_vec()),
    ];
    for (what, bytes) in bad {
        env.stack.put_manifest_raw(bytes).await.unwrap();
        let r = invoke(&producer, mid(&format!("ord-{}", what.replace(' ', "-")))).await;
        assert_eq!(
            r["revision"],
            json!(second),
            "{what}: the last good rule set stays"
        );
        assert_eq!(count(&r, "published"), 1, "{what}: and decides as before");
        assert!(
            producer.plugins.status().await.last_error.is_some(),
            "{what}: the failure is reported"
        );
    }

    // Recovery: a good publish is picked up again.
    let third = env.publish(&with_eur_minimum(60_000)).await;
    let r = invoke(&producer, mid("ord-c")).await;
    assert_eq!(
        (r["revision"].as_str().unwrap(), count(&r, "not_high_value")),
        (third.as_str(), 1)
    );
    assert!(producer.plugins.status().await.last_error.is_none());

    // Every published order carries the revision that decided it.
    env.drain(&consumer).await;
    let items = env.stack.items().await.unwrap();
    assert_eq!(ids(&items).len(), 6, "{:?}", ids(&items));
    assert!(items.iter().all(|i| i["RuleSetRevision"] == json!(second)));
}

async fn status_manifest(env: &Env) -> Manifest {
    let key = env.stack.manifest_key.clone();
    let out = env
        .stack
        .s3
        .get_object()
        .bucket(&env.stack.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&out.body.collect().await.unwrap().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_failures_at_the_client_are_retried_and_the_rest_reported() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    // The whole first call fails, the first attempt of every other entry
    // fails retryably, and one order for good (a sender fault).
    let flaky = FlakyPublisher::new(env.stack.publisher(), |i, _| i % 2 == 0)
        .fail_first_call()
        .poison("ord-poison");
    let producer = Producer::new(env.stack.plugin_cache(env.runtime.clone()), flaky);
    let mut orders: Vec<Value> = (0..14)
        .map(|i| order(&format!("ord-{i:02}"), "EUR", 200_000 + i))
        .collect();
    orders.push(order("ord-poison", "EUR", 300_000));
    let r = invoke(&producer, json!({ "orders": orders })).await;
    assert_eq!(
        (count(&r, "published"), count(&r, "failed")),
        (14, 1),
        "{}",
        r["results"]
    );
    let failed = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == "failed")
        .unwrap();
    assert_eq!(failed["order_id"], "ord-poison");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("InvalidParameter"),
        "{failed}"
    );
    let seen = producer.publisher.attempts.lock().unwrap().clone();
    assert!(
        seen.values().any(|&n| n >= 2),
        "some entries were retried: {seen:?}"
    );

    // Over HTTP the caller learns to retry: 503, with every order's result.
    let http = producer
        .handle(http_post(
            &json!({"orders": [order("ord-poison", "EUR", 300_000)]}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(http["statusCode"], 503);

    // Each message reached the queue exactly once despite the retries.
    let drain = env.drain(&env.consumer()).await;
    assert_eq!(drain.received, 14);
    let items = env.stack.items().await.unwrap();
    assert_eq!(
        ids(&items),
        (0..14).map(|i| format!("ord-{i:02}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_write_returns_the_record_and_succeeds_on_redelivery() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    let producer = env.producer();
    let orders: Vec<Value> = (0..12)
        .map(|i| order(&format!("ord-{i:02}"), "EUR", 150_000))
        .collect();
    assert_eq!(
        count(
            &invoke(&producer, json!({ "orders": orders })).await,
            "published"
        ),
        12
    );

    // Every item's first write is refused, as DynamoDB does under a burst.
    let store = ThrottledStore::new(env.stack.store(), Throttle::FirstWrite);
    let consumer = Consumer::new(env.stack.plugin_cache(env.runtime.clone()), store);
    let drain = env.drain(&consumer).await;
    assert_eq!(
        drain.failed, 12,
        "every first write was refused and reported"
    );
    assert_eq!(drain.deleted, 12);
    let retryable = drain
        .results
        .iter()
        .filter(|r| {
            matches!(
                &r.outcome,
                orderflow_pipeline::consumer::ConsumerOutcome::Failed {
                    permanent: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(retryable, 12);
    assert_eq!(env.stack.items().await.unwrap().len(), 12);
    assert!(env.stack.dead_letters().await.unwrap().is_empty());
}
