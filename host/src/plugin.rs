//! One loaded plugin of either kind, and loading a chain of them: a rule
//! and a transform differ only in their [`World`] (what they are given and
//! what they answer), so both are a [`Plugin`].

use crate::artifact::{Fallback, Offer};
use crate::error::{Failure, LoadError, PluginError};
use crate::manifest::{LoadedManifest, OnError, PluginSpec};
use crate::runtime::{LoadKind, Runtime};
use crate::sandbox::{Cost, Sandbox, World};
use std::time::Instant;

/// One loaded plugin. See [`RulePlugin`](crate::rules::RulePlugin) and
/// [`TransformPlugin`](crate::transforms::TransformPlugin).
pub struct Plugin<W: World> {
    pub name: String,
    pub version: String,
    pub(crate) on_error: OnError,
    sandbox: Sandbox<W>,
}

impl<W: World> Plugin<W> {
    /// Checks the bytes against the spec's sha256, compiles (or takes from
    /// a cache), type-checks against the world and runs `configure` once.
    pub fn load(runtime: &Runtime, spec: &PluginSpec, wasm: &[u8]) -> Result<Self, LoadError> {
        Self::load_offered(runtime, spec, wasm, None)
    }

    /// [`load`](Self::load), deserialising the published artifact `offer`ed
    /// for this runtime's engine instead of compiling, when it is the one
    /// the manifest pins (see [`artifact`](crate::artifact)).
    pub fn load_offered(
        runtime: &Runtime,
        spec: &PluginSpec,
        wasm: &[u8],
        offer: Option<Offer>,
    ) -> Result<Self, LoadError> {
        Ok(Plugin {
            name: spec.name.clone(),
            version: spec.version.clone(),
            on_error: spec.on_error,
            sandbox: Sandbox::load(runtime, spec, wasm, offer)?,
        })
    }

    /// Whether a fresh instance starts from the snapshot of a configured
    /// one (see [`RuntimeConfig::preinit`](crate::RuntimeConfig::preinit))
    /// instead of running `configure` itself.
    pub fn preinitialized(&self) -> bool {
        self.sandbox.preinitialized
    }

    /// Runs one call and checks the answer. A failure carries what the
    /// call cost, as a success does.
    pub(crate) fn call(
        &self,
        input: &W::Input,
        until: Option<std::time::Instant>,
    ) -> Result<(W::Output, Cost), PluginError> {
        let (answer, cost) = self
            .sandbox
            .call(W::lent(input), until, |bindings, store| {
                bindings.call(store, input)
            })
            .map_err(|(failure, cost)| self.error(failure, cost))?;
        let output = W::accept(answer, input, self.sandbox.limits.max_output_bytes)
            .map_err(|failure| self.error(failure, cost))?;
        Ok((output, cost))
    }

    pub(crate) fn error(&self, failure: Failure, cost: Cost) -> PluginError {
        PluginError {
            plugin: self.sandbox.plugin.to_string(),
            failure,
            cost,
        }
    }

    /// The most orders one call may be lent: a fresh instance per order
    /// gets one, a reused instance up to its calls and
    /// [`MAX_BATCH`](crate::limits::MAX_BATCH).
    pub(crate) fn batch_size(&self) -> usize {
        self.sandbox
            .limits
            .max_calls_per_instance
            .clamp(1, crate::limits::MAX_BATCH) as usize
    }
}

/// What was loaded, and what it cost: the cold-start figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub load: LoadKind,
    pub load_micros: u64,
    /// Instances start configured, from a snapshot (see [`Plugin::preinitialized`]).
    pub preinitialized: bool,
    /// Why the published artifact offered was not used, so the plugin was
    /// loaded from its wasm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// The chain of one kind of one manifest revision, in manifest order:
/// [`RuleSet`](crate::RuleSet) and [`TransformChain`](crate::TransformChain)
/// are this, and differ only in how their answers combine.
pub struct Chain<W: World> {
    pub revision: String,
    pub plugins: Vec<Plugin<W>>,
    pub loaded: Vec<PluginInfo>,
}

impl<W: World> Chain<W> {
    /// Loads this kind's plugins of the manifest; `wasm` fetches a plugin's
    /// bytes (from a directory, a bucket …). Any plugin that fails refuses
    /// the chain.
    pub fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
    ) -> Result<Self, LoadError> {
        Self::load_offered(runtime, manifest, wasm, &|_| None)
    }

    /// [`load`](Self::load), with what `artifact` offers of each plugin's
    /// published artifact (`None`: nothing offered, so it is compiled or
    /// taken from a cache as by `load`).
    pub fn load_offered(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
        artifact: &dyn Fn(&PluginSpec) -> Option<Offer>,
    ) -> Result<Self, LoadError> {
        let specs = W::specs(&manifest.manifest);
        let mut plugins = Vec::with_capacity(specs.len());
        let mut loaded = Vec::with_capacity(specs.len());
        for spec in specs {
            let started = Instant::now();
            let bytes = wasm(spec)?;
            let plugin = Plugin::<W>::load_offered(runtime, spec, &bytes, artifact(spec))?;
            loaded.push(PluginInfo {
                name: spec.name.clone(),
                version: spec.version.clone(),
                sha256: spec.sha256.clone(),
                load: plugin.sandbox.load_kind,
                load_micros: started.elapsed().as_micros() as u64,
                preinitialized: plugin.preinitialized(),
                fallback: plugin.sandbox.fallback.clone(),
            });
            plugins.push(plugin);
        }
        Ok(Chain {
            revision: manifest.revision.clone(),
            plugins,
            loaded,
        })
    }
}
