//! `orderflow plugins publish | status | rollback` against a local
//! AWS-compatible server (moto), through the real S3 client.
#![cfg(feature = "aws")]

use orderflow_test_support::moto::MotoServer;
use serde_json::json;
use std::process::Command;

/// `orderflow plugins --bucket plugins-bucket ARGS` against moto.
fn command(moto: &MotoServer, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    c.args(["plugins", "--bucket", "plugins-bucket"])
        .args(args)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    c
}

/// Runs it with `--json`, expecting success.
fn orderflow(moto: &MotoServer, args: &[&str]) -> serde_json::Value {
    let out = command(moto, args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "orderflow plugins {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Runs it for people: (exit code, stdout, stderr).
fn text(moto: &MotoServer, args: &[&str]) -> (i32, String, String) {
    let out = command(moto, args).output().unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        s(&out.stdout),
        s(&out.stderr),
    )
}

async fn plugin_bucket(moto: &MotoServer) -> aws_sdk_s3::Client {
    let s3 = orderflow_aws::clients::s3(&moto.sdk_config().await);
    s3.create_bucket()
        .bucket("plugins-bucket")
        .send()
        .await
        .unwrap();
    s3
}

/// The example manifest, locked into `dir`, with the threshold's EUR minimum.
fn example_manifest(dir: &std::path::Path, eur_minimum: u64) -> String {
    let root = orderflow_plugin_build::workspace_root();
    let locked =
        orderflow_plugin_build::lock_manifest(&root.join("plugins/manifest.json"), dir).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&locked).unwrap()).unwrap();
    manifest["rules"][0]["config"]["minimum_minor"]["EUR"] = eur_minimum.into();
    std::fs::write(&locked, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    locked.to_str().unwrap().to_string()
}

