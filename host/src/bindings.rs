//! Host-side bindings for the two plugin worlds in `wit/`.

use crate::order::Order;
use std::sync::Arc;

pub mod rule {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "rule-plugin",
        imports: { default: trappable },
        with: { "orderflow:plugin/orders.batch": super::BatchRef },
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

/// The host side of the `batch` resource. A store serves one call at a
/// time, so the handle carries no table entry: the orders lent to the call
/// sit in the store's state (see `store::State::lent`), and an order is its
/// index there.
pub struct BatchRef;

/// Held in the store while a rule runs: the batch it was lent.
pub type LentOrders = Vec<Arc<Order>>;
