//! The producer handler without Lambda or AWS: the example rules from a
//! manifest in a directory, and an in-memory publisher.

use orderflow_host::{HighValueMessage, Manifest};
use orderflow_producer::{HandlerError, MAX_BODY_BYTES, Producer};
use orderflow_test_support::events::{
    http_body as body, http_event, http_post, without_authorizer,
};
use orderflow_test_support::manifests::{self, dir_cache, spec};
use orderflow_test_support::orders::{ORDER, priced as order};
use orderflow_test_support::ports::MemoryPublisher;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The threshold rule (EUR 1000.00) and a VIP list, laid out in `dir`.
fn lay_out(dir: &Path) {
    let rules = vec![
        spec("threshold", json!({"minimum_minor": {"EUR": 100000}})),
        spec("vip-customer", json!({"customers": {"cust-7": "gold"}})),
    ];
    manifests::lay_out(
        dir,
        &Manifest {
            rules,
            transforms: vec![],
            ..Default::default()
        },
    );
}

/// A producer over a manifest laid out in a directory of its own (kept
/// alive by the returned guard).
fn producer(publisher: MemoryPublisher) -> (tempfile::TempDir, Producer<MemoryPublisher>) {
    let dir = tempfile::tempdir().unwrap();
    lay_out(dir.path());
    let cache = dir_cache(dir.path(), Duration::from_secs(60));
    (dir, Producer::new(Arc::new(cache), publisher))
}

#[tokio::test]
async fn a_direct_invocation_with_one_order_publishes_it() {
    let (_dir, p) = producer(MemoryPublisher::default());
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
    let (_dir, p) = producer(MemoryPublisher::default());
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
    let (_dir, p) = producer(MemoryPublisher::default());
    let r = p
        .handle(http_post(
            &json!({"orders": [order("ord-1", 150_000), order("ord-2", 10)]}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 200);
    assert_eq!(r["headers"]["content-type"], "application/json");
    let b = body(&r);
    assert_eq!(b["summary"]["published"], 1);
    assert_eq!(b["results"][1]["status"], "not_high_value");

    let r = p.handle(http_post("{\"orders\": 5}")).await.unwrap();
    assert_eq!(r["statusCode"], 400);
    assert_eq!(
        body(&r)["error"],
        "\"orders\" must be a JSON array of orders, got a number"
    );
    let r = p
        .handle(http_event("DELETE", "/orders", None, false))
        .await
        .unwrap();
    assert_eq!(
        (r["statusCode"].as_u64(), r["headers"]["allow"].as_str()),
        (Some(405), Some("POST"))
    );
}

#[tokio::test]
async fn an_order_that_could_not_be_published_is_a_503_over_http() {
    let (_dir, p) = producer(MemoryPublisher::refusing());
    let r = p
        .handle(http_post(&order("ord-1", 150_000).to_string()))
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
    let (_dir, p) = producer(MemoryPublisher::default());
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
    let (dir, p) = producer(MemoryPublisher::default());
    // Nothing to load yet.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let e = p.handle(order("ord-1", 150_000)).await.unwrap_err();
    assert!(matches!(e, HandlerError::Plugins(_)));
    assert!(
        e.to_string()
            .starts_with("no rule set is available: cannot fetch"),
        "{e}"
    );
    let r = p.handle(http_post(ORDER)).await.unwrap();
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

/// A rule that meets a deadline its fuel would have beaten at normal speed
/// is answered `failed`, to send again; the same order failing the same
/// way a fourth time gets a final answer instead.
#[tokio::test]
async fn an_order_failed_three_times_for_one_cause_is_rejected_the_fourth() {
    use orderflow_host::limits::{FUEL_PER_MS, LimitOverrides};
    let dir = tempfile::tempdir().unwrap();
    let mut slow = spec("hostile-rule", json!({"behaviour": "log-flood"}));
    slow.limits = LimitOverrides {
        // Its fuel lasts 5 ms at normal speed; log-flood is host-call bound
        // and slower, so it meets the deadline first. The deadline leaves
        // room for `configure` at load on a loaded machine.
        fuel: Some(5 * FUEL_PER_MS),
        timeout_ms: Some(50),
        ..Default::default()
    };
    manifests::lay_out(
        dir.path(),
        &Manifest {
            rules: vec![slow],
            transforms: vec![],
            ..Default::default()
        },
    );
    let cache = dir_cache(dir.path(), Duration::from_secs(60));
    let p = Producer::new(Arc::new(cache), MemoryPublisher::default());
    let status = |r: &serde_json::Value| r["results"][0]["status"].as_str().unwrap().to_string();
    for attempt in 1..=3 {
        let r = p.handle(order("ord-slow", 150_000)).await.unwrap();
        assert_eq!(status(&r), "failed", "attempt {attempt}: {r}");
    }
    let r = p.handle(order("ord-slow", 150_000)).await.unwrap();
    assert_eq!(status(&r), "rejected", "{r}");
    let reason = r["results"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("exceeded its deadline of 50 ms")
            && reason.ends_with("so this answer is final"),
        "{reason}"
    );
    // Another order still gets its retries.
    let r = p.handle(order("ord-other", 150_000)).await.unwrap();
    assert_eq!(status(&r), "failed", "{r}");
}

#[tokio::test]
async fn a_request_nobody_authenticated_is_403_and_publishes_nothing() {
    let (_dir, p) = producer(MemoryPublisher::default());
    let r = p
        .handle(without_authorizer(http_post(
            &order("ord-1", 150_000).to_string(),
        )))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 403);
    assert!(
        body(&r)["error"]
            .as_str()
            .unwrap()
            .contains("not authenticated"),
        "{r}"
    );
    assert!(p.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_publishes_nothing() {
    let (_dir, p) = producer(MemoryPublisher::default());
    let high_value = order("ord-1", 150_000).to_string();
    let padded = format!(
        "{high_value}{}",
        " ".repeat(MAX_BODY_BYTES + 1 - high_value.len())
    );
    let r = p.handle(http_post(&padded)).await.unwrap();
    assert_eq!(r["statusCode"], 413);
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert!(
        body(&r)["error"].as_str().unwrap().contains(&format!(
            "more than the {MAX_BODY_BYTES} a request may have"
        )),
        "{r}"
    );
    assert!(p.publisher.sent.lock().unwrap().is_empty());
    // The same order, without the padding, is published.
    let r = p.handle(http_post(&high_value)).await.unwrap();
    assert_eq!(body(&r)["summary"]["published"], 1);
}
