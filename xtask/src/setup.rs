//! What `cargo xtask test` needs beyond cargo, checked before anything is
//! built, so a machine that lacks something fails in its first seconds
//! with the piece and the command that installs it, not ten minutes into
//! a build.
//!
//! What can be installed without asking is installed: the wasm target
//! (rustup), the Python tools (virtualenvs under `deploy/.venv`, from the
//! pinned requirements files) and, when running as root, Debian's packages
//! (`apt-get`). Nothing is installed outside the checkout except those
//! system packages and the rustup target.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages, each with a path that shows it is installed.
const DEBIAN: &[(&str, &str, &str)] = &[
    (
        "qemu-user",
        "/usr/bin/qemu-aarch64",
        "runs the arm64 Lambdas",
    ),
    (
        "libc6-arm64-cross",
        "/usr/aarch64-linux-gnu/lib",
        "the arm64 C library qemu loads them with",
    ),
    (
        "chromium",
        "/usr/bin/chromium",
        "opens the replay's HTML report headless in its test",
    ),
];

/// The environment the tests run in: the lint virtualenv first on `PATH`
/// (its `moto_server` and its Python, with boto3 and the SAM translator).
pub struct TestEnv {
    venv_bin: PathBuf,
}

impl TestEnv {
    pub fn python(&self) -> PathBuf {
        self.venv_bin.join("python")
    }

    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        let mut path = OsString::from(&self.venv_bin);
        if let Some(rest) = std::env::var_os("PATH") {
            path.push(":");
            path.push(rest);
        }
        cmd.env("PATH", path).env("ORDERFLOW_PYTHON", self.python())
    }
}

pub fn prepare(root: &Path) -> Result<TestEnv> {
    let mut missing = Vec::new();
    debian_packages(&mut missing)?;
    if !python_ok() {
        missing.push(
            "python3 (3.9 or later, with venv): apt-get install python3 python3-venv".to_string(),
        );
    }
    if !missing.is_empty() {
        bail!(
            "cargo xtask test cannot run on this machine yet; missing:\n  - {}",
            missing.join("\n  - ")
        );
    }
    orderflow_plugin_build::ensure_target().context("the wasm target for plugins")?;
    // Every virtualenv up front: a PyPI failure shows now, not after the build.
    let status = Command::new("bash")
        .arg(root.join("deploy/venvs.sh"))
        // componentize: componentize-py, which builds the Python rule
        // plugin (plugins/python-threshold) inside the host's tests.
        .args(["lint", "sam", "checkov", "lambda", "componentize"])
        .status()
        .context("running deploy/venvs.sh")?;
    if !status.success() {
        bail!("deploy/venvs.sh could not set up the Python tools ({status}); its output is above");
    }
    let venv_dir = std::env::var_os("ORDERFLOW_VENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("deploy/.venv"));
    Ok(TestEnv {
        venv_bin: venv_dir.join("lint/bin"),
    })
}

/// Installs the missing Debian packages when running as root; otherwise
/// adds each to `missing` with the command that installs it.
fn debian_packages(missing: &mut Vec<String>) -> Result<()> {
    let absent: Vec<_> = DEBIAN
        .iter()
        .filter(|(_, path, _)| !Path::new(path).exists())
        .collect();
    if absent.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = absent.iter().map(|(name, _, _)| *name).collect();
    if !is_root() || !has("apt-get") {
        for (name, _, why) in absent {
            missing.push(format!("{name} ({why}): sudo apt-get install {name}"));
        }
        return Ok(());
    }
    eprintln!(
        "xtask: installing Debian packages {}: apt-get install {}",
        names.join(", "),
        names.join(" ")
    );
    let quiet = |args: &[&str]| -> Result<()> {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .with_context(|| format!("running apt-get {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "apt-get {} failed ({}):\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    quiet(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&names);
    quiet(&install)
}

fn python_ok() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn has(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}
