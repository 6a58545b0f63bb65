//! The operator's side of plugin sets: publish, roll back, show what is live.
//!
//! Layout under the manifest's directory (`plugins/` by default):
//!
//! | key | what |
//! | --- | --- |
//! | `plugins/<stem>-<sha8>.wasm` | a plugin, content-addressed: never overwritten, so a manifest always gets the bytes it pins |
//! | `plugins/<stem>-<sha8>.<arch>-<sha8>.cwasm` | that plugin precompiled for one function architecture, named by its own hash (`artifacts`; published only [`precompiling`](PluginStore::precompiling)) |
//! | `plugins/<stem>-<sha8>.<arch>-preinit-<sha8>.cwasm` | that plugin pre-initialised with its configuration, then precompiled (a snapshot artifact, listed with its `preinit` key; the same) |
//! | `plugins/manifests/<hex>.json` | every manifest ever published, named by its revision ([`Manifest::revision`]: the content's, not the file's, so a re-publish of the same set is recognised) |
//! | `plugins/manifest.json` | the live manifest: a byte-identical copy of one of the above, or one with a `shadow` named ([`PluginStore::shadow`]) |
//! | `plugins/history/<sequence>.json` | what went live and when, one entry per publish or rollback ([`history`]) |
//!
//! The live manifest's S3 user metadata repeats its history entry
//! (`orderflow-revision`, `-sequence`, `-action`, `-published-at`, `-undo`).
//! None of this needs bucket versioning (so it works the same on a local
//! server), but the template turns versioning on as well: every version of
//! `manifest.json` stays recoverable for 90 days.
//!
//! The live manifest is replaced with a conditional PUT (`If-Match` on the
//! ETag of the live manifest this publish read, or `If-None-Match: *` for the
//! first one), so two operators publishing at once cannot silently overwrite
//! each other: the second gets [`OperatorError::Conflict`] and runs again.
//!
//! Publishing checks before it uploads anything: the source manifest's
//! shape, each built plugin against any sha256 the source pins, and (given
//! a [`Runtime`]) that every plugin compiles and accepts its configuration,
//! exactly as the functions will load it. Locking the source (hashes,
//! content-addressed names) is the manifest model's
//! ([`orderflow_host::manifest::Locked`]); this module only moves objects.
//!
//! [`publish`](PluginStore::publish), [`rollback`](PluginStore::rollback),
//! [`shadow`](PluginStore::shadow), [`status`](PluginStore::status) and
//! [`history`] each have a file;
//! `objects` holds the S3 calls they share.

mod artifacts;
mod gate;
pub mod history;
mod objects;
mod publish;
pub mod reported;
mod rollback;
mod shadow;
mod status;

pub use history::{Action, Entry};
pub use reported::Reported;
pub use shadow::ShadowReport;

use crate::config::PluginLocation;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use orderflow_host::manifest::diff::PluginChange;
use orderflow_host::manifest::{LockError, ManifestError};
use orderflow_host::{LoadError, Manifest};
use serde::Serialize;

pub const META_REVISION: &str = "orderflow-revision";
pub const META_PUBLISHED_AT: &str = "orderflow-published-at";
pub const META_ACTION: &str = "orderflow-action";
pub const META_SHA256: &str = "orderflow-sha256";
/// How many history entries [`PluginStore::status`] lists.
pub const HISTORY_LIMIT: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{key} already exists with sha256 {existing}, not {wanted}: refusing to overwrite a content-addressed plugin"
    )]
    Collision {
        key: String,
        existing: String,
        wanted: String,
    },
    /// Not `#[from]`: that would make the load error this one's source too,
    /// and an error chain would print it twice.
    #[error("the new manifest would not load: {0}")]
    Load(Box<LoadError>),
    #[error(transparent)]
    S3(Box<S3Failure>),
    #[error("there is no live manifest at {uri}: publish one first")]
    NoLiveManifest { uri: String },
    #[error("revision {revision} has no previous revision recorded: nothing to roll back to")]
    NoPrevious { revision: String },
    #[error("revision {revision} was never published here (no {key})")]
    UnknownRevision { revision: String, key: String },
    #[error("{revision} is the live revision: shadow another one to compare with it")]
    ShadowIsLive { revision: String },
    #[error("{key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
    #[error(
        "the live manifest s3://{bucket}/{key} changed while this command ran (someone else published?); run it again"
    )]
    Conflict { bucket: String, key: String },
    /// The source manifest could not be locked: a plugin file that cannot
    /// be read, or whose bytes differ from a sha256 the source pins.
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("plugin {plugin} cannot be precompiled: {message}")]
    Precompile { plugin: String, message: String },
}

