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
use super::shadow::Shadow;
use super::signing::ManifestKey;
use super::source::{ManifestFetch, ManifestObject, PluginSource, SourceError};
use super::status::{CacheStatus, RefreshError, RefreshErrorKind, Refreshed};
use arc_swap::ArcSwapOption;
use orderflow_host::{Manifest, Runtime};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod fetch;

/// A loaded plugin set and the revision of the manifest it came from.
pub struct Loaded<T> {
    pub set: T,
    /// The manifest's revision (`LoadedManifest::revision`).
    pub revision: String,
    /// The candidate the manifest names, if any, for comparison only.
    pub shadow: Shadow<T>,
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
    /// The signed sequence of the set in place: never goes backwards.
    sequence: Option<u64>,
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
    /// With a key, only manifests it signed go live.
    key: Option<ManifestKey>,
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
            key: None,
        }
    }

    /// Verifies every manifest against `key` before it is parsed: an
    /// unsigned, badly signed or tampered one, or one whose sequence is
    /// lower than the set serving's, never goes live.
    pub fn verifying(mut self, key: Option<ManifestKey>) -> PluginCache<T> {
        self.key = key;
        self
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
        s.sequence = state.sequence;
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
                // A candidate that may load next time: ask for the manifest again then.
                let retry = self
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|c| c.shadow.retry());
                state.etag = if retry { None } else { object.etag.clone() };
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
        let sequence = self.verify(state, object)?;
        let manifest = Manifest::parse(&object.bytes, &name).map_err(|e| RefreshError {
            kind: RefreshErrorKind::Manifest,
            message: e.to_string(),
        })?;
        let wanted = T::SHADOWS
            .then_some(manifest.manifest.shadow.as_ref())
            .flatten();
        if let Some(c) = current
            && c.revision == manifest.revision
            && c.shadow.settled(wanted)
        {
            state.sequence = sequence.or(state.sequence);
            return Ok(Refreshed::Unchanged);
        }

        let started = Instant::now();
        let mut wasm = HashMap::new();
        let set = self.load_set(state, &mut wasm, &manifest, &name).await?;
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
            shadow = wanted.map(|s| s.revision.as_str()),
            micros = started.elapsed().as_micros() as u64, "plugin set loaded"
        );
        // After the live set, and never instead of it.
        let shadow = match wanted {
            None => Shadow::Off,
            Some(named) => match self.load_candidate(state, &mut wasm, named).await {
                Ok(candidate) => {
                    tracing::info!(
                        manifest = %name, revision = %manifest.revision, shadow = %candidate.revision,
                        "shadow candidate loaded: every order is also decided by it, for comparison only"
                    );
                    Shadow::Ready(candidate)
                }
                Err(error) => {
                    tracing::error!(
                        manifest = %name, revision = %manifest.revision, shadow = %named.revision,
                        error_kind = ?error.kind, "shadow candidate not loaded; the live set serves alone: {error}"
                    );
                    Shadow::Failed {
                        revision: named.revision.clone(),
                        error,
                    }
                }
            },
        };
        let revision = manifest.revision.clone();
        self.current.store(Some(Arc::new(Loaded {
            set,
            revision: manifest.revision,
            shadow,
        })));
        state.wasm = wasm;
        state.sequence = sequence;
        state.status.swaps += 1;
        Ok(match previous {
            Some(p) if p == revision => Refreshed::Unchanged,
            previous => Refreshed::Swapped { previous, revision },
        })
    }

    /// The manifest's signed sequence, if a key is configured and the
    /// manifest is signed by it and not older than the set in place.
    fn verify(&self, state: &State, object: &ManifestObject) -> Result<Option<u64>, RefreshError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let refuse = |e: super::signing::SignatureError| RefreshError {
            kind: RefreshErrorKind::Signature,
            message: format!("{}: {e}", self.source.manifest_name()),
        };
        let sequence = key
            .verify(&object.bytes, &object.signature)
            .map_err(refuse)?;
        if let Some(running) = state.sequence
            && sequence < running
        {
            return Err(refuse(super::signing::SignatureError::Replay {
                found: sequence,
                running,
            }));
        }
        Ok(Some(sequence))
    }
}
