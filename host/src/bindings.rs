//! Host-side bindings for the two plugin worlds in `wit/`.

use crate::order::Order;
use std::sync::Arc;

pub mod rule {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "rule-plugin",
        imports: { default: trappable },
        with: { "orderflow:plugin/orders.order": super::OrderRef },
    });
}

/// Shares the rule world's `log` interface, so one host implementation
/// serves both worlds.
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transform-plugin",
        imports: { default: trappable },
        with: { "orderflow:plugin/log": super::rule::orderflow::plugin::log },
    });
}

pub use rule::orderflow::plugin::log;

/// The host side of the `order` resource. A store serves one order at a
/// time, so the handle carries no table entry: the order under evaluation
/// sits in the store's state (see `sandbox::State::order`).
pub struct OrderRef;

/// Held in the store while a rule runs.
pub type CurrentOrder = Option<Arc<Order>>;
