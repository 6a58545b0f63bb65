//! What the producer is sent, on any bytes: the whole event (a direct
//! invocation or an HTTP API request), or the body of a signed
//! `POST /orders`, as text or base64. Refused or parsed, never a panic; at
//! most `MAX_ORDERS` orders come out, each reading back from its own JSON
//! unchanged; every refusal is a 4xx answer that serialises.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use orderflow_order::{Order, Parsed};
use orderflow_wire::request::{MAX_ORDERS, Request, http_response, parse_event};
use serde_json::{Value, json};

fn post(body: &str, base64: bool) -> Value {
    json!({
        "version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/orders"},
            "requestId": "fuzz", "routeKey": "POST /orders", "stage": "$default",
            "authorizer": {"iam": {"accessKey": "ASIAFUZZ", "accountId": "123456789012",
                "callerId": "AROAFUZZ:fuzz", "userArn": "arn:aws:sts::123456789012:assumed-role/r/fuzz"}},
        },
        "body": body, "isBase64Encoded": base64,
    })
}

fn orders_are_sound(orders: &[Parsed]) {
    assert!(orders.len() <= MAX_ORDERS, "{} orders", orders.len());
    for order in orders.iter().filter_map(|p| p.order.as_ref().ok()) {
        assert_eq!(&Order::from_json(&order.to_json()).expect("its own JSON parses"), order);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let event = match mode % 3 {
        0 => match serde_json::from_slice::<Value>(rest) {
            Ok(event) => event,
            Err(_) => return,
        },
        1 => post(&String::from_utf8_lossy(rest), false),
        _ => post(&base64::engine::general_purpose::STANDARD.encode(rest), true),
    };
    match parse_event(&event) {
        Ok(Request::Direct(orders)) => orders_are_sound(&orders),
        Ok(Request::Http(request)) => match request.orders {
            Ok(orders) => orders_are_sound(&orders),
            Err(e) => {
                assert!((400..500).contains(&e.status), "status {}", e.status);
                let _ = http_response(e.status, &json!({"error": e.message}));
            }
        },
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
