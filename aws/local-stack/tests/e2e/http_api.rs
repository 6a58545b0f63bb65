//! `POST /orders` as the template's HTTP API delivers it: a SigV4-signed
//! request's event (moto creates no HTTP API, see deploy/localstack) through
//! the producer to the table, its caller logged by ARN; a request no
//! authorizer vouched for is refused.

use crate::env::*;
use orderflow_test_support::events::{IamCaller, http_body, signed_http_post, without_authorizer};
use orderflow_test_support::logs::Captured;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_is_published_and_its_principal_logged_an_unsigned_one_refused() {
    let env = env(|_| {}).await;
    env.publish(&example().0).await;
    let producer = env.producer();
    let consumer = env.consumer();
    let signer = IamCaller::default();
    // The handler runs on this thread (awaited here), so a thread-local
    // subscriber sees its lines.
    let logs = Captured::default();
    let _logged =
        tracing::subscriber::set_default(orderflow_aws::telemetry::json_subscriber(logs.clone()));

    let signed = order("ord-http-signed", "EUR", 150_000);
    let r = producer
        .handle(signed_http_post(&signed.to_string(), &signer))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(published(&http_body(&r)), ["ord-http-signed"]);
    let drain = env.drain(&consumer).await;
    assert_eq!((drain.received, drain.deleted, drain.failed), (1, 1, 0));
    assert_eq!(ids(&env.stack.items().await.unwrap()), ["ord-http-signed"]);

    let lines = logs.json_lines();
    let request = lines
        .iter()
        .find(|l| l["message"] == "HTTP request")
        .unwrap_or_else(|| panic!("the request is logged: {lines:?}"));
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["caller"], signer.user_arn.as_str());
    assert_eq!(request["request_id"], "r-1");
    assert_eq!(request["orders"], 1);
    let text = logs.text();
    assert!(
        !text.contains(&signer.access_key),
        "no access key in the log"
    );

    // Only a route deployed without authorization delivers this.
    let unsigned = order("ord-http-unsigned", "EUR", 150_000).to_string();
    let r = producer
        .handle(without_authorizer(signed_http_post(&unsigned, &signer)))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 403, "{r}");
    let drain = env.drain(&consumer).await;
    assert_eq!(drain.received, 0, "nothing was published");
    let refused = logs
        .json_lines()
        .into_iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("HTTP request refused"))
        })
        .expect("the refusal is logged");
    assert_eq!(
        (refused["status"].as_u64(), refused["caller"].as_str()),
        (Some(403), Some("(none)"))
    );
}
