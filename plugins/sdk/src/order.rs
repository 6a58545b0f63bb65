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

/// One order of the batch the host lent a rule's `evaluate` (contract
/// 0.2.0): the batch handle and the order's index in it.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub struct Lent<'a> {
    pub batch: &'a crate::bindings::rule::orderflow::plugin::orders::Batch,
    pub index: u32,
}

#[cfg(target_arch = "wasm32")]
impl OrderView for Lent<'_> {
    fn order_id(&self) -> String {
        self.batch.order_id(self.index)
    }
    fn customer_id(&self) -> String {
        self.batch.customer_id(self.index)
    }
    fn created_at(&self) -> i64 {
        self.batch.created_at(self.index)
    }
    fn currency(&self) -> String {
        self.batch.currency(self.index)
    }
    fn total_minor(&self) -> u64 {
        self.batch.total_minor(self.index)
    }
    fn line_count(&self) -> u32 {
        self.batch.line_count(self.index)
    }
    fn lines(&self) -> Vec<Line> {
        self.batch
            .lines(self.index)
            .into_iter()
            .map(|l| Line {
                sku: l.sku,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect()
    }
    fn max_line_quantity(&self) -> u32 {
        self.batch.max_line_quantity(self.index)
    }
    fn attribute(&self, name: &str) -> Option<String> {
        self.batch.attribute(self.index, name)
    }
}
