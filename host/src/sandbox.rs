//! The wasmtime sandbox: one engine per process (`runtime`), one
//! pre-instantiation per plugin (here), and a store per instance with fuel,
//! a deadline and a memory cap (`store`).
//!
//! The per-order path only takes (or instantiates, from the pooling
//! allocator) an instance and calls it. An instance serves at most
//! `max_calls_per_instance` orders (1 by default: a fresh instance per
//! order, so no order's state can reach the next one), in calls of one or a
//! batch of them, and is thrown away after a trap or a broken limit, since
//! wasmtime refuses further calls into a trapped instance.

use crate::error::{Failure, LoadError, PLUGIN_MESSAGE_MAX, plugin_text};
use crate::interface;
use crate::limits::Limits;
use crate::order::Order;
use crate::runtime::{EpochTicker, LoadKind, Runtime, TICK};
use crate::store::{LOG_BUDGET, State};
pub(crate) use crate::world::{World, bindings_glue};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::component::{Component, Instance};
use wasmtime::{Engine, Store, Trap};

/// The measured cost of one call, for the decision trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    pub fuel: u64,
    pub micros: u64,
}

impl Cost {
    /// One order's even share of a call that decided `orders`: a batch's
    /// cost cannot be told apart by order.
    pub(crate) fn share(self, orders: usize) -> Cost {
        let n = orders.max(1) as u64;
        Cost {
            fuel: self.fuel / n,
            micros: self.micros / n,
        }
    }

    pub(crate) fn plus(self, other: Cost) -> Cost {
        Cost {
            fuel: self.fuel.saturating_add(other.fuel),
            micros: self.micros.saturating_add(other.micros),
        }
    }
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
    /// `pre` is of the pre-initialised component (see `preinit`): its
    /// instances start configured.
    pub(crate) preinitialized: bool,
    engine: Engine,
    config: String,
    pub(crate) limits: Limits,
    idle: Mutex<Vec<Warm<W>>>,
    pub(crate) load_kind: LoadKind,
    /// Why the artifact offered was not used (see `artifact`).
    pub(crate) fallback: Option<crate::artifact::Fallback>,
    /// Set when the manifest entry grants the deterministic WASI.
    wasi: Option<crate::wasi::Deterministic>,
    _ticker: Arc<EpochTicker>,
}

