//! More of the hostile corpus (issue 12): plugins that attack the host at
//! load time or through the shape of the component, not only in a call.
//! Each is refused at load time or contained in bounded time and memory,
//! with a typed error naming the plugin and the limit, and the same runtime
//! then serves the next order with a good plugin. Each case prints how long
//! the refusal or containment took (`cargo test -- --nocapture`).

mod support;

use orderflow_host::limits::LimitOverrides;
use orderflow_host::manifest::sha256_hex;
use orderflow_host::precheck::{MAX_CODE_BYTES, MAX_FUNCTIONS};
use orderflow_host::rules::RulePlugin;
use orderflow_host::{Failure, LoadError, PluginSpec, Runtime, RuntimeConfig};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

/// Runs `f`, prints how long it took under `case`, and returns both.
fn timed<T>(case: &str, f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    eprintln!("hostile case {case}: refused or contained in {took:?}");
    (out, took)
}

/// A hostile-rule spec: `config` is its configuration, `limits` its overrides.
fn hostile_spec(config: serde_json::Value, limits: LimitOverrides) -> PluginSpec {
    let mut s = spec("hostile", "hostile-rule", config);
    s.limits = limits;
    s
}

/// Loading `spec` fails; returns the error after checking it names the plugin.
fn load_err(runtime: &Runtime, spec: &PluginSpec, wasm: &[u8]) -> LoadError {
    let e = RulePlugin::load(runtime, spec, wasm)
        .err()
        .expect("the plugin must be refused at load time");
    let plugin = format!("{}@{}", spec.name, spec.version);
    assert!(
        e.to_string().starts_with(&format!("plugin {plugin}: ")),
        "the error names the plugin: {e}"
    );
    e
}

/// The failure a load-time start ended in.
fn start_failure(e: LoadError) -> Failure {
    match e {
        LoadError::Start { failure, .. } => failure,
        other => panic!("expected a failure while starting, got: {other}"),
    }
}

/// A load-time failure, repeated on more loads than the pool has slots
/// (each must fail the same way, not with a leaked slot), then the next
/// order is served. The time returned (and printed) is a repeat's, with the
/// component already compiled: what the refusal itself costs.
fn refused_every_time(case: &str, spec: &PluginSpec, wasm: &[u8]) -> (LoadError, Duration) {
    let runtime = small_runtime();
    let started = Instant::now();
    let first = load_err(&runtime, spec, wasm);
    let first_took = started.elapsed();
    let (again, took) = timed(case, || load_err(&runtime, spec, wasm));
    eprintln!("hostile case {case}: the first load, compile included, took {first_took:?}");
    assert_eq!(again.to_string(), first.to_string());
    for attempt in 0..POOL_SLOTS + 2 {
        let again = load_err(&runtime, spec, wasm);
        assert_eq!(again.to_string(), first.to_string(), "attempt {attempt}");
    }
    serves_next(&runtime);
    (first, took)
}

fn is_stack_overflow(f: &Failure) -> bool {
    matches!(f, Failure::Trap { message } if message.starts_with("stack overflow"))
}

#[test]
fn deep_recursion_in_evaluate_is_a_stack_overflow() {
    let runtime = small_runtime();
    let s = hostile_spec(json!({"behaviour": "recurse"}), LimitOverrides::default());
    let rule = RulePlugin::load(&runtime, &s, &wasm("hostile-rule")).expect("loads");
    let (e, took) = timed("recursion in evaluate", || {
        rule.evaluate(&order(ORDER)).expect_err("overflows")
    });
    assert_eq!(e.plugin, "hostile@1.0.0");
    assert!(is_stack_overflow(&e.failure), "{}", e.failure);
    assert_eq!(e.failure.kind(), "trap");
    assert!(took < Duration::from_secs(5), "{took:?}");
    for call in 0..POOL_SLOTS + 2 {
        let again = rule.evaluate(&order(ORDER)).expect_err("overflows again");
        assert_eq!(again.failure, e.failure, "call {call}");
    }
    serves_next(&runtime);
}

