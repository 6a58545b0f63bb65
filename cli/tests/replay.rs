//! `orderflow replay` as an operator runs it: two manifests laid out on
//! disk, a small history with known flips each way, a rule that fails in
//! the candidate only, invalid lines; the JSON summary, the text report,
//! the exit codes, and the HTML report opened in headless Chromium.

use orderflow_host::{Manifest, OnError};
use orderflow_test_support::manifests::{self, spec};
use orderflow_test_support::orders::order_with;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A manifest of the threshold rule with these minimums and the hostile
/// rule doing `behaviour` (skipped when it fails), laid out in `dir`.
fn manifest(dir: &Path, minimums: Value, behaviour: &str) -> PathBuf {
    let mut hostile = spec("hostile-rule", json!({ "behaviour": behaviour }));
    hostile.on_error = OnError::Skip;
    let source = Manifest {
        rules: vec![
            spec("threshold", json!({ "minimum_minor": minimums })),
            hostile,
        ],
        transforms: Vec::new(),
        ..Default::default()
    };
    std::fs::create_dir_all(dir).unwrap();
    manifests::lay_out(dir, &source)
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    baseline: PathBuf,
    candidate: PathBuf,
    history: PathBuf,
}

/// Baseline: EUR from 1,000.00, USD from 1,200.00, hostile rule answers.
/// Candidate: EUR from 1,200.00, USD from 500.00, hostile rule fails.
/// History: EUR 900, 1,100, 1,300 and USD 400, 600, 1,300 (major units),
/// line 3 not JSON: one flip each way, on lines 2 (EUR 1,100) and 6
/// (USD 600).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let baseline = manifest(
        &root.join("baseline"),
        json!({"EUR": 100_000, "USD": 120_000}),
        "stateful",
    );
    let candidate = manifest(
        &root.join("candidate"),
        json!({"EUR": 120_000, "USD": 50_000}),
        "fail",
    );
    let order = |id: &str, currency: &str, total: u64| {
        order_with(json!({
            "order_id": id, "currency": currency, "total_minor": total,
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total}],
        }))
        .to_string()
    };
    let lines = [
        order("eur-900", "EUR", 90_000),
        order("eur-1100", "EUR", 110_000),
        "{not json".to_string(),
        order("eur-1300", "EUR", 130_000),
        order("usd-400", "USD", 40_000),
        order("usd-600", "USD", 60_000),
        order("usd-1300", "USD", 130_000),
    ];
    let history = root.join("history.jsonl");
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    Fixture {
        _dir: dir,
        dir: root,
        baseline,
        candidate,
        history,
    }
}

