//! The `orderflow` binary as a user runs it: sample orders through the
//! embedded pipeline, bad lines reported, plugins checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn root() -> PathBuf {
    orderflow_plugin_build::workspace_root()
}

/// The example manifest, locked (plugins built, hashes filled in).
fn manifest() -> &'static PathBuf {
    static M: OnceLock<PathBuf> = OnceLock::new();
    M.get_or_init(|| {
        let out = orderflow_plugin_build::target_dir().join("cli-test-plugins");
        orderflow_plugin_build::lock_manifest(&root().join("plugins/manifest.json"), &out)
            .expect("example plugins build")
    })
}

fn orderflow(args: &[&str], dir: &Path, stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    cmd.args(args)
        .arg("--manifest")
        .arg(manifest())
        .arg("--store")
        .arg(dir.join("store"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("orderflow runs");
    // Written from a thread of its own: `run` streams, so it prints while
    // it still reads, and a full stdout pipe would stop both sides.
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_string();
        std::thread::spawn(move || {
            use std::io::Write;
            // A child that stops early (a bad argument) leaves the rest unread.
            let _ = pipe.write_all(input.as_bytes());
        })
    });
    let out = child.wait_with_output().unwrap();
    if let Some(w) = writer {
        w.join().unwrap();
    }
    out
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn stored_items(dir: &Path) -> usize {
    walk(&dir.join("store"))
}

fn walk(p: &Path) -> usize {
    std::fs::read_dir(p).map_or(0, |d| {
        d.map(|e| e.unwrap().path())
            .map(|p| {
                if p.is_dir() {
                    walk(&p)
                } else {
                    usize::from(p.extension().is_some_and(|e| e == "json"))
                }
            })
            .sum()
    })
}

#[test]
fn sample_orders_go_through_end_to_end_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = orderflow(
        &[
            "run",
            "samples/orders.jsonl",
            "samples/bad-orders.jsonl",
            "--json",
        ],
        dir.path(),
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "rejections make exit code 1; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 46);
    // Every result has every documented key, with its type (a bad line's
    // order id may be unknown, and only a refused order has an error).
    let revision = reports[0]["revision"].clone();
    assert!(
        revision.as_str().is_some_and(|r| r.starts_with("sha256:")),
        "{revision}"
    );
    for r in &reports {
        let rejected = r["status"] == "rejected";
        assert!(
            r["order_id"].is_string() || (rejected && r["order_id"].is_null()),
            "{r}"
        );
        assert!(r["high_value"].is_boolean(), "{r}");
        assert!(r["attributes"].is_object(), "{r}");
        assert!(r["reasons"].is_array(), "{r}");
        assert!(r["status"].is_string(), "{r}");
        assert_eq!(r["error"].is_string(), rejected, "{r}");
        assert!(r["line"].is_u64() && r["source"].is_string(), "{r}");
        assert_eq!(r["revision"], revision, "{r}");
        assert!(r["trace"].is_array(), "{r}");
    }
    let count = |s: &str| reports.iter().filter(|r| r["status"] == s).count();
    let stored = count("stored");
    assert!(stored > 5, "some sample orders are high-value");
    assert_eq!(stored + count("not_high_value") + count("rejected"), 46);
    assert_eq!(count("rejected"), 8, "the eight bad lines, and only those");

    let bad: Vec<_> = reports
        .iter()
        .filter(|r| r["source"] == "samples/bad-orders.jsonl" && r["status"] == "rejected")
        .collect();
    let quantity = bad.iter().find(|r| r["order_id"] == "ord-9004").unwrap();
    assert_eq!(quantity["line"], 4);
    assert_eq!(
        quantity["error"],
        "currency: unknown ISO-4217 currency code \"XYZ\""
    );

    let vip = reports
        .iter()
        .find(|r| r["attributes"]["tier"] == "platinum")
        .expect("a platinum VIP in the samples");
    assert_eq!(vip["status"], "stored");
    assert!(vip["revision"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        vip["trace"].as_array().unwrap().len(),
        3,
        "the decision trace names every rule"
    );

    assert_eq!(
        stored_items(dir.path()),
        stored,
        "one item per stored order"
    );
    let again = orderflow(&["run", "samples/orders.jsonl", "--json"], dir.path(), None);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        stored_items(dir.path()),
        stored,
        "running the same orders again overwrites, never duplicates"
    );
}

#[test]
fn stored_items_are_transformed() {
    let dir = tempfile::tempdir().unwrap();
    let order = r#"[{"order_id": "ord-1", "customer_id": "cust-13", "created_at": "2026-11-24T10:15:00Z", "currency": "eur", "total_minor": 125000, "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 62500}], "attributes": {"email": "ana@example.com"}}]"#;
    let out = orderflow(&["run", "-"], dir.path(), Some(order));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("HIGH-VALUE") && text.contains("tier=platinum"),
        "{text}"
    );
    let item: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("store/ord-1/2026-11-24T10:15:00Z.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(item["OrderId"], "ord-1");
    assert_eq!(item["Currency"], "EUR");
    assert_eq!(item["DisplayTotal"], "1250.00 EUR");
    assert_eq!(item["Attributes"]["email"], "a***@example.com");
    assert_eq!(item["RuleAttributes"]["tier"], "platinum");
}

#[test]
fn a_missing_manifest_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args([
            "run",
            "samples/orders.jsonl",
            "--manifest",
            "/nonexistent/manifest.json",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no manifest at /nonexistent/manifest.json")
    );
}

#[test]
fn plugin_check_tells_an_author_whether_a_plugin_fits() {
    let plugins = orderflow_plugin_build::build(&["threshold", "impostor"]).unwrap();
    let check = |wasm: &Path, config: &str| {
        Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["plugin", "check"])
            .arg(wasm)
            .args(["--config", config])
            .output()
            .unwrap()
    };
    let ok = check(&plugins[0], r#"{"minimum_minor": {"EUR": 100}}"#);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(
        text.contains("fits:     orderflow:plugin/rule-plugin@0.2.0"),
        "{text}"
    );
    assert!(
        text.contains("compile:") && text.contains("size:"),
        "{text}"
    );

    let bad_config = check(&plugins[0], "{}");
    assert_eq!(bad_config.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_config.stdout).contains("configuration refused"));

    let impostor = check(&plugins[1], "{}");
    assert_eq!(impostor.status.code(), Some(1));
    let text = String::from_utf8_lossy(&impostor.stdout);
    // Both mismatches, not only the last one tried.
    assert!(
        text.contains("problem:  as a rule: ")
            && text.contains("rule-plugin@")
            && text.contains("problem:  as a transform: ")
            && text.contains("transform-plugin@"),
        "{text}"
    );
}

