//! Which package a plugin directory holds, as cargo sees it: its name, the
//! workspace it builds in and that workspace's target directory. Asking
//! cargo (rather than reading Cargo.toml) gets workspaces, inherited keys
//! and `CARGO_TARGET_DIR` right for any crate, ours or an author's own.

use crate::{BuildError, cargo};
use std::path::{Path, PathBuf};

/// A plugin crate to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginCrate {
    /// The package name (`threshold`); the component is `<package>.wasm`.
    pub package: String,
    /// Where `cargo build` runs: the crate's workspace root.
    pub workspace_root: PathBuf,
    /// The workspace's target directory.
    pub target_dir: PathBuf,
}

#[derive(serde::Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(serde::Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(serde::Deserialize)]
struct Target {
    kind: Vec<String>,
}

impl PluginCrate {
    /// The plugin crate whose `Cargo.toml` is in `dir`. Refuses a
    /// directory without one, and a crate that cannot become a component
    /// (no `cdylib` library), naming the crate.
    pub fn at(dir: &Path) -> Result<PluginCrate, BuildError> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return Err(BuildError::NotACrate { dir: dir.into() });
        }
        let out = cargo()
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(&manifest)
            .output()
            .map_err(|source| BuildError::Spawn {
                packages: vec![dir.display().to_string()],
                source,
            })?;
        if !out.status.success() {
            return Err(BuildError::Metadata {
                dir: dir.into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let metadata: Metadata =
            serde_json::from_slice(&out.stdout).map_err(|e| BuildError::Metadata {
                dir: dir.into(),
                message: format!("unexpected `cargo metadata` output: {e}"),
            })?;
        let manifest = manifest.canonicalize().unwrap_or(manifest);
        let package = metadata
            .packages
            .into_iter()
            .find(|p| p.manifest_path == manifest)
            .ok_or_else(|| BuildError::Metadata {
                dir: dir.into(),
                message: "its Cargo.toml is a workspace without a package of its own".into(),
            })?;
        if !package
            .targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k == "cdylib"))
        {
            return Err(BuildError::NotAPlugin {
                package: package.name,
                message:
                    "its [lib] needs crate-type = [\"cdylib\"] (add \"rlib\" too for native tests)"
                        .into(),
            });
        }
        Ok(PluginCrate {
            package: package.name,
            workspace_root: metadata.workspace_root,
            target_dir: metadata.target_directory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_plugin_is_found_in_this_workspace() {
        let root = crate::workspace_root();
        let c = PluginCrate::at(&root.join("plugins/threshold")).unwrap();
        assert_eq!(c.package, "threshold");
        assert_eq!(c.workspace_root, root);
        assert_eq!(c.target_dir, crate::target_dir());
    }

    #[test]
    fn a_crate_that_is_no_plugin_is_named() {
        let root = crate::workspace_root();
        let e = PluginCrate::at(&root.join("manifest"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("plugin orderflow-manifest: its [lib] needs crate-type"),
            "{e}"
        );
        let e = PluginCrate::at(&root.join("plugins"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no Cargo.toml"), "{e}");
    }
}
