//! The event parser's tests: every shape, status and limit.

use super::*;
use serde_json::json;

use orderflow_test_support::events::http_event;
use orderflow_test_support::orders::{ORDER, order_value as order};

fn direct(event: Value) -> Vec<Parsed> {
    match parse_event(&event).unwrap() {
        Request::Direct(o) => o,
        other => panic!("expected a direct request, got {other:?}"),
    }
}

fn http(event: Value) -> Result<Vec<Parsed>, HttpError> {
    match parse_event(&event).unwrap() {
        Request::Http(r) => r.orders,
        other => panic!("expected an HTTP request, got {other:?}"),
    }
}

#[test]
fn a_direct_invocation_with_one_order() {
    let orders = direct(order());
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order.as_ref().unwrap().order_id, "ord-1001");
}

#[test]
fn a_direct_invocation_with_a_batch_reports_each_order() {
    let orders = direct(json!({"orders": [order(), {"order_id": "x"}, 5]}));
    assert_eq!(orders.iter().map(|p| p.line).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(orders[0].order.is_ok());
    assert!(
        orders[1]
            .order
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("missing field")
    );
    assert!(
        orders[2]
            .order
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("got a number")
    );
}

#[test]
fn an_invalid_single_order_is_a_result_not_an_event_error() {
    let mut o = order();
    o["total_minor"] = json!(1);
    let orders = direct(o);
    assert!(
        orders[0]
            .order
            .as_ref()
            .unwrap_err()
            .to_string()
            .starts_with("total_minor:")
    );
}

#[test]
fn malformed_direct_events_are_named() {
    let err = |v: Value| parse_event(&v).unwrap_err().to_string();
    assert_eq!(
        err(json!([order()])),
        "expected one order (a JSON object) or {\"orders\": [...]}, got an array of 1 element(s)"
    );
    assert_eq!(
        err(json!("hello")),
        "expected one order (a JSON object) or {\"orders\": [...]}, got a string"
    );
    assert_eq!(
        err(json!({"orders": {"a": 1}})),
        "\"orders\" must be a JSON array of orders, got an object"
    );
    assert_eq!(
        err(json!({"orders": []})),
        "\"orders\" is empty: send at least one order"
    );
    let many: Vec<Value> = (0..=MAX_ORDERS).map(|_| order()).collect();
    assert!(err(json!({ "orders": many })).starts_with("101 orders in one request"));
    assert!(
        err(json!({"Records": [{"eventSource": "aws:sqs"}]})).contains("the producer takes orders")
    );
    assert!(
        err(json!({"requestContext": {"resourcePath": "/orders"}, "httpMethod": "POST"}))
            .contains("REST API")
    );
    assert!(
        err(json!({"version": "1.0", "requestContext": {"http": {"method": "POST"}}}))
            .contains("payload format version")
    );
}

#[test]
fn an_http_post_with_one_order_or_a_batch() {
    let one = http(http_event("POST", "/orders", Some(ORDER), false)).unwrap();
    assert_eq!(one.len(), 1);
    let body = json!({"orders": [order(), order()]}).to_string();
    assert_eq!(
        http(http_event("POST", "/prod/orders", Some(&body), false))
            .unwrap()
            .len(),
        2
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(ORDER);
    assert_eq!(
        http(http_event("POST", "/orders/", Some(&encoded), true))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_http_requests_get_their_status() {
    let status = |e: Value| http(e).unwrap_err();
    assert_eq!(
        status(http_event("GET", "/orders", None, false)).status,
        405
    );
    assert_eq!(
        status(http_event("POST", "/customers", Some(ORDER), false)).status,
        404
    );
    assert_eq!(
        status(http_event("POST", "/orders", None, false)).status,
        400
    );
    let e = status(http_event("POST", "/orders", Some("{not json"), false));
    assert_eq!(e.status, 400);
    assert!(
        e.message.starts_with("the body is not JSON"),
        "{}",
        e.message
    );
    let e = status(http_event("POST", "/orders", Some("%%%"), true));
    assert!(e.message.contains("base64"), "{}", e.message);
    let e = status(http_event(
        "POST",
        "/orders",
        Some(r#"{"orders": []}"#),
        false,
    ));
    assert_eq!(e.message, "\"orders\" is empty: send at least one order");
}

#[test]
fn a_request_nobody_authenticated_is_refused_whatever_it_asks() {
    use orderflow_test_support::events::without_authorizer;
    for event in [
        http_event("POST", "/orders", Some(ORDER), false),
        http_event("GET", "/customers", None, false),
    ] {
        let Request::Http(r) = parse_event(&without_authorizer(event)).unwrap() else {
            panic!("an HTTP request")
        };
        assert_eq!(r.caller, None);
        let e = r.orders.unwrap_err();
        assert_eq!(e.status, 403, "{}", e.message);
        assert!(e.message.contains("not authenticated"), "{}", e.message);
    }
    let Request::Http(r) = parse_event(&http_event("POST", "/orders", Some(ORDER), false)).unwrap()
    else {
        panic!("an HTTP request")
    };
    assert!(
        matches!(r.caller, Some(Caller::Iam { .. })),
        "{:?}",
        r.caller
    );
    assert_eq!(r.request_id.as_deref(), Some("r-1"));
}

/// The largest order validation accepts, as JSON.
fn largest_order() -> Value {
    let line =
        json!({"sku": "S".repeat(MAX_SKU_BYTES), "quantity": u32::MAX, "unit_price_minor": 1});
    let attributes: serde_json::Map<String, Value> = (0..MAX_ATTRIBUTES)
        .map(|i| {
            let name = format!("{i:0>width$}", width = MAX_ATTRIBUTE_NAME_BYTES);
            (name, "v".repeat(MAX_ATTRIBUTE_VALUE_BYTES).into())
        })
        .collect();
    let mut o = order();
    o["order_id"] = json!("o".repeat(128));
    o["customer_id"] = json!("c".repeat(128));
    o["lines"] = Value::Array(vec![line; MAX_LINES]);
    o["total_minor"] = json!(MAX_LINES as u64 * u64::from(u32::MAX));
    o["attributes"] = attributes.into();
    o
}

#[test]
fn the_body_limit_takes_the_largest_request_validation_accepts() {
    let largest = largest_order();
    assert!(Parsed::from_value(1, &largest).order.is_ok(), "it is valid");
    assert!(largest.to_string().len() <= MAX_ORDER_JSON_BYTES);
    let body = serde_json::to_string_pretty(&json!({"orders": vec![largest; MAX_ORDERS]})).unwrap();
    assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
    assert_eq!(
        http(http_event("POST", "/orders", Some(&body), false))
            .unwrap()
            .len(),
        MAX_ORDERS
    );
    // The figures the README gives (the limit's bound by API Gateway's
    // 10 MB is checked at compile time, beside it).
    assert_eq!((MAX_ORDER_JSON_BYTES, MAX_BODY_BYTES), (45_129, 9_025_800));
}

#[test]
fn a_body_over_the_limit_is_413_before_it_is_read() {
    let padded = format!("{ORDER}{}", " ".repeat(MAX_BODY_BYTES + 1 - ORDER.len()));
    let e = http(http_event("POST", "/orders", Some(&padded), false)).unwrap_err();
    assert_eq!(e.status, 413);
    assert_eq!(
        e.message,
        format!(
            "the body has {} bytes, more than the {MAX_BODY_BYTES} a request may have: split it",
            MAX_BODY_BYTES + 1
        )
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(&padded);
    assert_eq!(
        http(http_event("POST", "/orders", Some(&encoded), true))
            .unwrap_err()
            .status,
        413
    );
    let at_limit = &padded[..MAX_BODY_BYTES];
    assert_eq!(
        http(http_event("POST", "/orders", Some(at_limit), false))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn http_responses_are_payload_format_2() {
    let r = http_response(405, &json!({"error": "x"}));
    assert_eq!(r["statusCode"], 405);
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert_eq!(r["headers"]["allow"], "POST");
    assert_eq!(
        serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap(),
        json!({"error": "x"})
    );
    assert_eq!(r["isBase64Encoded"], false);
}