/// An S3 call that failed, in one line with the likely fix.
#[derive(Debug, thiserror::Error)]
#[error("S3 {action} s3://{bucket}/{key}: {message} ({hint})")]
pub struct S3Failure {
    pub action: &'static str,
    pub bucket: String,
    pub key: String,
    pub message: String,
    pub hint: &'static str,
    /// The SDK's whole account of it, for `-v`.
    pub detail: String,
}

impl From<LoadError> for OperatorError {
    fn from(e: LoadError) -> Self {
        OperatorError::Load(Box::new(e))
    }
}

impl OperatorError {
    /// More than the one-line message, when there is more to say.
    pub fn detail(&self) -> Option<&str> {
        match self {
            OperatorError::S3(failure) => Some(&failure.detail),
            _ => None,
        }
    }
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
    /// Precompiled artifacts uploaded (those already there are not counted).
    pub artifacts_uploaded: usize,
    pub manifest: Manifest,
}

/// What a publish would do; see [`PluginStore::dry_run`].
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub revision: String,
    /// What is live now, if anything.
    pub live: Option<String>,
    /// From the live manifest (or an empty one) to the new one.
    pub changes: Vec<PluginChange>,
    /// Plugin objects not in the bucket yet.
    pub uploads: Vec<String>,
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

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub bucket: String,
    pub manifest_key: String,
    pub revision: String,
    /// Its entry in the history.
    pub sequence: Option<u64>,
    /// The id of the key the live manifest is signed by (`None`: unsigned).
    /// Whether the signature is good is for the functions to decide, with
    /// their configured public key.
    pub signed_by: Option<String>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub last_modified: Option<String>,
    pub published_at: Option<String>,
    /// `publish` or `rollback`.
    pub action: Option<String>,
    /// What `rollback` would make live.
    pub previous: Option<String>,
    pub plugins: Vec<PluginStatus>,
    /// What went live, newest first (at most [`HISTORY_LIMIT`] entries).
    pub history: Vec<Entry>,
    /// Why a function could not activate the live set; empty when it can.
    pub problems: Vec<String>,
    /// The candidate the live manifest names for shadow evaluation.
    pub shadow: Option<ShadowStatus>,
    /// The revision the producer last reported deciding with, where that
    /// can be known ([`reported`]).
    pub reported: Reported,
}

/// The shadow candidate the live manifest names, and whether the producer
/// can load it. A broken candidate is not a problem of the live set: the
/// producer serves without it.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowStatus {
    pub revision: String,
    /// Why the producer could not load it; empty when it can.
    pub problems: Vec<String>,
}

/// The plugins of one manifest location, as an operator manages them.
#[derive(Clone, Debug)]
pub struct PluginStore {
    s3: Client,
    location: PluginLocation,
    /// Set by [`precompiling`](PluginStore::precompiling): publish uploads
    /// artifacts for the functions' engines too.
    precompiler: Option<std::sync::Arc<orderflow_host::Precompiler>>,
    /// Set by [`signing`](PluginStore::signing): every write of the live
    /// manifest carries its signature.
    signer: Option<std::sync::Arc<orderflow_pipeline::reload::ManifestSigner>>,
}

impl PluginStore {
    pub fn new(s3: Client, location: PluginLocation) -> PluginStore {
        PluginStore {
            s3,
            location,
            precompiler: None,
            signer: None,
        }
    }

    /// Signs the live manifest on every publish, rollback and shadow change
    /// (see `orderflow_pipeline::reload::signing`).
    pub fn signing(mut self, signer: orderflow_pipeline::reload::ManifestSigner) -> PluginStore {
        self.signer = Some(std::sync::Arc::new(signer));
        self
    }

    pub fn location(&self) -> &PluginLocation {
        &self.location
    }

    /// The key of the kept copy of a revision.
    pub fn copy_key(&self, revision: &str) -> String {
        self.location
            .key(&format!("manifests/{}.json", hex(revision)))
    }
}

fn now() -> String {
    DateTime::from(std::time::SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

fn hex(revision: &str) -> &str {
    revision.strip_prefix("sha256:").unwrap_or(revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_and_hex_convert() {
        assert_eq!(hex("sha256:abc"), "abc");
        assert_eq!(hex("abc"), "abc");
    }
}
