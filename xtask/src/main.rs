//! `cargo xtask <task>`: the project's entry points, so the README's
//! commands work on a fresh clone with nothing but cargo.
//!
//! - `plugins`: build the example plugins to wasm and write the example
//!   manifest with their hashes to `target/example-plugins/manifest.json`;
//! - `demo`: `plugins`, then run the sample orders through the embedded
//!   pipeline;
//! - `test`: the whole test suite (what CI runs): every crate's tests, the
//!   template checks, and the arm64 Lambdas under qemu.

use anyhow::{Context, Result, bail};
use std::path::Path;
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
            cargo(
                &[
                    "run",
                    "--quiet",
                    "-p",
                    "orderflow-cli",
                    "--",
                    "run",
                    "samples/orders.jsonl",
                    "--manifest",
                ],
                Some(&manifest),
            )?;
        }
        "test" => {
            plugins(&root)?;
            cargo(&["test", "--workspace", "--no-fail-fast"], None)?;
            // The template: cfn-lint, sam validate, checkov, least privilege,
            // the local stack created from it on moto.
            run(Command::new("bash").arg(root.join("deploy/validate-template.sh")))?;
            // What ships is what was tested: the arm64 Lambdas, built the way
            // SAM builds them (unoptimised here, to keep CI short), run under
            // qemu against that local stack.
            run(Command::new("bash")
                .arg(root.join("deploy/build-lambdas.sh"))
                .arg("arm64")
                .env("PROFILE", "debug"))?;
            let python = root.join("deploy/.venv/lint/bin/python");
            run(Command::new(python).args(["-m", "pytest", "-q", "deploy/test_arm64_lambdas.py"]))?;
        }
        _ => bail!("usage: cargo xtask <plugins|demo|test>"),
    }
    Ok(())
}

fn plugins(root: &Path) -> Result<std::path::PathBuf> {
    // A copy of its own, so later plugin builds (tests) never make the
    // demo's manifest stale.
    let out = orderflow_plugin_build::target_dir().join("example-plugins");
    orderflow_plugin_build::lock_manifest(&root.join("plugins/manifest.json"), &out)
        .context("building the example plugins")
}

fn cargo(args: &[&str], last: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args);
    if let Some(p) = last {
        cmd.arg(p);
    }
    run(&mut cmd)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
