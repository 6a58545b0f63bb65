//! Builds the plugins written in Python into components with
//! componentize-py (`deploy/requirements-componentize.txt`, installed into
//! the `componentize` virtualenv by `deploy/venvs.sh`), the way [`build`]
//! builds the Rust ones on demand.
//!
//! componentize-py generates the bindings from `wit/` for the world named
//! here, bundles CPython (for `wasm32-wasip2`, so the component imports
//! WASI p2) with the plugin's modules, and snapshots the interpreter after
//! the imports ran. A build takes 10–30 s and its output differs from run
//! to run (the snapshot is not reproducible), so a component is kept
//! under `<target>/plugins/` with the hash of everything it was built from
//! beside it, and rebuilt only when that changes.
//!
//! [`build`]: crate::build

use crate::{output_dir, workspace_root};
use orderflow_manifest::sha256_hex;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugins written in Python: a directory `plugins/<name>/` with an
/// `app.py` whose `Rule` class implements the rule world.
pub const PYTHON_EXAMPLES: &[&str] = &["python-threshold"];
/// Python test fixtures, under `plugins/fixtures/<name>/`.
pub const PYTHON_FIXTURES: &[&str] = &["python-wasi-probe"];

/// The module componentize-py starts from, and the world it implements.
const APP: &str = "app";
const WORLD: &str = "rule-plugin";

#[derive(Debug, thiserror::Error)]
pub enum PythonBuildError {
    /// componentize-py is not installed and could not be (no Python 3.9+
    /// with venv, no PyPI): the one reason a test may skip the build.
    #[error(
        "componentize-py is not available ({0}); install it with `deploy/venvs.sh componentize` \
         (Python 3.9+ with venv, and PyPI)"
    )]
    Unavailable(String),
    #[error("plugin {package}: componentize-py failed ({status}):\n{output}")]
    Failed {
        package: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("plugin {package}: {path}: {source}")]
    Io {
        package: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Builds the Python plugin `package` (a name of [`PYTHON_EXAMPLES`] or
/// [`PYTHON_FIXTURES`]) unless
/// its component is up to date, and returns the component's path,
/// `<target>/plugins/<package>.wasm`. Safe to call from concurrent test
/// processes: they build one at a time, and the later ones find it built.
pub fn build_python(package: &str) -> Result<PathBuf, PythonBuildError> {
    let root = workspace_root();
    let source = if PYTHON_FIXTURES.contains(&package) {
        root.join("plugins/fixtures").join(package)
    } else {
        root.join("plugins").join(package)
    };
    let io = |path: &Path| {
        let package = package.to_string();
        let path = path.to_path_buf();
        move |source| PythonBuildError::Io {
            package,
            path,
            source,
        }
    };
    let out = output_dir();
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    let dest = out.join(format!("{package}.wasm"));
    let stamp = out.join(format!("{package}.wasm.inputs-sha256"));
    let lock_path = out.join(format!("{package}.build-lock"));
    let lock = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;

    let inputs = inputs_hash(&root, &source).map_err(io(&source))?;
    let built = std::fs::read_to_string(&stamp).unwrap_or_default();
    if built.trim() == inputs && dest.is_file() {
        return Ok(dest);
    }
    let tool = componentize_py(&root)?;
    let tmp = dest.with_extension(format!("wasm.{}.tmp", std::process::id()));
    eprintln!("orderflow: building {package} with componentize-py (10-30 s)");
    let output = Command::new(&tool)
        .current_dir(&source)
        // Only the plugin's own directory is bundled: nothing from the
        // caller's environment decides what goes in.
        .env_remove("VIRTUAL_ENV")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .arg("--quiet")
        .arg("--wit-path")
        .arg(root.join("wit"))
        .args(["--world", WORLD, "componentize", "--python-path"])
        .arg(&source)
        .arg(APP)
        .arg("--output")
        .arg(&tmp)
        .output()
        .map_err(|e| PythonBuildError::Unavailable(format!("{}: {e}", tool.display())))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(PythonBuildError::Failed {
            package: package.into(),
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    std::fs::write(&stamp, format!("{inputs}\n")).map_err(io(&stamp))?;
    Ok(dest)
}

/// The hash of what a Python plugin's component is built from: its Python
/// sources, the contract, and the lock that pins componentize-py.
fn inputs_hash(root: &Path, source: &Path) -> std::io::Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(source)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "py"));
    files.sort();
    files.push(root.join("wit/orderflow.wit"));
    files.push(root.join("deploy/requirements-componentize.lock"));
    let mut all = format!("world {WORLD}, app {APP}\n");
    for file in files {
        let name = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        all.push_str(&format!("{name} {}\n", sha256_hex(&std::fs::read(&file)?)));
    }
    Ok(sha256_hex(all.as_bytes()))
}

/// The componentize-py to build with: `ORDERFLOW_COMPONENTIZE_PY` if set,
/// otherwise the `componentize` virtualenv's, which `deploy/venvs.sh`
/// creates or refreshes first (at once when it is up to date; from the
/// hashed lock and PyPI when not).
fn componentize_py(root: &Path) -> Result<PathBuf, PythonBuildError> {
    if let Some(tool) = std::env::var_os("ORDERFLOW_COMPONENTIZE_PY") {
        return Ok(tool.into());
    }
    let venvs = std::env::var_os("ORDERFLOW_VENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("deploy/.venv"));
    let output = Command::new("bash")
        .arg(root.join("deploy/venvs.sh"))
        .arg("componentize")
        .output()
        .map_err(|e| PythonBuildError::Unavailable(format!("cannot run bash: {e}")))?;
    if !output.status.success() {
        return Err(PythonBuildError::Unavailable(format!(
            "deploy/venvs.sh componentize failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(venvs.join("componentize/bin/componentize-py"))
}