#[tokio::test]
async fn an_operator_publishes_sees_and_rolls_back_a_rule_set() {
    let moto = MotoServer::start().expect("moto_server runs (pip install 'moto[server]')");
    plugin_bucket(&moto).await;

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

#[tokio::test]
async fn an_operator_sees_what_a_change_would_do_and_whether_the_live_set_is_healthy() {
    let moto = MotoServer::start().expect("moto_server runs");
    let s3 = plugin_bucket(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let first = orderflow(&moto, &["publish", &example_manifest(dir.path(), 100_000)]);
    let first = first["revision"].as_str().unwrap().to_string();

    // A dry run of a threshold change names the leaf and both values, and writes nothing.
    let candidate = example_manifest(dir.path(), 50_000);
    let listed = |s3: aws_sdk_s3::Client| async move {
        let out = s3
            .list_objects_v2()
            .bucket("plugins-bucket")
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let before = listed(s3.clone()).await;
    let (code, out, err) = text(&moto, &["publish", "--dry-run", &candidate]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("nothing written") && out.contains("~ rule threshold"),
        "{out}"
    );
    assert!(
        out.contains("config.minimum_minor.EUR: 100000 → 50000"),
        "{out}"
    );
    assert_eq!(
        listed(s3.clone()).await,
        before,
        "a dry run uploads nothing"
    );

    let second = orderflow(&moto, &["publish", &candidate])["revision"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, _) = text(&moto, &["diff", &first[..15], "live"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("config.minimum_minor.EUR: 100000 → 50000"),
        "{out}"
    );
    let (_, out, _) = text(&moto, &["show", &second]);
    assert!(
        out.contains(&second) && out.contains(r#""EUR":50000"#),
        "{out}"
    );

    // Healthy, then a plugin object goes missing: status names it and exits 1.
    let (code, out, err) = text(&moto, &["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("healthy") && out.contains("#2"), "{out}");
    let status = orderflow(&moto, &["status"]);
    let key = status["plugins"][0]["key"].as_str().unwrap().to_string();
    s3.delete_object()
        .bucket("plugins-bucket")
        .key(&key)
        .send()
        .await
        .unwrap();
    let (code, out, _) = text(&moto, &["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("is missing: no {key}")), "{out}");
}

#[tokio::test]
async fn aws_errors_are_one_line_with_the_likely_fix() {
    let moto = MotoServer::start().expect("moto_server runs");
    // No such bucket (nothing was created).
    let (code, out, err) = text(&moto, &["status"]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("NoSuchBucket") && err.contains("(--bucket"),
        "{err}"
    );
    // -v adds the SDK's own account.
    let verbose = command(&moto, &["status", "-v"]).output().unwrap();
    assert!(String::from_utf8_lossy(&verbose.stderr).lines().count() > 1);

    // No credentials anywhere (empty AWS config files, no instance metadata).
    let empty = tempfile::NamedTempFile::new().unwrap();
    let out = command(&moto, &["status"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty.path())
        .env("AWS_SHARED_CREDENTIALS_FILE", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no AWS credentials") && err.contains("AWS_PROFILE"),
        "{err}"
    );
}

#[tokio::test]
async fn the_rollout_gate_refuses_a_change_that_flips_too_many_orders() {
    let moto = MotoServer::start().expect("moto_server runs");
    plugin_bucket(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let live = orderflow(&moto, &["publish", &example_manifest(dir.path(), 100_000)]);
    // A history: generated orders, as `orderflow gen` writes them.
    let orders = dir.path().join("orders.jsonl");
    let mut out = Vec::new();
    orderflow_workload::write_orders(&mut out, 300, 1).unwrap();
    std::fs::write(&orders, out).unwrap();
    let orders = orders.to_str().unwrap();

    // Halving the EUR minimum flips some of them to high-value.
    let candidate = example_manifest(dir.path(), 50_000);
    let (code, out, err) = text(
        &moto,
        &[
            "publish",
            &candidate,
            "--replay",
            orders,
            "--max-flip-rate",
            "0",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("REFUSED") && out.contains("refused: nothing was published"),
        "{out}"
    );
    let gate = orderflow(
        &moto,
        &[
            "publish",
            &candidate,
            "--dry-run",
            "--replay",
            orders,
            "--max-flip-rate",
            "1",
        ],
    );
    let replay = &gate["gate"]["replay"];
    assert_eq!(replay["orders"], 300, "{gate}");
    let flipped = replay["to_high_value"].as_u64().unwrap();
    assert!(flipped > 0 && replay["to_not_high_value"] == 0, "{replay}");
    assert_eq!(gate["gate"]["passed"], true);
    assert_eq!(
        orderflow(&moto, &["status"])["revision"],
        live["revision"],
        "still live"
    );

    // Within the limit, it publishes.
    let rate = flipped as f64 / 300.0;
    let (code, out, err) = text(
        &moto,
        &[
            "publish",
            &candidate,
            "--replay",
            orders,
            "--max-flip-rate",
            &format!("{}", rate + 0.01),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(": passed") && out.contains("published sha256:"),
        "{out}"
    );
    assert_ne!(orderflow(&moto, &["status"])["revision"], live["revision"]);
}

#[tokio::test]
async fn an_operator_shadows_a_candidate_on_live_traffic_and_ends_it() {
    let moto = MotoServer::start().expect("moto_server runs");
    let s3 = plugin_bucket(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let candidate = orderflow(&moto, &["publish", &example_manifest(dir.path(), 50_000)]);
    let candidate = candidate["revision"].as_str().unwrap().to_string();
    let live = orderflow(&moto, &["publish", &example_manifest(dir.path(), 100_000)]);
    let live = live["revision"].as_str().unwrap().to_string();

    let on = orderflow(&moto, &["shadow", "--candidate", &candidate[..15]]);
    assert_eq!(
        (&on["live"], &on["shadow"], &on["changed"]),
        (&json!(live), &json!(candidate), &json!(true)),
        "{on}"
    );
    let status = orderflow(&moto, &["status"]);
    assert_eq!(status["revision"], json!(live), "the live revision stays");
    assert_eq!(status["shadow"]["revision"], json!(candidate), "{status}");
    assert_eq!(status["shadow"]["problems"], json!([]));
    assert_eq!(status["history"][0]["action"], "shadow");
    assert_eq!(status["history"][0]["shadow"], json!(candidate));
    assert_eq!(status["history"][0]["sequence"], 3);
    let object = s3
        .get_object()
        .bucket("plugins-bucket")
        .key("plugins/manifest.json")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().to_vec();
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest["shadow"]["revision"], json!(candidate));

    let (code, out, _) = text(&moto, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("shadow    {}", &candidate[..19])) && out.contains("shadow "),
        "{out}"
    );
    let (_, out, _) = text(&moto, &["diff", &candidate, "live"]);
    assert!(
        out.contains(&format!("shadow: (none) → {}", &candidate[..19])),
        "{out}"
    );
    let (_, out, _) = text(&moto, &["show"]);
    assert!(out.contains(&format!("shadow   {candidate}")), "{out}");

    let again = orderflow(&moto, &["shadow", "--candidate", &candidate]);
    assert_eq!(
        again["changed"], false,
        "the same shadow again writes nothing"
    );
    let (code, _, err) = text(&moto, &["shadow", "--candidate", &live]);
    assert_ne!(code, 0);
    assert!(err.contains("is the live revision"), "{err}");
    let (code, _, err) = text(&moto, &["shadow", "--candidate", "deadbeef00"]);
    assert_ne!(code, 0);
    assert!(err.contains("was never published here"), "{err}");
    let (code, _, err) = text(&moto, &["shadow"]);
    assert_ne!(code, 0, "a candidate or --off: {err}");

    let off = orderflow(&moto, &["shadow", "--off"]);
    assert_eq!(
        (&off["shadow"], &off["previous"], &off["changed"]),
        (&json!(null), &json!(candidate), &json!(true)),
        "{off}"
    );
    let status = orderflow(&moto, &["status"]);
    assert_eq!(status["shadow"], json!(null));
    assert_eq!(status["history"][0]["action"], "shadow_off");
    assert_eq!(status["revision"], json!(live));
    // Shadow entries leave the live revision alone, so rollback still goes
    // to what was live before it.
    let rollback = orderflow(&moto, &["rollback"]);
    assert_eq!(rollback["to"], json!(candidate), "{rollback}");
}

#[tokio::test]
async fn status_says_which_revision_the_producer_last_decided_with_where_it_can_be_known() {
    let moto = MotoServer::start().expect("moto_server runs");
    let s3 = plugin_bucket(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let live = orderflow(&moto, &["publish", &example_manifest(dir.path(), 100_000)]);
    let live = live["revision"].as_str().unwrap().to_string();

    let status = orderflow(&moto, &["status"]);
    assert_eq!(status["reported"]["source"], "unknown", "{status}");
    let log = ["status", "--decision-log", "s3://decision-log/decisions/"];
    s3.create_bucket()
        .bucket("decision-log")
        .send()
        .await
        .unwrap();
    let status = orderflow(&moto, &log);
    assert_eq!(
        status["reported"]["source"], "unknown",
        "an empty log: {status}"
    );

    // Objects from three hours; the newest was decided by the live revision.
    let older = format!("sha256:{}", "a".repeat(64));
    for (key, revision) in [
        ("dt=2026-11-30/hour=23/1796000000000000000-7-0", &older),
        ("dt=2026-12-01/hour=01/1796100000000000000-7-0", &live),
        ("dt=2026-12-01/hour=00/1796090000000000000-7-0", &older),
    ] {
        let record: orderflow_pipeline::decision_log::DecisionRecord = serde_json::from_value(
            json!({"order": {"order_id": "o"}, "revision": revision, "high_value": false}),
        )
        .unwrap();
        s3.put_object()
            .bucket("decision-log")
            .key(format!("decisions/{key}.jsonl.gz"))
            .body(orderflow_aws::decision_log::encode(&[record]).into())
            .send()
            .await
            .unwrap();
    }
    let status = orderflow(&moto, &log);
    assert_eq!(status["reported"]["source"], "decision_log", "{status}");
    assert_eq!(status["reported"]["revision"], json!(live));
    assert!(
        status["reported"]["object"]
            .as_str()
            .unwrap()
            .contains("hour=01/"),
        "{status}"
    );
    let (code, out, _) = text(&moto, &log);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("reported  {} by the producer", &live[..19])),
        "{out}"
    );
}

#[tokio::test]
async fn replay_takes_revisions_from_the_bucket_as_well_as_files() {
    let moto = MotoServer::start().expect("moto_server runs");
    let s3 = plugin_bucket(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let lower = orderflow(&moto, &["publish", &example_manifest(dir.path(), 50_000)]);
    let lower = lower["revision"].as_str().unwrap().to_string();
    let live_file = example_manifest(dir.path(), 100_000);
    orderflow(&moto, &["publish", &live_file]);
    let orders = dir.path().join("orders.jsonl");
    let lines: Vec<String> = [("r-1", 60_000), ("r-2", 150_000), ("r-3", 10)]
        .iter()
        .map(|(id, total)| orderflow_test_support::orders::priced(id, *total).to_string())
        .collect();
    std::fs::write(&orders, lines.join("\n")).unwrap();

    let replay = |baseline: &str, candidate: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_orderflow"));
        c.args(["replay", "--bucket", "plugins-bucket", "--json"])
            .args(["--baseline", baseline, "--candidate", candidate])
            .arg(&orders)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE");
        c.output().unwrap()
    };
    // The live revision against a kept one by prefix, and a file against a revision.
    for (baseline, candidate) in [("live", &lower[..15]), (live_file.as_str(), lower.as_str())] {
        let out = replay(baseline, candidate);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (&s["orders"], &s["to_high_value"], &s["to_not_high_value"]),
            (&json!(3), &json!(1), &json!(0)),
            "{s}"
        );
        assert_eq!(s["candidate"], json!(lower));
    }

    // A candidate whose plugin object was tampered with is refused by its hash.
    let status = orderflow(&moto, &["show", &lower]);
    let wasm = status["rules"][0]["wasm"].as_str().unwrap();
    s3.put_object()
        .bucket("plugins-bucket")
        .key(format!("plugins/{wasm}"))
        .body(b"not the plugin".to_vec().into())
        .send()
        .await
        .unwrap();
    let out = replay("live", &lower);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sha256") || err.contains("hash"), "{err}");
    let out = replay("deadbeef00", &lower);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("never published here"), "{err}");
}

#[tokio::test]
async fn a_rollback_is_gated_only_when_asked() {
    let moto = MotoServer::start().expect("moto_server runs");
    plugin_bucket(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let first = orderflow(&moto, &["publish", &example_manifest(dir.path(), 100_000)]);
    let second = orderflow(&moto, &["publish", &example_manifest(dir.path(), 50_000)]);
    let orders = dir.path().join("orders.jsonl");
    let lines: Vec<String> = [("g-1", 60_000), ("g-2", 150_000), ("g-3", 10)]
        .iter()
        .map(|(id, total)| orderflow_test_support::orders::priced(id, *total).to_string())
        .collect();
    std::fs::write(&orders, lines.join("\n")).unwrap();
    let orders = orders.to_str().unwrap();

    // Back to 1,000.00 flips g-1 (one order of three) to not high-value.
    let (code, out, err) = text(
        &moto,
        &["rollback", "--replay", orders, "--max-flip-rate", "0.2"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("1 of 3 orders flipped") && out.contains("refused: nothing was rolled back"),
        "{out}"
    );
    assert_eq!(
        orderflow(&moto, &["status"])["revision"],
        second["revision"]
    );

    let gated = command(
        &moto,
        &["rollback", "--replay", orders, "--max-flip-rate", "0.5"],
    )
    .arg("--json")
    .output()
    .unwrap();
    assert!(
        gated.status.success(),
        "{}",
        String::from_utf8_lossy(&gated.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&gated.stdout).unwrap();
    assert_eq!(report["to"], first["revision"], "{report}");
    assert_eq!(orderflow(&moto, &["status"])["revision"], first["revision"]);
}
