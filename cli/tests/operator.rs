//! `orderflow plugins publish | status | rollback` against a local
//! AWS-compatible server (moto), through the real S3 client.
#![cfg(feature = "aws")]

use orderflow_test_support::moto::MotoServer;
use std::process::Command;

fn orderflow(moto: &MotoServer, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["plugins", "--bucket", "plugins-bucket"])
        .args(args)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orderflow plugins {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

#[tokio::test]
async fn an_operator_publishes_sees_and_rolls_back_a_rule_set() {
    let moto = MotoServer::start().expect("moto_server runs (pip install 'moto[server]')");
    let s3 = orderflow_aws::clients::s3(&moto.sdk_config().await);
    s3.create_bucket()
        .bucket("plugins-bucket")
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let root = orderflow_plugin_build::workspace_root();
    let locked =
        orderflow_plugin_build::lock_manifest(&root.join("plugins/manifest.json"), dir.path())
            .unwrap();

    let first = orderflow(&moto, &["publish", locked.to_str().unwrap()]);
    let first_revision = first["revision"].as_str().unwrap().to_string();
    assert!(first_revision.starts_with("sha256:"));

    let status = orderflow(&moto, &["status"]);
    assert_eq!(
        status["revision"].as_str(),
        Some(first_revision.as_str()),
        "{status}"
    );

    // A threshold change: the same plugins, another configuration.
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&locked).unwrap()).unwrap();
    manifest["rules"][0]["config"]["minimum_minor"]["EUR"] = 50_000.into();
    std::fs::write(&locked, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    let second = orderflow(&moto, &["publish", locked.to_str().unwrap()]);
    assert_ne!(second["revision"], first["revision"]);
    assert_eq!(
        orderflow(&moto, &["status"])["revision"],
        second["revision"]
    );

    let rollback = orderflow(&moto, &["rollback"]);
    assert_eq!(
        rollback["to"].as_str(),
        Some(first_revision.as_str()),
        "{rollback}"
    );
    assert_eq!(
        orderflow(&moto, &["status"])["revision"].as_str(),
        Some(first_revision.as_str())
    );
}
