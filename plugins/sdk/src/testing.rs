//! Run plugin logic natively, on orders written in the project's wire JSON.

use crate::{Line, OrderView};
use std::collections::BTreeMap;

/// An order for native tests, parsed from the same JSON the pipeline reads.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct TestOrder {
    pub order_id: String,
    pub customer_id: String,
    /// Seconds since the epoch; the wire's RFC 3339 `created_at` is not
    /// parsed here (tests set this directly when a rule needs it).
    #[serde(skip)]
    pub created_at_secs: i64,
    pub currency: String,
    pub total_minor: u64,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl TestOrder {
    /// Parses wire JSON; panics with serde's message on bad input, as a test should.
    pub fn from_json(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test order: {e}"))
    }
}

impl OrderView for TestOrder {
    fn order_id(&self) -> String {
        self.order_id.clone()
    }
    fn customer_id(&self) -> String {
        self.customer_id.clone()
    }
    fn created_at(&self) -> i64 {
        self.created_at_secs
    }
    fn currency(&self) -> String {
        self.currency.clone()
    }
    fn total_minor(&self) -> u64 {
        self.total_minor
    }
    fn line_count(&self) -> u32 {
        self.lines.len() as u32
    }
    fn lines(&self) -> Vec<Line> {
        self.lines.clone()
    }
    fn max_line_quantity(&self) -> u32 {
        self.lines.iter().map(|l| l.quantity).max().unwrap_or(0)
    }
    fn attribute(&self, name: &str) -> Option<String> {
        self.attributes.get(name).cloned()
    }
}

/// The message a plugin refused with, e.g. `refused(MyRule::configure("{}"))`;
/// panics when it was accepted, since the test expected a refusal.
pub fn refused<T>(result: Result<T, String>) -> String {
    match result {
        Ok(_) => panic!("accepted, but a refusal was expected"),
        Err(message) => message,
    }
}
