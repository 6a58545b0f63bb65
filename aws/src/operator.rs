//! The operator's side of plugin sets: publish, roll back, show what is live.
//!
//! Layout under the manifest's directory (`plugins/` by default):
//!
//! | key | what |
//! | --- | --- |
//! | `plugins/<stem>-<sha8>.wasm` | a plugin, content-addressed: never overwritten, so a manifest always gets the bytes it pins |
//! | `plugins/manifests/<hex>.json` | every manifest ever published, named by its revision (sha256 of its bytes) |
//! | `plugins/manifest.json` | the live manifest: a byte-identical copy of one of the above |
//!
//! Each manifest copy and the live manifest carry S3 user metadata:
//! `orderflow-revision`, `orderflow-previous-revision` (the revision that
//! was live when this one was published), `orderflow-published-at` and
//! `orderflow-action` (`publish` or `rollback`). A rollback makes the
//! previous revision live again, so repeated rollbacks walk back through
//! the publish history; `rollback(Some(rev))` goes to any published
//! revision. None of this needs bucket versioning (so it works the same on
//! a local server), but the template turns versioning on as well: every
//! version of `manifest.json` stays recoverable for 90 days.
//!
//! The live manifest is replaced with a conditional PUT (`If-Match` on the
//! ETag of the live manifest this publish read, or `If-None-Match: *` for the
//! first one), so two operators publishing at once cannot silently overwrite
//! each other: the second gets [`OperatorError::Conflict`] and runs again.
//!
//! Publishing checks before it uploads anything: the source manifest's
//! shape, each built plugin against any sha256 the source pins, and (given
//! a [`Runtime`]) that every plugin compiles and accepts its configuration,
//! exactly as the functions will load it.

use crate::config::PluginLocation;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use orderflow_host::manifest::{ManifestError, revision_of, sha256_hex};
use orderflow_host::{LoadError, Manifest, PluginSpec, RuleSet, Runtime, TransformChain};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const META_REVISION: &str = "orderflow-revision";
pub const META_PREVIOUS: &str = "orderflow-previous-revision";
pub const META_PUBLISHED_AT: &str = "orderflow-published-at";
pub const META_ACTION: &str = "orderflow-action";
pub const META_SHA256: &str = "orderflow-sha256";
/// How many published revisions [`PluginStore::status`] lists.
pub const HISTORY_LIMIT: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("plugin {plugin}: {path} has sha256 {actual}, but the source manifest pins {expected}")]
    HashMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{key} already exists with sha256 {existing}, not {wanted}: refusing to overwrite a content-addressed plugin"
    )]
    Collision {
        key: String,
        existing: String,
        wanted: String,
    },
    #[error("the new manifest would not load: {0}")]
    Load(#[from] LoadError),
    #[error("S3 {action} s3://{bucket}/{key}: {message}")]
    S3 {
        action: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    #[error("there is no live manifest at {uri}: publish one first")]
    NoLiveManifest { uri: String },
    #[error("revision {revision} has no previous revision recorded: nothing to roll back to")]
    NoPrevious { revision: String },
    #[error("revision {revision} was never published here (no {key})")]
    UnknownRevision { revision: String, key: String },
    #[error("{key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
    #[error(
        "the live manifest s3://{bucket}/{key} changed while this command ran (someone else published?); run it again"
    )]
    Conflict { bucket: String, key: String },
}

/// A plugin object as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginObject {
    /// `rule` or `transform`.
    pub kind: &'static str,
    pub name: String,
    pub version: String,
    pub key: String,
    pub sha256: String,
    pub size: u64,
    /// False when an identical object was already there.
    pub uploaded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub revision: String,
    /// What was live before, if anything.
    pub previous: Option<String>,
    /// False when the same revision was already live (nothing written but missing plugins).
    pub changed: bool,
    pub manifest_key: String,
    pub copy_key: String,
    pub plugins: Vec<PluginObject>,
    pub manifest: Manifest,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub from: String,
    pub to: String,
    pub manifest_key: String,
}

/// A plugin of the live manifest, and whether its object is there.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    pub kind: &'static str,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub key: String,
    pub present: bool,
    pub size: Option<u64>,
}

/// One published revision.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionRecord {
    pub revision: String,
    pub key: String,
    pub published_at: Option<String>,
    pub previous: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub bucket: String,
    pub manifest_key: String,
    pub revision: String,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub last_modified: Option<String>,
    pub published_at: Option<String>,
    /// `publish` or `rollback`.
    pub action: Option<String>,
    pub previous: Option<String>,
    pub plugins: Vec<PluginStatus>,
    /// Published revisions, newest first (at most [`HISTORY_LIMIT`]).
    pub history: Vec<RevisionRecord>,
}

