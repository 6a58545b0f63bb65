//! The process-wide half of the sandbox: one engine (with the pooling
//! allocator, fuel and epoch interruption), the linkers of both worlds, the
//! compiled-component caches, and the thread that ticks the epoch.

use crate::artifact::Fallback;
use crate::bindings;
use crate::cache::ArtifactCache;
use crate::error::LoadError;
use crate::limits::{Limits, MAX_MEMORY_BYTES};
use crate::store::State;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// What each memory slot keeps resident when only dirty pages are reset:
/// a plugin's stack and heap as a call leaves them, well under a slot.
const KEEP_RESIDENT_WITH_PAGEMAP: usize = 4 << 20;

/// Epoch ticks are this far apart; deadlines are rounded up to a tick.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Process-wide settings of the sandbox.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled artifacts are kept between processes; `None` compiles
    /// every plugin once per process.
    pub cache_dir: Option<PathBuf>,
    /// Instances the pooling allocator keeps slots for (all plugins together).
    pub max_instances: u32,
    /// Defaults for limits a manifest does not override.
    pub default_limits: Limits,
    /// Start every instance from a snapshot of the configured plugin (see
    /// `preinit`) instead of running `configure` in each: the snapshot
    /// artifact published for this engine and configuration (see
    /// `snapshot`), or, without one, a snapshot made at load (two more
    /// compiles per plugin; cached in process and on disk). On for the
    /// functions and `orderflow replay`.
    pub preinit: bool,
    /// Which machine code the engine generates; [`Target::Portable`] is
    /// what loads published artifacts.
    pub target: Target,
}

/// Which machine code the engine generates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Tuned to this CPU's features: fastest here, but no other machine's
    /// artifacts load (its compatibility key names this CPU's flags).
    #[default]
    Native,
    /// This architecture's baseline, named explicitly as the publisher's
    /// engines name it (`artifact::FUNCTION_TARGETS`), so the artifacts
    /// `orderflow plugins publish` uploads load. Native on a machine no
    /// function runs on.
    Portable,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_instances: 128,
            default_limits: Limits::default(),
            preinit: false,
            target: Target::Native,
        }
    }
}

/// How a component was obtained: what a cold start pays. Its text (in
/// JSON reports and log lines alike) is [`LoadKind::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    /// Compiled from wasm by cranelift.
    Compiled,
    /// Deserialized from the artifact the publisher compiled (see `artifact`).
    Precompiled,
    /// Deserialized from the on-disk artifact cache.
    #[serde(rename = "disk_cache")]
    FromDiskCache,
    /// Already compiled earlier in this process.
    InProcess,
    /// Deserialized from the snapshot artifact the publisher made and
    /// compiled (see `snapshot`): pre-initialised, nothing compiled.
    Snapshot,
}

impl LoadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadKind::Compiled => "compiled",
            LoadKind::Precompiled => "precompiled",
            LoadKind::FromDiskCache => "disk_cache",
            LoadKind::InProcess => "in_process",
            LoadKind::Snapshot => "snapshot",
        }
    }
}

impl std::fmt::Display for LoadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component as [`Runtime::component`] obtained it.
pub(crate) struct Obtained {
    pub(crate) component: Component,
    pub(crate) kind: LoadKind,
    /// Why the artifact wanted was not used (see `artifact`, `snapshot`).
    pub(crate) fallback: Option<Fallback>,
    /// It is the plugin pre-initialised: its instances start configured.
    pub(crate) preinitialized: bool,
}

