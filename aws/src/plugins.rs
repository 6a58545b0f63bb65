//! Plugin sets from a bucket, hot-swapped while a function stays warm.
//!
//! A [`PluginCache`] holds the current [`RuleSet`] (producer) or
//! [`TransformChain`] (consumer) behind an atomically swapped `Arc`. At
//! most every `refresh` it asks for the manifest again with a conditional
//! GET (`If-None-Match` on the ETag it has), so an unchanged manifest costs
//! one request and a 304. A changed manifest is parsed, the wasm objects it
//! names (those not already held) are fetched and their sha256 checked, and
//! the new set is built and swapped in; in-flight events keep the set they
//! started with.
//!
//! Whatever goes wrong with a new manifest (it does not parse, names an
//! object that is missing, an object whose hash differs, a plugin that does
//! not compile or refuses its configuration), the last good set stays in
//! place and the failure is logged at error level with the revision still
//! serving. Failures that are a function of the manifest's bytes alone
//! (parse errors; plugins that do not load, whose bytes the manifest pins
//! by hash) are remembered against its ETag and not retried until the
//! manifest changes. Missing objects and hash mismatches are retried at the
//! next check: the operator may still be uploading.
//!
//! Compiled plugins also go to the host's disk cache (`RuntimeConfig::
//! cache_dir`), so a sandbox that loads a revision again skips the compile.

use crate::config::PluginLocation;
use arc_swap::ArcSwapOption;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::DateTimeFormat;
use orderflow_host::manifest::sha256_hex;
use orderflow_host::{
    LoadError, LoadedManifest, Manifest, PluginInfo, PluginSpec, RuleSet, Runtime, TransformChain,
};
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A manifest is a few KB; refuse anything absurd before reading it.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// A plugin component is tens to hundreds of KB.
pub const MAX_WASM_BYTES: u64 = 32 << 20;

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
    /// Fetches a plugin by its path relative to the manifest.
    fn fetch_wasm<'a>(&'a self, relative: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>>;
}

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
}

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

/// What a function loads from a manifest: its rules or its transforms.
pub trait PluginSet: Send + Sync + Sized + 'static {
    /// `rules` or `transforms`, for logs.
    const KIND: &'static str;
    fn specs(manifest: &Manifest) -> &[PluginSpec];
    fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
    ) -> Result<Self, LoadError>;
    fn plugins(&self) -> &[PluginInfo];
}

impl PluginSet for RuleSet {
    const KIND: &'static str = "rules";
    fn specs(manifest: &Manifest) -> &[PluginSpec] {
        &manifest.rules
    }
    fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
    ) -> Result<Self, LoadError> {
        RuleSet::load(runtime, manifest, wasm)
    }
    fn plugins(&self) -> &[PluginInfo] {
        &self.loaded
    }
}

impl PluginSet for TransformChain {
    const KIND: &'static str = "transforms";
    fn specs(manifest: &Manifest) -> &[PluginSpec] {
        &manifest.transforms
    }
    fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
    ) -> Result<Self, LoadError> {
        TransformChain::load(runtime, manifest, wasm)
    }
    fn plugins(&self) -> &[PluginInfo] {
        &self.loaded
    }
}

/// A loaded plugin set and the manifest it came from.
pub struct Loaded<T> {
    pub set: T,
    /// The manifest's [`Manifest::revision`].
    pub revision: String,
    pub manifest: Manifest,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub version_id: Option<String>,
    pub loaded_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshErrorKind {
    /// The manifest or a plugin could not be fetched.
    Fetch,
    /// The manifest does not parse or fails its checks.
    Manifest,
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
    /// The last refresh that failed, if no good manifest has been loaded since.
    pub last_error: Option<RefreshError>,
}

#[derive(Default)]
struct State {
    last_check: Option<Instant>,
    /// ETag of the manifest the current set came from.
    etag: Option<String>,
    /// A manifest that failed for good, by ETag, and why.
    rejected: Option<(String, RefreshError)>,
    /// Plugin bytes by sha256, for the current manifest.
    wasm: HashMap<String, Arc<Vec<u8>>>,
    status: CacheStatus,
}

/// The current plugin set of one kind, refreshed from its source.
pub struct PluginCache<T> {
    source: Box<dyn PluginSource>,
    runtime: Arc<Runtime>,
    refresh: Duration,
    state: tokio::sync::Mutex<State>,
    current: ArcSwapOption<Loaded<T>>,
}

impl<T: PluginSet> PluginCache<T> {
    /// Nothing is fetched until the first [`current`](Self::current).
    pub fn new(
        source: impl PluginSource + 'static,
        runtime: Arc<Runtime>,
        refresh: Duration,
    ) -> PluginCache<T> {
        PluginCache {
            source: Box::new(source),
            runtime,
            refresh,
            state: Default::default(),
            current: ArcSwapOption::empty(),
        }
    }

