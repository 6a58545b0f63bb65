//! `orderflow plugin test`: a component through the real host over its
//! fixtures (see [`fixture`](super::fixture) for the format), with each
//! case's log lines and cost. Exit codes for CI: 0 every case passed, 1 a
//! case failed, 2 the run could not start (no component, a broken fixture,
//! a component of the other kind).

use super::fixture::{self, Fixture, Input};
use super::load::{self, Kind, Loaded};
use super::logs::{self, LogLine};
use super::report::{self, Outcome};
use anyhow::{Context, Result, bail};
use orderflow_host::{Cost, Item, LoadError, PluginSpec, Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub struct Args {
    /// The plugin crate (built first unless `wasm` is given).
    pub dir: PathBuf,
    /// A component built elsewhere (any language).
    pub wasm: Option<PathBuf>,
    /// The fixtures' folder; `<dir>/fixtures` by default.
    pub fixtures: Option<PathBuf>,
    /// A manifest entry whose grant and limits the plugin is loaded with.
    pub entry: Option<PathBuf>,
    /// Whether a case's `max_fuel` is checked.
    pub fuel_limits: bool,
    pub json: bool,
}

/// What one case did.
#[derive(Debug, serde::Serialize)]
pub struct CaseReport {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    pub passed: bool,
    /// Why it failed, as readable lines (a diff); empty when it passed.
    pub problems: Vec<String>,
    pub fuel: u64,
    pub micros: u64,
    pub logs: Vec<LogLine>,
}

pub fn test(args: Args) -> Result<ExitCode> {
    let (name, wasm) = match &args.wasm {
        Some(path) => (stem(path), path.clone()),
        None => {
            let built = orderflow_plugin_build::build_crate(&args.dir, true)
                .with_context(|| format!("building {}", args.dir.display()))?;
            (built.package, built.wasm)
        }
    };
    let fixtures_dir = args
        .fixtures
        .clone()
        .unwrap_or_else(|| args.dir.join("fixtures"));
    let fixtures = fixture::read_dir(&fixtures_dir).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 8,
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?;
    let entry = args.entry.as_deref().map(super::read_entry).transpose()?;
    let base = load::spec(&name, &bytes, &serde_json::json!({}), entry.as_ref());
    let kind = load::world_of(&runtime, &base, &bytes).map_err(anyhow::Error::msg)?;
    for f in &fixtures {
        let case_kind = match f.input {
            Input::Order(_) => Kind::Rule,
            Input::Item { .. } => Kind::Transform,
        };
        if case_kind != kind {
            bail!(
                "{}: fixture {} is a {case_kind:?} case, but {name} is a {kind:?}",
                fixtures_dir.display(),
                f.name
            );
        }
    }
    let cases: Vec<CaseReport> = fixtures
        .iter()
        .map(|f| run_case(&runtime, kind, &base, &bytes, f, args.fuel_limits))
        .collect::<Result<_>>()?;
    if args.json {
        println!("{}", report::json(&name, &wasm, kind, &cases));
    } else {
        print!("{}", report::text(&name, &wasm, kind, &cases));
    }
    Ok(if cases.iter().all(|c| c.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into())
}

/// Loads the plugin with the case's configuration (as the pipeline would),
/// makes the one call, and compares. Only a plugin that cannot load at all
/// (it fit the world a moment ago) stops the run.
fn run_case(
    runtime: &Runtime,
    kind: Kind,
    base: &PluginSpec,
    wasm: &[u8],
    f: &Fixture,
    fuel_limits: bool,
) -> Result<CaseReport> {
    let spec = PluginSpec {
        config: f.config.clone(),
        ..base.clone()
    };
    let (result, logs) = logs::capture(|| match load::load(runtime, kind, &spec, wasm) {
        Ok(plugin) => call(&plugin, &f.input),
        Err(LoadError::Config { message, .. }) => Ok((
            Outcome::Failed(format!("configuration refused: {message}")),
            Cost::default(),
        )),
        Err(LoadError::Start { failure, .. }) => Ok((
            Outcome::Failed(format!("failed while configuring: {failure}")),
            Cost::default(),
        )),
        Err(e) => Err(e),
    });
    let (outcome, cost) = result?;
    let mut problems = report::compare(&f.expect, &outcome);
    if let Some(max) = f.max_fuel.filter(|_| fuel_limits)
        && cost.fuel > max
    {
        problems.push(format!(
            "cost: {} fuel, over this case's max_fuel of {max}",
            cost.fuel
        ));
    }
    Ok(CaseReport {
        name: f.name.clone(),
        about: f.about.clone(),
        passed: problems.is_empty(),
        problems,
        fuel: cost.fuel,
        micros: cost.micros,
        logs,
    })
}

fn call(plugin: &Loaded, input: &Input) -> Result<(Outcome, Cost), LoadError> {
    Ok(match (plugin, input) {
        (Loaded::Rule(rule), Input::Order(order)) => {
            match rule.evaluate(&Arc::new(order.clone())) {
                Ok((verdict, cost)) => (Outcome::Verdict(verdict), cost),
                Err(e) => (Outcome::Failed(e.failure.to_string()), e.cost),
            }
        }
        (
            Loaded::Transform(transform),
            Input::Item {
                order_id,
                timestamp,
                fields,
            },
        ) => {
            let item = Item {
                order_id: order_id.clone(),
                timestamp: timestamp.clone(),
                fields: fields.clone(),
            };
            match transform.apply(&item) {
                Ok((fields, cost)) => (Outcome::Fields(fields), cost),
                Err(e) => (Outcome::Failed(e.failure.to_string()), e.cost),
            }
        }
        _ => unreachable!("every fixture's kind was checked against the plugin's"),
    })
}
