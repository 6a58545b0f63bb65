//! The producer handler without Lambda or AWS: the example rules from a
//! manifest in a directory, and an in-memory publisher.

use orderflow_aws::{DirSource, PluginCache};
use orderflow_host::manifest::sha256_hex;
use orderflow_host::{HighValueMessage, Manifest, RuleSet, Runtime, RuntimeConfig};
use orderflow_pipeline::{OutgoingMessage, PublishOutcome, Publisher};
use orderflow_producer::{HandlerError, Producer};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const ORDER: &str = r#"{"order_id": "ord-1001", "customer_id": "cust-42", "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 125000, "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 62500}], "attributes": {"channel": "web"}}"#;

fn order(id: &str, total: u64) -> Value {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["order_id"] = json!(id);
    v["total_minor"] = json!(total);
    v["lines"] = json!([{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total}]);
    v
}

fn wasm_dir() -> &'static std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        orderflow_plugin_build::build(&["threshold", "vip-customer"]).unwrap();
        orderflow_plugin_build::output_dir()
    })
}

/// Writes a manifest with hashes and its plugins into `dir`.
fn lay_out(dir: &Path) {
    let mut m: Manifest = serde_json::from_value(json!({"rules": [
        {"name": "threshold", "version": "1.0.0", "wasm": "threshold.wasm", "config": {"minimum_minor": {"EUR": 100000}}},
        {"name": "vip-customer", "version": "1.0.0", "wasm": "vip-customer.wasm", "config": {"customers": {"cust-7": "gold"}}}
    ]}))
    .unwrap();
    for spec in &mut m.rules {
        let bytes = std::fs::read(wasm_dir().join(&spec.wasm)).unwrap();
        spec.sha256 = sha256_hex(&bytes);
        std::fs::write(dir.join(&spec.wasm), bytes).unwrap();
    }
    std::fs::write(dir.join("manifest.json"), m.to_json_pretty()).unwrap();
}

/// Publishes into memory; `fail` makes every entry fail for good.
#[derive(Default)]
struct MemoryPublisher {
    sent: Mutex<Vec<OutgoingMessage>>,
    fail: bool,
}

impl Publisher for MemoryPublisher {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<(String, PublishOutcome)>, String> {
        let mut sent = self.sent.lock().unwrap();
        Ok(batch
            .iter()
            .map(|m| {
                if self.fail {
                    return (
                        m.id.clone(),
                        PublishOutcome::Failed {
                            reason: "AuthorizationError".into(),
                            retryable: false,
                        },
                    );
                }
                sent.push(m.clone());
                (
                    m.id.clone(),
                    PublishOutcome::Published {
                        message_id: format!("msg-{}", sent.len()),
                    },
                )
            })
            .collect())
    }
}

fn producer(dir: &Path, fail: bool) -> Producer<MemoryPublisher> {
    let rt = Runtime::new(RuntimeConfig {
        max_instances: 8,
        ..Default::default()
    })
    .unwrap();
    let plugins: PluginCache<RuleSet> = PluginCache::new(
        DirSource::new(dir.join("manifest.json")),
        rt,
        Duration::from_secs(60),
    );
    Producer::new(
        Arc::new(plugins),
        MemoryPublisher {
            fail,
            ..Default::default()
        },
    )
}

fn http_event(method: &str, body: Option<&str>) -> Value {
    json!({
        "version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"accountId": "123456789012", "apiId": "a1", "http": {"method": method, "path": "/orders",
            "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "curl/8"}, "requestId": "r1",
            "routeKey": "POST /orders", "stage": "$default", "time": "24/Nov/2026:10:15:00 +0000", "timeEpoch": 1795515300000u64},
        "body": body, "isBase64Encoded": false
    })
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_direct_invocation_with_one_order_publishes_it() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let p = producer(dir.path(), false);
    let r = p.handle(order("ord-1", 150_000)).await.unwrap();
    assert!(r["revision"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        r["results"],
        json!([{"index": 0, "order_id": "ord-1", "status": "published", "message_id": "msg-1"}])
    );
    assert_eq!(
        r["summary"],
        json!({"published": 1, "not_high_value": 0, "rejected": 0, "failed": 0})
    );

    let sent = p.publisher.sent.lock().unwrap();
    let message = HighValueMessage::from_json(&sent[0].body).unwrap();
    assert_eq!(message.order.order_id, "ord-1");
    assert_eq!(message.decision.revision, r["revision"].as_str().unwrap());
    assert!(
        sent[0]
            .attributes
            .contains(&("revision".to_string(), message.decision.revision.clone()))
    );
}