#[test]
fn generated_orders_are_valid_and_about_a_fifth_high_value() {
    let generated = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["gen", "--count", "1000", "--seed", "3"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let again = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["gen", "--count", "1000", "--seed", "3"])
        .output()
        .unwrap();
    assert_eq!(
        generated.stdout, again.stdout,
        "a seed always gives the same orders"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = orderflow(
        &["run", "-", "--json"],
        dir.path(),
        Some(&String::from_utf8(generated.stdout).unwrap()),
    );
    assert_eq!(out.status.code(), Some(0), "every generated order is valid");
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 1000);
    let high = reports.iter().filter(|r| r["high_value"] == true).count();
    assert!((120..=280).contains(&high), "{high} of 1000 high-value");
    // Each rule makes some orders high-value on its own.
    for rule in ["threshold", "vip-customer", "bulk-quantity"] {
        assert!(
            reports.iter().any(|r| r["trace"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["plugin"] == rule && t["outcome"]["kind"] == "high_value")),
            "{rule} never says high-value"
        );
    }
}

#[test]
fn an_empty_input_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    for input in ["", "\n  \n", "[]"] {
        let out = orderflow(&["run", "-"], dir.path(), Some(input));
        assert_eq!(out.status.code(), Some(2), "input {input:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("stdin: no orders in it"), "{stderr}");
    }
}

