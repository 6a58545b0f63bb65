//! Lambda events as the runtime delivers them.

use serde_json::{Value, json};

/// Who signed a request, as API Gateway's IAM authorizer reports it in
/// `requestContext.authorizer.iam`.
#[derive(Debug, Clone)]
pub struct IamCaller {
    pub access_key: String,
    pub account_id: String,
    pub caller_id: String,
    pub user_arn: String,
    pub principal_org_id: String,
}

impl Default for IamCaller {
    /// A role session, the usual client.
    fn default() -> IamCaller {
        IamCaller {
            access_key: "ASIAXAMPLEACCESSKEY1".into(),
            account_id: "123456789012".into(),
            caller_id: "AROAXAMPLEROLEID1234:orders-client".into(),
            user_arn: "arn:aws:sts::123456789012:assumed-role/orderflow-client/orders-client"
                .into(),
            principal_org_id: "o-exampleorg1".into(),
        }
    }
}

/// `requestContext.authorizer` of a SigV4-signed request (route auth AWS_IAM).
pub fn iam_authorizer(caller: &IamCaller) -> Value {
    json!({"iam": {
        "accessKey": caller.access_key, "accountId": caller.account_id,
        "callerId": caller.caller_id, "cognitoIdentity": null,
        "principalOrgId": caller.principal_org_id, "userArn": caller.user_arn,
        "userId": caller.caller_id
    }})
}

/// `requestContext.authorizer` of a request with a valid bearer JWT (route auth JWT).
pub fn jwt_authorizer(subject: &str) -> Value {
    json!({"jwt": {
        "claims": {"sub": subject, "iss": "https://issuer.example.com", "aud": "orders-client"},
        "scopes": null
    }})
}

/// `POST /orders` as API Gateway delivers it for a request `caller` signed
/// with SigV4.
pub fn signed_http_post(body: &str, caller: &IamCaller) -> Value {
    let mut event = http_post(body);
    event["routeKey"] = json!("POST /orders");
    event["requestContext"]["routeKey"] = json!("POST /orders");
    event["requestContext"]["authorizer"] = iam_authorizer(caller);
    event
}

/// `event` without the authorizer's context: what a route deployed
/// without authorization would deliver.
pub fn without_authorizer(mut event: Value) -> Value {
    event["requestContext"]
        .as_object_mut()
        .expect("an HTTP API event")
        .remove("authorizer");
    event
}

/// An API Gateway HTTP API request (payload format 2.0), signed by the
/// default [`IamCaller`] (every route of the template's API has an
/// authorizer).
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
            "authorizer": iam_authorizer(&IamCaller::default()),
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
