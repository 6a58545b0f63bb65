//! `orderflow plugin new`: a standalone plugin crate, outside any
//! workspace, that builds for wasm32 and passes its own fixtures as made.
//! The SDK is vendored into it (see [`vendor`](super::vendor)).

use super::vendor::{self, CRATES};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NewKind {
    Rule,
    Transform,
}

const CARGO_TOML: &str = include_str!("../../templates/Cargo.toml.in");
const CARGO_CONFIG: &str = include_str!("../../templates/cargo-config.toml.in");
const GITIGNORE: &str = include_str!("../../templates/gitignore.in");
const README: &str = include_str!("../../templates/README.md.in");

/// (path in the crate, template) of each kind's own files.
const RULE: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../templates/rule/lib.rs.in")),
    (
        "fixtures/at-the-minimum.json",
        include_str!("../../templates/rule/fixtures/at-the-minimum.json"),
    ),
    (
        "fixtures/below-the-minimum.json",
        include_str!("../../templates/rule/fixtures/below-the-minimum.json"),
    ),
    (
        "fixtures/bad-configuration.json",
        include_str!("../../templates/rule/fixtures/bad-configuration.json"),
    ),
];
const TRANSFORM: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../templates/transform/lib.rs.in"),
    ),
    (
        "fixtures/large-order.json",
        include_str!("../../templates/transform/fixtures/large-order.json"),
    ),
    (
        "fixtures/missing-total.json",
        include_str!("../../templates/transform/fixtures/missing-total.json"),
    ),
];

/// Creates crate `name` in `<parent>/<name>` and returns its path.
pub fn new(name: &str, kind: NewKind, parent: &Path) -> Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} already exists: choose another name or --path",
            dir.display()
        );
    }
    let kind_name = match kind {
        NewKind::Rule => "rule",
        NewKind::Transform => "transform",
    };
    let profile = vendor::section_text("[profile.plugin]")
        .context("the workspace's Cargo.toml has no [profile.plugin]")?;
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{Type}}", &type_name(name))
            .replace("{{kind}}", kind_name)
            .replace("{{plugin_profile}}", profile.trim_end())
    };
    let mut files: Vec<(PathBuf, String)> = vec![
        ("Cargo.toml".into(), fill(CARGO_TOML)),
        (".cargo/config.toml".into(), CARGO_CONFIG.into()),
        (".gitignore".into(), GITIGNORE.into()),
        ("README.md".into(), fill(README)),
    ];
    let own = match kind {
        NewKind::Rule => RULE,
        NewKind::Transform => TRANSFORM,
    };
    files.extend(own.iter().map(|(path, t)| (PathBuf::from(path), fill(t))));
    for c in CRATES {
        let base = Path::new("vendor").join(c.dir);
        files.push((base.join("Cargo.toml"), c.manifest()));
        files.extend(
            c.files
                .iter()
                .map(|(p, text)| (base.join(p), text.to_string())),
        );
    }
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

/// A crate name cargo accepts that also makes a Rust type name.
fn check_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "plugin name {name:?}: use 1-64 lowercase letters, digits, '-' or '_', starting with a letter"
        );
    }
    Ok(())
}

/// `big-order` → `BigOrder`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_crate_and_type_names() {
        assert_eq!(type_name("big-order"), "BigOrder");
        assert_eq!(type_name("vip_2"), "Vip2");
        for bad in ["", "Big", "9lives", "a/b", "a b", "..", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("big-order_2").unwrap();
    }

    #[test]
    fn a_new_crate_has_its_files_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = new("big-order", NewKind::Rule, tmp.path()).unwrap();
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct BigOrder {") && lib.contains("export_rule!(BigOrder);"));
        let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(toml.contains("name = \"big-order\"") && toml.contains("inherits = \"release\""));
        assert!(!toml.contains("{{"), "{toml}");
        for f in [
            "vendor/orderflow-plugin-sdk/wit/orderflow.wit",
            "vendor/orderflow-order/src/lib.rs",
            "fixtures/at-the-minimum.json",
            "README.md",
            ".cargo/config.toml",
        ] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        let e = new("big-order", NewKind::Rule, tmp.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("already exists"), "{e}");
    }
}
