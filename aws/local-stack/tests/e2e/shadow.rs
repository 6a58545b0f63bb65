//! A shadow candidate on the stack: the producer decides every order with
//! the live rules and the candidate, logs one disagreement event per order
//! they decide differently, and only the live decisions reach the table.

use crate::env::*;
use orderflow_test_support::logs::Captured;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The producer's log in the functions' format, for this whole test
/// process (the producer runs in-process on the runtime's worker threads,
/// which a thread-local subscriber would not see). Tests tell their lines
/// apart by revision and order id.
fn producer_log() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        tracing::subscriber::set_global_default(orderflow_aws::telemetry::json_subscriber(
            logs.clone(),
        ))
        .expect("no other e2e test installs a global logger");
        logs
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_candidate_logs_each_disagreement_and_the_table_holds_the_live_decisions() {
    let logs = producer_log();
    let env = env(|_| {}).await;
    let candidate = env.publish(&with_eur_minimum(50_000)).await;
    let live = env.publish(&with_eur_minimum(100_000)).await;
    let shadow = env
        .stack
        .plugin_store()
        .shadow(Some(&candidate))
        .await
        .unwrap();
    assert_eq!(
        (shadow.live.as_str(), shadow.changed),
        (live.as_str(), true)
    );

    // EUR totals: the candidate's minimum is 500.00, the live one 1,000.00,
    // so exactly the orders from 500.00 to 999.99 are decided differently.
    let totals = [
        10, 40_000, 49_999, 50_000, 60_000, 75_000, 99_999, 100_000, 150_000,
    ];
    let orders: Vec<Value> = totals
        .iter()
        .map(|t| order(&format!("shadow-{t}"), "EUR", *t))
        .collect();
    let disagree: BTreeSet<String> = totals
        .iter()
        .filter(|t| (50_000..100_000).contains(*t))
        .map(|t| format!("shadow-{t}"))
        .collect();

    let producer = env.producer();
    let response = invoke(&producer, json!({ "orders": orders })).await;
    assert_eq!(response["revision"], json!(live), "the live set decides");
    let mut expected = published(&response);
    expected.sort();
    assert_eq!(expected, ["shadow-100000", "shadow-150000"], "{response}");

    let lines = logs.json_lines();
    let events: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["event"] == "shadow_disagreement" && l["candidate_revision"] == json!(candidate)
        })
        .collect();
    let logged: BTreeSet<String> = events
        .iter()
        .map(|e| e["order_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events.len(),
        disagree.len(),
        "one event per order: {events:?}"
    );
    assert_eq!(logged, disagree);
    for e in &events {
        assert_eq!(e["live_revision"], json!(live));
        assert_eq!(
            (&e["live"], &e["candidate"]),
            (&json!("not_high_value"), &json!("high_value"))
        );
        assert_eq!(e["rules"], "threshold=not_high_value->high_value");
    }

    let drain = env.drain(&env.consumer()).await;
    assert_eq!(drain.failed, 0);
    let items = env.stack.items().await.unwrap();
    assert_eq!(ids(&items), expected, "the table holds the live decisions");
    assert!(items.iter().all(|i| i["RuleSetRevision"] == json!(live)));
}
