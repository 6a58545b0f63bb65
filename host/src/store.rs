//! What a store holds for one plugin instance, and the host side of the
//! interfaces a plugin imports (`log`, `orders`).

use crate::bindings::{self, LentOrders};
use crate::error::plugin_text;
use std::sync::Arc;
use wasmtime::ResourceLimiter;

/// What one call may write to the log, in bytes, before lines are dropped.
pub(crate) const LOG_BUDGET: usize = 16 << 10;
const LOG_LINE_MAX: usize = 1 << 10;

/// What a store holds for one plugin instance.
pub struct State {
    pub(crate) plugin: Arc<str>,
    pub(crate) memory_cap: u64,
    /// Set when the limiter refused to grow memory: names the trap that follows.
    pub(crate) memory_denied: bool,
    pub(crate) log_left: usize,
    pub(crate) logs_dropped: u32,
    /// The orders lent to the call under way; empty between calls.
    pub(crate) lent: LentOrders,
    /// The deterministic WASI, for a plugin granted it (see `wasi`).
    pub(crate) wasi: Option<Box<crate::wasi::WasiState>>,
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
    /// The lent order at `index`. One out of range is a plugin reading
    /// past what it was lent (or outside `evaluate`, when nothing is):
    /// that traps the call, naming both.
    fn order(&self, index: u32) -> wasmtime::Result<&crate::order::Order> {
        self.lent.get(index as usize).map(|o| &**o).ok_or_else(|| {
            wasmtime::format_err!(
                "order {index} read while {} orders are lent (0 to count - 1)",
                self.lent.len()
            )
        })
    }

    pub(crate) fn log(&mut self, level: tracing::Level, message: &str) {
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

impl orders::Host for State {
    fn order_id(&mut self, order: u32) -> wasmtime::Result<String> {
        Ok(self.order(order)?.order_id.clone())
    }
    fn customer_id(&mut self, order: u32) -> wasmtime::Result<String> {
        Ok(self.order(order)?.customer_id.clone())
    }
    fn created_at(&mut self, order: u32) -> wasmtime::Result<i64> {
        Ok(self.order(order)?.created_at_secs())
    }
    fn currency(&mut self, order: u32) -> wasmtime::Result<String> {
        Ok(self.order(order)?.currency.clone())
    }
    fn total_minor(&mut self, order: u32) -> wasmtime::Result<u64> {
        Ok(self.order(order)?.total_minor)
    }
    fn line_count(&mut self, order: u32) -> wasmtime::Result<u32> {
        Ok(self.order(order)?.lines.len() as u32)
    }
    fn lines(&mut self, order: u32) -> wasmtime::Result<Vec<orders::Line>> {
        Ok(self
            .order(order)?
            .lines
            .iter()
            .map(|l| orders::Line {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect())
    }
    fn max_line_quantity(&mut self, order: u32) -> wasmtime::Result<u32> {
        Ok(self.order(order)?.max_line_quantity())
    }
    fn attribute(&mut self, order: u32, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.order(order)?.attributes.get(&name).cloned())
    }
}
