//! The toolchain a plugin build needs: the wasm target's standard library.

use crate::{BuildError, TARGET, workspace_root};
use std::path::PathBuf;
use std::process::Command;

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
