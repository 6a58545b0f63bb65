//! Host-side bindings for the two plugin worlds in `wit/`.

use crate::order::Order;
use std::sync::Arc;

pub mod rule {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "rule-plugin",
        imports: { default: trappable },
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

/// Held in the store while a rule runs: the orders it was lent. A store
/// serves one call at a time, and an order is its index here.
pub type LentOrders = Vec<Arc<Order>>;
