//! The wasmtime sandbox: one engine per process, one pre-instantiation per
//! plugin, and a store per instance with fuel, a deadline and a memory cap.
//!
//! The per-order path only takes (or instantiates, from the pooling
//! allocator) an instance and calls it. An instance serves at most
//! `max_calls_per_instance` calls (1 by default: a fresh instance per order,
//! so no order's state can reach the next one) and is thrown away after a
//! trap or a broken limit, since wasmtime refuses further calls into a
//! trapped instance.

use crate::bindings::{self, CurrentOrder, OrderRef};
use crate::cache::ArtifactCache;
use crate::error::{Failure, LoadError, PLUGIN_MESSAGE_MAX, plugin_text};
use crate::limits::{Limits, MAX_MEMORY_BYTES};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, InstancePre, Linker, Resource};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};

/// Epoch ticks are this far apart; deadlines are rounded up to a tick.
const TICK: Duration = Duration::from_millis(1);
/// What one call may write to the log, in bytes, before lines are dropped.
const LOG_BUDGET: usize = 16 << 10;
const LOG_LINE_MAX: usize = 1 << 10;

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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_instances: 128,
            default_limits: Limits::default(),
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
    /// Deserialized from the on-disk artifact cache.
    #[serde(rename = "disk_cache")]
    FromDiskCache,
    /// Already compiled earlier in this process.
    InProcess,
}

impl LoadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadKind::Compiled => "compiled",
            LoadKind::FromDiskCache => "disk_cache",
            LoadKind::InProcess => "in_process",
        }
    }
}

impl std::fmt::Display for LoadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The engine, linkers and caches, built once per process and shared.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) rule_linker: Linker<State>,
    pub(crate) transform_linker: Linker<State>,
    pub(crate) config: RuntimeConfig,
    cache: Option<ArtifactCache>,
    compiled: Mutex<HashMap<String, Component>>,
    ticker: Arc<EpochTicker>,
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
            // Keep the first pages of each slot mapped between instances:
            // resetting them is a memset, not a fresh page fault per page.
            .linear_memory_keep_resident(128 << 10)
            .table_keep_resident(1 << 12);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            Engine::new(&wasm).map_err(|e| format!("cannot build the wasm engine: {e}"))?;

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
        let ticker = EpochTicker::start(engine.clone());
        Ok(Arc::new(Runtime {
            engine,
            rule_linker,
            transform_linker,
            config,
            cache,
            compiled: Mutex::new(HashMap::new()),
            ticker,
        }))
    }

    /// Compiles a component, or takes it from this process or the disk
    /// cache, both keyed by `sha256`. The one place a plugin's bytes are
    /// checked against the hash its manifest pins: whatever fetched them
    /// (a directory, a bucket, a test), nothing unverified is compiled, and
    /// no cached artifact is handed out for bytes that are not its own.
    pub(crate) fn component(
        &self,
        plugin: &str,
        wasm: &[u8],
        sha256: &str,
    ) -> Result<(Component, LoadKind), LoadError> {
        let actual = crate::manifest::sha256_hex(wasm);
        if actual != sha256 {
            return Err(LoadError::HashMismatch {
                plugin: plugin.into(),
                expected: sha256.into(),
                actual,
            });
        }
        if let Some(c) = self
            .compiled
            .lock()
            .expect("compiled-components lock")
            .get(sha256)
        {
            return Ok((c.clone(), LoadKind::InProcess));
        }
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
        self.compiled
            .lock()
            .expect("compiled-components lock")
            .insert(sha256.to_string(), component.clone());
        Ok((component, kind))
    }
}

