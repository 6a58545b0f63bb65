//! Comparing a case's outcome with its expectation, as readable lines, and
//! writing a run's report (text for people, JSON for machines).

use super::fixture::Expect;
use super::load::Kind;
use super::test::CaseReport;
use orderflow_host::item::{Field, Value};
use orderflow_host::rules::Verdict;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// What the plugin answered for one case.
#[derive(Debug)]
pub enum Outcome {
    Verdict(Verdict),
    Fields(Vec<Field>),
    /// The call (or `configure`) failed; the host's words.
    Failed(String),
}

/// Why the outcome is not the one expected; empty when it is.
pub fn compare(expect: &Expect, outcome: &Outcome) -> Vec<String> {
    match (expect, outcome) {
        (Expect::Error(want), Outcome::Failed(got)) if got.contains(want.as_str()) => vec![],
        (Expect::Error(want), Outcome::Failed(got)) => vec![
            format!("error: expected one containing {want:?}"),
            format!("       got {got:?}"),
        ],
        (Expect::Error(want), _) => vec![format!(
            "expected an error containing {want:?}, but the call succeeded: {}",
            summary(outcome)
        )],
        (_, Outcome::Failed(got)) => vec![format!("the call failed: {got}")],
        (
            Expect::Verdict {
                high_value,
                reason,
                attributes,
            },
            Outcome::Verdict(v),
        ) => {
            let mut problems = Vec::new();
            if v.high_value != *high_value {
                problems.push(format!(
                    "high_value: expected {high_value}, got {} ({:?})",
                    v.high_value, v.reason
                ));
            }
            if let Some(reason) = reason
                && *reason != v.reason
            {
                problems.push(format!("reason: expected {reason:?}"));
                problems.push(format!("        got      {:?}", v.reason));
            }
            if let Some(want) = attributes {
                let got: BTreeMap<String, String> = v.attributes.iter().cloned().collect();
                if *want != got || got.len() != v.attributes.len() {
                    problems.push("attributes (- expected, + got):".into());
                    problems.extend(diff(
                        &want
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<Vec<_>>(),
                        &v.attributes,
                        |v| v.clone(),
                    ));
                }
            }
            problems
        }
        (Expect::Fields(want), Outcome::Fields(got)) => {
            if want == got {
                return vec![];
            }
            let pairs = |fs: &[Field]| -> Vec<(String, Value)> {
                fs.iter()
                    .map(|f| (f.name.clone(), f.value.clone()))
                    .collect()
            };
            let lines = diff(&pairs(want), &pairs(got), show);
            if lines.iter().all(|l| l.starts_with("    ")) {
                let names = |fs: &[Field]| {
                    fs.iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return vec![
                    "fields: the same, in another order".into(),
                    format!("  expected: {}", names(want)),
                    format!("  got:      {}", names(got)),
                ];
            }
            let mut problems = vec!["fields (- expected, + got):".to_string()];
            problems.extend(lines);
            problems
        }
        (Expect::Verdict { .. }, _) | (Expect::Fields(_), _) => {
            vec![format!("unexpected answer: {}", summary(outcome))]
        }
    }
}

/// Entry by entry in the expected order, then what only the answer has:
/// `    ` same, `  - ` expected (missing or different), `  + ` got.
fn diff<V: PartialEq>(
    want: &[(String, V)],
    got: &[(String, V)],
    show: impl Fn(&V) -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, value) in want {
        match got.iter().find(|(n, _)| n == name) {
            Some((_, g)) if g == value => lines.push(format!("    {name}: {}", show(value))),
            Some((_, g)) => {
                lines.push(format!("  - {name}: {}", show(value)));
                lines.push(format!("  + {name}: {}", show(g)));
            }
            None => lines.push(format!("  - {name}: {}", show(value))),
        }
    }
    for (name, value) in got {
        if !want.iter().any(|(n, _)| n == name) {
            lines.push(format!("  + {name}: {}", show(value)));
        }
    }
    lines
}

/// A field value as the fixture would write it.
fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Verdict(v) => format!(
            "{} ({:?})",
            if v.high_value {
                "high-value"
            } else {
                "not high-value"
            },
            v.reason
        ),
        Outcome::Fields(f) => format!("{} fields", f.len()),
        Outcome::Failed(e) => e.clone(),
    }
}

