//! Who sent an HTTP request, as API Gateway's authorizer established it.
//! Every route of the template's API has an authorizer (SigV4 or JWT), so a
//! request without one means the API was deployed otherwise: the handler
//! refuses it rather than take orders from anyone.

use aws_lambda_events::apigw::ApiGatewayRequestAuthorizer;
use orderflow_order::redact::redact;
use std::fmt;

/// The authenticated caller of one HTTP request, as it is logged. Never the
/// access key, which is half of a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A SigV4-signed request: the signing principal's ARN.
    Iam { principal: String },
    /// A request with a valid bearer JWT: its subject, redacted like any
    /// caller text (some issuers make it an e-mail address).
    Jwt { subject: String },
}

impl Caller {
    /// The caller API Gateway's authorizer reports, if it reports one this
    /// function accepts (IAM with a principal ARN, or JWT).
    pub fn from_authorizer(authorizer: Option<&ApiGatewayRequestAuthorizer>) -> Option<Caller> {
        let authorizer = authorizer?;
        if let Some(principal) = authorizer
            .iam
            .as_ref()
            .and_then(|iam| iam.user_arn.as_deref())
            .filter(|arn| arn.starts_with("arn:"))
        {
            return Some(Caller::Iam {
                principal: principal.to_string(),
            });
        }
        authorizer.jwt.as_ref().map(|jwt| Caller::Jwt {
            subject: jwt
                .claims
                .get("sub")
                .map_or_else(|| "(no sub claim)".to_string(), |s| redact(s)),
        })
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Iam { principal } => write!(f, "{principal}"),
            Caller::Jwt { subject } => write!(f, "jwt:{subject}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_test_support::events::{IamCaller, iam_authorizer, jwt_authorizer};
    use serde_json::{Value, json};

    fn caller(authorizer: Value) -> Option<Caller> {
        let authorizer: ApiGatewayRequestAuthorizer = serde_json::from_value(authorizer).unwrap();
        Caller::from_authorizer(Some(&authorizer))
    }

    #[test]
    fn a_signed_request_names_its_principal_not_its_access_key() {
        let signer = IamCaller::default();
        let c = caller(iam_authorizer(&signer)).unwrap();
        assert_eq!(
            c,
            Caller::Iam {
                principal: signer.user_arn.clone()
            }
        );
        assert!(!c.to_string().contains(&signer.access_key));
    }

    #[test]
    fn a_jwt_names_its_subject_redacted() {
        assert_eq!(
            caller(jwt_authorizer("user-7")).unwrap().to_string(),
            "jwt:user-7"
        );
        assert_eq!(
            caller(jwt_authorizer("ana@example.com"))
                .unwrap()
                .to_string(),
            "jwt:[redacted]"
        );
    }

    #[test]
    fn no_authorizer_or_one_without_a_principal_is_no_caller() {
        assert_eq!(Caller::from_authorizer(None), None);
        assert_eq!(caller(json!({})), None);
        assert_eq!(caller(json!({"iam": {"accessKey": "ASIA1"}})), None);
        assert_eq!(caller(json!({"lambda": {"user": "x"}})), None);
    }
}
