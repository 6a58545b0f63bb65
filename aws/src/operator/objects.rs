//! The S3 calls publish, rollback and status share: whole objects with
//! their metadata, heads, and conditional PUTs that report a lost race as
//! [`OperatorError::Conflict`].

use super::{META_REVISION, OperatorError, PluginStore, S3Failure};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::{ByteStream, DateTimeFormat};
use orderflow_host::Manifest;
use std::collections::HashMap;

pub(super) struct Object {
    pub(super) bytes: Vec<u8>,
    pub(super) etag: Option<String>,
    pub(super) version_id: Option<String>,
    pub(super) last_modified: Option<String>,
    pub(super) metadata: HashMap<String, String>,
}

impl Object {
    /// The revision of a manifest object: its content's, or, when it does
    /// not parse (a hand-made upload gone wrong), the one its metadata
    /// records, so that publish and rollback can still replace it.
    pub(super) fn revision(&self) -> Option<String> {
        match Manifest::parse(&self.bytes, "(live)") {
            Ok(m) => Some(m.revision),
            Err(_) => self.metadata.get(META_REVISION).cloned(),
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Condition<'a> {
    /// The object's ETag is still this.
    Matches(&'a str),
    /// There is no object yet.
    Absent,
}

fn status_of<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}

impl PluginStore {
    pub(super) fn s3_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        action: &'static str,
        key: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> OperatorError {
        let (message, hint) = crate::sdk_error::summary(e);
        OperatorError::S3(Box::new(S3Failure {
            action,
            bucket: self.location.bucket.clone(),
            key: key.to_string(),
            message,
            hint,
            detail: DisplayErrorContext(e).to_string(),
        }))
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Object>, OperatorError> {
        match self
            .s3
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_string);
                let version_id = out.version_id().map(str::to_string);
                let last_modified = out
                    .last_modified()
                    .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok());
                let metadata = out.metadata().cloned().unwrap_or_default();
                let bytes = out.body.collect().await.map_err(|e| {
                    OperatorError::S3(Box::new(S3Failure {
                        action: "GetObject",
                        bucket: self.location.bucket.clone(),
                        key: key.to_string(),
                        message: format!("the download broke off: {e}"),
                        hint: "try again",
                        detail: DisplayErrorContext(&e).to_string(),
                    }))
                })?;
                Ok(Some(Object {
                    bytes: bytes.to_vec(),
                    etag,
                    version_id,
                    last_modified,
                    metadata,
                }))
            }
            Err(SdkError::ServiceError(se)) if matches!(se.err(), GetObjectError::NoSuchKey(_)) => {
                Ok(None)
            }
            Err(e) => Err(self.s3_error("GetObject", key, &e)),
        }
    }

    /// The object's size and user metadata, or `None` if it is not there.
    pub(super) async fn head(
        &self,
        key: &str,
    ) -> Result<Option<(u64, HashMap<String, String>)>, OperatorError> {
        match self
            .s3
            .head_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some((
                out.content_length().unwrap_or(0).max(0) as u64,
                out.metadata().cloned().unwrap_or_default(),
            ))),
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), HeadObjectError::NotFound(_))
                    || se.raw().status().as_u16() == 404 =>
            {
                Ok(None)
            }
            Err(e) => Err(self.s3_error("HeadObject", key, &e)),
        }
    }

    pub(super) async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &[(&str, &str)],
        condition: Option<Condition<'_>>,
    ) -> Result<(), OperatorError> {
        let mut req = self
            .s3
            .put_object()
            .bucket(&self.location.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes));
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        req = match condition {
            Some(Condition::Matches(etag)) => req.if_match(etag),
            Some(Condition::Absent) => req.if_none_match("*"),
            None => req,
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition.is_some() && matches!(status_of(&e), Some(412) | Some(409)) => {
                Err(OperatorError::Conflict {
                    bucket: self.location.bucket.clone(),
                    key: key.to_string(),
                })
            }
            Err(e) => Err(self.s3_error("PutObject", key, &e)),
        }
    }
}
