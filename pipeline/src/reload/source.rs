//! Where a plugin cache reads its manifest and plugins from.

use super::signing::SignatureMeta;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an object could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct SourceError {
    /// `s3://bucket/key` or a path.
    pub object: String,
    pub message: String,
    /// The object does not exist (as opposed to a failed request).
    pub missing: bool,
}

/// One fetched manifest and what the store says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestObject {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
    /// RFC 3339.
    pub last_modified: Option<String>,
    pub version_id: Option<String>,
    /// What the store holds beside the bytes about their signature.
    pub signature: SignatureMeta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestFetch {
    /// The ETag given still matches (HTTP 304).
    NotModified,
    Fetched(ManifestObject),
}

/// Where a function reads its manifest and plugins from. S3 in Lambda; a
/// directory for tests and local runs.
pub trait PluginSource: Send + Sync {
    /// The manifest's name in errors and logs (`s3://bucket/key`).
    fn manifest_name(&self) -> String;
    /// The name of a plugin object, given its path relative to the manifest.
    fn object_name(&self, relative: &str) -> String;
    /// Fetches the manifest unless its ETag is still `if_none_match`.
    fn fetch_manifest<'a>(
        &'a self,
        if_none_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ManifestFetch, SourceError>>;
    /// Fetches a plugin, or a plugin's precompiled artifact, by its path
    /// relative to the manifest.
    fn fetch_wasm<'a>(&'a self, relative: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>>;
}
