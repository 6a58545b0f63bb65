//! `cargo xtask <task>`: the project's entry points, so the README's
//! commands work on a fresh clone with nothing but rustup's cargo.
//!
//! - `plugins`: build the example plugins to wasm and write the example
//!   manifest with their hashes to `target/example-plugins/manifest.json`;
//! - `demo`: `plugins`, then run the sample orders through the embedded
//!   pipeline (built without the AWS operator, so no AWS crate compiles);
//! - `setup`: only the checks and installs `test` starts with;
//! - `test`: the whole test suite (what CI runs): first [`setup`] checks and
//!   installs what it needs, then every crate's tests, the template checks,
//!   the example plugins' fixtures (`orderflow plugin test`), and the arm64
//!   Lambdas under qemu.

mod setup;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = orderflow_plugin_build::workspace_root();
    std::env::set_current_dir(&root)?;
    match task.as_str() {
        "plugins" => {
            let path = plugins(&root)?;
            println!("example plugins and manifest: {}", path.display());
        }
        "demo" => {
            let manifest = plugins(&root)?;
            run(cargo()
                .args(["orderflow", "run", "samples/orders.jsonl", "--manifest"])
                .arg(manifest))?;
        }
        "setup" => {
            setup::prepare(&root)?;
            println!("ready for cargo xtask test");
        }
        "test" => test(&root)?,
        _ => bail!("usage: cargo xtask <plugins|demo|setup|test>"),
    }
    Ok(())
}

fn test(root: &Path) -> Result<()> {
    let env = setup::prepare(root)?;
    plugins(root)?;
    run(env.apply(cargo().args(["test", "--workspace", "--no-fail-fast"])))?;
    // The template: cfn-lint, sam validate, checkov, least privilege,
    // the local stack created from it on moto.
    run(env.apply(Command::new("bash").arg(root.join("deploy/validate-template.sh"))))?;
    // What ships is what was tested: the arm64 Lambdas, built the way SAM
    // builds them (unoptimised here, to keep CI short), run under qemu
    // against that local stack, with plugins published by the operator CLI
    // (its default build, which has the `plugins` commands).
    run(cargo().args(["build", "--quiet", "-p", "orderflow-cli"]))?;
    // The example plugins over their fixtures, in the real host, the way
    // an author runs them (`orderflow plugin test`; exit 1 on a failed case).
    let orderflow = orderflow_plugin_build::target_dir().join("debug/orderflow");
    for example in orderflow_plugin_build::EXAMPLES {
        run(Command::new(&orderflow)
            .args(["plugin", "test"])
            .arg(root.join("plugins").join(example)))?;
    }
    // The Python twin of `threshold`: its own fixtures, and the Rust
    // twin's (verdicts only: an interpreter's fuel is not the Rust budget).
    match orderflow_plugin_build::build_python("python-threshold") {
        Ok(wasm) => {
            let twin = root.join("plugins/python-threshold");
            for (fixtures, extra) in [
                (twin.join("fixtures"), None),
                (
                    root.join("plugins/threshold/fixtures"),
                    Some("--no-fuel-limits"),
                ),
            ] {
                run(Command::new(&orderflow)
                    .args(["plugin", "test", "--wasm"])
                    .arg(&wasm)
                    .arg("--entry")
                    .arg(twin.join("plugin.json"))
                    .arg("--fixtures")
                    .arg(fixtures)
                    .args(extra))?;
            }
        }
        Err(orderflow_plugin_build::PythonBuildError::Unavailable(why)) => {
            eprintln!(
                "xtask: SKIPPED the Python plugin's fixtures: componentize-py cannot be installed here ({why})"
            )
        }
        Err(e) => return Err(e.into()),
    }
    run(env.apply(
        Command::new("bash")
            .arg(root.join("deploy/build-lambdas.sh"))
            .arg("arm64")
            .env("PROFILE", "debug"),
    ))?;
    run(env.apply(Command::new(env.python()).args([
        "-m",
        "pytest",
        "-q",
        "deploy/test_arm64_lambdas.py",
    ])))
}

fn plugins(root: &Path) -> Result<PathBuf> {
    // A copy of its own, so later plugin builds (tests) never make the
    // demo's manifest stale.
    let out = orderflow_plugin_build::target_dir().join("example-plugins");
    orderflow_plugin_build::lock_manifest(&root.join("plugins/manifest.json"), &out)
        .context("building the example plugins")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
