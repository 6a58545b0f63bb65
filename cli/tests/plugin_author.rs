//! The plugin author's loop as an author runs it: `orderflow plugin test`
//! over the example plugins' fixtures (through the real host), its reports
//! and exit codes, and `plugin new` → `build` → `test` of a fresh crate in a
//! folder outside this repository.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    orderflow_plugin_build::workspace_root()
}

fn orderflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("orderflow runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

#[test]
fn the_example_plugins_pass_their_fixtures_in_the_real_host() {
    for (plugin, kind) in [
        ("threshold", "rule"),
        ("vip-customer", "rule"),
        ("bulk-quantity", "rule"),
        ("normalize", "transform"),
        ("redact-pii", "transform"),
    ] {
        let dir = format!("plugins/{plugin}");
        let out = orderflow(&["plugin", "test", &dir, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let r = report(&out);
        assert_eq!(r["plugin"], plugin);
        assert_eq!(r["kind"], kind);
        assert_eq!(r["failed"], 0, "{r:#}");
        let cases = r["cases"].as_array().unwrap();
        assert!(cases.len() >= 3, "{plugin}: {r:#}");
        // A case that calls the plugin costs fuel; one refused at load
        // time (a bad configuration) does not get to a call.
        assert!(
            cases.iter().any(|c| c["fuel"].as_u64().unwrap() > 0),
            "{r:#}"
        );
    }
}

#[test]
fn a_transform_s_log_lines_reach_the_report() {
    let out = orderflow(&["plugin", "test", "plugins/redact-pii", "--json"]);
    let r = report(&out);
    let case = r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "stored-item")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(
        case["logs"],
        serde_json::json!([{"level": "debug", "message": "masked 2 values"}]),
        "{r:#}"
    );
    // The human report shows them under the case.
    let out = orderflow(&["plugin", "test", "plugins/redact-pii"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("log debug: masked 2 values"),
        "{}",
        text(&out)
    );
    assert!(stdout.contains("PASS stored-item"), "{}", text(&out));
}

fn fixtures(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, json) in files {
        std::fs::write(dir.path().join(name), json).unwrap();
    }
    dir
}

const EUR_ORDER: &str = r#"{"order_id": "ord-1", "customer_id": "cust-1",
    "created_at": "2026-11-24T10:15:00Z", "currency": "EUR", "total_minor": 100000,
    "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": 100000}]}"#;

