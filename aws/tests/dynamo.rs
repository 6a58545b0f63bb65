//! Against a moto server: the DynamoDB store, and how its failures are
//! classified.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use orderflow_aws::{DynamoStore, clients};
use orderflow_host::item::{Field, Item, Value};
use orderflow_pipeline::ItemStore;
use orderflow_test_support::moto::{MotoServer, sdk_config_for};

async fn table(moto: &MotoServer, name: &str) -> aws_sdk_dynamodb::Client {
    let db = clients::dynamodb(&moto.sdk_config().await);
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    db.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("OrderId", KeyType::Hash))
        .key_schema(key("Timestamp", KeyType::Range))
        .attribute_definitions(attr("OrderId"))
        .attribute_definitions(attr("Timestamp"))
        .send()
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn the_dynamo_store_writes_each_key_once() {
    let moto = MotoServer::start().unwrap();
    let db = table(&moto, "orders").await;
    let store = DynamoStore::new(db.clone(), "orders");
    let mut item = Item {
        order_id: "ord-1".into(),
        timestamp: "2026-11-24T10:15:00Z".into(),
        fields: vec![
            Field {
                name: "TotalMinor".into(),
                value: Value::Integer(125000),
            },
            Field {
                name: "HighValue".into(),
                value: Value::Boolean(true),
            },
            Field {
                name: "Reasons".into(),
                value: Value::TextList(vec!["threshold: yes".into()]),
            },
            Field {
                name: "Attributes".into(),
                value: Value::TextMap(
                    [("email".to_string(), "a***@example.com".to_string())].into(),
                ),
            },
        ],
    };
    store.put(&item).await.unwrap();
    item.fields.push(Field {
        name: "DisplayTotal".into(),
        value: Value::Text("1250.00 EUR".into()),
    });
    store.put(&item).await.unwrap();

    let scan = db.scan().table_name("orders").send().await.unwrap();
    assert_eq!(scan.items().len(), 1, "a redelivery replaces the item");
    let got = orderflow_aws::dynamo::to_json(&scan.items()[0]);
    assert_eq!(got, item.to_json());
    assert_eq!(
        scan.items()[0]["TotalMinor"],
        AttributeValue::N("125000".into())
    );

    let e = DynamoStore::new(db, "no-such-table")
        .put(&item)
        .await
        .unwrap_err();
    assert!(
        !e.retryable,
        "a missing table will not appear by retrying: {e}"
    );
    assert!(
        e.message.contains("ResourceNotFoundException") && e.message.contains("no-such-table"),
        "{e}"
    );
}

#[tokio::test]
async fn a_batch_is_one_call_per_25_items_and_a_repeated_key_is_written_last() {
    let moto = MotoServer::start().unwrap();
    let db = table(&moto, "orders").await;
    let store = DynamoStore::new(db.clone(), "orders");
    let item = |i: usize, note: &str| Item {
        order_id: format!("ord-{i}"),
        timestamp: "2026-11-24T10:15:00Z".into(),
        fields: vec![Field {
            name: "Note".into(),
            value: Value::Text(note.into()),
        }],
    };
    // 60 records, the last one a redelivery of the first with new content.
    let mut items: Vec<Item> = (0..59).map(|i| item(i, "first")).collect();
    items.push(item(0, "again"));
    let refs: Vec<&Item> = items.iter().collect();

    moto.start_recording().unwrap();
    let results = store.put_all(&refs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(moto.calls("BatchWriteItem"), 3, "{:?}", moto.recorded());
    assert_eq!(moto.calls("PutItem"), 0);

    let scan = db.scan().table_name("orders").send().await.unwrap();
    assert_eq!(scan.items().len(), 59);
    let first = scan
        .items()
        .iter()
        .find(|i| i["OrderId"] == AttributeValue::S("ord-0".into()))
        .unwrap();
    assert_eq!(first["Note"], AttributeValue::S("again".into()));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_store_error() {
    // A port nothing listens on: the SDK's own retries fail fast, and the
    // message comes back to the queue.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sdk = sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
    let store = DynamoStore::new(clients::dynamodb(&sdk), "orders");
    let item = Item {
        order_id: "o".into(),
        timestamp: "t".into(),
        fields: vec![],
    };
    let e = store.put(&item).await.unwrap_err();
    assert!(e.retryable, "{e}");
}
