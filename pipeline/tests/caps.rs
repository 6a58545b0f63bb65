//! The order caps agree with the stages after the producer: the largest
//! order validation accepts, as the item and message it becomes, fits a
//! transform's default answer cap with room for the decision, SNS's message
//! limit and DynamoDB's item limit (the arithmetic of
//! `orderflow_host::order::caps`, checked on the real shapes).

use orderflow_host::limits::Limits;
use orderflow_host::{HighValueMessage, Item, Order, PublishedDecision};
use orderflow_pipeline::consumer::MAX_ITEM_BYTES;
use orderflow_pipeline::producer::MAX_PAYLOAD_BYTES;
use orderflow_test_support::orders::largest;

fn order(past: bool) -> Result<Order, String> {
    Order::from_json(&largest(past).to_string()).map_err(|e| e.to_string())
}

#[test]
fn the_largest_accepted_order_fits_every_stage_after_the_producer() {
    let order = order(false).expect("the largest order is valid");
    let decision = PublishedDecision {
        revision: format!("sha256:{}", "0".repeat(64)),
        high_value: true,
        attributes: Default::default(),
        reasons: vec![],
    };
    let item = Item::new(&order, &decision);
    let answer_cap = Limits::default().max_output_bytes;
    // What caps.rs's table promises: under 45,300 for the order's part,
    // over 20,000 left for the decision and what transforms add.
    assert!(item.output_bytes() < 45_300, "{}", item.output_bytes());
    assert!(answer_cap - item.output_bytes() > 20_000);
    assert!(item.size_bytes() < MAX_ITEM_BYTES, "{}", item.size_bytes());
    let message = HighValueMessage { order, decision }.to_json();
    assert!(message.len() < MAX_PAYLOAD_BYTES, "{}", message.len());
}

#[test]
fn the_issues_1500_line_order_is_refused_before_it_is_published() {
    let mut v = largest(false);
    let line = v["lines"][0].clone();
    v["lines"] = serde_json::Value::Array(vec![line; 1500]);
    let e = Order::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(e.starts_with("lines: 1500 lines, more than the 250"), "{e}");
    assert!(order(true).unwrap_err().starts_with("lines: 251 lines"));
}
