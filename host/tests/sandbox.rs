//! Hostile plugins, built from source as fixtures: each is contained with an
//! error that names the plugin and the limit, and the host keeps serving.
//! Every limit has an obeyed/violated pair; CPU limits use fuel, which is
//! deterministic, not wall-clock races.

mod support;

use orderflow_host::limits::LimitOverrides;
use orderflow_host::rules::{Outcome, RulePlugin};
use orderflow_host::transforms::TransformPlugin;
use orderflow_host::{Failure, Item, LoadError, PublishedDecision, Runtime};
use serde_json::json;
use std::sync::Arc;
use support::*;

/// A hostile rule and the runtime it runs in.
struct Hostile {
    rule: RulePlugin,
    runtime: Arc<Runtime>,
}

impl std::ops::Deref for Hostile {
    type Target = RulePlugin;
    fn deref(&self) -> &RulePlugin {
        &self.rule
    }
}

/// A hostile rule loaded under `limits`. A deadline of a few ms can be
/// missed by the load's own first instance (`configure` in a runtime that
/// has run nothing yet) on a busy machine, so a load that timed out is
/// tried again, up to five times: what a test sees is its call's deadline,
/// not the load's.
fn hostile(behaviour: &str, limits: LimitOverrides) -> Hostile {
    let runtime = small_runtime();
    let mut s = spec("hostile", "hostile-rule", json!({ "behaviour": behaviour }));
    s.limits = limits;
    let wasm = wasm("hostile-rule");
    let mut loaded = RulePlugin::load(&runtime, &s, &wasm);
    for _ in 1..5 {
        match loaded {
            Err(LoadError::Start {
                failure: Failure::Timeout { .. },
                ..
            }) => loaded = RulePlugin::load(&runtime, &s, &wasm),
            _ => break,
        }
    }
    let rule = loaded.expect("hostile rule loads");
    Hostile { rule, runtime }
}

fn failure(rule: &RulePlugin) -> Failure {
    let e = rule
        .evaluate(&order(ORDER))
        .expect_err("the call must fail");
    assert_eq!(e.plugin, "hostile@1.0.0", "the error names the plugin");
    e.failure
}

/// After a failure the runtime still serves. The hostile plugin fails the
/// same contained way on more calls than the pool has slots (a slot the
/// failures leaked would show as a capacity failure), and then a
/// well-behaved plugin in the same runtime answers as many orders with
/// real verdicts.
fn still_serves(hostile: &Hostile) {
    let first = failure(hostile);
    for call in 0..POOL_SLOTS + 2 {
        assert_eq!(failure(hostile), first, "call {call} after the failure");
    }
    serves_next(&hostile.runtime);
}

#[test]
fn a_well_behaved_call_passes_every_limit() {
    let rule = hostile("ok", LimitOverrides::default());
    let (v, cost) = rule.evaluate(&order(ORDER)).unwrap();
    assert!(v.high_value);
    assert_eq!(v.reason, "fine");
    assert!(cost.fuel > 0 && cost.fuel < 100_000, "fuel {}", cost.fuel);
}

#[test]
fn fuel_obeyed_and_violated() {
    let burn = "burn:200000";
    let generous = hostile(
        burn,
        LimitOverrides {
            fuel: Some(50_000_000),
            ..Default::default()
        },
    );
    let (_, cost) = generous.evaluate(&order(ORDER)).expect("enough fuel");
    let tight = hostile(
        burn,
        LimitOverrides {
            fuel: Some(cost.fuel / 2),
            ..Default::default()
        },
    );
    assert_eq!(
        failure(&tight),
        Failure::Fuel {
            limit: cost.fuel / 2
        }
    );
    still_serves(&tight);
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let rule = hostile(
        "loop",
        LimitOverrides {
            fuel: Some(5_000_000),
            timeout_ms: Some(60_000),
            ..Default::default()
        },
    );
    assert_eq!(failure(&rule), Failure::Fuel { limit: 5_000_000 });
    still_serves(&rule);
}

#[test]
fn the_wall_clock_deadline_stops_a_loop_fuel_would_allow() {
    // Fuel high enough that only the deadline can stop it.
    let rule = hostile(
        "loop",
        LimitOverrides {
            fuel: Some(u64::MAX / 2),
            timeout_ms: Some(20),
            ..Default::default()
        },
    );
    // Its fuel outlasts the deadline at normal speed: every try would miss
    // it, so the failure is final, and says what to change.
    let f = failure(&rule);
    assert_eq!(
        f,
        Failure::DeadlineAtNormalSpeed {
            limit_ms: 20,
            fuel: u64::MAX / 2
        }
    );
    assert!(!f.is_transient());
    assert!(
        f.to_string()
            .ends_with("so every try would: lower fuel to 200000000 or raise timeout_ms"),
        "{f}"
    );
}

