//! The decision log against a local S3 (moto) through the real client: one
//! compressed object per invocation holding every decided order, and a
//! write that fails never changes an order's answer.

use flate2::read::GzDecoder;
use orderflow_aws::config::DecisionLogLocation;
use orderflow_aws::decision_log::S3DecisionLog;
use orderflow_host::Manifest;
use orderflow_pipeline::decision_log::DecisionRecord;
use orderflow_producer::Producer;
use orderflow_test_support::logs::Captured;
use orderflow_test_support::manifests::{self, dir_cache, spec};
use orderflow_test_support::moto::MotoServer;
use orderflow_test_support::orders::priced as order;
use orderflow_test_support::ports::MemoryPublisher;
use serde_json::{Value, json};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

const BUCKET: &str = "orderflow-decisions";

async fn producer(
    moto: &MotoServer,
    dir: &std::path::Path,
) -> Producer<MemoryPublisher, S3DecisionLog> {
    let rules = vec![spec("threshold", json!({"minimum_minor": {"EUR": 100000}}))];
    manifests::lay_out(
        dir,
        &Manifest {
            rules,
            transforms: vec![],
            ..Default::default()
        },
    );
    let cache = dir_cache(dir, Duration::from_secs(60));
    let s3 = orderflow_aws::clients::s3(&moto.sdk_config().await);
    let location = DecisionLogLocation {
        bucket: BUCKET.into(),
        prefix: "decisions/".into(),
    };
    Producer::new(Arc::new(cache), MemoryPublisher::default())
        .with_decision_log(S3DecisionLog::new(s3, location))
}

fn batch() -> Value {
    let mut invalid = order("ord-3", 100);
    invalid["currency"] = json!("euro");
    json!({"orders": [order("ord-1", 150_000), order("ord-2", 100), invalid]})
}

fn statuses(response: &Value) -> Vec<String> {
    let results = response["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_decided_order_lands_in_one_compressed_object_per_invocation() {
    let moto = MotoServer::start().unwrap();
    let s3 = orderflow_aws::clients::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = producer(&moto, dir.path()).await;

    let response = p.handle(batch()).await.unwrap();
    assert_eq!(
        statuses(&response),
        ["published", "not_high_value", "rejected"]
    );

    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("decisions/dt=")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].contains("/hour=") && keys[0].ends_with(".jsonl.gz"),
        "{keys:?}"
    );
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key(keys[0])
        .send()
        .await
        .unwrap();
    let gz = object.body.collect().await.unwrap().to_vec();
    let mut text = String::new();
    GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    let records: Vec<DecisionRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The invalid order reached no rule: it has no decision to log.
    let seen: Vec<(String, bool)> = records
        .iter()
        .map(|r| {
            let order: Value = serde_json::from_str(r.order.get()).unwrap();
            (
                order["order_id"].as_str().unwrap().to_string(),
                r.high_value,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("ord-1".to_string(), true), ("ord-2".to_string(), false)]
    );
    assert!(
        records
            .iter()
            .all(|r| r.revision == response["revision"].as_str().unwrap())
    );
    assert!(
        records[0].reasons[0].starts_with("threshold: "),
        "{:?}",
        records[0].reasons
    );
}

#[tokio::test]
async fn a_failed_write_is_logged_and_never_changes_an_answer() {
    let moto = MotoServer::start().unwrap();
    // No bucket: every PutObject fails with NoSuchBucket.
    let dir = tempfile::tempdir().unwrap();
    let p = producer(&moto, dir.path()).await;
    let logs = Captured::default();
    let _guard =
        tracing::subscriber::set_default(orderflow_aws::telemetry::json_subscriber(logs.clone()));

    let response = p.handle(batch()).await.unwrap();
    assert_eq!(
        statuses(&response),
        ["published", "not_high_value", "rejected"]
    );
    assert_eq!(p.publisher.sent.lock().unwrap().len(), 1);
    let failures: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "decision log write failed")
        .collect();
    assert_eq!(failures.len(), 1, "{}", logs.text());
    assert_eq!(failures[0]["records"], 2);
    assert_eq!(failures[0]["level"], "WARN");
    assert!(
        failures[0]["error"]
            .as_str()
            .unwrap()
            .contains("NoSuchBucket"),
        "{}",
        failures[0]
    );
}

/// What the log costs: 1,000 generated orders in invocations of 100 are 10
/// PUTs (one per invocation, whatever its size) and this many bytes.
#[tokio::test]
async fn a_thousand_orders_cost_ten_puts_and_a_few_hundred_bytes_each() {
    let moto = MotoServer::start().unwrap();
    let s3 = orderflow_aws::clients::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = producer(&moto, dir.path()).await;
    let mut rng = orderflow_workload::Rng::new(1);
    let mut raw = 0;
    for batch in 0..10 {
        let orders: Vec<Value> = (0..100)
            .map(|i| orderflow_workload::order(&mut rng, batch * 100 + i))
            .collect();
        raw += orders.iter().map(|o| o.to_string().len()).sum::<usize>();
        p.handle(json!({ "orders": orders })).await.unwrap();
    }
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert_eq!(listed.contents().len(), 10, "one PUT per invocation");
    let bytes: i64 = listed.contents().iter().filter_map(|o| o.size()).sum();
    println!(
        "decision log: 1000 orders -> 10 objects, {bytes} bytes compressed ({raw} bytes of order JSON)"
    );
    assert!(bytes > 0 && (bytes as usize) < raw, "{bytes} of {raw}");
}
