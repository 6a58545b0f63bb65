//! The current plugin set of one kind, refreshed from its source.
//!
//! Serving is lock-free: an event reads the set in place and the time of
//! the last check from atomics. Only an event that finds a check due (or
//! nothing loaded) takes the lock, and the one that gets it first does the
//! check: the others, once they get the lock, find the check done and
//! serve its result, so one refresh runs at a time. While a refresh is in
//! flight, events that do not wait for the lock keep the set in place.
//!
//! A plugin whose manifest entry lists a precompiled artifact for this
//! runtime's engine is deserialised from it (`orderflow_host::artifact`);
//! one that cannot be is compiled, with a warning saying why. Compiled
//! plugins also go to the host's disk cache (`RuntimeConfig::cache_dir`),
//! so a process that loads a revision again skips the compile.

use super::set::PluginSet;
use super::source::{ManifestFetch, ManifestObject, PluginSource, SourceError};
use super::status::{CacheStatus, RefreshError, RefreshErrorKind, Refreshed};
use arc_swap::ArcSwapOption;
use orderflow_host::artifact::{Fallback, Offer};
use orderflow_host::{LoadError, Manifest, PluginSpec, Runtime};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A loaded plugin set and the revision of the manifest it came from.
pub struct Loaded<T> {
    pub set: T,
    /// The manifest's revision (`LoadedManifest::revision`).
    pub revision: String,
}

/// What only the refresh in flight reads and writes.
#[derive(Default)]
struct State {
    /// ETag of the manifest the current set came from.
    etag: Option<String>,
    /// A manifest that failed for good, by ETag, and why.
    rejected: Option<(String, RefreshError)>,
    /// Plugin bytes by sha256, for the current manifest.
    wasm: HashMap<String, Arc<Vec<u8>>>,
    status: CacheStatus,
}

/// `last_check` before the first check.
const NEVER: u64 = u64::MAX;

/// The current plugin set of one kind, refreshed from its source.
pub struct PluginCache<T> {
    source: Box<dyn PluginSource>,
    runtime: Arc<Runtime>,
    refresh: Duration,
    /// Held by the one refresh in flight.
    state: tokio::sync::Mutex<State>,
    current: ArcSwapOption<Loaded<T>>,
    /// When the last check started, in nanoseconds after `created`
    /// ([`NEVER`] before the first): read by every event without the lock.
    last_check: AtomicU64,
    created: Instant,
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
            last_check: AtomicU64::new(NEVER),
            created: Instant::now(),
        }
    }

    /// The set to use for one event. Checks the manifest first if the
    /// refresh interval has passed (always, while nothing has loaded). A
    /// failed check is logged and the last good set returned; only with no
    /// good set at all is the failure returned.
    pub async fn current(&self) -> Result<Arc<Loaded<T>>, RefreshError> {
        if let Some(set) = self.serving() {
            return Ok(set);
        }
        let mut state = self.state.lock().await;
        // The refresh this event waited for may have made a check unnecessary.
        if let Some(set) = self.serving() {
            return Ok(set);
        }
        let current = self.current.load_full();
        if let Err(e) = self.check(&mut state).await {
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

    pub async fn status(&self) -> CacheStatus {
        let state = self.state.lock().await;
        let mut s = state.status.clone();
        s.revision = self.current.load().as_ref().map(|c| c.revision.clone());
        s.etag = state.etag.clone();
        s
    }

    /// The set in place, if there is one and no check is due.
    fn serving(&self) -> Option<Arc<Loaded<T>>> {
        let set = self.current.load_full()?;
        let at = self.last_check.load(Ordering::Acquire);
        let since = self
            .created
            .elapsed()
            .saturating_sub(Duration::from_nanos(at));
        (at != NEVER && since < self.refresh).then_some(set)
    }

    async fn check(&self, state: &mut State) -> Result<Refreshed, RefreshError> {
        let now = self.created.elapsed().as_nanos().min(u128::from(NEVER - 1)) as u64;
        self.last_check.store(now, Ordering::Release);
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

        // Fetch what is not held yet, with its artifact for this engine;
        // the host checks every object against the hash the manifest pins
        // before it compiles or deserialises anything.
        let mut wasm: HashMap<String, Arc<Vec<u8>>> = HashMap::new();
        let mut offers: HashMap<String, Offer> = HashMap::new();
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
            if let Some(offer) = self.artifact(state, spec).await {
                offers.insert(spec.sha256.clone(), offer);
            }
        }

        let started = Instant::now();
        let runtime = self.runtime.clone();
        let for_load = wasm.clone();
        let loaded_manifest = manifest.clone();
        let set = tokio::task::spawn_blocking(move || {
            let wasm = |spec: &PluginSpec| {
                Ok(for_load
                    .get(&spec.sha256)
                    .map(|b| b.as_ref().clone())
                    .unwrap_or_default())
            };
            T::load(&runtime, &loaded_manifest, &wasm, &|spec: &PluginSpec| {
                offers.get(&spec.sha256).cloned()
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
        for p in set.plugins() {
            if let Some(why) = &p.fallback {
                tracing::warn!(
                    manifest = %name, kind = T::KIND, plugin = %p.name, reason = why.kind(),
                    engine = self.runtime.engine_key(), load = %p.load,
                    "precompiled artifact not used, the plugin was loaded from its wasm: {why}"
                );
            }
        }
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
        })));
        state.wasm = wasm;
        state.status.swaps += 1;
        Ok(Refreshed::Swapped { previous, revision })
    }

    /// What to offer the host of `spec`'s published artifact for this
    /// runtime's engine: nothing if the manifest lists none, else its bytes
    /// or why there are none. Fetched only with the wasm: a plugin whose
    /// wasm is held is compiled in this process already.
    async fn artifact(&self, state: &mut State, spec: &PluginSpec) -> Option<Offer> {
        if spec.artifacts.is_empty() {
            return None;
        }
        let key = self.runtime.engine_key();
        let Some(artifact) = spec.artifact(key) else {
            return Some(Err(Fallback::none_for(spec, key)));
        };
        let fetched = self.source.fetch_wasm(&artifact.object).await;
        state.status.artifact_fetches += 1;
        Some(fetched.map_err(|e| Fallback::Fetch(e.to_string())))
    }
}