#[test]
fn a_deadline_is_transient_only_when_the_fuel_would_have_run_out_first_at_normal_speed() {
    use orderflow_host::limits::FUEL_PER_MS;
    // log-flood makes 100,000 host calls: about 80,000 fuel a ms here, far
    // below normal speed, so it meets a 5 ms deadline long before its fuel.
    let within = |fuel| LimitOverrides {
        fuel: Some(fuel),
        timeout_ms: Some(5),
        ..Default::default()
    };
    let slow = hostile("log-flood", within(5 * FUEL_PER_MS));
    let f = failure(&slow);
    assert_eq!(f, Failure::Timeout { limit_ms: 5 });
    assert!(f.is_transient(), "at normal speed the fuel ends it first");
    still_serves(&slow);
    let outlasting = hostile("log-flood", within(5 * FUEL_PER_MS + 1));
    let f = failure(&outlasting);
    assert!(
        matches!(f, Failure::DeadlineAtNormalSpeed { limit_ms: 5, .. }),
        "{f:?}"
    );
    assert!(!f.is_transient());
}

#[test]
fn timeout_obeyed_and_violated() {
    // The same workload (about 0.1 s of CPU here) under a deadline far
    // above it and one far below it; fuel is plentiful in both.
    let burn = "burn:100000000";
    let limits = |timeout_ms| LimitOverrides {
        fuel: Some(u64::MAX / 2),
        timeout_ms: Some(timeout_ms),
        ..Default::default()
    };
    let roomy = hostile(burn, limits(10_000));
    let (v, cost) = roomy.evaluate(&order(ORDER)).expect("within 10 s");
    assert_eq!(v.reason, "fine");
    assert!(
        cost.micros >= 50_000,
        "the workload must take well over the tight deadline below: {} us",
        cost.micros
    );
    let tight = hostile(burn, limits(5));
    assert_eq!(
        failure(&tight),
        Failure::DeadlineAtNormalSpeed {
            limit_ms: 5,
            fuel: u64::MAX / 2
        }
    );
}

#[test]
fn memory_cap_obeyed_and_violated() {
    // The same workload, 16 MiB kept, under a cap below it and one above
    // (with fuel for zeroing the chunks in both).
    let grow = "grow:16";
    let cap = |memory_bytes| LimitOverrides {
        memory_bytes: Some(memory_bytes),
        fuel: Some(1 << 32),
        ..Default::default()
    };
    let tight = hostile(grow, cap(8 << 20));
    assert_eq!(failure(&tight), Failure::Memory { limit: 8 << 20 });
    still_serves(&tight);
    let roomy = hostile(grow, cap(32 << 20));
    let (v, _) = roomy.evaluate(&order(ORDER)).expect("16 MiB fits in 32");
    assert_eq!(v.reason, "grew 16 MiB");
}

#[test]
fn memory_that_grows_forever_hits_the_cap() {
    let rule = hostile(
        "grow-memory",
        LimitOverrides {
            memory_bytes: Some(8 << 20),
            // The cap, not the clock, is under test: a shared machine may
            // stall a call past the default 100 ms.
            timeout_ms: Some(5_000),
            ..Default::default()
        },
    );
    assert_eq!(failure(&rule), Failure::Memory { limit: 8 << 20 });
    still_serves(&rule);
}

#[test]
fn traps_and_panics_are_contained() {
    for behaviour in ["trap", "panic"] {
        let rule = hostile(behaviour, LimitOverrides::default());
        match failure(&rule) {
            Failure::Trap { message } => {
                assert!(message.contains("unreachable"), "{behaviour}: {message}")
            }
            other => panic!("{behaviour}: {other:?}"),
        }
        still_serves(&rule);
    }
}

#[test]
fn output_size_obeyed_and_violated() {
    let rule = hostile("oversized", LimitOverrides::default());
    match failure(&rule) {
        Failure::OutputTooLarge { size, limit } => {
            assert!(size >= 4 << 20);
            assert_eq!(limit, 64 << 10);
        }
        other => panic!("{other:?}"),
    }
    let roomy = hostile(
        "oversized",
        LimitOverrides {
            max_output_bytes: Some(8 << 20),
            ..Default::default()
        },
    );
    assert_eq!(
        roomy.evaluate(&order(ORDER)).unwrap().0.reason.len(),
        4 << 20
    );
}

