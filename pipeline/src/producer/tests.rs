use super::*;

fn msg(id: usize, size: usize) -> OutgoingMessage {
    OutgoingMessage {
        id: format!("m{id}"),
        body: "x".repeat(size),
        attributes: vec![],
    }
}

#[test]
fn retries_back_off_with_jitter_below_a_doubling_cap() {
    for attempt in 1..PUBLISH_ATTEMPTS {
        let cap = Duration::from_millis(20 << attempt);
        assert!((0..50).all(|_| backoff(attempt) <= cap));
    }
}

#[test]
fn batches_hold_at_most_ten_entries() {
    let (b, big) = batches((0..23).map(|i| msg(i, 10)).collect());
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
    assert!(big.is_empty());
}

#[test]
fn batches_hold_at_most_256_kib_in_total() {
    let (b, _) = batches((0..5).map(|i| msg(i, 100 * 1024)).collect());
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert!(
        b.iter()
            .all(|b| b.iter().map(OutgoingMessage::size).sum::<usize>() <= MAX_PAYLOAD_BYTES)
    );
}

#[test]
fn a_message_over_256_kib_is_reported_not_sent() {
    let (b, big) = batches(vec![msg(0, MAX_PAYLOAD_BYTES + 1), msg(1, 5)]);
    assert_eq!(b.len(), 1);
    assert_eq!(big.len(), 1);
    assert!(big[0].1.contains("over SNS's limit"));
}

#[test]
fn message_attributes_stay_within_snss_rules() {
    let mut d = Decision {
        order_id: "o".into(),
        revision: "sha256:abc".into(),
        high_value: true,
        attributes: Default::default(),
        reasons: vec![],
        conflicts: vec![],
        rejected: None,
        trace: vec![],
    };
    for i in 0..15 {
        d.attributes.insert(format!("a{i:02}"), "v".into());
    }
    d.attributes.insert("AWS.reserved".into(), "v".into());
    d.attributes.insert("has space".into(), "v".into());
    d.attributes.insert("empty".into(), "".into());
    d.attributes.insert("a00".into(), "bell\u{7}".into());
    d.attributes
        .insert("a01".into(), "not a char \u{FFFE}".into());
    d.attributes
        .insert("a02".into(), "tab\tand ünïcode 🙂".into());
    let attrs = message_attributes(&d);
    assert!(
        !attrs.iter().any(|(k, _)| k == "a00" || k == "a01"),
        "{attrs:?}"
    );
    assert!(attrs.iter().any(|(k, _)| k == "a02"));
    assert_eq!(attrs.len(), MAX_MESSAGE_ATTRIBUTES);
    assert_eq!(attrs[0].0, "revision");
    assert!(
        attrs
            .iter()
            .all(|(k, v)| valid_attribute_name(k) && valid_attribute_value(v))
    );
}
