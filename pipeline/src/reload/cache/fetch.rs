//! Fetching what a manifest names (plugins, their artifacts for this
//! engine, a shadow candidate's manifest) and loading it: the host checks
//! every object against the hash the manifest pins before it compiles or
//! deserialises anything.

use super::{PluginCache, State};
use crate::reload::set::PluginSet;
use crate::reload::shadow::Candidate;
use crate::reload::status::{RefreshError, RefreshErrorKind};
use orderflow_host::artifact::{Fallback, Offer};
use orderflow_host::manifest::Shadow as NamedShadow;
use orderflow_host::{LoadError, LoadedManifest, Manifest, PluginSpec};
use std::collections::HashMap;
use std::sync::Arc;

impl<T: PluginSet> PluginCache<T> {
    /// Fetches the plugins `manifest` names that are not held yet (into
    /// `wasm`), with their artifacts for this engine, and loads them; the
    /// host checks every object against the hash the manifest pins before
    /// it compiles or deserialises anything.
    pub(super) async fn load_set(
        &self,
        state: &mut State,
        wasm: &mut HashMap<String, Arc<Vec<u8>>>,
        manifest: &LoadedManifest,
        name: &str,
    ) -> Result<T, RefreshError> {
        let mut offers: HashMap<String, Offer> = HashMap::new();
        for spec in T::specs(&manifest.manifest) {
            if let Some(bytes) = state
                .wasm
                .get(&spec.sha256)
                .or_else(|| wasm.get(&spec.sha256))
            {
                wasm.insert(spec.sha256.clone(), bytes.clone());
                // Compiled in this process already; but a new configuration
                // of it has a snapshot of its own to fetch.
                if let Some(offer) = self.artifact(state, spec).await {
                    offers.insert(spec.sha256.clone(), offer);
                }
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
        for p in set.plugins() {
            if let Some(why) = &p.fallback {
                tracing::warn!(
                    manifest = %name, kind = T::KIND, plugin = %p.name, reason = why.kind(),
                    engine = self.runtime.engine_key(), load = %p.load,
                    "precompiled artifact not used, so the plugin was loaded another way: {why}"
                );
            }
        }
        Ok(set)
    }

    /// The candidate `named`: its kept manifest, which must be that very
    /// revision, and its plugins, checked as the live ones are.
    pub(super) async fn load_candidate(
        &self,
        state: &mut State,
        wasm: &mut HashMap<String, Arc<Vec<u8>>>,
        named: &NamedShadow,
    ) -> Result<Candidate<T>, RefreshError> {
        let path = named.manifest_path();
        let name = self.source.object_name(&path);
        let bytes = self
            .source
            .fetch_wasm(&path)
            .await
            .map_err(|e| RefreshError {
                kind: RefreshErrorKind::Fetch,
                message: format!("shadow candidate: cannot fetch {e}"),
            })?;
        let manifest = Manifest::parse(&bytes, &name).map_err(|e| RefreshError {
            kind: RefreshErrorKind::Manifest,
            message: e.to_string(),
        })?;
        if manifest.revision != named.revision {
            return Err(RefreshError {
                kind: RefreshErrorKind::HashMismatch,
                message: format!(
                    "{name} is revision {}, not {}",
                    manifest.revision, named.revision
                ),
            });
        }
        let set = self.load_set(state, wasm, &manifest, &name).await?;
        Ok(Candidate {
            set,
            revision: manifest.revision,
        })
    }

    /// What to offer the host of `spec`'s published artifact for this
    /// runtime's engine (its snapshot, when the runtime pre-initialises and
    /// there is one for this configuration): nothing if the manifest lists
    /// none or the process holds what it would give, else its bytes or why
    /// there are none.
    pub(super) async fn artifact(&self, state: &mut State, spec: &PluginSpec) -> Option<Offer> {
        let artifact = match self.runtime.wanted_artifact(T::CHAIN, spec)? {
            Ok(artifact) => artifact,
            Err(why) => return Some(Err(why)),
        };
        self.fetch_artifact(state, artifact).await
    }

    async fn fetch_artifact(
        &self,
        state: &mut State,
        artifact: &orderflow_host::manifest::Artifact,
    ) -> Option<Offer> {
        let fetched = self.source.fetch_wasm(&artifact.object).await;
        state.status.artifact_fetches += 1;
        Some(fetched.map_err(|e| Fallback::Fetch(e.to_string())))
    }
}
