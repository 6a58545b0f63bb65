//! A manifest file and the plugins next to it.

use super::source::{BoxFuture, ManifestFetch, ManifestObject, PluginSource, SourceError};
use orderflow_host::manifest::sha256_hex;
use std::path::{Path, PathBuf};

/// A manifest file and the plugins next to it; the ETag is the sha256 of
/// the manifest's bytes. For tests and for running a function locally.
#[derive(Clone, Debug)]
pub struct DirSource {
    manifest: PathBuf,
}

impl DirSource {
    pub fn new(manifest: impl Into<PathBuf>) -> DirSource {
        DirSource {
            manifest: manifest.into(),
        }
    }

    fn dir(&self) -> &Path {
        self.manifest.parent().unwrap_or(Path::new("."))
    }
}

impl PluginSource for DirSource {
    fn manifest_name(&self) -> String {
        self.manifest.display().to_string()
    }

    fn object_name(&self, relative: &str) -> String {
        self.dir().join(relative).display().to_string()
    }

    fn fetch_manifest<'a>(
        &'a self,
        if_none_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ManifestFetch, SourceError>> {
        Box::pin(async move {
            let bytes = std::fs::read(&self.manifest).map_err(|e| SourceError {
                object: self.manifest_name(),
                message: e.to_string(),
                missing: e.kind() == std::io::ErrorKind::NotFound,
            })?;
            let etag = format!("\"{}\"", sha256_hex(&bytes));
            if if_none_match == Some(etag.as_str()) {
                return Ok(ManifestFetch::NotModified);
            }
            Ok(ManifestFetch::Fetched(ManifestObject {
                bytes,
                etag: Some(etag),
                last_modified: None,
                version_id: None,
                signature: Default::default(),
            }))
        })
    }

    fn fetch_wasm<'a>(&'a self, relative: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            std::fs::read(self.dir().join(relative)).map_err(|e| SourceError {
                object: self.object_name(relative),
                message: e.to_string(),
                missing: e.kind() == std::io::ErrorKind::NotFound,
            })
        })
    }
}
