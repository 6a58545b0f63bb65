//! The events the producer reads (a direct invocation, an API Gateway HTTP
//! API request) and the HTTP answers it gives: the wire at the function's
//! edge, apart from what it does with the orders.

use crate::caller::Caller;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use orderflow_order::caps::{
    MAX_ATTRIBUTE_NAME_BYTES, MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_LINES, MAX_SKU_BYTES,
};
use orderflow_order::redact::{redact, serde_message};
use orderflow_order::{OrderError, Parsed};
use serde::Serialize;
use serde_json::Value;

/// Orders one event may carry. A synchronous caller waits for all of them.
pub const MAX_ORDERS: usize = 100;

/// Bytes of the largest order validation accepts, as compact JSON: the
/// per-order caps (`orderflow_order::caps`) filled, every number at its
/// widest, ids at their 128 bytes and 64 for `created_at`.
pub const MAX_ORDER_JSON_BYTES: usize = MAX_LINES
    * (r#"{"sku":"","quantity":4294967295,"unit_price_minor":18446744073709551615},"#.len()
        + MAX_SKU_BYTES)
    + MAX_ATTRIBUTES * (r#""":"","#.len() + MAX_ATTRIBUTE_NAME_BYTES + MAX_ATTRIBUTE_VALUE_BYTES)
    + r#"{"order_id":"","customer_id":"","created_at":"","currency":"XXX","total_minor":18446744073709551615,"lines":[],"attributes":{}}"#.len()
    + 2 * 128
    + 64;

/// The largest HTTP body the function reads (API Gateway's own limit is a
/// fixed 10 MB): [`MAX_ORDERS`] of the largest orders, with as many bytes
/// again for indentation and escapes. Anything larger cannot be a request
/// the function would accept whole, so it is refused (413) before it is
/// parsed.
pub const MAX_BODY_BYTES: usize = 2 * MAX_ORDERS * MAX_ORDER_JSON_BYTES;
const _: () = assert!(
    MAX_BODY_BYTES < 10_000_000,
    "MAX_BODY_BYTES must stay under API Gateway's fixed 10 MB payload limit"
);

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
    Http(HttpRequest),
}

/// An HTTP API request.
#[derive(Debug)]
pub struct HttpRequest {
    /// API Gateway's id for the request (also in its access log).
    pub request_id: Option<String>,
    /// Who sent it; `None` (refused with 403) when API Gateway authorized no one.
    pub caller: Option<Caller>,
    /// Its orders, or the error status to answer.
    pub orders: Result<Vec<Parsed>, HttpError>,
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

fn parse_http(request: ApiGatewayV2httpRequest) -> HttpRequest {
    let caller = Caller::from_authorizer(request.request_context.authorizer.as_ref());
    let orders = match caller {
        // Only a mis-deployed route delivers a request nobody authenticated.
        None => Err(http_error(
            403,
            "the request was not authenticated: POST /orders takes SigV4-signed (IAM) or JWT-authorized requests only",
        )),
        Some(_) => parse_body(&request),
    };
    HttpRequest {
        request_id: request.request_context.request_id.clone(),
        caller,
        orders,
    }
}

fn too_large(bytes: usize) -> HttpError {
    http_error(
        413,
        format!(
            "the body has {bytes} bytes, more than the {MAX_BODY_BYTES} a request may have: split it"
        ),
    )
}

fn parse_body(request: &ApiGatewayV2httpRequest) -> Result<Vec<Parsed>, HttpError> {
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
    let body = request.body.as_deref().unwrap_or_default();
    // Base64 takes 4 bytes for 3: refused before it is decoded.
    let limit = if request.is_base64_encoded {
        MAX_BODY_BYTES.div_ceil(3) * 4
    } else {
        MAX_BODY_BYTES
    };
    if body.len() > limit {
        return Err(too_large(body.len()));
    }
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
        if bytes.len() > MAX_BODY_BYTES {
            return Err(too_large(bytes.len()));
        }
        String::from_utf8(bytes).map_err(|_| http_error(400, "the body is not UTF-8 text"))?
    } else {
        body.to_string()
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
mod tests;
