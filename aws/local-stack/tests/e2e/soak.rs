//! A soak whose counts balance: generated orders (orderflow-workload, a
//! fixed seed), some made invalid, pushed through producer -> SNS -> SQS ->
//! consumer -> DynamoDB with faults below the SDK drawn from a fixed seed
//! (throttling, 503s, failed and refused batch entries, unprocessed items,
//! slow or unavailable S3) and consumers killed mid-batch; then a bad rule
//! change poisons some orders into the DLQ, `dlq list` shows each with its
//! reason, the fix is published and `dlq redrive` puts them back.
//!
//! `ORDERFLOW_SOAK_ORDERS` sets its size (default 1,000; README, "Soak").

use crate::env::*;
use crate::sdk_faults::{faulty_dynamodb, faulty_s3, faulty_sns};
use orderflow_aws::dlq::{DeadLetterQueue, Reason, RedriveMethod};
use orderflow_aws::{DynamoStore, S3Source, clients};
use orderflow_consumer::Consumer;
use orderflow_host::item::Item;
use orderflow_pipeline::reload::PluginCache;
use orderflow_pipeline::{DeadLetters, ItemStore, StoreError};
use orderflow_producer::Producer;
use orderflow_test_support::faults::{Fault, Faults};
use orderflow_workload::Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SEED: u64 = 20_261_201;
/// Orders per producer invocation.
const CHUNK: usize = 100;
/// Times the driver sends an order answered `failed` again.
const RESENDS: usize = 6;
/// Orders produced before the consumers drain the queue: as the event
/// source mapping does, they keep up with the producer, so the queue never
/// holds the whole day (moto's SQS walks every message in the queue on
/// each receive and delete, so a day-long queue made a long soak quadratic).
const ROUND: usize = 2_000;

fn size() -> usize {
    std::env::var("ORDERFLOW_SOAK_ORDERS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000)
}

/// Records every write that the store confirmed, and any second write of
/// a key with other content.
struct Recording<S> {
    inner: S,
    written: Mutex<HashMap<(String, String), Value>>,
    conflicts: Mutex<Vec<String>>,
}

impl<S: ItemStore> Recording<S> {
    fn note(&self, item: &Item) {
        let key = (item.order_id.clone(), item.timestamp.clone());
        let content = item.to_json();
        let mut written = self.written.lock().unwrap();
        if let Some(before) = written.insert(key, content.clone())
            && before != content
        {
            self.conflicts.lock().unwrap().push(item.order_id.clone());
        }
    }
}

impl<S: ItemStore> ItemStore for Recording<S> {
    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        let r = self.inner.put(item).await;
        if r.is_ok() {
            self.note(item);
        }
        r
    }

    async fn put_all(&self, items: &[&Item]) -> Vec<Result<(), StoreError>> {
        let results = self.inner.put_all(items).await;
        for (item, r) in items.iter().zip(&results) {
            if r.is_ok() {
                self.note(item);
            }
        }
        results
    }
}

/// The orders: generated, every 40th made invalid (a currency that is no
/// ISO 4217 code).
fn orders(n: usize) -> (Vec<Value>, BTreeSet<String>) {
    let mut rng = Rng::new(SEED);
    let mut invalid = BTreeSet::new();
    let orders = (0..n as u64)
        .map(|i| {
            let mut o = orderflow_workload::order(&mut rng, i);
            if i % 40 == 7 {
                o["currency"] = json!("euro");
                invalid.insert(o["order_id"].as_str().unwrap().to_string());
            }
            o
        })
        .collect();
    (orders, invalid)
}

#[derive(Default, Debug)]
struct Answers {
    /// Each order's final status.
    status: BTreeMap<String, String>,
    resent: usize,
    /// Invocations that failed as a whole.
    invocation_errors: usize,
}

/// Sends `orders` in invocations of [`CHUNK`], and those answered `failed`
/// again, up to [`RESENDS`] times.
async fn produce<P: orderflow_pipeline::Publisher>(
    producer: &Producer<P>,
    orders: Vec<Value>,
    answers: &mut Answers,
) {
    let mut todo = orders;
    for round in 0..=RESENDS {
        let mut failed = Vec::new();
        for chunk in todo.chunks(CHUNK) {
            // A cold producer with no plugin set yet fails the whole
            // invocation (S3 unavailable): its caller sends it again.
            let Ok(r) = producer.handle(json!({ "orders": chunk })).await else {
                answers.invocation_errors += 1;
                for o in chunk {
                    let id = o["order_id"].as_str().unwrap().to_string();
                    answers.status.insert(id, "failed".into());
                    failed.push(o.clone());
                }
                continue;
            };
            for (o, x) in chunk.iter().zip(r["results"].as_array().unwrap()) {
                let id = x["order_id"].as_str().unwrap().to_string();
                assert_eq!(o["order_id"].as_str(), Some(id.as_str()));
                let status = x["status"].as_str().unwrap().to_string();
                if status == "failed" && round < RESENDS {
                    failed.push(o.clone());
                }
                answers.status.insert(id, status);
            }
        }
        if failed.is_empty() {
            return;
        }
        answers.resent += failed.len();
        todo = failed;
    }
}

