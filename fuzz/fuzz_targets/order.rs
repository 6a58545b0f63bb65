//! The order parser on any bytes: parsed or refused, never a panic; a
//! parsed order reads back from its own JSON unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_order::Order;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(order) = Order::from_json(text) {
        let again = Order::from_json(&order.to_json()).expect("its own JSON parses");
        assert_eq!(again, order);
    }
});
