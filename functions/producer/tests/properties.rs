//! The producer's reading of its event, over generated shapes (proptest):
//! a direct invocation, an HTTP API request, or anything else Lambda could
//! hand over, is read or refused, never a panic.

use orderflow_producer::parse_event;
use orderflow_test_support::properties::any_json;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// An HTTP API (payload 2.0) request's shape with generated values: the
/// body as JSON text, as base64, or as anything.
fn http_shaped() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!("2.0")), any_json()],
        prop::sample::select(vec!["POST", "GET", "PUT", ""]),
        prop_oneof![
            any_json().prop_map(|v| Value::from(v.to_string())),
            ".{0,40}".prop_map(Value::from),
            any_json(),
        ],
        prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from)],
        prop::option::of(prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
        ])),
        prop::option::of(prop::sample::select(vec!["gzip", "identity", "br"])),
    )
        .prop_map(|(version, method, body, base64, content_type, encoding)| {
            let mut headers = Map::new();
            if let Some(t) = content_type {
                headers.insert("content-type".into(), t.into());
            }
            if let Some(e) = encoding {
                headers.insert("content-encoding".into(), e.into());
            }
            json!({"version": version, "routeKey": "POST /orders", "rawPath": "/orders",
                   "headers": headers, "body": body, "isBase64Encoded": base64,
                   "requestContext": {"http": {"method": method, "path": "/orders"}}})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_event_is_read_or_refused_never_a_panic(value in prop_oneof![any_json(), http_shaped()]) {
        let _ = parse_event(&value);
        let _ = parse_event(&json!({"orders": [value.clone()]}));
        let _ = parse_event(&json!({"requestContext": value}));
    }
}
