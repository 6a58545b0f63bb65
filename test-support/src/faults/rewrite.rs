//! What the injector does to a call it lets through in part: a batch with
//! some entries or items taken out and answered as failed, an object with
//! a byte changed.

use super::{Fault, Faults, Service, wire};
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

impl Faults {
    /// Takes the entries drawn to fail out of the request, sends the rest,
    /// and answers the taken ones `Failed` beside moto's own answers.
    pub(super) async fn publish_batch(
        &self,
        mut request: HttpRequest,
        inner: SharedHttpConnector,
    ) -> Result<HttpResponse, ConnectorError> {
        use wire::{FormBatch, publish_batch_answer, xml_part};
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        let mut batch = FormBatch::parse(&body);
        let mut failed = Vec::new();
        batch.entries.retain(|entry| {
            let id = entry.id();
            if self.roll(Fault::EntryRefused) {
                failed.push((id, true));
            } else if self.roll(Fault::EntryFailed) {
                failed.push((id, false));
            } else {
                return true;
            }
            false
        });
        if failed.is_empty() {
            return inner.call(request).await;
        }
        let (mut successful, mut refused) = (String::new(), String::new());
        if !batch.entries.is_empty() {
            set_body(&mut request, batch.to_form().into_bytes());
            let (status, answer) = read(inner.call(request).await?).await?;
            if status != 200 {
                return Ok(wire::rebuilt(status, answer, "text/xml"));
            }
            let answer = String::from_utf8_lossy(&answer).into_owned();
            successful = xml_part(&answer, "Successful");
            refused = xml_part(&answer, "Failed");
        }
        let body = publish_batch_answer(&successful, &refused, &failed);
        Ok(wire::rebuilt(200, body.into_bytes(), "text/xml"))
    }

    /// Takes the items drawn to stay unprocessed out of the request, writes
    /// the rest, and answers the taken ones in `UnprocessedItems`. When no
    /// item is left, DynamoDB answers the whole call with its throttling
    /// error, and so does this.
    pub(super) async fn batch_write(
        &self,
        mut request: HttpRequest,
        inner: SharedHttpConnector,
    ) -> Result<HttpResponse, ConnectorError> {
        use serde_json::{Map, Value};
        let Ok(mut body) =
            serde_json::from_slice::<Value>(request.body().bytes().unwrap_or_default())
        else {
            return inner.call(request).await;
        };
        let mut unprocessed = Map::new();
        let mut kept = 0;
        if let Some(tables) = body["RequestItems"].as_object_mut() {
            for (table, writes) in tables.iter_mut() {
                let Some(writes) = writes.as_array_mut() else {
                    continue;
                };
                let (left, written): (Vec<Value>, Vec<Value>) = writes
                    .drain(..)
                    .partition(|_| self.roll(Fault::Unprocessed));
                kept += written.len();
                *writes = written;
                if !left.is_empty() {
                    unprocessed.insert(table.clone(), Value::Array(left));
                }
            }
            tables.retain(|_, w| w.as_array().is_some_and(|w| !w.is_empty()));
        }
        if unprocessed.is_empty() {
            return inner.call(request).await;
        }
        if kept == 0 {
            return Ok(wire::throttled(Service::DynamoDb));
        }
        set_body(&mut request, body.to_string().into_bytes());
        let (status, answer) = read(inner.call(request).await?).await?;
        let json = "application/x-amz-json-1.0";
        let Ok(mut answer) = serde_json::from_slice::<Value>(&answer).map_err(|_| ()) else {
            return Ok(wire::rebuilt(status, answer, json));
        };
        if status != 200 {
            return Ok(wire::rebuilt(status, answer.to_string().into_bytes(), json));
        }
        let merged = answer["UnprocessedItems"]
            .as_object_mut()
            .map(std::mem::take);
        for (table, writes) in merged.into_iter().flatten() {
            let list = unprocessed
                .entry(table)
                .or_insert_with(|| Value::Array(vec![]));
            list.as_array_mut()
                .unwrap()
                .extend(writes.as_array().cloned().unwrap_or_default());
        }
        answer["UnprocessedItems"] = Value::Object(unprocessed);
        Ok(wire::rebuilt(200, answer.to_string().into_bytes(), json))
    }

    /// Serves the object with one byte changed, drawn per call.
    pub(super) async fn get_object(
        &self,
        request: HttpRequest,
        inner: SharedHttpConnector,
    ) -> Result<HttpResponse, ConnectorError> {
        let response = inner.call(request).await?;
        if response.status().as_u16() != 200 || !self.roll(Fault::Tampered) {
            return Ok(response);
        }
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("x-amz-checksum") && k != "content-md5" && k != "content-length"
            })
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (_, mut bytes) = read(response).await?;
        let middle = bytes.len() / 2;
        if let Some(b) = bytes.get_mut(middle) {
            *b ^= 0x5a;
        }
        headers.push(("content-length".into(), bytes.len().to_string()));
        let mut out = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(bytes));
        for (k, v) in headers {
            out.headers_mut().insert(k, v);
        }
        Ok(out)
    }
}

fn set_body(request: &mut HttpRequest, bytes: Vec<u8>) {
    request
        .headers_mut()
        .insert("content-length", bytes.len().to_string());
    *request.body_mut() = SdkBody::from(bytes);
}

async fn read(response: HttpResponse) -> Result<(u16, Vec<u8>), ConnectorError> {
    let status = response.status().as_u16();
    let bytes = ByteStream::new(response.into_body())
        .collect()
        .await
        .map_err(|e| ConnectorError::io(e.into()))?;
    Ok((status, bytes.into_bytes().to_vec()))
}
