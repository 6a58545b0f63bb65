//! No personal data reaches the producer's log on any error path: orders
//! carrying an e-mail address, a phone number and a card number in every
//! field go through invalid orders, unreadable events and refused HTTP
//! requests, failing and logging plugins, and a publisher that refuses;
//! the function's JSON log, at `debug`, holds none of them. (A test
//! process of its own: it installs a global logger.)

use orderflow_host::Manifest;
use orderflow_producer::Producer;
use orderflow_test_support::events::{http_event, http_post};
use orderflow_test_support::logs::Captured;
use orderflow_test_support::manifests::{self, dir_cache, spec};
use orderflow_test_support::orders::{order_value, order_with};
use orderflow_test_support::ports::MemoryPublisher;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const EMAIL: &str = "pii-ana@mail.test";
const PHONE: &str = "+49 151 5550123";
const CARD: &str = "4111111111111111";

/// What must not appear anywhere in the log.
const NEEDLES: [&str; 5] = ["pii-ana", "mail.test", "5550123", "4915155", "41111111"];

/// Valid orders with PII in their attributes, high-value and not.
fn valid(order_id: &str, total_minor: u64) -> Value {
    order_with(json!({
        "order_id": order_id, "total_minor": total_minor,
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total_minor}],
        "attributes": {"email": EMAIL, "phone": PHONE, "card": CARD},
    }))
}

/// One invalid order per field, each with PII where the value should be.
fn invalid_orders() -> Vec<Value> {
    let mut out = Vec::new();
    for field in [
        "order_id",
        "customer_id",
        "created_at",
        "currency",
        "total_minor",
        "lines",
    ] {
        for pii in [json!(EMAIL), json!(PHONE)] {
            out.push(order_with(json!({ field: pii })));
        }
    }
    out.push(order_with(json!({"total_minor": 4_915_155_501_230u64})));
    out.push(order_with(
        json!({"lines": [{"sku": "S", "quantity": EMAIL, "unit_price_minor": 1}]}),
    ));
    out.push(order_with(
        json!({"lines": [{"sku": "S", "quantity": 1, "unit_price_minor": CARD}]}),
    ));
    out.push(order_with(
        json!({"attributes": {"email": 4_915_155_501_230u64}}),
    ));
    out.push(order_with(json!({"attributes": {EMAIL: 1}})));
    let mut unknown = order_value();
    unknown[EMAIL] = json!(CARD);
    out.push(unknown);
    out.push(json!(EMAIL));
    out
}

fn producer(
    rules: Vec<orderflow_host::PluginSpec>,
    publisher: MemoryPublisher,
) -> (tempfile::TempDir, Producer<MemoryPublisher>) {
    let dir = tempfile::tempdir().unwrap();
    manifests::lay_out(
        dir.path(),
        &Manifest {
            rules,
            transforms: vec![],
            ..Default::default()
        },
    );
    let cache = dir_cache(dir.path(), Duration::from_secs(60));
    (dir, Producer::new(Arc::new(cache), publisher))
}

fn hostile(behaviour: &str, on_error: &str) -> orderflow_host::PluginSpec {
    let mut s = spec("hostile-rule", json!({"behaviour": behaviour}));
    s.on_error = serde_json::from_value(json!(on_error)).unwrap();
    s
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
    let threshold = || spec("threshold", json!({"minimum_minor": {"EUR": 100000}}));
    // A rule whose attribute value is an address: logged by its key only.
    let vip = spec("vip-customer", json!({"customers": {"cust-42": EMAIL}}));
    let mut orders = invalid_orders();
    orders.push(valid("ord-big", 150_000));
    orders.push(valid("ord-small", 10));
    let batch = json!({ "orders": orders });

    // Invalid orders, decided orders, and a publisher that refuses.
    let (_d1, refusing) = producer(vec![threshold(), vip], MemoryPublisher::refusing());
    let r = refusing.handle(batch.clone()).await.unwrap();
    assert_eq!(r["summary"]["rejected"], invalid_orders().len(), "{r}");
    assert_eq!(r["summary"]["failed"], 2, "{r}");
    // Plugins that log an address, fail, trap and refuse.
    for (behaviour, on_error) in [
        ("log-flood", "skip"),
        ("trap", "skip"),
        ("fail", "reject"),
        ("panic", "reject"),
    ] {
        let (_d, p) = producer(
            vec![hostile(behaviour, on_error), threshold()],
            MemoryPublisher::default(),
        );
        p.handle(batch.clone()).await.unwrap();
    }
    // Unreadable events and refused HTTP requests.
    let (_d2, p) = producer(vec![threshold()], MemoryPublisher::default());
    for event in [
        json!(EMAIL),
        json!({"orders": EMAIL}),
        json!({"version": "2.0", "requestContext": {"http": EMAIL}}),
        json!({"version": EMAIL, "requestContext": {"http": {}}}),
    ] {
        assert!(p.handle(event).await.is_err());
    }
    let mut bad_headers = http_post("{}");
    bad_headers["headers"] = json!(EMAIL);
    for event in [
        json!({"orders": [EMAIL, PHONE]}),
        http_event("POST", &format!("/users/{EMAIL}/{CARD}"), Some("{}"), false),
        http_event(EMAIL, "/orders", Some("{}"), false),
        http_post(&format!("{{\"order\": {EMAIL}}}")),
        http_post(&json!({"orders": EMAIL}).to_string()),
        http_post(&json!({"orders": invalid_orders()}).to_string()),
        http_event("POST", "/orders", Some(EMAIL), true),
        bad_headers,
    ] {
        let _ = p.handle(event).await;
    }

    let text = logs.text();
    let lines = logs.json_lines();
    let count = |message: &str| {
        lines
            .iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(message)
            })
            .count()
    };
    // Every path was taken, and logged.
    assert!(
        count("order rejected: invalid") >= invalid_orders().len(),
        "{text}"
    );
    assert!(
        count("order decided") > 0 && count("publish failed") > 0,
        "{text}"
    );
    assert!(
        count("rule failed") >= 3 && count("flood line") > 0,
        "{text}"
    );
    assert!(
        count("unreadable event") >= 4 && count("HTTP request refused") >= 3,
        "{text}"
    );
    for needle in NEEDLES {
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
        assert!(hits.is_empty(), "{needle} is in the log: {hits:#?}");
    }
    // The attribute's key is there, its value is not.
    let decided = lines
        .iter()
        .find(|l| l["message"] == "order decided" && l["order_id"] == "ord-big")
        .unwrap();
    assert_eq!(decided["attributes"], "[\"tier\"]", "{decided}");
}