    /// A function's plugin set, as its `main` builds it once per sandbox:
    /// the wasm runtime with its compiled-artifact cache, the bucket, and a
    /// first load during init, which has its own (longer) time budget. A
    /// failed first load is logged and retried on the first event.
    pub async fn for_function(
        sdk: &aws_config::SdkConfig,
        location: PluginLocation,
        cache_dir: PathBuf,
        refresh: Duration,
    ) -> Result<Arc<PluginCache<T>>, String> {
        let runtime = Runtime::new(orderflow_host::RuntimeConfig {
            cache_dir: Some(cache_dir),
            ..Default::default()
        })?;
        let source = S3Source::new(crate::clients::s3(sdk), location);
        let plugins = Arc::new(PluginCache::new(source, runtime, refresh));
        let _ = plugins.current().await;
        Ok(plugins)
    }

    pub fn refresh_interval(&self) -> Duration {
        self.refresh
    }

    /// The set to use for one event. Checks the manifest first if the
    /// refresh interval has passed (always, while nothing has loaded). A
    /// failed check is logged and the last good set returned; only with no
    /// good set at all is the failure returned.
    pub async fn current(&self) -> Result<Arc<Loaded<T>>, RefreshError> {
        let mut state = self.state.lock().await;
        let current = self.current.load_full();
        let due = match (&current, state.last_check) {
            (None, _) | (_, None) => true,
            (Some(_), Some(at)) => at.elapsed() >= self.refresh,
        };
        if due && let Err(e) = self.check(&mut state).await {
            match &current {
                Some(c) => tracing::error!(
                    manifest = %self.source.manifest_name(), kind = T::KIND, serving = %c.revision,
                    error_kind = ?e.kind, "plugin set not updated, keeping the last good one: {e}"
                ),
                None => {
                    tracing::error!(manifest = %self.source.manifest_name(), kind = T::KIND, error_kind = ?e.kind, "no plugin set could be loaded: {e}");
                    return Err(e);
                }
            }
        }
        Ok(self
            .current
            .load_full()
            .expect("a successful check leaves a set in place"))
    }

    /// Checks the manifest now, whatever the interval. An error means the
    /// set in place (if any) is unchanged.
    pub async fn refresh_now(&self) -> Result<Refreshed, RefreshError> {
        let mut state = self.state.lock().await;
        self.check(&mut state).await
    }

    /// The set in place, without checking anything.
    pub fn peek(&self) -> Option<Arc<Loaded<T>>> {
        self.current.load_full()
    }

    pub async fn status(&self) -> CacheStatus {
        let state = self.state.lock().await;
        let mut s = state.status.clone();
        s.revision = self.current.load().as_ref().map(|c| c.revision.clone());
        s.etag = state.etag.clone();
        s
    }

    async fn check(&self, state: &mut State) -> Result<Refreshed, RefreshError> {
        state.last_check = Some(Instant::now());
        state.status.checks += 1;
        let result = self.check_inner(state).await;
        match &result {
            // A manifest refused earlier and still in place is still an error to report.
            Ok(_) => state.status.last_error = state.rejected.as_ref().map(|(_, e)| e.clone()),
            Err(e) => {
                state.status.failures += 1;
                state.status.last_error = Some(e.clone());
            }
        }
        result
    }