struct Object {
    bytes: Vec<u8>,
    etag: Option<String>,
    version_id: Option<String>,
    last_modified: Option<String>,
    metadata: HashMap<String, String>,
}

/// The plugins of one manifest location, as an operator manages them.
#[derive(Clone, Debug)]
pub struct PluginStore {
    s3: Client,
    location: PluginLocation,
}

fn now() -> String {
    DateTime::from(std::time::SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

fn hex(revision: &str) -> &str {
    revision.strip_prefix("sha256:").unwrap_or(revision)
}

fn status_of<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}

/// `threshold.wasm` → `threshold`; anything outside a safe alphabet becomes `_`.
fn object_stem(wasm: &str) -> String {
    let file = wasm.rsplit('/').next().unwrap_or(wasm);
    let stem = file.strip_suffix(".wasm").unwrap_or(file);
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl PluginStore {
    pub fn new(s3: Client, location: PluginLocation) -> PluginStore {
        PluginStore { s3, location }
    }

    pub fn location(&self) -> &PluginLocation {
        &self.location
    }

    /// The key of the kept copy of a revision.
    pub fn copy_key(&self, revision: &str) -> String {
        self.location
            .key(&format!("manifests/{}.json", hex(revision)))
    }

    fn s3_error<E: std::error::Error + 'static>(
        &self,
        action: &'static str,
        key: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> OperatorError {
        OperatorError::S3 {
            action,
            bucket: self.location.bucket.clone(),
            key: key.to_string(),
            message: DisplayErrorContext(e).to_string(),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, OperatorError> {
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
                let bytes = out.body.collect().await.map_err(|e| OperatorError::S3 {
                    action: "GetObject",
                    bucket: self.location.bucket.clone(),
                    key: key.to_string(),
                    message: e.to_string(),
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
    async fn head(
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

    async fn put(
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

    /// Uploads the plugins `source` names (paths relative to `wasm_dir`)
    /// under content-addressed keys, fills in their sha256, and makes the
    /// resulting manifest live. With `verify`, the new set is loaded first
    /// and nothing is uploaded if any plugin would not load.
    pub async fn publish(
        &self,
        source: &Manifest,
        wasm_dir: &Path,
        verify: Option<&Runtime>,
    ) -> Result<PublishReport, OperatorError> {
        source.check("the source manifest", false)?;
        let mut manifest = source.clone();
        let mut bytes_by_sha: HashMap<String, Vec<u8>> = HashMap::new();
        let mut plugins = Vec::new();
        for (kind, specs) in [
            ("rule", &mut manifest.rules),
            ("transform", &mut manifest.transforms),
        ] {
            for spec in specs.iter_mut() {
                let path = wasm_dir.join(&spec.wasm);
                let bytes = std::fs::read(&path).map_err(|source| OperatorError::Read {
                    plugin: spec.name.clone(),
                    path: path.clone(),
                    source,
                })?;
                let sha = sha256_hex(&bytes);
                if !spec.sha256.is_empty() && spec.sha256 != sha {
                    return Err(OperatorError::HashMismatch {
                        plugin: spec.name.clone(),
                        path,
                        expected: spec.sha256.clone(),
                        actual: sha,
                    });
                }
                spec.wasm = format!("{}-{}.wasm", object_stem(&spec.wasm), &sha[..8]);
                spec.sha256 = sha.clone();
                plugins.push(PluginObject {
                    kind,
                    name: spec.name.clone(),
                    version: spec.version.clone(),
                    key: self.location.key(&spec.wasm),
                    sha256: sha.clone(),
                    size: bytes.len() as u64,
                    uploaded: false,
                });
                bytes_by_sha.insert(sha, bytes);
            }
        }
        let json = manifest.to_json_pretty().into_bytes();
        let loaded = Manifest::parse(&json, &self.location.manifest_uri())?;
        if let Some(runtime) = verify {
            let wasm =
                |spec: &PluginSpec| Ok(bytes_by_sha.get(&spec.sha256).cloned().unwrap_or_default());
            RuleSet::load(runtime, &loaded, &wasm)?;
            TransformChain::load(runtime, &loaded, &wasm)?;
        }

        // Plugins first: a manifest must never be live before its objects.
        let mut done: BTreeMap<String, bool> = BTreeMap::new();
        for p in plugins.iter_mut() {
            if let Some(&uploaded) = done.get(&p.key) {
                p.uploaded = uploaded;
                continue;
            }
            // An object already under the key must hold these very bytes.
            p.uploaded = match self.head(&p.key).await? {
                Some((_, meta)) => match meta.get(META_SHA256) {
                    Some(existing) if existing == &p.sha256 => false,
                    Some(existing) => {
                        return Err(OperatorError::Collision {
                            key: p.key.clone(),
                            existing: existing.clone(),
                            wanted: p.sha256.clone(),
                        });
                    }
                    // Not ours, or written without metadata: check the bytes.
                    None => match self.get(&p.key).await? {
                        Some(o) if sha256_hex(&o.bytes) == p.sha256 => false,
                        Some(o) => {
                            return Err(OperatorError::Collision {
                                key: p.key.clone(),
                                existing: sha256_hex(&o.bytes),
                                wanted: p.sha256.clone(),
                            });
                        }
                        None => true,
                    },
                },
                None => true,
            };
            if p.uploaded {
                self.put(
                    &p.key,
                    bytes_by_sha[&p.sha256].clone(),
                    "application/wasm",
                    &[(META_SHA256, &p.sha256)],
                    None,
                )
                .await?;
            }
            done.insert(p.key.clone(), p.uploaded);
        }

        let live = self.get(&self.location.manifest_key).await?;
        let previous = live.as_ref().map(|o| revision_of(&o.bytes));
        let copy_key = self.copy_key(&loaded.revision);
        let report = |changed| PublishReport {
            revision: loaded.revision.clone(),
            previous: previous.clone(),
            changed,
            manifest_key: self.location.manifest_key.clone(),
            copy_key: copy_key.clone(),
            plugins: plugins.clone(),
            manifest: loaded.manifest.clone(),
        };
        if previous.as_deref() == Some(loaded.revision.as_str()) {
            tracing::info!(revision = %loaded.revision, "this revision is already live; nothing to publish");
            return Ok(report(false));
        }
        let at = now();
        let mut meta = vec![
            (META_REVISION, loaded.revision.as_str()),
            (META_PUBLISHED_AT, at.as_str()),
            (META_ACTION, "publish"),
        ];
        if let Some(p) = &previous {
            meta.push((META_PREVIOUS, p.as_str()));
        }
        self.put(&copy_key, json.clone(), "application/json", &meta, None)
            .await?;
        let condition = match live.as_ref().and_then(|o| o.etag.as_deref()) {
            Some(etag) => Condition::Matches(etag),
            None => Condition::Absent,
        };
        self.put(
            &self.location.manifest_key,
            json,
            "application/json",
            &meta,
            Some(condition),
        )
        .await?;
        tracing::info!(revision = %loaded.revision, previous = ?previous, manifest = %self.location.manifest_uri(), "manifest published");
        Ok(report(true))
    }

    /// Makes an earlier revision live again: `to`, or the revision that was
    /// live before the current one was published. `to` may be a full
    /// revision (`sha256:…`), its hex, or a unique hex prefix of 8+ digits.
    pub async fn rollback(&self, to: Option<&str>) -> Result<RollbackReport, OperatorError> {
        let uri = self.location.manifest_uri();
        let live = self
            .get(&self.location.manifest_key)
            .await?
            .ok_or(OperatorError::NoLiveManifest { uri })?;
        let from = revision_of(&live.bytes);
        let target = match to {
            Some(t) => self.resolve(t).await?,
            None => {
                // The copy holds the history; the live object's metadata is a fallback.
                let recorded = match self.head(&self.copy_key(&from)).await? {
                    Some((_, meta)) => meta.get(META_PREVIOUS).cloned(),
                    None => None,
                };
                recorded
                    .or_else(|| live.metadata.get(META_PREVIOUS).cloned())
                    .ok_or(OperatorError::NoPrevious {
                        revision: from.clone(),
                    })?
            }
        };
        let key = self.copy_key(&target);
        let copy = self
            .get(&key)
            .await?
            .ok_or_else(|| OperatorError::UnknownRevision {
                revision: target.clone(),
                key: key.clone(),
            })?;
        let actual = revision_of(&copy.bytes);
        if actual != target {
            return Err(OperatorError::Corrupt {
                key,
                message: format!("its bytes are revision {actual}, not {target}"),
            });
        }
        let manifest = Manifest::parse(&copy.bytes, &key)?;
        // Never make live a manifest whose plugins are gone (a lifecycle rule, a manual delete).
        for spec in manifest
            .manifest
            .rules
            .iter()
            .chain(&manifest.manifest.transforms)
        {
            let plugin_key = self.location.key(&spec.wasm);
            if self.head(&plugin_key).await?.is_none() {
                return Err(OperatorError::Corrupt {
                    key,
                    message: format!("plugin {} is missing: no {plugin_key}", spec.name),
                });
            }
        }
        if target == from {
            return Ok(RollbackReport {
                from,
                to: target,
                manifest_key: self.location.manifest_key.clone(),
            });
        }
        let at = now();
        let mut meta = vec![
            (META_REVISION, target.as_str()),
            (META_PUBLISHED_AT, at.as_str()),
            (META_ACTION, "rollback"),
        ];
        if let Some(p) = copy.metadata.get(META_PREVIOUS) {
            meta.push((META_PREVIOUS, p.as_str()));
        }
        let condition = live.etag.as_deref().map(Condition::Matches);
        self.put(
            &self.location.manifest_key,
            copy.bytes,
            "application/json",
            &meta,
            condition,
        )
        .await?;
        tracing::info!(from = %from, to = %target, manifest = %self.location.manifest_uri(), "manifest rolled back");
        Ok(RollbackReport {
            from,
            to: target,
            manifest_key: self.location.manifest_key.clone(),
        })
    }

    /// A revision as the operator typed it → the full `sha256:<hex>`.
    async fn resolve(&self, given: &str) -> Result<String, OperatorError> {
        let h = hex(given.trim()).to_ascii_lowercase();
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(format!("sha256:{h}"));
        }
        if h.len() < 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(OperatorError::UnknownRevision {
                revision: given.to_string(),
                key: "(give 8 or more hex digits)".into(),
            });
        }
        let matches: Vec<String> = self
            .revisions()
            .await?
            .into_iter()
            .map(|(rev, _)| rev)
            .filter(|r| hex(r).starts_with(&h))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(OperatorError::UnknownRevision {
                revision: given.to_string(),
                key: self.copy_key(&format!("{h}…")),
            }),
            _ => Err(OperatorError::UnknownRevision {
                revision: given.to_string(),
                key: format!("(ambiguous: {} revisions start with {h})", matches.len()),
            }),
        }
    }

    /// Every kept revision with its last-modified time, from `manifests/`.
    async fn revisions(&self) -> Result<Vec<(String, Option<DateTime>)>, OperatorError> {
        let prefix = self.location.key("manifests/");
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.s3_error("ListObjectsV2", &prefix, &e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let Some(h) = key
                    .strip_prefix(&prefix)
                    .and_then(|k| k.strip_suffix(".json"))
                else {
                    continue;
                };
                if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    out.push((format!("sha256:{h}"), o.last_modified().cloned()));
                }
            }
        }
        Ok(out)
    }

    /// What is live: the manifest's revision and plugins (each checked to
    /// be present), when and how it became live, and the recent history.
    pub async fn status(&self) -> Result<Status, OperatorError> {
        let uri = self.location.manifest_uri();
        let live = self
            .get(&self.location.manifest_key)
            .await?
            .ok_or(OperatorError::NoLiveManifest { uri: uri.clone() })?;
        let manifest = Manifest::parse(&live.bytes, &uri)?;
        let mut plugins = Vec::new();
        for (kind, specs) in [
            ("rule", &manifest.manifest.rules),
            ("transform", &manifest.manifest.transforms),
        ] {
            for spec in specs {
                let key = self.location.key(&spec.wasm);
                let head = self.head(&key).await?;
                plugins.push(PluginStatus {
                    kind,
                    name: spec.name.clone(),
                    version: spec.version.clone(),
                    sha256: spec.sha256.clone(),
                    key,
                    present: head.is_some(),
                    size: head.map(|(size, _)| size),
                });
            }
        }
        let mut revisions = self.revisions().await?;
        revisions.sort_by(|a, b| {
            b.1.as_ref()
                .map(DateTime::as_nanos)
                .cmp(&a.1.as_ref().map(DateTime::as_nanos))
        });
        let mut history = Vec::new();
        for (revision, last_modified) in revisions.into_iter().take(HISTORY_LIMIT) {
            let key = self.copy_key(&revision);
            let meta = self.head(&key).await?.map(|(_, m)| m).unwrap_or_default();
            history.push(RevisionRecord {
                revision,
                key,
                published_at: meta.get(META_PUBLISHED_AT).cloned(),
                previous: meta.get(META_PREVIOUS).cloned(),
                last_modified: last_modified.and_then(|d| d.fmt(DateTimeFormat::DateTime).ok()),
            });
        }
        Ok(Status {
            bucket: self.location.bucket.clone(),
            manifest_key: self.location.manifest_key.clone(),
            revision: manifest.revision,
            etag: live.etag,
            version_id: live.version_id,
            last_modified: live.last_modified,
            published_at: live.metadata.get(META_PUBLISHED_AT).cloned(),
            action: live.metadata.get(META_ACTION).cloned(),
            previous: live.metadata.get(META_PREVIOUS).cloned(),
            plugins,
            history,
        })
    }
}

#[derive(Clone, Copy)]
enum Condition<'a> {
    /// The object's ETag is still this.
    Matches(&'a str),
    /// There is no object yet.
    Absent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_stems_are_safe_file_names() {
        assert_eq!(object_stem("threshold.wasm"), "threshold");
        assert_eq!(object_stem("build/vip-customer.wasm"), "vip-customer");
        assert_eq!(object_stem("odd name.v2.wasm"), "odd_name_v2");
    }

    #[test]
    fn revisions_and_hex_convert() {
        assert_eq!(hex("sha256:abc"), "abc");
        assert_eq!(hex("abc"), "abc");
    }
}