/// Advances the engine's epoch every [`TICK`] so deadlines fire; stops when
/// the runtime is dropped.
struct EpochTicker {
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

/// What a store holds for one plugin instance.
pub struct State {
    plugin: Arc<str>,
    memory_cap: u64,
    memory_denied: bool,
    log_left: usize,
    logs_dropped: u32,
    pub(crate) order: CurrentOrder,
}

impl ResourceLimiter for State {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_cap {
            self.memory_denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl State {
    fn order(&self) -> wasmtime::Result<&crate::order::Order> {
        self.order
            .as_deref()
            .ok_or_else(|| wasmtime::format_err!("no order is under evaluation"))
    }

    fn log(&mut self, level: tracing::Level, message: &str) {
        let line = plugin_text(message, LOG_LINE_MAX);
        if line.len() > self.log_left {
            self.logs_dropped += 1;
            return;
        }
        self.log_left -= line.len();
        let plugin = &*self.plugin;
        match level {
            tracing::Level::ERROR => tracing::error!(plugin, "{line}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{line}"),
            tracing::Level::INFO => tracing::info!(plugin, "{line}"),
            _ => tracing::debug!(plugin, "{line}"),
        }
    }
}

/// One implementation for both worlds: the transform bindings reuse the
/// rule bindings' `log` interface (see `bindings`).
impl bindings::log::Host for State {
    fn log(&mut self, l: bindings::log::Level, message: String) -> wasmtime::Result<()> {
        let level = match l {
            bindings::log::Level::Debug => tracing::Level::DEBUG,
            bindings::log::Level::Info => tracing::Level::INFO,
            bindings::log::Level::Warn => tracing::Level::WARN,
            bindings::log::Level::Error => tracing::Level::ERROR,
        };
        State::log(self, level, &message);
        Ok(())
    }
}

use bindings::rule::orderflow::plugin::orders;

impl orders::Host for State {}

impl orders::HostOrder for State {
    fn order_id(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<String> {
        Ok(self.order()?.order_id.clone())
    }
    fn customer_id(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<String> {
        Ok(self.order()?.customer_id.clone())
    }
    fn created_at(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<i64> {
        Ok(self.order()?.created_at_secs())
    }
    fn currency(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<String> {
        Ok(self.order()?.currency.clone())
    }
    fn total_minor(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<u64> {
        Ok(self.order()?.total_minor)
    }
    fn line_count(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<u32> {
        Ok(self.order()?.lines.len() as u32)
    }
    fn lines(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<Vec<orders::Line>> {
        Ok(self
            .order()?
            .lines
            .iter()
            .map(|l| orders::Line {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect())
    }
    fn max_line_quantity(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<u32> {
        Ok(self.order()?.max_line_quantity())
    }
    fn attribute(
        &mut self,
        _: Resource<OrderRef>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.order()?.attributes.get(&name).cloned())
    }
    fn drop(&mut self, _: Resource<OrderRef>) -> wasmtime::Result<()> {
        // Orders are only ever lent to a plugin, never given: nothing to free.
        Ok(())
    }
}

/// The measured cost of one call, for the decision trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    pub fuel: u64,
    pub micros: u64,
}

/// A plugin world: its generated bindings, and the one call a plugin of
/// it answers. Everything else about a plugin (loading, limits, pooling,
/// the cost of a call, what a failure does) is the same for every world.
///
/// `pub` only so that the public [`Plugin`](crate::Plugin) can be bounded
/// by it: it lives in a private module, so nothing outside this crate can
/// name, implement or call it.
pub trait World: Sized + Send + 'static {
    type Pre: Clone + Send + Sync + 'static;
    /// The world's name in the WIT, for errors and `plugin check`.
    const NAME: &'static str;
    /// What one call is given (an order, an item).
    type Input: ?Sized;
    /// What the plugin answers, as the bindings lift it.
    type Answer;
    /// What the host keeps of an answer once it has checked it.
    type Output;
    fn linker(runtime: &Runtime) -> &Linker<State>;
    fn pre(instance_pre: InstancePre<State>) -> wasmtime::Result<Self::Pre>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<State>) -> wasmtime::Result<Self>;
    fn configure(
        &self,
        store: &mut Store<State>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>>;
    /// The order the call lends the plugin through the `orders` interface.
    fn order(_input: &Self::Input) -> CurrentOrder {
        None
    }
    fn call(
        &self,
        store: &mut Store<State>,
        input: &Self::Input,
    ) -> wasmtime::Result<Result<Self::Answer, String>>;
    /// Checks an untrusted answer against the plugin's output cap and the
    /// contract's rules, and converts it.
    fn accept(answer: Self::Answer, max_output_bytes: u64) -> Result<Self::Output, Failure>;
}

struct Warm<W> {
    store: Store<State>,
    bindings: W,
    calls: u32,
}

/// One loaded plugin: its pre-instantiation, its limits and its idle instances.
pub(crate) struct Sandbox<W: World> {
    pub(crate) plugin: Arc<str>,
    pre: W::Pre,
    engine: Engine,
    config: String,
    pub(crate) limits: Limits,
    idle: Mutex<Vec<Warm<W>>>,
    pub(crate) load_kind: LoadKind,
    _ticker: Arc<EpochTicker>,
}

impl<W: World> Sandbox<W> {
    /// Type-checks the component against the world and starts one instance
    /// to run `configure`, so a bad configuration is refused at load time.
    pub(crate) fn load(
        runtime: &Runtime,
        spec: &crate::PluginSpec,
        wasm: &[u8],
    ) -> Result<Sandbox<W>, LoadError> {
        let plugin = format!("{}@{}", spec.name, spec.version);
        let plugin = plugin.as_str();
        let sha256 = spec.sha256.as_str();
        let config = spec.config.to_string();
        let limits = spec.limits.apply(runtime.config.default_limits);
        let (component, load_kind) = runtime.component(plugin, wasm, sha256)?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            plugin: plugin.into(),
            world: W::NAME,
            message: format!("{e:#}; {}", describe(&runtime.engine, &component)),
        };
        let instance_pre = W::linker(runtime)
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = W::pre(instance_pre).map_err(wrong_world)?;
        let sandbox = Sandbox {
            plugin: plugin.into(),
            pre,
            engine: runtime.engine.clone(),
            config,
            limits,
            idle: Mutex::new(Vec::new()),
            load_kind,
            _ticker: runtime.ticker.clone(),
        };
        let warm = sandbox.start().map_err(|(e, _)| match e {
            StartError::Config(message) => LoadError::Config {
                plugin: plugin.into(),
                message,
            },
            StartError::Failed(failure) => LoadError::Start {
                plugin: plugin.into(),
                failure,
            },
            StartError::Link(message) => LoadError::WrongWorld {
                plugin: plugin.into(),
                world: W::NAME,
                message,
            },
        })?;
        sandbox.put_back(warm);
        Ok(sandbox)
    }

    fn new_store(&self) -> Store<State> {
        let state = State {
            plugin: self.plugin.clone(),
            memory_cap: self.limits.memory_bytes,
            memory_denied: false,
            log_left: LOG_BUDGET,
            logs_dropped: 0,
            order: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s);
        store
    }

    /// Instantiates and configures a fresh instance, under the same limits
    /// as a call (a plugin can loop in `configure` too). A failure comes
    /// with the fuel it burnt.
    fn start(&self) -> Result<Warm<W>, (StartError, u64)> {
        let mut store = self.new_store();
        self.arm(&mut store);
        let bindings = W::instantiate(&self.pre, &mut store).map_err(|e| {
            // Instantiation can run a core module's start function (a trap,
            // fuel, the memory cap) or find the pool full; any other error
            // is the component's types not matching the world (wasmtime
            // checks function types lazily, here).
            if let Some(full) = e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
                StartError::Failed(Failure::Capacity {
                    message: full.to_string(),
                })
            } else if e.downcast_ref::<Trap>().is_none() && !store.data().memory_denied {
                StartError::Link(format!("{e:#}"))
            } else {
                StartError::Failed(self.classify(e, &store))
            }
        });
        let bindings = bindings.map_err(|e| (e, self.fuel_spent(&store)))?;
        match bindings.configure(&mut store, &self.config) {
            Ok(Ok(())) => Ok(Warm {
                store,
                bindings,
                calls: 0,
            }),
            Ok(Err(message)) => Err((
                StartError::Config(plugin_text(&message, PLUGIN_MESSAGE_MAX)),
                self.fuel_spent(&store),
            )),
            Err(e) => Err((
                StartError::Failed(self.classify(e, &store)),
                self.fuel_spent(&store),
            )),
        }
    }

    /// Fuel burnt since the store was last [armed](Self::arm).
    fn fuel_spent(&self, store: &Store<State>) -> u64 {
        self.limits
            .fuel
            .saturating_sub(store.get_fuel().unwrap_or(0))
    }

    fn arm(&self, store: &mut Store<State>) {
        store
            .set_fuel(self.limits.fuel)
            .expect("fuel is enabled on the engine");
        let ticks = self
            .limits
            .timeout_ms
            .div_ceil(TICK.as_millis() as u64)
            .max(1);
        // One extra tick: the tick in progress may be almost over.
        store.set_epoch_deadline(ticks + 1);
        store.epoch_deadline_trap();
        let state = store.data_mut();
        state.log_left = LOG_BUDGET;
        state.memory_denied = false;
    }

    fn put_back(&self, warm: Warm<W>) {
        if warm.calls < self.limits.max_calls_per_instance {
            self.idle.lock().expect("idle-instances lock").push(warm);
        }
    }

    /// Runs one call in an instance (reused or fresh) and measures it,
    /// failed or not: a call that ran out of fuel cost its whole budget.
    /// A trap or a broken limit drops the instance (wasmtime refuses further
    /// calls into it); the next call gets a new one.
    pub(crate) fn call<R>(
        &self,
        order: CurrentOrder,
        f: impl FnOnce(&W, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<(R, Cost), (Failure, Cost)> {
        let started = Instant::now();
        let idle = self.idle.lock().expect("idle-instances lock").pop();
        let mut warm = match idle {
            Some(warm) => warm,
            None => self.start().map_err(|(e, fuel)| {
                let failure = match e {
                    StartError::Config(message) => Failure::Refused {
                        message: format!("configure: {message}"),
                    },
                    StartError::Failed(f) => f,
                    StartError::Link(message) => Failure::Trap { message },
                };
                let micros = started.elapsed().as_micros() as u64;
                (failure, Cost { fuel, micros })
            })?,
        };
        self.arm(&mut warm.store);
        warm.store.data_mut().order = order;
        let result = f(&warm.bindings, &mut warm.store);
        warm.store.data_mut().order = None;
        let fuel = self.fuel_spent(&warm.store);
        let cost = Cost {
            fuel,
            micros: started.elapsed().as_micros() as u64,
        };
        let dropped = warm.store.data().logs_dropped;
        if dropped > 0 {
            tracing::warn!(
                plugin = &*self.plugin,
                dropped,
                "plugin log lines dropped: over the per-call budget"
            );
            warm.store.data_mut().logs_dropped = 0;
        }
        match result {
            Ok(r) => {
                warm.calls += 1;
                self.put_back(warm);
                Ok((r, cost))
            }
            Err(e) => Err((self.classify(e, &warm.store), cost)),
        }
    }

    /// Names the limit a trap came from.
    fn classify(&self, e: wasmtime::Error, store: &Store<State>) -> Failure {
        if store.data().memory_denied {
            return Failure::Memory {
                limit: self.limits.memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Failure::Fuel {
                limit: self.limits.fuel,
            },
            Some(Trap::Interrupt) => Failure::Timeout {
                limit_ms: self.limits.timeout_ms,
            },
            Some(Trap::UnreachableCodeReached) => Failure::Trap {
                message: "unreachable executed (a panic or abort in the plugin)".into(),
            },
            Some(trap) => Failure::Trap {
                message: trap.to_string(),
            },
            None => Failure::Trap {
                message: format!("{e:#}"),
            },
        }
    }
}

enum StartError {
    Config(String),
    Link(String),
    Failed(Failure),
}

/// What a component actually imports and exports, for error messages and
/// `orderflow plugin check`.
pub(crate) fn describe(engine: &Engine, component: &Component) -> String {
    let ty = component.component_type();
    let imports: Vec<_> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports: Vec<_> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    format!(
        "the component imports [{}] and exports [{}]",
        imports.join(", "),
        exports.join(", ")
    )
}
