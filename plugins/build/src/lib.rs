//! Builds plugin crates from source into WebAssembly components.
//!
//! Plugins compile for `wasm32-unknown-unknown`, whose standard library
//! imports nothing, and the core module is then wrapped into a component
//! with `wit-component`. (`wasm32-wasip2` would be the direct route, but its
//! standard library links WASI stdio and environment imports into every
//! plugin through the panic machinery, and orderflow gives plugins no WASI.)
//!
//! Tests, the xtask and the CLI's demo call [`build`] themselves, so no
//! compiled plugin is ever committed. Builds go to their own target
//! directory under the workspace's one, so a build started from inside
//! `cargo test` never waits on the lock the outer cargo holds.

mod python;

pub use python::{PYTHON_EXAMPLES, PYTHON_FIXTURES, PythonBuildError, build_python};

use orderflow_manifest::{Manifest, ManifestError};
use std::path::{Path, PathBuf};
use std::process::Command;

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
    "contract-v2",
];

/// Builds the named plugin crates and returns the path of each component,
/// in the order given. Cargo's own freshness checks make a repeat call cheap.
pub fn build(packages: &[&str]) -> Result<Vec<PathBuf>, BuildError> {
    ensure_target()?;
    let names = || packages.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let core_dir = target_dir().join("plugin-build");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
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

    let out = output_dir();
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
            componentize(package, &core, &dest)?;
            Ok(dest)
        })
        .collect()
}

/// Makes sure the toolchain can build for [`TARGET`], adding the target with
/// rustup when it is missing. A toolchain file's `targets` are only added
/// when rustup installs the toolchain, not to one that is already there, so
/// a fresh clone on a machine with Rust would otherwise fail deep inside
/// cargo with "can't find crate for `core`". Checked once per process.
pub fn ensure_target() -> Result<(), BuildError> {
    static CHECKED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(add_target_if_missing)
        .clone()
        .map_err(BuildError::Toolchain)
}

fn add_target_if_missing() -> Result<(), String> {
    // The rustc beside the cargo that runs us is the toolchain the build uses.
    let rustc = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|cargo| cargo.parent().map(|d| d.join("rustc")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .current_dir(workspace_root())
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {}: {e}; install Rust with rustup",
                rustc.display()
            )
        })?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
    {
        return Ok(());
    }
    let missing = format!(
        "the Rust toolchain at {} has no {TARGET} target",
        sysroot.display()
    );
    eprintln!("orderflow: {missing}; adding it: rustup target add {TARGET}");
    match Command::new("rustup")
        .current_dir(workspace_root())
        .args(["target", "add", TARGET])
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!(
            "{missing}, and `rustup target add {TARGET}` failed ({status}); its output is above"
        )),
        Err(_) => Err(format!(
            "{missing}, and rustup is not on PATH to add it: install the target's standard \
             library (with rustup: `rustup target add {TARGET}`; from a distribution: its \
             rust-std package for {TARGET})"
        )),
    }
}

/// Wraps a core module (with the component-type section wit-bindgen
/// embedded) into a component, writing it atomically so concurrent test
/// processes never read half a file.
fn componentize(package: &str, core: &Path, dest: &Path) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let package = package.to_string();
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            package,
            path,
            source,
        }
    };
    let module = std::fs::read(core).map_err(io(core))?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|e| e.encode())
        .map_err(|e| BuildError::Componentize {
            package: package.into(),
            message: format!("{e:#}"),
        })?;
    // Unique per call: tests build the same plugin from several threads.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dest.with_extension(format!("wasm.{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, &component).map_err(io(&tmp))?;
    std::fs::rename(&tmp, dest).map_err(io(dest))?;
    Ok(())
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