#[test]
fn an_unsafe_cache_directory_is_warned_about_without_rust_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared-cache");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["run", "samples/orders.jsonl", "--manifest"])
        .arg(manifest())
        .arg("--store")
        .arg(dir.path().join("store"))
        .arg("--cache-dir")
        .arg(&shared)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("compiled-plugin cache not used"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("5 compiled, 0 from the artifact cache"),
        "{stdout}"
    );
}

/// Every order validation accepts can be stored: the largest one (every cap
/// of `orderflow_host::order::caps` reached) goes through the example
/// plugins into the store; one line more is refused up front, by name,
/// instead of being published and failing in the consumer.
#[test]
fn the_largest_accepted_order_is_stored_and_one_past_the_cap_is_refused() {
    use orderflow_test_support::orders::largest;
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{}\n{}\n", largest(false), largest(true));
    let out = orderflow(&["run", "-", "--json"], dir.path(), Some(&input));
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(reports[0]["status"], "stored", "{}", reports[0]);
    assert_eq!(reports[0]["high_value"], true);
    assert_eq!(stored_items(dir.path()), 1);
    assert_eq!(reports[1]["status"], "rejected");
    assert_eq!(
        reports[1]["error"],
        "lines: 251 lines, more than the 250 an order may have (the most the stored item has \
         room for): split the order"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// Every stored item under `dir`'s store, by path, with its bytes.
fn store_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn collect(p: &Path, root: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                collect(&p, root, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(root).unwrap().to_path_buf(), bytes));
            }
        }
    }
    let mut out = Vec::new();
    collect(&dir.join("store"), &dir.join("store"), &mut out);
    out.sort();
    out
}

/// Thousands of orders (some lines invalid) over one worker and over two:
/// the same bytes out, in input order, and the same items stored.
#[test]
fn one_job_and_two_give_the_same_output_in_input_order() {
    let generated = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["gen", "--count", "3000", "--seed", "7"])
        .output()
        .unwrap();
    let mut input = String::new();
    for (i, line) in String::from_utf8(generated.stdout)
        .unwrap()
        .lines()
        .enumerate()
    {
        input.push_str(line);
        input.push('\n');
        if i % 400 == 17 {
            input.push_str("{\"order_id\": \"broken\", \"total_minor\": -1}\n\n");
        }
    }
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let outs: Vec<Output> = [("1", &dirs[0]), ("2", &dirs[1])]
        .into_iter()
        .map(|(jobs, dir)| {
            orderflow(
                &["run", "-", "--json", "--jobs", jobs],
                dir.path(),
                Some(&input),
            )
        })
        .collect();
    assert_eq!(
        outs[0].status.code(),
        Some(1),
        "the broken lines are rejected"
    );
    assert_eq!(outs[1].status.code(), Some(1));
    // The same bytes but for each rule's time, which no two runs share.
    let untimed = |out: &Output| -> Vec<String> {
        json_lines(out)
            .into_iter()
            .map(|mut r| {
                for t in r["trace"].as_array_mut().unwrap() {
                    assert!(t["micros"].is_u64(), "{t}");
                    t.as_object_mut().unwrap().remove("micros");
                }
                r.to_string()
            })
            .collect()
    };
    let (one, two) = (untimed(&outs[0]), untimed(&outs[1]));
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a, b, "--jobs 1 and --jobs 2 print the same");
    }

    let reports = json_lines(&outs[1]);
    assert_eq!(reports.len(), 3008);
    let lines: Vec<u64> = reports
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "in input order");
    let rejected: Vec<_> = reports
        .iter()
        .filter(|r| r["status"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 8);
    assert!(rejected.iter().all(|r| r["order_id"] == "broken"));
    assert_eq!(
        rejected[0]["line"], 19,
        "line numbers count the blank lines too"
    );

    let stored = reports.iter().filter(|r| r["status"] == "stored").count();
    let items = store_files(dirs[0].path());
    assert_eq!(items.len(), stored);
    assert!(
        items == store_files(dirs[1].path()),
        "the same items stored"
    );
}