impl<W: World> Sandbox<W> {
    /// Type-checks the component against the world and starts one instance
    /// to run `configure`, so a bad configuration is refused at load time.
    /// A snapshot artifact's instance is started too (wasmtime checks some
    /// types only then) but not configured again: its configuration ran
    /// when it was made, and its key names that configuration.
    pub(crate) fn load(
        runtime: &Runtime,
        spec: &crate::PluginSpec,
        wasm: &[u8],
        offer: Option<crate::artifact::Offer>,
    ) -> Result<Sandbox<W>, LoadError> {
        let plugin = format!("{}@{}", spec.name, spec.version);
        let plugin = plugin.as_str();
        let config = spec.config.to_string();
        let limits = spec.limits.apply(runtime.config.default_limits);
        let preinit = runtime.preinit_for(W::NAME, spec);
        let obtained = runtime.component(plugin, spec, wasm, &limits, offer, preinit.as_deref())?;
        let component = obtained.component;
        let wasi = crate::wasi::Deterministic::granted(spec);
        let wrong_world = |e: wasmtime::Error| {
            let (mut imports, exports) = interface::names(&runtime.engine, &component);
            imports.retain(|name| wasi.is_none() || !crate::wasi::provides(name));
            let cause = interface::contract_mismatch(W::NAME, &imports, &exports)
                .map(|cause| format!("{cause}: "))
                .unwrap_or_default();
            LoadError::WrongWorld {
                plugin: plugin.into(),
                world: W::NAME,
                message: format!(
                    "{cause}{e:#}; {}",
                    interface::describe(&runtime.engine, &component)
                ),
            }
        };
        let wasi_linker = match wasi {
            Some(_) => Some(crate::wasi::linker(W::linker(runtime)).map_err(wrong_world)?),
            None => None,
        };
        let instance_pre = wasi_linker
            .as_ref()
            .unwrap_or_else(|| W::linker(runtime))
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = W::pre(instance_pre).map_err(wrong_world)?;
        let mut sandbox = Sandbox {
            plugin: plugin.into(),
            pre,
            preinitialized: obtained.preinitialized,
            engine: runtime.engine.clone(),
            config,
            limits,
            idle: Mutex::new(Vec::new()),
            load_kind: obtained.kind,
            fallback: obtained.fallback,
            wasi,
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
        if let Some(key) = preinit.filter(|_| !sandbox.preinitialized) {
            sandbox.preinitialize(runtime, wasm, &key);
        }
        Ok(sandbox)
    }

    /// Swaps in the pre-initialised component, so that a fresh instance
    /// starts configured. Called once `configure` has succeeded on the
    /// plain component, so a failure here is a shape of component the
    /// snapshot does not support: the plugin then configures every instance.
    fn preinitialize(&mut self, runtime: &Runtime, wasm: &[u8], key: &str) {
        let built = runtime.preinitialized(&self.plugin, key, || self.snapshot(runtime, wasm));
        let pre = built.and_then(|component| {
            let instance_pre = W::linker(runtime)
                .instantiate_pre(&component)
                .map_err(|e| format!("{e:#}"))?;
            W::pre(instance_pre).map_err(|e| format!("{e:#}"))
        });
        match pre {
            Ok(pre) => {
                self.pre = pre;
                self.preinitialized = true;
            }
            Err(why) => tracing::warn!(
                plugin = &*self.plugin,
                "not pre-initialised, so every instance runs configure: {why}"
            ),
        }
    }

    /// The snapshot of this plugin configured (a component's bytes), or
    /// why it cannot be made.
    pub(crate) fn snapshot(&self, runtime: &Runtime, wasm: &[u8]) -> Result<Vec<u8>, String> {
        crate::preinit::snapshot(&self.engine, wasm, |c| self.configured(runtime, c))
    }

    /// An instance of `component` (the instrumented plugin) that has run
    /// `configure`, under the same limits as a call, with its fuel and
    /// deadline re-armed for what the snapshot calls in it.
    fn configured(
        &self,
        runtime: &Runtime,
        component: &Component,
    ) -> Result<(Store<State>, Instance), String> {
        let mut store = self.new_store();
        self.arm(&mut store, None, 1);
        let instance = W::linker(runtime)
            .instantiate(&mut store, component)
            .map_err(|e| format!("instantiate: {e:#}"))?;
        let bindings = W::from_instance(&mut store, &instance).map_err(|e| format!("{e:#}"))?;
        match bindings.configure(&mut store, &self.config) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(format!("configure: {message}")),
            Err(e) => return Err(format!("configure: {}", self.classify(e, &store, None))),
        }
        self.arm(&mut store, None, 1);
        Ok((store, instance))
    }