pub fn text(name: &str, wasm: &Path, kind: Kind, cases: &[CaseReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plugin {name} ({kind:?}, {}): {} cases",
        wasm.display(),
        cases.len()
    );
    for c in cases {
        let _ = writeln!(
            out,
            "{} {:<28} {:>9} fuel {:>7} µs{}",
            if c.passed { "PASS" } else { "FAIL" },
            c.name,
            c.fuel,
            c.micros,
            c.about
                .as_deref()
                .map(|a| format!("  {a}"))
                .unwrap_or_default()
        );
        for l in &c.logs {
            let _ = writeln!(out, "       log {}: {}", l.level, l.message);
        }
        for p in &c.problems {
            let _ = writeln!(out, "       {p}");
        }
    }
    let failed = cases.iter().filter(|c| !c.passed).count();
    let _ = writeln!(
        out,
        "{} passed, {failed} failed; {} fuel, {} µs in all",
        cases.len() - failed,
        cases.iter().map(|c| c.fuel).sum::<u64>(),
        cases.iter().map(|c| c.micros).sum::<u64>()
    );
    out
}

pub fn json(name: &str, wasm: &Path, kind: Kind, cases: &[CaseReport]) -> serde_json::Value {
    let failed = cases.iter().filter(|c| !c.passed).count();
    serde_json::json!({
        "plugin": name,
        "wasm": wasm.display().to_string(),
        "kind": kind,
        "world": kind.world(),
        "cases": cases,
        "passed": cases.len() - failed,
        "failed": failed,
        "fuel": cases.iter().map(|c| c.fuel).sum::<u64>(),
        "micros": cases.iter().map(|c| c.micros).sum::<u64>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(high_value: bool, reason: &str, attributes: &[(&str, &str)]) -> Outcome {
        Outcome::Verdict(Verdict {
            high_value,
            reason: reason.into(),
            attributes: attributes
                .iter()
                .map(|&(k, v)| (k.into(), v.into()))
                .collect(),
        })
    }

    fn field(name: &str, value: Value) -> Field {
        Field {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn a_verdict_is_compared_on_what_the_case_names() {
        let expect = Expect::Verdict {
            high_value: true,
            reason: None,
            attributes: Some([("tier".to_string(), "gold".to_string())].into()),
        };
        assert!(compare(&expect, &verdict(true, "any", &[("tier", "gold")])).is_empty());
        assert_eq!(
            compare(&expect, &verdict(false, "no", &[("tier", "silver")])),
            [
                "high_value: expected true, got false (\"no\")",
                "attributes (- expected, + got):",
                "  - tier: gold",
                "  + tier: silver",
            ]
        );
    }

    #[test]
    fn fields_diff_line_by_line() {
        let want = vec![
            field("Currency", Value::Text("EUR".into())),
            field("ItemCount", Value::Integer(5)),
        ];
        let got = vec![
            field("Currency", Value::Text("EUR".into())),
            field("ItemCount", Value::Integer(4)),
            field("Extra", Value::Boolean(true)),
        ];
        assert_eq!(
            compare(&Expect::Fields(want.clone()), &Outcome::Fields(got)),
            [
                "fields (- expected, + got):",
                "    Currency: \"EUR\"",
                "  - ItemCount: 5",
                "  + ItemCount: 4",
                "  + Extra: true",
            ]
        );
        let swapped = vec![want[1].clone(), want[0].clone()];
        assert_eq!(
            compare(&Expect::Fields(want), &Outcome::Fields(swapped))[0],
            "fields: the same, in another order"
        );
    }

    #[test]
    fn an_expected_error_must_happen_and_match() {
        let expect = Expect::Error("is missing".into());
        assert!(
            compare(
                &expect,
                &Outcome::Failed("refused: field X is missing".into())
            )
            .is_empty()
        );
        assert_eq!(
            compare(&expect, &Outcome::Failed("trapped".into())).len(),
            2
        );
        assert!(compare(&expect, &verdict(true, "ok", &[]))[0].starts_with("expected an error"));
        let e = compare(
            &Expect::Fields(vec![]),
            &Outcome::Failed("refused: nope".into()),
        );
        assert_eq!(e, ["the call failed: refused: nope"]);
    }
}
