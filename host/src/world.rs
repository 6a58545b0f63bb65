//! What a plugin world is to the host: its generated bindings, and the one
//! call a plugin of it answers. Everything else about a plugin (loading,
//! limits, pooling, the cost of a call, what a failure does) is the same
//! for every world, in `sandbox`.

use crate::error::Failure;
use crate::order::Order;
use crate::runtime::Runtime;
use crate::store::State;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre, Linker};

/// The part of a [`World`] impl that only names the generated bindings:
/// their pre-instantiation type, and the exported interface whose
/// `configure` is called.
macro_rules! bindings_glue {
    ($pre:ty, $interface:ident) => {
        type Pre = $pre;
        fn pre(
            instance_pre: wasmtime::component::InstancePre<State>,
        ) -> wasmtime::Result<Self::Pre> {
            Self::Pre::new(instance_pre)
        }
        fn instantiate(
            pre: &Self::Pre,
            store: &mut wasmtime::Store<State>,
        ) -> wasmtime::Result<Self> {
            pre.instantiate(store)
        }
        fn from_instance(
            store: &mut wasmtime::Store<State>,
            instance: &wasmtime::component::Instance,
        ) -> wasmtime::Result<Self> {
            Self::new(store, instance)
        }
        fn configure(
            &self,
            store: &mut wasmtime::Store<State>,
            config: &str,
        ) -> wasmtime::Result<Result<(), String>> {
            self.$interface().call_configure(store, config)
        }
    };
}
pub(crate) use bindings_glue;

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
    /// What one call is given (a batch of orders, an item).
    type Input: ?Sized;
    /// What the plugin answers, as the bindings lift it (its own errors
    /// included).
    type Answer;
    /// What the host keeps of an answer once it has checked it.
    type Output;
    fn linker(runtime: &Runtime) -> &Linker<State>;
    /// This world's chain in a manifest.
    fn specs(manifest: &crate::Manifest) -> &[crate::PluginSpec];
    fn pre(instance_pre: InstancePre<State>) -> wasmtime::Result<Self::Pre>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<State>) -> wasmtime::Result<Self>;
    /// The bindings of an instance made without `Pre` (the one `preinit`
    /// configures and snapshots).
    fn from_instance(store: &mut Store<State>, instance: &Instance) -> wasmtime::Result<Self>;
    fn configure(
        &self,
        store: &mut Store<State>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>>;
    /// The orders the call lends the plugin through the `orders` interface.
    /// Their number (at least one) multiplies the call's fuel and deadline
    /// and counts towards `max_calls_per_instance`.
    fn lent(_input: &Self::Input) -> &[Arc<Order>] {
        &[]
    }
    fn call(&self, store: &mut Store<State>, input: &Self::Input)
    -> wasmtime::Result<Self::Answer>;
    /// Checks an untrusted answer for `input` against the plugin's output
    /// cap and the contract's rules, and converts it.
    fn accept(
        answer: Self::Answer,
        input: &Self::Input,
        max_output_bytes: u64,
    ) -> Result<Self::Output, Failure>;
}