    fn new_store(&self) -> Store<State> {
        let state = State {
            plugin: self.plugin.clone(),
            memory_cap: self.limits.memory_bytes,
            memory_denied: false,
            log_left: LOG_BUDGET,
            logs_dropped: 0,
            lent: Vec::new(),
            wasi: self.wasi.as_ref().map(crate::wasi::Deterministic::context),
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
        self.arm(&mut store, None, 1);
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
                StartError::Failed(self.classify(e, &store, None))
            }
        });
        let bindings = bindings.map_err(|e| (e, self.fuel_spent(&store, 1)))?;
        if self.preinitialized {
            return Ok(Warm {
                store,
                bindings,
                calls: 0,
            });
        }
        let configured = bindings.configure(&mut store, &self.config);
        store.data_mut().flush_wasi_output();
        match configured {
            Ok(Ok(())) => Ok(Warm {
                store,
                bindings,
                calls: 0,
            }),
            Ok(Err(message)) => Err((
                StartError::Config(plugin_text(&message, PLUGIN_MESSAGE_MAX)),
                self.fuel_spent(&store, 1),
            )),
            Err(e) => Err((
                StartError::Failed(self.classify(e, &store, None)),
                self.fuel_spent(&store, 1),
            )),
        }
    }

    /// Fuel burnt since the store was last [armed](Self::arm) for `weight`
    /// orders.
    fn fuel_spent(&self, store: &Store<State>, weight: u32) -> u64 {
        self.fuel_for(weight)
            .saturating_sub(store.get_fuel().unwrap_or(0))
    }

    /// The fuel of a call of `weight` orders.
    fn fuel_for(&self, weight: u32) -> u64 {
        self.limits.fuel.saturating_mul(weight.into())
    }

    /// Fuel and deadline for one call of `weight` orders: the plugin's
    /// per-order limits times that. The deadline is that, or what is left
    /// before `until` (the invocation's end) when that is sooner: answered
    /// then, then too late for the caller. Returns the time left when it,
    /// not the plugin's deadline, is the limit.
    fn arm(&self, store: &mut Store<State>, until: Option<Instant>, weight: u32) -> Option<u64> {
        store
            .set_fuel(self.fuel_for(weight))
            .expect("fuel is enabled on the engine");
        let timeout_ms = self.limits.timeout_ms.saturating_mul(weight.into());
        let left = until.map(|u| u.saturating_duration_since(Instant::now()).as_millis() as u64);
        let clamped = left.filter(|&ms| ms < timeout_ms);
        let ticks = clamped
            .unwrap_or(timeout_ms)
            .div_ceil(TICK.as_millis() as u64)
            .max(1);
        // One extra tick: the tick in progress may be almost over.
        store.set_epoch_deadline(ticks + 1);
        store.epoch_deadline_trap();
        let state = store.data_mut();
        state.log_left = LOG_BUDGET;
        state.memory_denied = false;
        clamped
    }

    fn put_back(&self, warm: Warm<W>) {
        if warm.calls < self.limits.max_calls_per_instance {
            self.idle.lock().expect("idle-instances lock").push(warm);
        }
    }

    /// Runs one call in an instance (reused or fresh) and measures it,
    /// failed or not: a call that ran out of fuel cost its whole budget.
    /// The call weighs as many orders as it is `lent` (at least one): that
    /// many times the fuel and deadline, that many calls of the instance's.
    /// A trap or a broken limit drops the instance (wasmtime refuses
    /// further calls into it); the next call gets a new one. So does a
    /// reused instance with fewer calls left than the call weighs.
    pub(crate) fn call<R>(
        &self,
        lent: &[Arc<Order>],
        until: Option<Instant>,
        f: impl FnOnce(&W, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<(R, Cost), (Failure, Cost)> {
        let started = Instant::now();
        let weight = lent.len().max(1) as u32;
        let max = self.limits.max_calls_per_instance;
        let idle = self.idle.lock().expect("idle-instances lock").pop();
        let idle = idle.filter(|warm| warm.calls.saturating_add(weight) <= max);
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
        let clamped = self.arm(&mut warm.store, until, weight);
        // Into the store's own vector, which a reused instance keeps.
        warm.store.data_mut().lent.extend_from_slice(lent);
        let result = f(&warm.bindings, &mut warm.store);
        warm.store.data_mut().lent.clear();
        warm.store.data_mut().flush_wasi_output();
        let fuel = self.fuel_spent(&warm.store, weight);
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
                warm.calls = warm.calls.saturating_add(weight);
                self.put_back(warm);
                Ok((r, cost))
            }
            Err(e) => Err((self.classify(e, &warm.store, clamped), cost)),
        }
    }

    /// Names the limit a trap came from.
    fn classify(&self, e: wasmtime::Error, store: &Store<State>, clamped: Option<u64>) -> Failure {
        if store.data().memory_denied {
            return Failure::Memory {
                limit: self.limits.memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Failure::Fuel {
                limit: self.limits.fuel,
            },
            Some(Trap::Interrupt) => match clamped {
                Some(left_ms) => Failure::InvocationDeadline { left_ms },
                None if self.limits.fuel
                    > crate::limits::FUEL_PER_MS.saturating_mul(self.limits.timeout_ms) =>
                {
                    Failure::DeadlineAtNormalSpeed {
                        limit_ms: self.limits.timeout_ms,
                        fuel: self.limits.fuel,
                    }
                }
                None => Failure::Timeout {
                    limit_ms: self.limits.timeout_ms,
                },
            },
            Some(Trap::UnreachableCodeReached) => Failure::Trap {
                message: "unreachable executed (a panic or abort in the plugin)".into(),
            },
            // wasmtime's own words ("call stack exhausted") do not say what
            // a plugin author should look for.
            Some(Trap::StackOverflow) => Failure::Trap {
                message: "stack overflow (call stack exhausted: unbounded or too deep recursion)"
                    .into(),
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
