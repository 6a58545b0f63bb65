//! Pre-initialisation: a plugin's `configure` runs once, at load, and the
//! configured instance is snapshotted into a new component (wasmtime-wizer),
//! so every fresh instance starts configured from a copy-on-write memory
//! image instead of parsing its configuration again for every order.
//!
//! Isolation is unchanged: each order still gets a fresh instance, made from
//! the same snapshot, so nothing one order leaves in memory reaches the
//! next. The snapshot is derived from the hash-checked wasm and the
//! manifest's configuration only (plugins have no clocks, randomness or
//! I/O, so `configure` is deterministic), and is cached under a key of both
//! (see [`key`]): a configuration change makes a new snapshot.
//!
//! Wizer's own init function takes no arguments, while `configure` takes
//! the configuration; so the host drives the instrumented instance itself
//! (the caller's `drive`, under the plugin's limits) between wizer's
//! instrument and snapshot halves.

use crate::manifest::sha256_hex;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime::{AsContextMut, Engine, Store};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

/// Bumped whenever what a snapshot holds could change for the same wasm
/// and configuration (a new wizer, a new way of driving `configure`).
const SNAPSHOT_FORMAT: &str = "orderflow-preinit-1 wasmtime-wizer-48";

/// The cache key of a plugin's snapshot: a sha256 over the wasm's sha256,
/// the world whose `configure` ran, and the configuration text.
pub(crate) fn key(wasm_sha256: &str, world: &str, config: &str) -> String {
    let mut text = String::with_capacity(config.len() + 128);
    for part in [SNAPSHOT_FORMAT, wasm_sha256, world, config] {
        text.push_str(&part.len().to_string());
        text.push(':');
        text.push_str(part);
    }
    sha256_hex(text.as_bytes())
}

/// Instruments `wasm`, lets `drive` instantiate the instrumented component
/// and run `configure` in it, and returns the snapshot of that instance as
/// a component's bytes. An error is why the plugin cannot be snapshotted
/// (a shape of component wizer does not support, or `drive` failing).
pub(crate) fn snapshot<T: Send + 'static>(
    engine: &Engine,
    wasm: &[u8],
    drive: impl FnOnce(&Component) -> Result<(Store<T>, Instance), String>,
) -> Result<Vec<u8>, String> {
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer
        .instrument_component(wasm)
        .map_err(|e| format!("cannot instrument: {e:#}"))?;
    let component = Component::new(engine, &instrumented)
        .map_err(|e| format!("cannot compile the instrumented component: {e:#}"))?;
    let (mut store, instance) = drive(&component)?;
    let mut state = Access {
        store: &mut store,
        instance,
        failed: None,
    };
    let snapshot = ready(wizer.snapshot_component(&cx, &mut state))
        .map_err(|e| format!("cannot snapshot: {e:#}"))?;
    match state.failed {
        Some(why) => Err(format!("cannot read the configured instance: {why}")),
        None => Ok(snapshot),
    }
}

/// The value of a future that never waits: every call into wasm here is
/// synchronous, so wizer's async snapshot is ready on its first poll.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("no call here ever waits"),
    }
}

/// Wizer's view of the configured instance: the accessor functions its
/// instrumentation exported, called synchronously. Wizer's trait has no
/// way to fail, so a failed call answers a zero and is recorded in
/// `failed`, which refuses the snapshot.
struct Access<'a, T: 'static> {
    store: &'a mut Store<T>,
    instance: Instance,
    failed: Option<String>,
}

impl<T: Send + 'static> Access<'_, T> {
    fn call<R: Lift + 'static>(&mut self, instance: &str, func: &str) -> Option<R> {
        let result = (|| {
            let store = self.store.as_context_mut();
            let (_, parent) = self
                .instance
                .get_export(store, None, instance)
                .ok_or("no accessor instance")?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&parent), func)
                .ok_or("no accessor function")?;
            let f = self
                .instance
                .get_typed_func::<(), (R,)>(&mut *self.store, index)
                .map_err(|e| format!("{e:#}"))?;
            let (value,) = f.call(&mut *self.store, ()).map_err(|e| format!("{e:#}"))?;
            Ok::<R, String>(value)
        })();
        match result {
            Ok(value) => Some(value),
            Err(why) => {
                self.failed
                    .get_or_insert_with(|| format!("{instance}#{func}: {why}"));
                None
            }
        }
    }
}

impl<T: Send + 'static> ComponentInstanceState for Access<'_, T> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        match self.call::<WasmList<u8>>(instance, func) {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).unwrap_or(0)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).unwrap_or(0)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).map_or(0, f32::to_bits)
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).map_or(0, f64::to_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn the_key_changes_with_the_wasm_the_world_and_the_configuration() {
        let base = key("aa", "rule", r#"{"min":1}"#);
        assert_eq!(base, key("aa", "rule", r#"{"min":1}"#));
        assert_ne!(base, key("ab", "rule", r#"{"min":1}"#));
        assert_ne!(base, key("aa", "transform", r#"{"min":1}"#));
        assert_ne!(base, key("aa", "rule", r#"{"min":2}"#));
        // Parts are length-prefixed: moving text from one to the next is
        // another key.
        assert_ne!(key("a", "ab", "c"), key("aa", "b", "c"));
    }
}