/// Lambda's event source mapping, until the queue is empty; with `kills`,
/// a consumer dies mid-batch now and then (1 in 10 invocations of 10 records, cut off
/// within 50 ms, about the time one takes). Not while orders are dead-lettered: a consumer killed
/// after its DLQ send and before its delete sends the order there twice
/// (SQS is at-least-once), and the DLQ count would no longer balance.
async fn consume<S: ItemStore, D: DeadLetters>(
    env: &Env,
    consumer: &Consumer<S, D>,
    rng: &mut Rng,
    kills: bool,
) -> (usize, usize) {
    let mut mapping = env.stack.event_source();
    // SQS's own default for an event source mapping: more, smaller invocations.
    mapping.batch_size = 10;
    let (mut received, mut killed) = (0, 0);
    let started = Instant::now();
    loop {
        let Some(event) = mapping.receive(0).await.unwrap() else {
            if mapping.depth().await.unwrap() == (0, 0) {
                return (received, killed);
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "the queue drains"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        received += event.records.len();
        let handled = consumer.handle_with_results(event.clone());
        let handled = match kills && rng.chance(10) {
            true => {
                match tokio::time::timeout(Duration::from_millis(rng.below(50)), handled).await {
                    Ok(h) => h,
                    Err(_) => {
                        killed += 1;
                        continue;
                    }
                }
            }
            false => handled.await,
        };
        // A cold consumer with no plugin set yet fails the invocation (S3
        // unavailable): every record comes back after the visibility timeout.
        let Ok((response, _)) = handled else {
            killed += 1;
            continue;
        };
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        mapping.delete_succeeded(&event, &failed).await.unwrap();
    }
}

fn in_status(answers: &Answers, status: &str) -> BTreeSet<String> {
    answers
        .status
        .iter()
        .filter(|(_, s)| *s == status)
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_with_faults_balances() {
    let n = size();
    let started = Instant::now();
    let mut env = env(|s| {
        s.parameter("RefreshSeconds", "0");
    })
    .await;
    env.publish(&example().0).await;

    let aws_faults = Faults::seeded(SEED)
        .rate(Fault::Throttled, 0.05)
        .rate(Fault::Unavailable, 0.03)
        .rate(Fault::EntryFailed, 0.05)
        .rate(Fault::EntryRefused, 0.03)
        .rate(Fault::Unprocessed, 0.05)
        .only(|c| c.action == "PublishBatch" || c.action == "BatchWriteItem")
        .shared();
    let s3_faults = Faults::seeded(SEED + 1)
        .rate(Fault::Unavailable, 0.05)
        .rate(Fault::Slow, 0.05)
        .slow_for(Duration::from_millis(50))
        .only(|c| c.action == "GetObject")
        .shared();
    env.stack.sns = faulty_sns(&aws_faults, &env.stack.sns);
    let s3 = faulty_s3(&s3_faults, &clients::s3(&env.stack.sdk));
    let source = S3Source::new(s3, env.stack.plugin_location());
    let rules = PluginCache::new(source.clone(), env.runtime.clone(), Duration::ZERO);
    let transforms = PluginCache::new(source, env.runtime.clone(), Duration::ZERO);
    let producer = Producer::new(Arc::new(rules), env.stack.publisher());
    let store = Recording {
        inner: DynamoStore::new(
            faulty_dynamodb(&aws_faults, &env.stack.dynamodb),
            &env.stack.table,
        ),
        written: Mutex::default(),
        conflicts: Mutex::default(),
    };
    let dlq_sender = orderflow_aws::SqsDeadLetters::new(env.stack.sqs.clone(), &env.stack.dlq_url);
    let consumer = Consumer::new(Arc::new(transforms), store).with_dead_letters(dlq_sender);
    let mut rng = Rng::new(SEED + 2);

    // The day's orders, under faults, in rounds.
    let (generated, invalid) = orders(n);
    let mut answers = Answers::default();
    let (mut received, mut killed) = (0, 0);
    let (mut producing, mut consuming) = (Duration::ZERO, Duration::ZERO);
    for round in generated.chunks(ROUND) {
        let t = Instant::now();
        produce(&producer, round.to_vec(), &mut answers).await;
        producing += t.elapsed();
        let t = Instant::now();
        let (r, k) = consume(&env, &consumer, &mut rng, true).await;
        consuming += t.elapsed();
        (received, killed) = (received + r, killed + k);
    }
    println!(
        "soak: {n} orders produced in {:.1} s and consumed in {:.1} s, in rounds of {ROUND}",
        producing.as_secs_f64(),
        consuming.as_secs_f64()
    );

    // A bad rule change: normalize may answer only 64 bytes, so every order
    // it sees is a permanent failure, dead-lettered at once with its reason.
    s3_faults.set_enabled(false);
    let mut broken = example().0.clone();
    broken.transforms[0].limits.max_output_bytes = Some(64);
    env.publish(&broken).await;
    let poison: Vec<Value> = (0..(n / 100).max(5))
        .map(|i| order(&format!("poison-{i:05}"), "EUR", 500_000 + i as u64))
        .collect();
    let poison_ids: BTreeSet<String> = poison
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_string())
        .collect();
    produce(&producer, poison, &mut answers).await;
    let (r, k) = consume(&env, &consumer, &mut rng, false).await;
    (received, killed) = (received + r, killed + k);

    let published = in_status(&answers, "published");
    let (not_high_value, rejected, failed) = (
        in_status(&answers, "not_high_value"),
        in_status(&answers, "rejected"),
        in_status(&answers, "failed"),
    );
    let items = env.stack.items().await.unwrap();
    let dlq = DeadLetterQueue::new(env.stack.sqs.clone(), &env.stack.dlq_url);
    let listing = dlq.list(n + 100).await.unwrap();
    let stored: BTreeSet<String> = ids(&items).into_iter().collect();
    let dead: BTreeSet<String> = listing
        .messages
        .iter()
        .filter_map(|m| m.order_id.clone())
        .collect();
    let orders_in = n + poison_ids.len();
    println!(
        "soak: {orders_in} orders in ({} invalid, {} poison): {} published, {} not high-value, \
         {} rejected, {} failed; {} re-sent by the driver ({} failed invocations)",
        invalid.len(),
        poison_ids.len(),
        published.len(),
        not_high_value.len(),
        rejected.len(),
        failed.len(),
        answers.resent,
        answers.invocation_errors
    );
    println!(
        "soak: {} published = {} items + {} in the DLQ; {received} received, {killed} consumer invocations killed mid-batch or failed",
        published.len(),
        items.len(),
        listing.messages.len()
    );
    println!(
        "soak: faults injected (SNS, DynamoDB): {:?}",
        aws_faults.injected()
    );
    println!("soak: faults injected (S3): {:?}", s3_faults.injected());

    // orders in = published + not high-value + rejected + failed: one final answer each.
    assert_eq!(answers.status.len(), orders_in);
    assert_eq!(
        published.len() + not_high_value.len() + rejected.len() + failed.len(),
        orders_in
    );
    assert!(
        invalid.is_subset(&rejected),
        "every invalid order is rejected"
    );
    assert!(poison_ids.is_subset(&published));
    // messages published = items in the table + messages in the DLQ.
    assert_eq!(items.len(), stored.len(), "one item per order");
    assert_eq!(published.len(), items.len() + listing.messages.len());
    assert!(stored.is_disjoint(&dead));
    assert_eq!(
        stored.union(&dead).cloned().collect::<BTreeSet<_>>(),
        published,
        "no order lost"
    );
    assert_eq!(
        dead, poison_ids,
        "the poisoned orders, and only those, are dead-lettered"
    );
    for m in &listing.messages {
        let Reason::Recorded { text } = &m.reason else {
            panic!("each dead letter says why: {m:?}");
        };
        assert!(text.contains("normalize") && text.contains("64"), "{text}");
    }
    for kind in [Fault::Throttled, Fault::EntryFailed, Fault::Unprocessed] {
        assert!(aws_faults.count(kind) > 0, "{kind:?} was injected");
    }

    // The fix, then the redrive: the table holds those items too.
    env.publish(&example().0).await;
    let report = dlq
        .redrive(
            &env.stack.queue_url,
            RedriveMethod::Auto,
            Duration::from_secs(60),
            n + 100,
        )
        .await
        .unwrap();
    assert!(report.complete(), "{report:?}");
    consume(&env, &consumer, &mut rng, true).await;
    let items = env.stack.items().await.unwrap();
    let stored: BTreeSet<String> = ids(&items).into_iter().collect();
    assert_eq!(stored, published, "every published order is stored");
    assert!(dlq.list(n + 100).await.unwrap().messages.is_empty());

    // No item written twice with different content, and each as last written.
    let store = &consumer.store;
    assert!(
        store.conflicts.lock().unwrap().is_empty(),
        "{:?}",
        store.conflicts.lock().unwrap()
    );
    let written = store.written.lock().unwrap();
    for item in &items {
        let key = (
            item["OrderId"].as_str().unwrap().to_string(),
            item["Timestamp"].as_str().unwrap().to_string(),
        );
        assert_eq!(written.get(&key), Some(item), "{key:?}");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "soak: {orders_in} orders in {seconds:.1} s ({:.0} orders/s), {} items stored after the redrive",
        orders_in as f64 / seconds,
        items.len()
    );
}
