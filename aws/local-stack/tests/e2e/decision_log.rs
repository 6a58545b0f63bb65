//! With `DecisionLog=Enabled`, the producer records every decided order in
//! the stack's decision log bucket, one compressed object per invocation.

use crate::env::*;
use flate2::read::GzDecoder;
use orderflow_pipeline::decision_log::DecisionRecord;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;

/// Every record under `decisions/` in the bucket, object by object.
pub async fn decision_log(env: &Env) -> Vec<Vec<DecisionRecord>> {
    let bucket = env
        .stack
        .decision_log_bucket
        .as_deref()
        .expect("DecisionLog=Enabled");
    let s3 = &env.stack.s3;
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("decisions/")
        .send()
        .await
        .unwrap();
    let mut objects = Vec::new();
    for key in listed.contents().iter().filter_map(|o| o.key()) {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let gz = body.body.collect().await.unwrap().to_vec();
        let mut text = String::new();
        GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        objects.push(
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        );
    }
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_logs_every_decided_order_when_the_stack_turns_it_on() {
    let env = env(|s| {
        s.parameter("DecisionLog", "Enabled");
    })
    .await;
    let revision = env.publish(&example().0).await;
    let producer = env.producer();
    let orders = sample_orders();
    let response = invoke(&producer, json!({ "orders": orders })).await;
    let status: HashMap<&str, &str> = response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["order_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();

    let objects = decision_log(&env).await;
    assert_eq!(objects.len(), 1, "one object per invocation");
    let records = &objects[0];
    assert_eq!(
        records.len(),
        orders.len(),
        "every sample order reached the rules"
    );
    for r in records {
        let order: Value = serde_json::from_str(r.order.get()).unwrap();
        let id = order["order_id"].as_str().unwrap();
        assert_eq!(r.revision, revision);
        assert_eq!(
            r.high_value,
            status[id] == "published",
            "{id}: {}",
            status[id]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_parameter_there_is_no_decision_log() {
    let env = env(|_| {}).await;
    assert_eq!(env.stack.decision_log_bucket, None);
}
