//! What the consumer reads off the queue, on any bytes: an SNS envelope or
//! a raw body, then the high-value message inside. Refused or parsed, never
//! a panic; a parsed message reads back from its own JSON unchanged, raw or
//! wrapped in an envelope again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orderflow_wire::{HighValueMessage, message_body};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inner) = message_body(body) else {
        return;
    };
    if let Ok(message) = HighValueMessage::from_json(&inner) {
        let json = message.to_json();
        assert_eq!(HighValueMessage::from_json(&json).expect("its own JSON parses"), message);
        let wrapped = serde_json::json!({"Type": "Notification", "Message": json}).to_string();
        let again = message_body(&wrapped).expect("a notification unwraps");
        assert_eq!(HighValueMessage::from_json(&again).unwrap(), message);
    }
});
