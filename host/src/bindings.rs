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

pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transform-plugin",
        imports: { default: trappable },
    });
}

/// The host side of the `order` resource. A store serves one order at a
/// time, so the handle carries no table entry: the order under evaluation
/// sits in the store's state (see `sandbox::State::order`).
pub struct OrderRef;

/// Held in the store while a rule runs.
pub type CurrentOrder = Option<Arc<Order>>;
