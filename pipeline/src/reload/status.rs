//! What a refresh of a plugin cache did, and why one failed.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshErrorKind {
    /// The manifest or a plugin could not be fetched.
    Fetch,
    /// The manifest does not parse or fails its checks.
    Manifest,
    /// A public key is configured and the manifest is unsigned, badly
    /// signed, tampered with, or older than the set serving (a replay).
    /// Not permanent: S3 keeps the ETag when only the metadata (the
    /// signature) changes, so a rollback to refused bytes must be fetched.
    Signature,
    /// A plugin object is not the one the manifest pins.
    HashMismatch,
    /// A plugin does not compile, implement its world or accept its configuration.
    Load,
    /// A plugin's first instance hit its deadline or found the instance
    /// pool full: the same manifest may load on the next check.
    Busy,
    Internal,
}

/// Why a plugin set could not be (re)loaded.
///
/// Failures that are a function of the manifest's bytes alone (parse
/// errors; plugins that do not load, whose bytes the manifest pins by
/// hash) are [`permanent`](Self::permanent): remembered against the
/// manifest's ETag and not retried until it changes. Missing objects and
/// hash mismatches are retried at the next check: the operator may still
/// be uploading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct RefreshError {
    pub kind: RefreshErrorKind,
    pub message: String,
}

impl RefreshError {
    /// Whether the failure follows from the manifest's bytes alone, so
    /// trying the same manifest again cannot help.
    pub fn permanent(&self) -> bool {
        matches!(
            self.kind,
            RefreshErrorKind::Manifest | RefreshErrorKind::Load
        )
    }
}

/// What a check of the manifest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// Not modified (304), or modified to the same revision.
    Unchanged,
    /// A new set is serving.
    Swapped {
        previous: Option<String>,
        revision: String,
    },
}

/// Counters and the last failure, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheStatus {
    pub revision: Option<String>,
    pub etag: Option<String>,
    pub checks: u64,
    pub not_modified: u64,
    pub swaps: u64,
    pub failures: u64,
    pub wasm_fetches: u64,
    /// Precompiled artifacts fetched (or tried), see `orderflow_host::artifact`.
    pub artifact_fetches: u64,
    /// The signed sequence number of the set serving (with a public key).
    pub sequence: Option<u64>,
    /// The last refresh that failed, if no good manifest has been loaded since.
    pub last_error: Option<RefreshError>,
}
