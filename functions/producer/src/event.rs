//! The events the producer reads (a direct invocation, an API Gateway HTTP
//! API request) and the HTTP answers it gives: the wire at the function's
//! edge, apart from what it does with the orders.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use orderflow_host::order::redact::{redact, serde_message};
use orderflow_host::order::{OrderError, Parsed};
use serde::Serialize;
use serde_json::Value;

/// Orders one event may carry. A synchronous caller waits for all of them.
pub const MAX_ORDERS: usize = 100;

/// An event the function cannot read at all (as opposed to an invalid
/// order, which is one `rejected` result).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("expected one order (a JSON object) or {{\"orders\": [...]}}, got {0}")]
    Shape(String),
    #[error("\"orders\" must be a JSON array of orders, got {0}")]
    OrdersNotArray(String),
    #[error("\"orders\" is empty: send at least one order")]
    NoOrders,
    #[error("{count} orders in one request, more than the {MAX_ORDERS} allowed: split the request")]
    TooManyOrders { count: usize },
    #[error("{0}")]
    NotForThisFunction(String),
    #[error("malformed API Gateway HTTP API event: {0}")]
    Http(String),
}

/// An HTTP request the function answers with an error status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

/// A readable event.
#[derive(Debug)]
pub enum Request {
    Direct(Vec<Parsed>),
    /// An HTTP API request: its orders, or the error status to answer.
    Http(Result<Vec<Parsed>, HttpError>),
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(a) => format!("an array of {} element(s)", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// One order or `{"orders": [...]}` → the orders, each parsed on its own so
/// one bad order never hides the others. `line` is the 1-based position.
pub fn parse_orders(body: &Value) -> Result<Vec<Parsed>, EventError> {
    let obj = body
        .as_object()
        .ok_or_else(|| EventError::Shape(kind(body)))?;
    if obj.contains_key("Records") {
        return Err(EventError::NotForThisFunction(
            "this is an event from SQS, SNS or S3 (it has \"Records\"); the producer takes orders"
                .into(),
        ));
    }
    let Some(orders) = obj.get("orders") else {
        return Ok(vec![Parsed::from_value(1, body)]);
    };
    let orders = orders
        .as_array()
        .ok_or_else(|| EventError::OrdersNotArray(kind(orders)))?;
    if orders.is_empty() {
        return Err(EventError::NoOrders);
    }
    if orders.len() > MAX_ORDERS {
        return Err(EventError::TooManyOrders {
            count: orders.len(),
        });
    }
    Ok(orders
        .iter()
        .enumerate()
        .map(|(i, o)| match o {
            Value::Object(_) => Parsed::from_value(i + 1, o),
            other => Parsed {
                line: i + 1,
                order_id: None,
                order: Err(OrderError::Json(format!(
                    "an order is a JSON object, got {}",
                    kind(other)
                ))),
            },
        })
        .collect())
}

fn http_error(status: u16, message: impl Into<String>) -> HttpError {
    HttpError {
        status,
        message: message.into(),
    }
}

fn parse_http(request: ApiGatewayV2httpRequest) -> Result<Vec<Parsed>, HttpError> {
    let method = &request.request_context.http.method;
    let path = request
        .raw_path
        .as_deref()
        .or(request.request_context.http.path.as_deref())
        .unwrap_or("");
    let routed = request.request_context.route_key.as_deref() == Some("POST /orders")
        || path.trim_end_matches('/').ends_with("/orders");
    if !routed {
        // The path is the caller's text, and is logged: blanked like any.
        return Err(http_error(
            404,
            format!("no route for {method} {}: use POST /orders", redact(path)),
        ));
    }
    if method != Method::POST {
        return Err(http_error(
            405,
            format!("{method} is not allowed on /orders: use POST"),
        ));
    }
    let body = request.body.unwrap_or_default();
    if body.trim().is_empty() {
        return Err(http_error(
            400,
            "the request has no body: send one order or {\"orders\": [...]}",
        ));
    }
    let text = if request.is_base64_encoded {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| {
                http_error(
                    400,
                    format!("the body is marked base64 but does not decode: {e}"),
                )
            })?;
        String::from_utf8(bytes).map_err(|_| http_error(400, "the body is not UTF-8 text"))?
    } else {
        body
    };
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| http_error(400, format!("the body is not JSON: {e}")))?;
    parse_orders(&json).map_err(|e| http_error(400, e.to_string()))
}

/// Tells the event shapes apart. An object with `requestContext.http` is an
/// HTTP API request; anything else is a direct invocation.
pub fn parse_event(event: &Value) -> Result<Request, EventError> {
    let Some(context) = event.get("requestContext") else {
        return parse_orders(event).map(Request::Direct);
    };
    if context.get("http").is_none() {
        return Err(EventError::NotForThisFunction(
            "API Gateway REST API (payload format 1.0) events are not supported: use an HTTP API with payload format 2.0".into(),
        ));
    }
    if let Some(v) = event.get("version").and_then(Value::as_str)
        && v != "2.0"
    {
        // The caller's text: repeated only when it looks like a version.
        let v = if v.len() <= 8 && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            v
        } else {
            "(not shown)"
        };
        return Err(EventError::Http(format!(
            "payload format version {v:?}, expected \"2.0\""
        )));
    }
    let request: ApiGatewayV2httpRequest = serde_json::from_value(event.clone())
        .map_err(|e| EventError::Http(serde_message(&e.to_string())))?;
    Ok(Request::Http(parse_http(request)))
}

/// An HTTP API (payload format 2.0) response with a JSON body.
pub fn http_response(status: u16, body: &impl Serialize) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == 405 {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status.into();
    r.headers = headers;
    r.body = Some(Body::Text(
        serde_json::to_string(body).expect("responses serialise"),
    ));
    r.is_base64_encoded = false;
    serde_json::to_value(r).expect("responses serialise")
}

#[cfg(test)]
mod tests {
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
            Request::Http(r) => r,
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
            err(json!({"Records": [{"eventSource": "aws:sqs"}]}))
                .contains("the producer takes orders")
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
}