#[test]
fn a_failing_case_is_a_readable_diff_and_exit_1() {
    let config = r#"{"minimum_minor": {"EUR": 100000}}"#;
    let dir = fixtures(&[
        (
            "wrong.json",
            format!(
                r#"{{"config": {config}, "order": {EUR_ORDER},
                    "expect": {{"high_value": false, "reason": "nope", "attributes": {{"tier": "gold"}}}}}}"#
            ),
        ),
        (
            "costly.json",
            format!(
                r#"{{"config": {config}, "order": {EUR_ORDER}, "expect": {{"high_value": true}}, "max_fuel": 1}}"#
            ),
        ),
        (
            "fine.json",
            format!(
                r#"{{"config": {config}, "order": {EUR_ORDER}, "expect": {{"high_value": true}}}}"#
            ),
        ),
    ]);
    let fixtures = dir.path().to_str().unwrap();
    let out = orderflow(&[
        "plugin",
        "test",
        "plugins/threshold",
        "--fixtures",
        fixtures,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "FAIL wrong",
        "high_value: expected false, got true (\"total 100000 EUR >= minimum 100000\")",
        "reason: expected \"nope\"",
        "  - tier: gold",
        "FAIL costly",
        "over this case's max_fuel of 1",
        "PASS fine",
        "1 passed, 2 failed",
    ] {
        assert!(
            stdout.contains(expected),
            "no {expected:?} in\n{}",
            text(&out)
        );
    }
    let out = orderflow(&[
        "plugin",
        "test",
        "plugins/threshold",
        "--fixtures",
        fixtures,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(
        (r["passed"].as_u64(), r["failed"].as_u64()),
        (Some(1), Some(2))
    );
    let costly = &r["cases"][0];
    assert_eq!(costly["name"], "costly");
    assert!(costly["fuel"].as_u64().unwrap() > 1, "{r:#}");
}

#[test]
fn a_run_that_cannot_start_exits_2_naming_why() {
    let broken = fixtures(&[(
        "bad-order.json",
        r#"{"order": {"order_id": "ord-1"}, "expect": {"high_value": true}}"#.to_string(),
    )]);
    let out = orderflow(&[
        "plugin",
        "test",
        "plugins/threshold",
        "--fixtures",
        broken.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad-order.json: order: ") && stderr.contains("missing field"),
        "{}",
        text(&out)
    );

    // Transform fixtures for a rule: the kinds do not match.
    let transform = fixtures(&[(
        "t.json",
        r#"{"fields": {"Currency": "EUR"}, "expect": {"fields": {}}}"#.to_string(),
    )]);
    let out = orderflow(&[
        "plugin",
        "test",
        "plugins/threshold",
        "--fixtures",
        transform.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("fixture t is a Transform case, but threshold is a Rule"));

    let empty = tempfile::tempdir().unwrap();
    let out = orderflow(&[
        "plugin",
        "test",
        "plugins/threshold",
        "--fixtures",
        empty.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no fixtures (*.json)"));
}

/// `cargo`, with the CLI's own target directory shared by every run of
/// this test, so a second run does not compile serde and wit-bindgen again.
fn shared_target() -> PathBuf {
    orderflow_plugin_build::target_dir().join("plugin-new-e2e")
}

fn in_new_crate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .output()
        .expect("orderflow runs")
}

/// What a new author does, in a folder outside this repo: create, build,
/// test (the crate's own unit tests too), for both kinds.
#[test]
fn a_new_plugin_builds_and_passes_its_fixtures_outside_the_repo() {
    let outside = tempfile::tempdir().unwrap();
    assert!(!outside.path().starts_with(root()));
    for (name, kind, world) in [
        ("big-order", "rule", "orderflow:plugin/rule-plugin@0.2.0"),
        (
            "stamp",
            "transform",
            "orderflow:plugin/transform-plugin@0.2.0",
        ),
    ] {
        let parent = outside.path().to_str().unwrap();
        let out = in_new_crate(
            &["plugin", "new", name, "--kind", kind, "--path", parent],
            outside.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let dir = outside.path().join(name);

        let out = in_new_crate(&["plugin", "build"], &dir);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let wasm = shared_target().join(format!("plugins/{name}.wasm"));
        for expected in [
            format!("built:    {}", wasm.display()),
            format!("world:    {world}"),
            "sha256:   ".to_string(),
            "compile:  ".to_string(),
        ] {
            assert!(
                stdout.contains(&expected),
                "no {expected:?} in\n{}",
                text(&out)
            );
        }

        let out = in_new_crate(&["plugin", "test", "--json"], &dir);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let r = report(&out);
        assert_eq!(r["kind"], kind);
        assert_eq!(r["failed"], 0);
        assert!(r["passed"].as_u64().unwrap() >= 2, "{r:#}");
        // The example logs from both kinds.
        assert!(
            r["cases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| !c["logs"].as_array().unwrap().is_empty()),
            "{r:#}"
        );
    }
    // Loaded in the embedded pipeline through a manifest, it decides: the
    // same order is high-value under one minimum and not under another.
    let wasm = shared_target().join("plugins/big-order.wasm");
    let out = orderflow(&[
        "plugin",
        "check",
        wasm.to_str().unwrap(),
        "--config",
        r#"{"minimum_minor": 1}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bytes = std::fs::read(&wasm).unwrap();
    let set = outside.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(set.join("big-order.wasm"), &bytes).unwrap();
    let order = set.join("order.jsonl");
    std::fs::write(
        &order,
        std::fs::read_to_string(root().join("samples/order.json"))
            .unwrap()
            .replace('\n', ""),
    )
    .unwrap();
    let total = serde_json::from_str::<Value>(
        &std::fs::read_to_string(root().join("samples/order.json")).unwrap(),
    )
    .unwrap()["total_minor"]
        .as_u64()
        .unwrap();
    let decide = |minimum: u64| {
        let manifest = serde_json::json!({"rules": [{
            "name": "big-order", "version": "0.1.0", "wasm": "big-order.wasm",
            "sha256": orderflow_host::manifest::sha256_hex(&bytes),
            "config": {"minimum_minor": minimum},
        }]});
        let path = set.join(format!("manifest-{minimum}.json"));
        std::fs::write(&path, manifest.to_string()).unwrap();
        let store = set.join(format!("store-{minimum}"));
        let out = orderflow(&[
            "run",
            order.to_str().unwrap(),
            "--manifest",
            path.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--json",
        ]);
        assert!(out.status.code() == Some(0), "{}", text(&out));
        let line: Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap())
                .unwrap();
        line
    };
    let high = decide(total);
    assert_eq!(high["status"], "stored", "{high}");
    assert!(high["trace"].to_string().contains("big-order"), "{high}");
    assert_eq!(decide(total + 1)["status"], "not_high_value");

    // Its native tests run on the vendored SDK and order crate.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--quiet"])
        .current_dir(outside.path().join("big-order"))
        .env("CARGO_TARGET_DIR", shared_target())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_crate_that_does_not_compile_fails_the_build_with_the_compilers_words() {
    let outside = tempfile::tempdir().unwrap();
    let out = in_new_crate(
        &[
            "plugin",
            "new",
            "broken",
            "--kind",
            "rule",
            "--path",
            outside.path().to_str().unwrap(),
        ],
        outside.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lib = outside.path().join("broken/src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace(
            "let total = order.total_minor();",
            "let total = order.totl();",
        ),
    )
    .unwrap();
    let out = in_new_crate(&["plugin", "build"], &outside.path().join("broken"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("totl"), "{}", text(&out));
    assert!(
        stderr.contains("cargo failed to build plugins [\"broken\"]"),
        "{}",
        text(&out)
    );
}
