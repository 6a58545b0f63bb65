use super::*;

#[test]
fn the_order_id_is_read_from_raw_and_enveloped_bodies_that_need_not_validate() {
    let raw = r#"{"order":{"order_id":"ord-7","lines":"not lines"},"decision":{}}"#;
    assert_eq!(order_id_in(raw).as_deref(), Some("ord-7"));
    let envelope = serde_json::json!({"Type": "Notification", "Message": raw}).to_string();
    assert_eq!(order_id_in(&envelope).as_deref(), Some("ord-7"));
    assert_eq!(order_id_in("not json"), None);
    assert_eq!(order_id_in(r#"{"order":{"order_id":7}}"#), None);
}

#[test]
fn the_peek_window_outlasts_a_listing_of_the_whole_queue() {
    assert_eq!(peek_visibility(0), 30);
    assert_eq!(peek_visibility(1), 31);
    // The 100,000-order soak's 1,000 dead letters: its listing took
    // over 30 s on a loaded moto and, with a fixed 30 s window, went
    // round the first 454 messages and stopped.
    assert_eq!(peek_visibility(1_000), 130);
    assert_eq!(peek_visibility(10_000_000), 43_200);
}

#[test]
fn a_missing_reason_says_how_often_it_was_received() {
    assert_eq!(
        Reason::NotRecorded { receives: 5 }.to_string(),
        "received 5 times without success (no reason recorded)"
    );
    let json = serde_json::to_value(Reason::Recorded { text: "x".into() }).unwrap();
    assert_eq!(json, serde_json::json!({"kind": "recorded", "text": "x"}));
    assert_eq!(
        Reason::NotRecorded { receives: 1 }.to_string(),
        "received 1 time without success (no reason recorded)"
    );
}