#[test]
fn garbage_results_are_refused() {
    let rule = hostile(
        "many-attributes",
        LimitOverrides {
            max_output_bytes: Some(64 << 20),
            fuel: Some(1 << 30),
            ..Default::default()
        },
    );
    let f = failure(&rule);
    assert!(
        matches!(&f, Failure::Invalid { message } if message.contains("10000 attributes")),
        "{f:?}"
    );
    let rule = hostile("fail", LimitOverrides::default());
    assert_eq!(
        failure(&rule),
        Failure::Refused {
            message: "refused on purpose".into()
        }
    );
}

#[test]
fn a_log_flood_is_capped_and_the_call_still_answers() {
    let rule = hostile(
        "log-flood",
        LimitOverrides {
            fuel: Some(500_000_000),
            timeout_ms: Some(10_000),
            ..Default::default()
        },
    );
    let logs = support::logs::Captured::default();
    let answer = logs.during(|| rule.evaluate(&order(ORDER)));
    assert!(answer.is_ok(), "the call still answers");
    let text = logs.text();
    let lines = text.lines().filter(|l| l.contains("flood line")).count();
    // 16 KiB per call, ~40 bytes a line: a few hundred of the 100,000.
    assert!((100..1000).contains(&lines), "{lines} plugin lines logged");
    assert!(
        text.contains("plugin log lines dropped: over the per-call budget"),
        "the drop is reported"
    );
    assert!(text.contains("[redacted]") && !text.contains("ana@example.com"));
}

#[test]
fn fresh_instances_by_default_reuse_only_when_asked() {
    let fresh = hostile("stateful", LimitOverrides::default());
    for _ in 0..3 {
        let (v, _) = fresh.evaluate(&order(ORDER)).unwrap();
        assert_eq!(
            v.attributes,
            vec![("calls".to_string(), "1".to_string())],
            "no state survives an order"
        );
    }
    let reused = hostile(
        "stateful",
        LimitOverrides {
            max_calls_per_instance: Some(2),
            ..Default::default()
        },
    );
    let calls: Vec<String> = (0..4)
        .map(|_| {
            reused.evaluate(&order(ORDER)).unwrap().0.attributes[0]
                .1
                .clone()
        })
        .collect();
    assert_eq!(
        calls,
        ["1", "2", "1", "2"],
        "an instance serves at most max_calls_per_instance orders"
    );
}

#[test]
fn a_component_of_the_wrong_world_is_refused_by_name() {
    let rt = runtime();
    let s = spec("normalize", "normalize", json!({}));
    let e = RulePlugin::load(&rt, &s, &wasm("normalize"))
        .err()
        .expect("a transform is not a rule");
    let msg = e.to_string();
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{msg}");
    assert!(msg.starts_with("plugin normalize@1.0.0: does not implement the world orderflow:plugin/rule-plugin@0.2.0"), "{msg}");
    assert!(
        msg.contains("orderflow:plugin/transform@0.2.0"),
        "says what it does export: {msg}"
    );

    let s = spec(
        "threshold",
        "threshold",
        json!({"minimum_minor": {"EUR": 1}}),
    );
    let e = TransformPlugin::load(&rt, &s, &wasm("threshold"))
        .err()
        .expect("a rule is not a transform");
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
}

#[test]
fn a_component_that_lies_about_its_interface_is_refused() {
    let s = spec("impostor", "impostor", json!({}));
    let e = RulePlugin::load(&runtime(), &s, &wasm("impostor"))
        .err()
        .expect("wrong signatures");
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    assert!(e.to_string().contains("impostor@1.0.0"), "{e}");
}

