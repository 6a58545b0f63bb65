//! The wire formats the fault injector reads and writes: which call a
//! request is, the services' error answers, SNS's query-form batch and its
//! XML answer.

use super::{Call, Service};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::collections::BTreeMap;

const ENTRY: &str = "PublishBatchRequestEntries.member.";
const JSON: &str = "application/x-amz-json-1.0";

/// Names a request: JSON protocols by `X-Amz-Target`, SNS's query protocol
/// by its form's `Action`, S3 by the `x-id` the SDK adds (else its method).
pub fn call_of(service: Service, request: &HttpRequest) -> Call {
    let uri = request.uri();
    let after_host = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
    let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
    let form = || {
        let body = std::str::from_utf8(request.body().bytes()?).ok()?;
        let (_, v) = pairs(body).find(|(k, _)| *k == "Action")?;
        Some(v.to_string())
    };
    let x_id = || {
        let (_, v) = pairs(query).find(|(k, _)| *k == "x-id")?;
        Some(v.to_string())
    };
    let action = match request.headers().get("x-amz-target") {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
        None => form()
            .or_else(x_id)
            .unwrap_or_else(|| request.method().to_string()),
    };
    Call {
        service,
        action,
        path: path.to_string(),
    }
}

fn pairs(form: &str) -> impl Iterator<Item = (&str, &str)> {
    form.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// The service's own throttling answer (S3 throttles with 503 `SlowDown`).
pub fn throttled(service: Service) -> HttpResponse {
    match service {
        Service::Sns => query_error(400, "Sender", "Throttling", "Rate exceeded"),
        Service::DynamoDb => json_error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded",
        ),
        Service::Sqs => json_error(
            400,
            "com.amazonaws.sqs#ThrottlingException",
            "Rate exceeded",
        ),
        Service::S3 => s3_error(503, "SlowDown", "Please reduce your request rate."),
    }
}

/// 503 Service Unavailable, in the service's error format.
pub fn unavailable(service: Service) -> HttpResponse {
    let message = "Service is unavailable. Try again later.";
    match service {
        Service::Sns => query_error(503, "Receiver", "ServiceUnavailable", message),
        Service::DynamoDb | Service::Sqs => json_error(503, "ServiceUnavailable", message),
        Service::S3 => s3_error(503, "ServiceUnavailable", message),
    }
}

fn query_error(status: u16, kind: &str, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>{kind}</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>orderflow-fault</RequestId></ErrorResponse>"
    );
    rebuilt(status, body.into_bytes(), "text/xml")
}

fn json_error(status: u16, kind: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    rebuilt(status, body.into_bytes(), JSON)
}

fn s3_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>orderflow-fault</RequestId></Error>"
    );
    rebuilt(status, body.into_bytes(), "application/xml")
}

/// A response made here, not by the server.
pub fn rebuilt(status: u16, body: Vec<u8>, content_type: &'static str) -> HttpResponse {
    let status = StatusCode::try_from(status).expect("a valid status");
    let length = body.len().to_string();
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    let headers = response.headers_mut();
    headers.insert("content-type", content_type);
    headers.insert("content-length", length);
    headers.insert("x-amzn-requestid", "orderflow-fault");
    response
}

/// A `PublishBatch` query form: its other parameters, and its entries in order.
pub struct FormBatch {
    head: Vec<String>,
    pub entries: Vec<FormEntry>,
}

/// One entry's parameters (`Id`, `Message`, `MessageAttributes.entry.1.Name`, …), still encoded.
pub struct FormEntry(Vec<(String, String)>);

impl FormEntry {
    /// The entry's id, decoded.
    pub fn id(&self) -> String {
        let raw = self
            .0
            .iter()
            .find(|(k, _)| k == "Id")
            .map_or("", |(_, v)| v);
        decode(raw)
    }
}

impl FormBatch {
    pub fn parse(form: &str) -> FormBatch {
        let mut head = Vec::new();
        let mut entries: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
        for (k, v) in pairs(form) {
            let numbered = k.strip_prefix(ENTRY).and_then(|rest| {
                let (n, field) = rest.split_once('.')?;
                Some((n.parse::<usize>().ok()?, field))
            });
            match numbered {
                Some((n, field)) => entries
                    .entry(n)
                    .or_default()
                    .push((field.to_string(), v.to_string())),
                None => head.push(format!("{k}={v}")),
            }
        }
        FormBatch {
            head,
            entries: entries.into_values().map(FormEntry).collect(),
        }
    }

    /// The form again, its entries numbered from 1.
    pub fn to_form(&self) -> String {
        let mut parts = self.head.clone();
        for (i, entry) in self.entries.iter().enumerate() {
            for (field, v) in &entry.0 {
                parts.push(format!("{ENTRY}{}.{field}={v}", i + 1));
            }
        }
        parts.join("&")
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What is inside `<tag>…</tag>` (empty for `<tag/>` or no such element).
pub fn xml_part(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let Some(start) = xml.find(&open).map(|i| i + open.len()) else {
        return String::new();
    };
    let close = format!("</{tag}>");
    xml[start..]
        .find(&close)
        .map_or_else(String::new, |end| xml[start..start + end].to_string())
}

/// A `PublishBatch` answer: the server's own successful and failed members,
/// and the injected failures (`(id, sender_fault)`).
pub fn publish_batch_answer(successful: &str, failed: &str, injected: &[(String, bool)]) -> String {
    let mut members = failed.to_string();
    for (id, sender_fault) in injected {
        let (code, message) = match sender_fault {
            true => ("InvalidParameter", "Invalid parameter: injected refusal"),
            false => ("InternalError", "Internal error: injected failure"),
        };
        members.push_str(&format!(
            "<member><Id>{}</Id><Code>{code}</Code><Message>{message}</Message>\
             <SenderFault>{sender_fault}</SenderFault></member>",
            escape(id)
        ));
    }
    format!(
        "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishBatchResult>\
         <Successful>{successful}</Successful><Failed>{members}</Failed></PublishBatchResult>\
         <ResponseMetadata><RequestId>orderflow-fault</RequestId></ResponseMetadata></PublishBatchResponse>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_form_loses_entries_and_is_renumbered() {
        let form = "Action=PublishBatch&TopicArn=arn%3Ax\
            &PublishBatchRequestEntries.member.1.Id=a%2D1&PublishBatchRequestEntries.member.1.Message=x\
            &PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.Message=y";
        let mut batch = FormBatch::parse(form);
        assert_eq!(
            batch.entries.iter().map(FormEntry::id).collect::<Vec<_>>(),
            ["a-1", "b"]
        );
        batch.entries.remove(0);
        assert_eq!(
            batch.to_form(),
            "Action=PublishBatch&TopicArn=arn%3Ax&PublishBatchRequestEntries.member.1.Id=b\
             &PublishBatchRequestEntries.member.1.Message=y"
        );
    }

    #[test]
    fn xml_parts_are_found_or_empty() {
        let xml = "<R><Successful><member><Id>a</Id></member></Successful><Failed/></R>";
        assert_eq!(xml_part(xml, "Successful"), "<member><Id>a</Id></member>");
        assert_eq!(xml_part(xml, "Failed"), "");
        let answer = publish_batch_answer("", "", &[("a<b".into(), true)]);
        assert!(
            answer.contains("<Id>a&lt;b</Id><Code>InvalidParameter</Code>"),
            "{answer}"
        );
    }
}