    async fn check_inner(&self, state: &mut State) -> Result<Refreshed, RefreshError> {
        let fetch_err = |e: SourceError| RefreshError {
            kind: RefreshErrorKind::Fetch,
            message: format!("cannot fetch {e}"),
        };
        let current = self.current.load_full();
        // Ask for the manifest unless it is still the one in place, or still
        // one already refused for good.
        let known = match (&state.rejected, &current) {
            (Some((etag, _)), _) => Some(etag.clone()),
            (None, Some(_)) => state.etag.clone(),
            (None, None) => None,
        };
        let object = match self
            .source
            .fetch_manifest(known.as_deref())
            .await
            .map_err(fetch_err)?
        {
            ManifestFetch::NotModified => {
                state.status.not_modified += 1;
                return match (&state.rejected, &current) {
                    (Some((_, e)), None) => Err(e.clone()),
                    (Some((etag, e)), Some(c)) => {
                        tracing::warn!(
                            manifest = %self.source.manifest_name(), kind = T::KIND, serving = %c.revision, etag = %etag,
                            "the live manifest is still one that was refused: {e}"
                        );
                        Ok(Refreshed::Unchanged)
                    }
                    _ => Ok(Refreshed::Unchanged),
                };
            }
            ManifestFetch::Fetched(object) => object,
        };
        match self.load(state, &object, current.as_deref()).await {
            Ok(r) => {
                state.rejected = None;
                state.etag = object.etag.clone();
                Ok(r)
            }
            Err(e) => {
                if e.permanent()
                    && let Some(etag) = &object.etag
                {
                    state.rejected = Some((etag.clone(), e.clone()));
                }
                Err(e)
            }
        }
    }

    async fn load(
        &self,
        state: &mut State,
        object: &ManifestObject,
        current: Option<&Loaded<T>>,
    ) -> Result<Refreshed, RefreshError> {
        let name = self.source.manifest_name();
        let manifest = Manifest::parse(&object.bytes, &name).map_err(|e| RefreshError {
            kind: RefreshErrorKind::Manifest,
            message: e.to_string(),
        })?;
        if let Some(c) = current
            && c.revision == manifest.revision
        {
            return Ok(Refreshed::Unchanged);
        }

        // Fetch what is not held yet; the host checks every object against
        // the hash the manifest pins before it compiles anything.
        let mut wasm: HashMap<String, Arc<Vec<u8>>> = HashMap::new();
        for spec in T::specs(&manifest.manifest) {
            if let Some(bytes) = state
                .wasm
                .get(&spec.sha256)
                .or_else(|| wasm.get(&spec.sha256))
            {
                wasm.insert(spec.sha256.clone(), bytes.clone());
                continue;
            }
            let bytes = self
                .source
                .fetch_wasm(&spec.wasm)
                .await
                .map_err(|e| RefreshError {
                    kind: RefreshErrorKind::Fetch,
                    message: format!("plugin {}: cannot fetch {e}", spec.name),
                })?;
            state.status.wasm_fetches += 1;
            wasm.insert(spec.sha256.clone(), Arc::new(bytes));
        }

        let started = Instant::now();
        let runtime = self.runtime.clone();
        let for_load = wasm.clone();
        let loaded_manifest = manifest.clone();
        let set = tokio::task::spawn_blocking(move || {
            T::load(&runtime, &loaded_manifest, &|spec: &PluginSpec| {
                Ok(for_load
                    .get(&spec.sha256)
                    .map(|b| b.as_ref().clone())
                    .unwrap_or_default())
            })
        })
        .await
        .map_err(|e| RefreshError {
            kind: RefreshErrorKind::Internal,
            message: format!("loading the plugins panicked: {e}"),
        })?
        .map_err(|e| RefreshError {
            kind: if matches!(e, LoadError::HashMismatch { .. }) {
                RefreshErrorKind::HashMismatch
            } else if e.is_transient() {
                RefreshErrorKind::Busy
            } else {
                RefreshErrorKind::Load
            },
            message: format!("{name}: {e}"),
        })?;

        let plugins: Vec<String> = set
            .plugins()
            .iter()
            .map(|p| {
                format!(
                    "{}@{} ({}, {} us)",
                    p.name, p.version, p.load, p.load_micros
                )
            })
            .collect();
        let previous = current.map(|c| c.revision.clone());
        tracing::info!(
            manifest = %name, kind = T::KIND, revision = %manifest.revision, previous = previous.as_deref(),
            etag = object.etag.as_deref(), version_id = object.version_id.as_deref(), plugins = %plugins.join(", "),
            micros = started.elapsed().as_micros() as u64, "plugin set loaded"
        );
        let revision = manifest.revision.clone();
        self.current.store(Some(Arc::new(Loaded {
            set,
            revision: manifest.revision,
            manifest: manifest.manifest,
            etag: object.etag.clone(),
            last_modified: object.last_modified.clone(),
            version_id: object.version_id.clone(),
            loaded_at: SystemTime::now(),
        })));
        state.wasm = wasm;
        state.status.swaps += 1;
        Ok(Refreshed::Swapped { previous, revision })
    }
}