#[tokio::test]
async fn a_batch_answers_every_order_in_its_place() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let p = producer(dir.path(), false);
    let mut vip = order("ord-3", 100);
    vip["customer_id"] = json!("cust-7");
    let mut invalid = order("ord-4", 100);
    invalid["total_minor"] = json!(99);
    let r = p.handle(json!({"orders": [order("ord-1", 150_000), order("ord-2", 100), vip, invalid, "nonsense"]})).await.unwrap();
    let statuses: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "published",
            "not_high_value",
            "published",
            "rejected",
            "rejected"
        ]
    );
    assert_eq!(
        r["results"][3]["order_id"], "ord-4",
        "a rejected order keeps its id"
    );
    assert!(
        r["results"][3]["reason"]
            .as_str()
            .unwrap()
            .starts_with("total_minor:"),
        "{}",
        r["results"][3]
    );
    assert!(
        r["results"][4]["reason"]
            .as_str()
            .unwrap()
            .contains("got a string")
    );
    assert_eq!(r["results"][4]["index"], 4);
    assert_eq!(p.publisher.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_http_post_is_answered_in_payload_format_2() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let p = producer(dir.path(), false);
    let r = p
        .handle(http_event(
            "POST",
            Some(&json!({"orders": [order("ord-1", 150_000), order("ord-2", 10)]}).to_string()),
        ))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["headers"]["content-type"], "application/json");
    let b = body(&r);
    assert_eq!(b["summary"]["published"], 1);
    assert_eq!(b["results"][1]["status"], "not_high_value");

    let r = p
        .handle(http_event("POST", Some("{\"orders\": 5}")))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 400);
    assert_eq!(
        body(&r)["error"],
        "\"orders\" must be a JSON array of orders, got a number"
    );
    let r = p.handle(http_event("DELETE", None)).await.unwrap();
    assert_eq!(
        (r["statusCode"].as_u64(), r["headers"]["allow"].as_str()),
        (Some(405), Some("POST"))
    );
}

#[tokio::test]
async fn an_order_that_could_not_be_published_is_a_503_over_http() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let p = producer(dir.path(), true);
    let r = p
        .handle(http_event(
            "POST",
            Some(&order("ord-1", 150_000).to_string()),
        ))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 503);
    let b = body(&r);
    assert_eq!(b["results"][0]["status"], "failed");
    assert!(
        b["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("AuthorizationError"),
        "{b}"
    );
    // A direct invocation answers the same results without failing.
    let r = p.handle(order("ord-1", 150_000)).await.unwrap();
    assert_eq!(r["summary"]["failed"], 1);
}

#[tokio::test]
async fn an_unreadable_event_fails_the_invocation_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let p = producer(dir.path(), false);
    let e = p.handle(json!([1, 2])).await.unwrap_err();
    assert!(matches!(e, HandlerError::Event(_)));
    assert_eq!(
        e.to_string(),
        "expected one order (a JSON object) or {\"orders\": [...]}, got an array of 2 element(s)"
    );
    let e = p.handle(json!({"Records": []})).await.unwrap_err();
    assert!(e.to_string().contains("the producer takes orders"), "{e}");
}

#[tokio::test]
async fn without_a_rule_set_the_invocation_fails_and_http_gets_503() {
    let dir = tempfile::tempdir().unwrap();
    let p = producer(dir.path(), false);
    let e = p.handle(order("ord-1", 150_000)).await.unwrap_err();
    assert!(matches!(e, HandlerError::Plugins(_)));
    assert!(
        e.to_string()
            .starts_with("no rule set is available: cannot fetch"),
        "{e}"
    );
    let r = p.handle(http_event("POST", Some(ORDER))).await.unwrap();
    assert_eq!(r["statusCode"], 503);
    assert!(
        body(&r)["error"]
            .as_str()
            .unwrap()
            .contains("manifest.json")
    );
    // Once a manifest appears, the next event loads it.
    lay_out(dir.path());
    assert_eq!(
        p.handle(order("ord-1", 150_000)).await.unwrap()["summary"]["published"],
        1
    );
}
