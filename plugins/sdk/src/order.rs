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
impl OrderView for crate::bindings::rule::orderflow::plugin::orders::Order {
    fn order_id(&self) -> String {
        self.order_id()
    }
    fn customer_id(&self) -> String {
        self.customer_id()
    }
    fn created_at(&self) -> i64 {
        self.created_at()
    }
    fn currency(&self) -> String {
        self.currency()
    }
    fn total_minor(&self) -> u64 {
        self.total_minor()
    }
    fn line_count(&self) -> u32 {
        self.line_count()
    }
    fn lines(&self) -> Vec<Line> {
        self.lines()
            .into_iter()
            .map(|l| Line {
                sku: l.sku,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect()
    }
    fn max_line_quantity(&self) -> u32 {
        self.max_line_quantity()
    }
    fn attribute(&self, name: &str) -> Option<String> {
        self.attribute(name)
    }
}
