//! The consumer's reading of an SQS event, over generated shapes
//! (proptest): whatever JSON Lambda hands over, it is read or refused,
//! never a panic, and every record read keeps its id.

use aws_lambda_events::sqs::SqsEvent;
use orderflow_consumer::messages;
use orderflow_test_support::properties::any_json;
use proptest::prelude::*;
use serde_json::{Value, json};

/// An SQS event's shape, each field present or not, right or wrong type.
fn sqs_shaped() -> impl Strategy<Value = Value> {
    let text = || prop_oneof![Just(Value::Null), ".{0,12}".prop_map(Value::from)].boxed();
    let record = (text(), text(), prop::option::of(any_json())).prop_map(|(id, body, extra)| {
        let mut r = json!({"messageId": id, "body": body, "eventSource": "aws:sqs"});
        if let Some(extra) = extra {
            r["messageAttributes"] = extra;
        }
        r
    });
    prop::collection::vec(record, 0..6).prop_map(|records| json!({"Records": records}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_event_is_read_or_refused_never_a_panic(value in prop_oneof![any_json(), sqs_shaped()]) {
        let Ok(event) = serde_json::from_value::<SqsEvent>(value) else {
            return Ok(());
        };
        match messages(&event) {
            Ok(read) => {
                prop_assert_eq!(read.len(), event.records.len());
                for (m, r) in read.iter().zip(&event.records) {
                    prop_assert!(!m.message_id.is_empty());
                    prop_assert_eq!(Some(&m.message_id), r.message_id.as_ref());
                    prop_assert_eq!(&m.body, &r.body.clone().unwrap_or_default());
                }
            }
            Err(_) => prop_assert!(event
                .records
                .iter()
                .any(|r| r.message_id.as_deref().is_none_or(str::is_empty))),
        }
    }
}
