//! `orderflow dlq list | redrive` against a local AWS-compatible server
//! (moto), through the real SQS client: the operator sees every dead
//! letter with its order id and reason, and puts them all back.
#![cfg(feature = "aws")]

use orderflow_aws::SqsDeadLetters;
use orderflow_test_support::dead_letters::{
    DeadLettered, dead_lettered, drain_order_ids, order_ids,
};
use orderflow_test_support::moto::MotoServer;
use std::process::Command;

/// `orderflow dlq ARGS` against moto, the queues from the environment.
fn orderflow(moto: &MotoServer, queues: &DeadLettered, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("dlq")
        .args(args)
        .env("ORDERFLOW_DLQ_URL", &queues.dlq_url)
        .env("ORDERFLOW_QUEUE_URL", &queues.queue_url)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        s(&out.stdout),
        s(&out.stderr),
    )
}

fn json(moto: &MotoServer, queues: &DeadLettered, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (code, out, err) = orderflow(moto, queues, &args);
    assert_eq!(code, 0, "orderflow dlq {args:?}: {err}");
    serde_json::from_str(&out).expect("one JSON document")
}

fn listed_order_ids(listing: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["order_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_operator_sees_why_orders_were_dead_lettered_and_redrives_them() {
    let moto = MotoServer::start().expect("moto_server runs");
    let sqs = orderflow_aws::clients::sqs(&moto.sdk_config().await);
    let queues = dead_lettered(&sqs, |url| SqsDeadLetters::new(sqs.clone(), url)).await;

    let listing = json(&moto, &queues, &["list"]);
    assert_eq!(listed_order_ids(&listing), order_ids(), "{listing}");
    let poison = listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["order_id"] == "poison-1")
        .unwrap();
    assert_eq!(poison["reason"]["kind"], "not_recorded", "{poison}");
    assert_eq!(poison["receive_count"], 3);
    assert!(
        listing.to_string().find("\"body\"").is_none(),
        "no order body (customer, attributes) in a listing"
    );

    // For people: a line per order, with its reason and receive count.
    let (code, text, err) = orderflow(&moto, &queues, &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with("15 messages in "), "{text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} in {text}"))
            .to_string()
    };
    assert!(
        line("ord-3").contains("transform normalize refused: case 3"),
        "{text}"
    );
    let poison = line("poison-0");
    assert!(
        poison.contains("received 3 times without success (no reason recorded)"),
        "the first listing's receive counts from here on: {poison}"
    );

    // A dry run lists what would move and moves nothing.
    let (code, text, err) = orderflow(&moto, &queues, &["redrive", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("would move 15 messages to"), "{text}");
    assert!(drain_order_ids(&sqs, &queues.queue_url).await.is_empty());
    assert_eq!(
        listed_order_ids(&json(&moto, &queues, &["list"])),
        order_ids()
    );

    // The redrive: moto has no message-move task, so the copy runs and says so.
    let report = json(&moto, &queues, &["redrive"]);
    assert_eq!(report["path"], "copied", "{report}");
    assert_eq!(report["moved"], 15);
    assert!(
        report["why"]
            .as_str()
            .unwrap()
            .contains("no message-move task")
    );
    let (code, text, _) = orderflow(&moto, &queues, &["list"]);
    assert_eq!(code, 0);
    assert!(text.ends_with("is empty\n"), "{text}");
    assert_eq!(drain_order_ids(&sqs, &queues.queue_url).await, order_ids());

    // An empty DLQ redrives to nothing, in text.
    let (code, text, err) = orderflow(&moto, &queues, &["redrive"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("redrive by copy") && text.contains("moved 0 messages"),
        "{text}"
    );
}

#[test]
fn the_queues_must_be_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["dlq", "list"])
        .env_remove("ORDERFLOW_DLQ_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dlq-url or ORDERFLOW_DLQ_URL"));
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["dlq", "redrive", "--dlq-url", "http://127.0.0.1:9/q"])
        .env_remove("ORDERFLOW_QUEUE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--queue-url or ORDERFLOW_QUEUE_URL"));
}
