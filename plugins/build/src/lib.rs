//! Builds plugin crates from source into WebAssembly components.
//!
//! Plugins compile for `wasm32-unknown-unknown`, whose standard library
//! imports nothing, and the core module is then wrapped into a component
//! with `wit-component`. (`wasm32-wasip2` would be the direct route, but its
//! standard library links WASI stdio and environment imports into every
//! plugin through the panic machinery, and orderflow gives plugins no WASI.)
//!
//! One code path for every caller: [`build_packages`] builds packages of
//! one cargo workspace. [`build`] is it for this workspace's plugins (the
//! tests, the xtask, the CLI's demo, so no compiled plugin is ever
//! committed); [`build_crate`] for any plugin crate, such as one
//! `orderflow plugin new` made outside this repo (`orderflow plugin build`).
//! Builds go to their own target directory under the workspace's one, so a
//! build started from inside `cargo test` never waits on the lock the outer
//! cargo holds.

mod component;
mod package;
mod toolchain;

pub use package::PluginCrate;
pub use toolchain::ensure_target;

mod python;

pub use python::{PYTHON_EXAMPLES, PYTHON_FIXTURES, PythonBuildError, build_python};

use orderflow_manifest::{Manifest, ManifestError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "plugin";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("could not run cargo to build plugins {packages:?}: {source}")]
    Spawn {
        packages: Vec<String>,
        source: std::io::Error,
    },
    #[error("cargo failed to build plugins {packages:?} (exit {status}); its output is above")]
    Cargo {
        packages: Vec<String>,
        status: std::process::ExitStatus,
    },
    #[error("plugin {package}: {path}: {source}")]
    Io {
        package: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Lock(#[from] orderflow_manifest::LockError),
    #[error("plugin {package}: not a valid component once wrapped: {message}")]
    Componentize { package: String, message: String },
    #[error("{0}")]
    Toolchain(String),
    #[error("{dir}: no Cargo.toml here, so no plugin crate to build")]
    NotACrate { dir: PathBuf },
    #[error("{dir}: cargo cannot read this crate: {message}")]
    Metadata { dir: PathBuf, message: String },
    #[error("plugin {package}: {message}")]
    NotAPlugin { package: String, message: String },
}

/// The workspace this crate belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

/// Where built components land: `<target>/plugins/<package>.wasm`.
pub fn output_dir() -> PathBuf {
    target_dir().join("plugins")
}

/// Every plugin crate in the workspace: the examples and the test fixtures.
pub const EXAMPLES: &[&str] = &[
    "threshold",
    "vip-customer",
    "bulk-quantity",
    "normalize",
    "redact-pii",
];
pub const FIXTURES: &[&str] = &[
    "hostile-rule",
    "hostile-transform",
    "impostor",
    "wasi-importer",
    "contract-v1",
];

/// Builds the named plugin crates of this workspace and returns the path of
/// each component, in the order given. Cargo's own freshness checks make a
/// repeat call cheap.
pub fn build(packages: &[&str]) -> Result<Vec<PathBuf>, BuildError> {
    build_packages(&workspace_root(), &target_dir(), packages, true)
}

/// One plugin crate built: where its component is, and how long cargo took.
#[derive(Clone, Debug)]
pub struct Built {
    pub package: String,
    pub wasm: PathBuf,
    pub build_time: Duration,
}

/// Builds the plugin crate in `dir` (see [`PluginCrate::at`]); its
/// component lands in `<target>/plugins/<package>.wasm` of the crate's
/// workspace. `quiet` hides cargo's progress, never its errors.
pub fn build_crate(dir: &Path, quiet: bool) -> Result<Built, BuildError> {
    let krate = PluginCrate::at(dir)?;
    let started = Instant::now();
    let mut wasm = build_packages(
        &krate.workspace_root,
        &krate.target_dir,
        &[&krate.package],
        quiet,
    )?;
    Ok(Built {
        package: krate.package,
        wasm: wasm.remove(0),
        build_time: started.elapsed(),
    })
}

/// Builds packages of the workspace at `workspace` in the plugin profile,
/// in one cargo run, and wraps each into `<target_dir>/plugins/<package>.wasm`.
pub fn build_packages(
    workspace: &Path,
    target_dir: &Path,
    packages: &[&str],
    quiet: bool,
) -> Result<Vec<PathBuf>, BuildError> {
    ensure_target()?;
    let names = || packages.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let core_dir = target_dir.join("plugin-build");
    let mut cmd = cargo();
    cmd.current_dir(workspace)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&core_dir)
        // Flags meant for the outer (native) build must not leak into the wasm one.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    if quiet {
        cmd.arg("--quiet");
    }
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().map_err(|source| BuildError::Spawn {
        packages: names(),
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Cargo {
            packages: names(),
            status,
        });
    }

    let out = target_dir.join("plugins");
    std::fs::create_dir_all(&out).map_err(|source| BuildError::Io {
        package: packages.join(","),
        path: out.clone(),
        source,
    })?;
    packages
        .iter()
        .map(|package| {
            let core = core_dir
                .join(TARGET)
                .join(PROFILE)
                .join(format!("{}.wasm", package.replace('-', "_")));
            let dest = out.join(format!("{package}.wasm"));
            component::componentize(package, &core, &dest)?;
            Ok(dest)
        })
        .collect()
}

/// The cargo that runs us (a build script's, a test's), else the one on PATH.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the plugins a source manifest names (its `wasm` entries are
/// `<package>.wasm`) and writes the manifest next to them with every
/// `sha256` filled in: the form the host accepts. Returns the path of the
/// locked manifest, `<out_dir>/manifest.json`.
pub fn lock_manifest(source: &Path, out_dir: &Path) -> Result<PathBuf, BuildError> {
    let bytes = std::fs::read(source).map_err(|e| BuildError::Io {
        package: "(manifest)".into(),
        path: source.to_path_buf(),
        source: e,
    })?;
    let name = source.display().to_string();
    let manifest = Manifest::parse_source(&bytes, &name)?;
    let packages = manifest
        .plugins()
        .map(|(_, spec)| {
            spec.wasm
                .strip_suffix(".wasm")
                .filter(|p| !p.contains('/'))
                .ok_or_else(|| ManifestError::Invalid {
                    source_name: name.clone(),
                    message: format!("wasm {:?} must be <package>.wasm", spec.wasm),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    build(&packages)?;
    Ok(manifest.lock(&name, &output_dir())?.write_to(out_dir)?)
}
