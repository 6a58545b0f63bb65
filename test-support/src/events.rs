//! Lambda events as the runtime delivers them.

use serde_json::{Value, json};

/// An API Gateway HTTP API request (payload format 2.0).
pub fn http_event(method: &str, path: &str, body: Option<&str>, base64: bool) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "curl"},
            "requestId": "r-1", "routeKey": "$default", "stage": "$default", "time": "24/Nov/2026:10:15:00 +0000", "timeEpoch": 1795515300000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// `POST /orders` with a JSON body.
pub fn http_post(body: &str) -> Value {
    http_event("POST", "/orders", Some(body), false)
}

/// The JSON body of an HTTP API response.
pub fn http_body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a response body"))
        .expect("a JSON response body")
}