#[test]
fn deep_recursion_in_configure_is_refused_at_load() {
    let s = hostile_spec(
        json!({"behaviour": "ok", "configure": "recurse"}),
        // The stack, not the clock, is under test: a shared machine may
        // stall a start past the default 100 ms.
        LimitOverrides {
            timeout_ms: Some(5_000),
            ..Default::default()
        },
    );
    let (e, _) = refused_every_time("recursion in configure", &s, &wasm("hostile-rule"));
    assert!(
        e.to_string()
            .starts_with("plugin hostile@1.0.0: failed while starting: trapped: stack overflow"),
        "{e}"
    );
    assert!(is_stack_overflow(&start_failure(e)));
}

#[test]
fn configure_that_loops_forever_runs_out_of_fuel_or_time_at_load() {
    let wasm = wasm("hostile-rule");
    let looping = json!({"behaviour": "ok", "configure": "loop"});
    let s = hostile_spec(looping.clone(), LimitOverrides::default());
    let (e, _) = refused_every_time("configure loops (fuel)", &s, &wasm);
    assert!(
        e.to_string()
            .contains("failed while starting: ran out of fuel (limit 10000000)"),
        "{e}"
    );
    assert_eq!(start_failure(e), Failure::Fuel { limit: 10_000_000 });

    // Fuel enough for hours: only the deadline stops it.
    let s = hostile_spec(
        looping,
        LimitOverrides {
            fuel: Some(u64::MAX / 2),
            timeout_ms: Some(20),
            ..Default::default()
        },
    );
    let (e, took) = refused_every_time("configure loops (deadline)", &s, &wasm);
    // Fuel for hours outlasts the deadline at normal speed: every load
    // would miss it, so it is not worth retrying.
    assert!(!e.is_transient(), "{e}");
    assert_eq!(
        start_failure(e),
        Failure::DeadlineAtNormalSpeed {
            limit_ms: 20,
            fuel: u64::MAX / 2
        }
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn configure_that_allocates_without_end_hits_the_memory_cap_at_load() {
    let s = hostile_spec(
        json!({"behaviour": "ok", "configure": "grow-memory"}),
        LimitOverrides {
            memory_bytes: Some(8 << 20),
            ..Default::default()
        },
    );
    let (e, _) = refused_every_time("configure allocates forever", &s, &wasm("hostile-rule"));
    assert!(
        e.to_string()
            .contains("failed while starting: exceeded its memory cap of 8388608 bytes"),
        "{e}"
    );
    assert_eq!(start_failure(e), Failure::Memory { limit: 8 << 20 });
}

/// A component of one core module with `functions` functions of `body_ops`
/// `(i32.const 1) (drop)` pairs each: a compile-time bomb when there are many.
fn bomb(functions: u32, body_ops: u32) -> Vec<u8> {
    wasm_code::component_of(&wasm_code::core_module(
        functions,
        &[0x41, 0x01, 0x1a],
        body_ops,
    ))
}

fn bomb_spec(wasm: &[u8]) -> PluginSpec {
    let mut s = spec("bomb", "threshold", json!({}));
    s.sha256 = sha256_hex(wasm);
    s
}

/// Policy (see `orderflow_host::precheck`): a cap on functions and on code
/// bytes, checked with a parse of the section headers before anything is
/// compiled. Measured here: a component at the function cap compiles in
/// bounded time; three times as many functions are refused without
/// compiling, in far less.
#[test]
fn a_compile_time_bomb_is_refused_before_compiling() {
    let over = bomb(30_000, 8);
    let (e, refused_in) = refused_every_time("30000 functions", &bomb_spec(&over), &over);
    assert_eq!(
        e.to_string(),
        format!(
            "plugin bomb@1.0.0: the component has 30000 functions, more than the {MAX_FUNCTIONS} \
             a plugin may have; refusing to compile it"
        )
    );

    let at_cap = bomb(MAX_FUNCTIONS as u32, 8);
    let check = orderflow_host::check_plugin(&small_runtime(), &at_cap, &json!({}), None);
    assert!(
        check.problems.iter().all(|p| !p.contains("refusing")),
        "at the cap it is compiled: {:?}",
        check.problems
    );
    let compiled_in = Duration::from_micros(check.compile_micros);
    eprintln!("a component of {MAX_FUNCTIONS} functions compiles in {compiled_in:?}");
    assert!(
        compiled_in < Duration::from_secs(20),
        "the cap must keep a compile bounded: {compiled_in:?}"
    );
    assert!(
        refused_in < compiled_in,
        "{refused_in:?} vs {compiled_in:?}"
    );

    let check = orderflow_host::check_plugin(&small_runtime(), &over, &json!({}), None);
    assert_eq!(
        check.compile_micros, 0,
        "plugin check does not compile it either"
    );
    assert!(
        check.problems[0].contains("30000 functions"),
        "{:?}",
        check.problems
    );

    let huge = bomb(2, (MAX_CODE_BYTES / 3) as u32 + 10);
    let (e, _) = refused_every_time("one huge function", &bomb_spec(&huge), &huge);
    assert!(
        e.to_string().contains(&format!(
            "bytes of code, more than the {MAX_CODE_BYTES} a plugin"
        )),
        "{e}"
    );
}

/// With reuse, several orders at once: each instance counts its own calls
/// and none ever serves more than `max_calls_per_instance` of them.
#[test]
fn reused_instances_never_serve_more_than_their_calls_concurrently() {
    const CALLS: u32 = 3;
    const THREADS: usize = 4;
    const EACH: usize = 9;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 2 * THREADS as u32,
        ..Default::default()
    })
    .unwrap();
    let s = hostile_spec(
        json!({"behaviour": "stateful"}),
        LimitOverrides {
            max_calls_per_instance: Some(CALLS),
            ..Default::default()
        },
    );
    let rule = RulePlugin::load(&runtime, &s, &wasm("hostile-rule")).unwrap();
    let counts: Vec<u32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..EACH)
                        .map(|_| {
                            let (v, _) = rule.evaluate(&order(ORDER)).unwrap();
                            v.attributes[0].1.parse::<u32>().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let seen = |k| counts.iter().filter(|&&c| c == k).count();
    assert!(
        counts.iter().all(|&c| (1..=CALLS).contains(&c)),
        "{counts:?}"
    );
    // Every instance's k-th call follows its (k-1)-th: never more 2s than 1s.
    for k in 2..=CALLS {
        assert!(seen(k) <= seen(k - 1), "{counts:?}");
    }
    assert!(seen(1) >= THREADS * EACH / CALLS as usize, "{counts:?}");
    serves_next(&runtime);
}

/// A component refused at load as not the rule world, with `cause` named
/// after the world it should implement.
fn refused_as_another_world(package: &str, cause: &str) {
    let s = spec(package, package, json!({}));
    let (e, _) = refused_every_time(package, &s, &wasm(package));
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{msg}");
    let world = format!(
        "plugin {package}@1.0.0: does not implement the world orderflow:plugin/rule-plugin@0.2.0"
    );
    assert!(
        msg.starts_with(&world),
        "names the world it should implement: {msg}"
    );
    assert!(msg.contains(cause), "names why: {msg}");
}

#[test]
fn a_component_that_imports_wasi_is_refused_at_load() {
    refused_as_another_world(
        "wasi-importer",
        "it imports wasi:clocks/wall-clock@0.2.0, which the host does not provide",
    );
}

#[test]
fn a_plugin_of_the_previous_contract_version_is_refused_at_load() {
    refused_as_another_world(
        "contract-v1",
        "it was built against orderflow:plugin@0.1.0, and this host implements \
         orderflow:plugin@0.2.0",
    );
}

/// With reuse, an instance that traps is thrown away with its state: the
/// next order gets a fresh instance, counting from 1 again, even though the
/// trapped one had calls left.
#[test]
fn a_reused_instance_that_traps_takes_its_state_with_it() {
    let runtime = small_runtime();
    let s = hostile_spec(
        json!({"behaviour": "stateful-trap:3"}),
        LimitOverrides {
            max_calls_per_instance: Some(10),
            // Traps, not the clock, are under test (see above).
            timeout_ms: Some(5_000),
            ..Default::default()
        },
    );
    let rule = RulePlugin::load(&runtime, &s, &wasm("hostile-rule")).unwrap();
    let answers: Vec<String> = (0..7)
        .map(|_| match rule.evaluate(&order(ORDER)) {
            Ok((v, _)) => v.attributes[0].1.clone(),
            Err(e) => e.failure.kind().to_string(),
        })
        .collect();
    assert_eq!(answers, ["1", "2", "trap", "1", "2", "trap", "1"]);
    serves_next(&runtime);
}