#[test]
fn hostile_transforms_cannot_corrupt_the_item() {
    let rt = runtime();
    let item = Item::new(
        &order(ORDER),
        &PublishedDecision {
            revision: "r".into(),
            high_value: true,
            attributes: Default::default(),
            reasons: vec![],
        },
    );
    for (behaviour, expect) in [
        ("rekey", "OrderId is the item's key"),
        ("duplicate", "returned twice"),
        ("fail", "refused on purpose"),
        ("oversized", "over its cap"),
    ] {
        let t = TransformPlugin::load(
            &rt,
            &spec("ht", "hostile-transform", json!({ "behaviour": behaviour })),
            &wasm("hostile-transform"),
        )
        .unwrap();
        let e = t.apply(&item).expect_err(behaviour);
        assert!(e.to_string().contains(expect), "{behaviour}: {e}");
    }
    let mut s = spec("ht", "hostile-transform", json!({ "behaviour": "loop" }));
    s.limits.fuel = Some(1_000_000);
    let t = TransformPlugin::load(&rt, &s, &wasm("hostile-transform")).unwrap();
    assert_eq!(
        t.apply(&item).unwrap_err().failure,
        Failure::Fuel { limit: 1_000_000 }
    );
    let id = TransformPlugin::load(
        &rt,
        &spec(
            "id",
            "hostile-transform",
            json!({ "behaviour": "identity" }),
        ),
        &wasm("hostile-transform"),
    )
    .unwrap();
    assert_eq!(
        id.apply(&item).unwrap().0,
        item.fields,
        "identity keeps every field"
    );
}

#[test]
fn a_rejecting_rule_failure_is_in_the_trace() {
    let rt = runtime();
    let m = manifest(
        vec![spec("bad", "hostile-rule", json!({"behaviour": "trap"}))],
        vec![],
    );
    let set = orderflow_host::RuleSet::load(&rt, &m, &orderflow_host::wasm_from_dir(plugin_dir()))
        .unwrap();
    let d = set.evaluate(&order(ORDER));
    assert!(!d.high_value);
    assert!(d.rejected.as_ref().unwrap().error.contains("trapped"));
    assert!(matches!(
        d.trace[0].outcome,
        Outcome::Failed {
            limit: "trap",
            skipped: false,
            ..
        }
    ));
}

#[test]
fn a_failed_call_keeps_its_cost_in_the_trace() {
    let rt = runtime();
    let mut looping = spec("looping", "hostile-rule", json!({"behaviour": "loop"}));
    looping.limits.fuel = Some(2_000_000);
    looping.on_error = orderflow_host::OnError::Skip;
    let m = manifest(vec![looping], vec![]);
    let set = orderflow_host::RuleSet::load(&rt, &m, &orderflow_host::wasm_from_dir(plugin_dir()))
        .unwrap();
    let d = set.evaluate(&order(ORDER));
    let t = &d.trace[0];
    assert!(
        matches!(t.outcome, Outcome::Failed { limit: "fuel", .. }),
        "{t:?}"
    );
    assert_eq!(t.fuel, 2_000_000, "a rule out of fuel spent all of it");
    assert!(t.micros > 0, "{t:?}");

    let mut looping = spec("looping", "hostile-transform", json!({"behaviour": "loop"}));
    looping.limits.fuel = Some(3_000_000);
    let m = manifest(vec![], vec![looping]);
    let chain =
        orderflow_host::TransformChain::load(&rt, &m, &orderflow_host::wasm_from_dir(plugin_dir()))
            .unwrap();
    let item = Item::new(
        &order(ORDER),
        &PublishedDecision {
            revision: m.revision.clone(),
            high_value: true,
            attributes: Default::default(),
            reasons: vec![],
        },
    );
    let (result, trace) = chain.apply(item);
    assert_eq!(
        result.unwrap_err().failure,
        Failure::Fuel { limit: 3_000_000 }
    );
    assert_eq!(trace[0].fuel, 3_000_000, "{:?}", trace[0]);
    assert!(trace[0].micros > 0, "{:?}", trace[0]);
}

#[test]
fn a_full_instance_pool_is_a_transient_failure_not_a_wrong_interface() {
    // One slot: the first plugin's idle instance holds it.
    let runtime = orderflow_host::Runtime::new(orderflow_host::RuntimeConfig {
        max_instances: 1,
        ..Default::default()
    })
    .unwrap();
    let ok = spec("hostile", "hostile-rule", json!({"behaviour": "ok"}));
    let _first = RulePlugin::load(&runtime, &ok, &wasm("hostile-rule")).unwrap();
    let second = spec("second", "hostile-rule", json!({"behaviour": "ok"}));
    match RulePlugin::load(&runtime, &second, &wasm("hostile-rule")) {
        Err(LoadError::Start { plugin, failure }) => {
            assert_eq!(plugin, "second@1.0.0");
            assert_eq!(failure.kind(), "capacity", "{failure}");
            assert!(failure.is_transient());
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a second instance cannot fit in one slot"),
    }
}