fn orderflow(f: &Fixture, baseline: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("replay")
        .arg("--baseline")
        .arg(baseline)
        .arg("--candidate")
        .arg(&f.candidate)
        .arg("--cache-dir")
        .arg(f.dir.join("cache"))
        .arg(&f.history)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("orderflow runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_json_summary_counts_known_flips_the_failing_rule_and_invalid_lines() {
    let f = fixture();
    let out = orderflow(&f, &f.baseline, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_str(&stdout(&out)).expect("one JSON summary");
    assert_eq!(s["orders"], 6);
    assert_eq!(s["to_high_value"], 1);
    assert_eq!(s["to_not_high_value"], 1);
    assert_eq!(s["flip_rate"], 2.0 / 6.0);
    assert_eq!(s["rules"]["threshold"]["changed"], 2);
    assert_eq!(
        s["rules"]["hostile-rule"]["transitions"]["not_high_value -> failed"],
        6
    );
    assert_eq!(s["attributes"]["calls"]["removed"], 6);
    assert_eq!(s["by_currency"]["EUR"]["to_not_high_value"], 1);
    assert_eq!(s["by_currency"]["USD"]["to_high_value"], 1);
    assert_eq!(
        s["examples"]["to_not_high_value"][0]["order_id"],
        "eur-1100"
    );
    assert_eq!(s["examples"]["to_not_high_value"][0]["line"], 2);
    assert_eq!(s["examples"]["to_high_value"][0]["order_id"], "usd-600");
    let history = f.history.display().to_string();
    assert_eq!(s["invalid"]["count"], 1);
    assert_eq!(s["invalid"]["lines"][0]["source"], history.as_str());
    assert_eq!(s["invalid"]["lines"][0]["line"], 3);

    // --fail-on-flips: 1 when something flipped, 0 when nothing did.
    let out = orderflow(&f, &f.baseline, &["--fail-on-flips"]);
    assert_eq!(out.status.code(), Some(1));
    let out = orderflow(&f, &f.candidate, &["--fail-on-flips"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("6 orders decided: 0 flipped (0.00%)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_text_report_names_flips_rules_and_bad_lines_and_reads_stdin() {
    let f = fixture();
    let history = std::fs::read(&f.history).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["replay", "-", "--baseline"])
        .arg(&f.baseline)
        .arg("--candidate")
        .arg(&f.candidate)
        .arg("--cache-dir")
        .arg(f.dir.join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&history).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for expected in [
        "6 orders decided: 2 flipped (33.33%): 1 to high-value, 1 to not high-value; 4 changed without a flip",
        "threshold",
        "not_high_value -> failed: 6",
        "eur-1100 (stdin:2, 110000 EUR): threshold high_value -> not_high_value",
        "stdin:3: invalid order JSON",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(
        out.stderr.is_empty(),
        "no progress bar or log lines when stderr is not a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_manifest_or_input_is_exit_code_2() {
    let f = fixture();
    let out = orderflow(&f, &f.dir.join("nowhere.json"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no baseline manifest at"));
    let out = orderflow(&f, &f.baseline, &["/nonexistent/history.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open it"));
}

/// Loads `page` in headless Chromium; its DOM and its log (stderr).
fn chromium(page: &Path) -> Option<(String, String)> {
    let binary = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())?;
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {out:?}");
    Some((
        stdout(&out),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Console messages in Chromium's log: a page without script has none,
/// and a resource it failed to load would be one.
fn console_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load resource"))
        .collect()
}

/// The bars of width > 0 in the chart `id` of a DOM.
fn bars(dom: &str, id: &str) -> usize {
    let start = dom
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("chart {id} in the DOM"));
    let chart = &dom[start..start + dom[start..].find("</svg>").unwrap()];
    chart
        .split("<rect class=\"bar\"")
        .skip(1)
        .filter(|r| !r.contains("width=\"0\""))
        .count()
}

#[test]
fn the_html_report_loads_in_chromium_without_console_errors_and_its_charts_have_bars() {
    let f = fixture();
    let page = f.dir.join("report.html");
    let out = orderflow(&f, &f.baseline, &["--html", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no script, no link, nothing fetched.
    let without_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for fetches in ["http://", "https://", "<script", "<link", "src=", "@import"] {
        assert!(
            !without_svg_namespace.contains(fetches),
            "{fetches} in the report"
        );
    }

    let Some((dom, log)) = chromium(&page) else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install chromium; cargo xtask setup does it)"
        );
        return;
    };
    assert!(console_lines(&log).is_empty(), "console messages: {log}");
    assert_eq!(bars(&dom, "by-rule"), 2, "threshold and hostile-rule");
    assert_eq!(bars(&dom, "by-currency"), 2, "EUR down, USD up");
    assert!(bars(&dom, "by-band") >= 1);
    assert!(dom.contains("<td id=\"orders\">6</td>"), "{dom}");
    assert!(dom.contains("eur-1100") && dom.contains("usd-600"));

    // The console check can fail: a page that logs an error is caught.
    let bad = f.dir.join("bad.html");
    std::fs::write(
        &bad,
        "<html><body><script>console.error('broken')</script></body></html>",
    )
    .unwrap();
    let (_, log) = chromium(&bad).unwrap();
    assert!(!console_lines(&log).is_empty(), "{log}");
}

#[test]
fn the_report_is_the_same_on_one_worker_or_two() {
    let f = fixture();
    let report = |jobs: &[&str]| {
        let out = orderflow(&f, &f.baseline, &[&["--json"], jobs].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{jobs:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let one = report(&["--jobs", "1"]);
    assert_eq!(report(&["--jobs", "2"]), one);
    // `--threads`, its name before `run --jobs` existed, still works.
    assert_eq!(report(&["--threads", "2"]), one);
}
