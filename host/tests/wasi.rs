//! The deterministic WASI a plugin gets with `"wasi": "deterministic"` in
//! its manifest entry: a Python plugin that tries the environment, files,
//! sockets, the clock, sleeping and randomness gets nothing, the same
//! nothing in every instance, and what it prints lands in its log. Without
//! the grant, the same component is refused (as `hostile.rs` shows for a
//! Rust one).

mod support;

use orderflow_host::manifest::{Wasi, sha256_hex};
use orderflow_host::rules::RulePlugin;
use orderflow_host::{LoadError, PluginSpec};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::logs::Captured;
use support::python::{load, python_wasm};
use support::*;

/// The probe's entry: what an interpreter needs, and the grant.
fn probe_spec(wasm: &[u8]) -> PluginSpec {
    serde_json::from_value(json!({
        "name": "probe", "version": "1.0.0", "wasm": "python-wasi-probe.wasm",
        "sha256": sha256_hex(wasm),
        "limits": {"max_functions": 20000, "max_code_bytes": 8388608,
                   "memory_bytes": 33554432, "fuel": 500000000, "timeout_ms": 10000},
        "wasi": "deterministic"
    }))
    .unwrap()
}

fn probe() -> Option<RulePlugin> {
    let wasm = python_wasm("python-wasi-probe")?;
    Some(load(&probe_spec(&wasm), &wasm).unwrap_or_else(|e| panic!("{e}")))
}

/// One evaluation's probes, by name, with what the host logged meanwhile.
fn probed(rule: &RulePlugin) -> (BTreeMap<String, String>, String, Duration) {
    let logs = Captured::default();
    let started = Instant::now();
    let (verdict, _) = logs
        .during(|| rule.evaluate(&order(ORDER)))
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    (verdict.attributes.into_iter().collect(), logs.text(), took)
}

#[test]
fn a_granted_plugin_gets_no_environment_files_sockets_or_real_clock() {
    let Some(rule) = probe() else {
        return;
    };
    let (got, _, took) = probed(&rule);
    eprintln!("{got:#?}");
    assert_eq!(got["env"], "{}", "no environment variables");
    assert_eq!(got["argv"], "[]", "no arguments");
    for denied in ["listdir", "read", "write"] {
        assert!(
            got[denied].ends_with("Error"),
            "{denied}: no files: {}",
            got[denied]
        );
    }
    for denied in ["socket", "resolve"] {
        assert!(
            got[denied].ends_with("Error"),
            "{denied}: no network: {}",
            got[denied]
        );
    }
    assert_eq!(got["time"], "0.0", "the wall clock reads the epoch");
    assert_eq!(got["monotonic"], "0.0", "the monotonic clock stands still");
    assert_eq!(got["sleep"], "0.0", "a sleep returns at once");
    assert!(
        took < Duration::from_secs(4),
        "time.sleep(5) did not wait: {took:?}"
    );
}

#[test]
fn randomness_is_seeded_alike_in_every_instance() {
    let Some(rule) = probe() else {
        return;
    };
    let (first, _, _) = probed(&rule);
    let (second, _, _) = probed(&rule);
    assert_eq!(
        first["urandom"].len(),
        "'0123456789abcdef'".len(),
        "{first:?}"
    );
    assert_eq!(
        first["urandom"], second["urandom"],
        "fresh instances draw alike"
    );
    assert_eq!(first["random"], second["random"]);
}

#[test]
fn what_a_granted_plugin_prints_goes_to_its_log() {
    let Some(rule) = probe() else {
        return;
    };
    let (_, logs, _) = probed(&rule);
    let line = |text: &str| {
        logs.lines()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("{text:?} not in {logs}"))
    };
    let stdout = line("evaluating ord-1001");
    assert!(
        stdout.contains("INFO") && stdout.contains("plugin=\"probe@1.0.0\""),
        "{stdout}"
    );
    assert!(line("to stderr").contains("WARN"));
}

#[test]
fn without_the_grant_the_same_component_is_refused() {
    let Some(wasm) = python_wasm("python-wasi-probe") else {
        return;
    };
    let mut spec = probe_spec(&wasm);
    spec.wasi = Wasi::None;
    let e = load(&spec, &wasm).err().expect("refused");
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    assert!(e.to_string().contains("it imports wasi:"), "{e}");
}

/// The Rust fixture that reads the wall clock (refused in `hostile.rs`)
/// loads with the grant, and reads the fixed time.
#[test]
fn a_granted_rust_component_reads_the_fixed_clock() {
    let mut s = spec("wasi-importer", "wasi-importer", json!({}));
    s.wasi = Wasi::Deterministic;
    let rule = RulePlugin::load(&runtime(), &s, &wasm("wasi-importer")).expect("granted, it loads");
    let (v, _) = rule.evaluate(&order(ORDER)).unwrap();
    assert_eq!(v.reason, "decided at 0 s past the epoch");
}
