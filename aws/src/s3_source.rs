//! The plugin cache's source in Lambda: the manifest and plugins in a
//! bucket. The manifest is fetched with a conditional GET (`If-None-Match`
//! on the ETag the cache holds), so an unchanged manifest costs one request
//! and a 304; objects are size-capped before they are read.
//!
//! The cache itself (refresh, keep the last good set, swap) knows no AWS:
//! it is `orderflow_pipeline::reload`.

use crate::config::PluginLocation;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::DateTimeFormat;
use orderflow_pipeline::reload::{
    BoxFuture, ManifestFetch, ManifestObject, PluginSource, SignatureMeta, SourceError,
};

/// A manifest is a few KB; refuse anything absurd before reading it.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// A plugin component is tens to hundreds of KB.
pub const MAX_WASM_BYTES: u64 = 32 << 20;

/// The manifest and plugins in a bucket.
#[derive(Clone, Debug)]
pub struct S3Source {
    client: Client,
    location: PluginLocation,
}

impl S3Source {
    pub fn new(client: Client, location: PluginLocation) -> S3Source {
        S3Source { client, location }
    }

    pub fn location(&self) -> &PluginLocation {
        &self.location
    }

    async fn get(
        &self,
        key: &str,
        if_none_match: Option<&str>,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, ManifestMeta)>, SourceError> {
        let object = format!("s3://{}/{key}", self.location.bucket);
        let fail = |message: String, missing: bool| SourceError {
            object: object.clone(),
            message,
            missing,
        };
        let out = match self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .set_if_none_match(if_none_match.map(String::from))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_modified(&e) => return Ok(None),
            Err(e) => {
                let missing = matches!(&e, SdkError::ServiceError(se) if matches!(se.err(), GetObjectError::NoSuchKey(_)))
                    || matches!(&e, SdkError::ServiceError(se) if se.raw().status().as_u16() == 404);
                let message = if missing {
                    "no such object".to_string()
                } else {
                    format!("GetObject failed: {}", DisplayErrorContext(&e))
                };
                return Err(fail(message, missing));
            }
        };
        if let Some(len) = out.content_length()
            && len as u64 > limit
        {
            return Err(fail(
                format!("{len} bytes, over the limit of {limit}"),
                false,
            ));
        }
        let meta = ManifestMeta {
            etag: out.e_tag().map(str::to_string),
            last_modified: out
                .last_modified()
                .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok()),
            version_id: out.version_id().map(str::to_string),
            signature: signature_meta(out.metadata()),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("reading the object failed: {e}"), false))?
            .to_vec();
        if bytes.len() as u64 > limit {
            return Err(fail(
                format!("{} bytes, over the limit of {limit}", bytes.len()),
                false,
            ));
        }
        Ok(Some((bytes, meta)))
    }
}

struct ManifestMeta {
    etag: Option<String>,
    last_modified: Option<String>,
    version_id: Option<String>,
    signature: SignatureMeta,
}

/// The signature a publisher stored beside the manifest (user metadata,
/// written with the bytes in one PUT: see `orderflow_pipeline::reload::signing`).
pub fn signature_meta(
    metadata: Option<&std::collections::HashMap<String, String>>,
) -> SignatureMeta {
    let get = |k: &str| metadata.and_then(|m| m.get(k)).cloned();
    SignatureMeta {
        signature: get(META_SIGNATURE),
        key_id: get(META_KEY_ID),
        sequence: get(META_SEQUENCE),
    }
}

pub const META_SIGNATURE: &str = "orderflow-signature";
pub const META_KEY_ID: &str = "orderflow-key-id";
/// The same key the operator's history writes (`operator::history`).
pub const META_SEQUENCE: &str = "orderflow-sequence";

/// S3 answers a matching `If-None-Match` with 304 Not Modified, which the
/// SDK has no modelled error for: it surfaces as an unhandled service error.
pub fn is_not_modified<E, R>(err: &SdkError<E, R>) -> bool
where
    R: HttpStatus,
{
    matches!(err, SdkError::ServiceError(e) if e.raw().status_code() == 304)
}

/// The HTTP status of a raw response (lets [`is_not_modified`] stay generic
/// over the SDK's response type).
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl PluginSource for S3Source {
    fn manifest_name(&self) -> String {
        self.location.manifest_uri()
    }

    fn object_name(&self, relative: &str) -> String {
        format!(
            "s3://{}/{}",
            self.location.bucket,
            self.location.key(relative)
        )
    }

    fn fetch_manifest<'a>(
        &'a self,
        if_none_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ManifestFetch, SourceError>> {
        Box::pin(async move {
            Ok(
                match self
                    .get(
                        &self.location.manifest_key,
                        if_none_match,
                        MAX_MANIFEST_BYTES,
                    )
                    .await?
                {
                    None => ManifestFetch::NotModified,
                    Some((bytes, meta)) => ManifestFetch::Fetched(ManifestObject {
                        bytes,
                        etag: meta.etag,
                        last_modified: meta.last_modified,
                        version_id: meta.version_id,
                        signature: meta.signature,
                    }),
                },
            )
        })
    }

    fn fetch_wasm<'a>(&'a self, relative: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            let key = self.location.key(relative);
            match self.get(&key, None, MAX_WASM_BYTES).await? {
                Some((bytes, _)) => Ok(bytes),
                None => Err(SourceError {
                    object: self.object_name(relative),
                    message: "unexpected 304".into(),
                    missing: false,
                }),
            }
        })
    }
}
