/// One order line; money in integer minor units of the order's currency.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_minor: u64,
}

/// Read access to the order under evaluation.
///
/// Inside wasm each method is a call into the host, so read only what the
/// rule needs: that is what keeps a rule call cheap.
pub trait OrderView {
    fn order_id(&self) -> String;
    fn customer_id(&self) -> String;
    /// Seconds since the Unix epoch, UTC.
    fn created_at(&self) -> i64;
    /// ISO-4217 alphabetic code as the order gave it.
    fn currency(&self) -> String;
    fn total_minor(&self) -> u64;
    fn line_count(&self) -> u32;
    fn lines(&self) -> Vec<Line>;
    /// The largest quantity on any line, 0 without lines.
    fn max_line_quantity(&self) -> u32;
    fn attribute(&self, name: &str) -> Option<String>;
}

#[cfg(target_arch = "wasm32")]
use crate::bindings::rule::orderflow::plugin::orders;

/// One order of those the host lent a rule's `evaluate` (contract 0.2.0):
/// its index, which every read names.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub struct Lent(pub u32);

#[cfg(target_arch = "wasm32")]
impl OrderView for Lent {
    fn order_id(&self) -> String {
        orders::order_id(self.0)
    }
    fn customer_id(&self) -> String {
        orders::customer_id(self.0)
    }
    fn created_at(&self) -> i64 {
        orders::created_at(self.0)
    }
    fn currency(&self) -> String {
        orders::currency(self.0)
    }
    fn total_minor(&self) -> u64 {
        orders::total_minor(self.0)
    }
    fn line_count(&self) -> u32 {
        orders::line_count(self.0)
    }
    fn lines(&self) -> Vec<Line> {
        orders::lines(self.0)
            .into_iter()
            .map(|l| Line {
                sku: l.sku,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect()
    }
    fn max_line_quantity(&self) -> u32 {
        orders::max_line_quantity(self.0)
    }
    fn attribute(&self, name: &str) -> Option<String> {
        orders::attribute(self.0, name)
    }
}