/// The engine, linkers and caches, built once per process and shared.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) rule_linker: Linker<State>,
    pub(crate) transform_linker: Linker<State>,
    pub(crate) config: RuntimeConfig,
    /// `artifact::engine_key` of `engine`: which published artifacts load.
    engine_key: String,
    cache: Option<ArtifactCache>,
    /// Compiled snapshots (see `preinit`), apart from the plugins' own.
    snapshot_cache: Option<ArtifactCache>,
    compiled: Mutex<HashMap<String, Component>>,
    pub(crate) ticker: Arc<EpochTicker>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Arc<Runtime>, String> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            // wit-component's output has a few core instances per component
            // (the plugin, shims for its imports).
            .total_core_instances(config.max_instances * 8)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 4)
            .max_memory_size(MAX_MEMORY_BYTES as usize)
            // Keep a slot's pages mapped between instances, so the next
            // instance takes no page fault on them (and no TLB shootdown to
            // unmap them). With Linux's PAGEMAP_SCAN (6.7+) only the pages an
            // instance dirtied are reset, by a copy from the snapshot image,
            // so a large budget costs nothing on a clean page; without it
            // the whole budget is memset on every reset, so it stays small.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(if PoolingAllocationConfig::is_pagemap_scan_available() {
                KEEP_RESIDENT_WITH_PAGEMAP
            } else {
                128 << 10
            })
            .table_keep_resident(1 << 12)
            // No calls are async (no fibers), so the pool keeps no stacks:
            // wasmtime's `async` feature, which wasmtime-wasi's p2 brings
            // in, would otherwise reserve 1,000 of 2 MiB each here.
            .total_stacks(0);
        let target = match config.target {
            Target::Native => None,
            Target::Portable => crate::artifact::host_function_target(),
        };
        let mut wasm = engine_config(target)?;
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            Engine::new(&wasm).map_err(|e| format!("cannot build the wasm engine: {e}"))?;
        let engine_key = crate::artifact::engine_key(&engine);

        let mut rule_linker = Linker::new(&engine);
        bindings::rule::RulePlugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut rule_linker,
            |s| s,
        )
        .map_err(|e| format!("rule linker: {e}"))?;
        let mut transform_linker = Linker::new(&engine);
        bindings::transform::TransformPlugin::add_to_linker::<
            State,
            wasmtime::component::HasSelf<State>,
        >(&mut transform_linker, |s| s)
        .map_err(|e| format!("transform linker: {e}"))?;

        let cache = config.cache_dir.clone().map(ArtifactCache::new);
        let snapshot_cache = config
            .cache_dir
            .as_ref()
            .map(|dir| ArtifactCache::new(dir.join("preinit")));
        let ticker = EpochTicker::start(engine.clone());
        Ok(Arc::new(Runtime {
            engine,
            rule_linker,
            transform_linker,
            config,
            engine_key,
            cache,
            snapshot_cache,
            compiled: Mutex::new(HashMap::new()),
            ticker,
        }))
    }

    /// The engine's compatibility key: a published artifact built for this
    /// key loads here (see `artifact`).
    pub fn engine_key(&self) -> &str {
        &self.engine_key
    }

    /// Compiles a component, or takes it from this process, the published
    /// artifact `offer`ed (if any) or the disk cache, all keyed by the
    /// wasm's sha256. The one place a plugin's bytes are checked against the
    /// hash its manifest pins: whatever fetched them (a directory, a bucket,
    /// a test), nothing unverified is compiled or deserialised, and no
    /// cached artifact is handed out for bytes that are not its own. Says
    /// why an offered artifact was not used.
    ///
    /// With `preinit` (the plugin's pre-initialisation key, when this
    /// runtime snapshots), the pre-initialised component itself when this
    /// process has it or the offer is its snapshot artifact (see `snapshot`).
    pub(crate) fn component(
        &self,
        plugin: &str,
        spec: &crate::PluginSpec,
        wasm: &[u8],
        limits: &Limits,
        offer: Option<crate::artifact::Offer>,
        preinit: Option<&str>,
    ) -> Result<Obtained, LoadError> {
        let sha256 = spec.sha256.as_str();
        let actual = crate::manifest::sha256_hex(wasm);
        if actual != sha256 {
            return Err(LoadError::HashMismatch {
                plugin: plugin.into(),
                expected: sha256.into(),
                actual,
            });
        }
        // Before either cache: a compiled artifact may predate the caps, and
        // a plugin's caps are its own (another entry of the same bytes may
        // allow more), so they are checked on every load.
        crate::precheck::check(plugin, wasm, limits)?;
        let obtained = |component, kind, fallback, preinitialized| Obtained {
            component,
            kind,
            fallback,
            preinitialized,
        };
        if let Some(c) = preinit.and_then(|key| self.in_process(key)) {
            return Ok(obtained(c, LoadKind::InProcess, None, true));
        }
        if let Some(c) = self.in_process(sha256) {
            return Ok(obtained(c, LoadKind::InProcess, None, false));
        }
        let fallback = match offer {
            Some(offer) => match self.from_artifact(spec, preinit, offer) {
                Ok(obtained) => return Ok(obtained),
                Err(why) => Some(why),
            },
            None => None,
        };
        let compile = || {
            Component::new(&self.engine, wasm).map_err(|e| LoadError::Compile {
                plugin: plugin.into(),
                message: format!("{e:#}"),
            })
        };
        let (component, kind) = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, sha256, compile)?,
            None => (compile()?, LoadKind::Compiled),
        };
        self.remember(sha256, &component);
        Ok(obtained(component, kind, fallback, false))
    }

    /// Whether this process has the component of `key` (a wasm's sha256, a
    /// snapshot's pre-initialisation key).
    pub(crate) fn holds(&self, key: &str) -> bool {
        self.in_process(key).is_some()
    }

    fn in_process(&self, key: &str) -> Option<Component> {
        self.compiled
            .lock()
            .expect("compiled-components lock")
            .get(key)
            .cloned()
    }

    pub(crate) fn remember(&self, key: &str, component: &Component) {
        self.compiled
            .lock()
            .expect("compiled-components lock")
            .insert(key.to_string(), component.clone());
    }

    /// A pre-initialised component (see `preinit`), from this process or
    /// the disk cache under `key`, or compiled from the snapshot `build`
    /// makes. Only ever called with a key derived from bytes that
    /// [`Runtime::component`] has checked.
    pub(crate) fn preinitialized(
        &self,
        plugin: &str,
        key: &str,
        build: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Component, String> {
        if let Some(c) = self.in_process(key) {
            return Ok(c);
        }
        let compile = || {
            let wasm = build().map_err(|message| LoadError::Compile {
                plugin: plugin.into(),
                message,
            })?;
            Component::new(&self.engine, &wasm).map_err(|e| LoadError::Compile {
                plugin: plugin.into(),
                message: format!("the snapshot: {e:#}"),
            })
        };
        // The snapshots' directory sits in the plugins' one: used only when
        // that is private too, or whoever can write it could swap ours.
        let snapshot_cache = self
            .snapshot_cache
            .as_ref()
            .filter(|_| self.cache.as_ref().is_some_and(|c| c.usable().is_ok()));
        let component = match snapshot_cache {
            Some(cache) => cache.load_or_compile(&self.engine, key, compile),
            None => compile().map(|c| (c, LoadKind::Compiled)),
        }
        .map_err(|e| match e {
            LoadError::Compile { message, .. } => message,
            other => other.to_string(),
        })?
        .0;
        self.remember(key, &component);
        Ok(component)
    }
}

/// The engine settings that decide the machine code, shared by the
/// functions' runtime and the publisher's [`Precompiler`](crate::artifact::Precompiler)
/// so that their compatibility keys agree; `target` `None` is this host,
/// tuned to its CPU.
pub(crate) fn engine_config(target: Option<&str>) -> Result<Config, String> {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true);
    if let Some(target) = target {
        wasm.target(target)
            .map_err(|e| format!("target {target}: {e:#}"))?;
    }
    Ok(wasm)
}

/// Advances the engine's epoch every [`TICK`] so deadlines fire; stops when
/// the runtime is dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Arc<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("orderflow-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch thread");
        Arc::new(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
