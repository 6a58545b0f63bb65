//! SQS delivers what SNS sent either raw or inside an SNS envelope,
//! depending on the subscription's `RawMessageDelivery`: both are accepted,
//! so a change of that setting loses nothing.

use orderflow_order::redact::is_plain_name;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The type is the sender's text: repeated only when it is a plain name.
    #[error("an SNS {0} envelope, not a Notification")]
    NotANotification(String),
    #[error("an SNS envelope of another type, not a Notification")]
    UnnamedType,
}

/// The message inside an SNS notification envelope, or the body itself
/// when it is not one.
pub fn message_body(body: &str) -> Result<String, EnvelopeError> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Message")]
        message: String,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(e) if e.kind == "Notification" => Ok(e.message),
        Ok(e) if is_plain_name(&e.kind) => Err(EnvelopeError::NotANotification(e.kind)),
        Ok(_) => Err(EnvelopeError::UnnamedType),
        Err(_) => Ok(body.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bodies_pass_through_and_envelopes_are_unwrapped() {
        assert_eq!(message_body(r#"{"order": 1}"#).unwrap(), r#"{"order": 1}"#);
        let env = serde_json::json!({"Type": "Notification", "MessageId": "x", "Message": "{\"order\": 1}"}).to_string();
        assert_eq!(message_body(&env).unwrap(), r#"{"order": 1}"#);
        let sub =
            serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "hi"}).to_string();
        assert!(
            message_body(&sub)
                .unwrap_err()
                .to_string()
                .contains("SubscriptionConfirmation")
        );
    }

    #[test]
    fn a_type_that_is_not_a_plain_name_is_not_repeated() {
        let odd = serde_json::json!({"Type": "jane@example.com", "Message": "x"}).to_string();
        let e = message_body(&odd).unwrap_err();
        assert_eq!(e, EnvelopeError::UnnamedType);
        assert!(!e.to_string().contains("jane"));
    }
}
