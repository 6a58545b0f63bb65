//! The plugin manifest: which plugins make up the rule chain and the
//! transform chain, in order, with their hashes, configuration, limits and
//! error policy.
//!
//! The manifest is the unit an operator publishes and rolls back. Its
//! [revision](Manifest::revision) is stamped on every decision so a
//! decision always traces back to the exact plugins that made it.
//!
//! This crate has no wasm runtime on purpose (like extism's `manifest`
//! crate): the plugin builder, the operator and the tests parse, check,
//! hash and lock manifests without compiling the engine. Running the
//! plugins is `orderflow-host`'s job.
//!
//! - [`Manifest::parse`] reads a locked manifest (every hash present), the
//!   form a function loads; [`Manifest::parse_source`] one as an operator
//!   writes it, hashes optional.
//! - [`Manifest::lock`] fills in the hashes from the plugins' bytes, and
//!   [`Locked::write_to`] lays the locked manifest out with its plugins.
//! - [`diff::diff`] says what changes from one manifest to another.
//! - [`PluginSpec::wasm_path`] resolves a plugin relative to its manifest.

mod artifact;
pub mod diff;
pub mod limits;
mod lock;
mod revision;
mod wasi;

pub use artifact::Artifact;
pub use limits::{LimitOverrides, Limits};
pub use lock::{LockError, Locked};
pub use wasi::Wasi;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Evaluated in order for every order; see `RuleSet` for how verdicts combine.
    #[serde(default)]
    pub rules: Vec<PluginSpec>,
    /// Applied in order to every item before it is stored.
    #[serde(default)]
    pub transforms: Vec<PluginSpec>,
    /// A candidate rule set the producer also evaluates, for comparison
    /// only (see [`Shadow`]). Not part of the [revision](Manifest::revision):
    /// the live decision does not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,
}

/// A candidate rule set evaluated beside the live one on live traffic:
/// the producer decides every order with both, counts only the live
/// decision, and logs each order on which they disagree. Named by revision,
/// so the producer loads exactly the published set the operator chose
/// (`manifests/<hex>.json` beside the live manifest, checked to be that
/// revision, its plugins checked against their hashes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shadow {
    /// `sha256:<hex>`, a [`Manifest::revision`].
    pub revision: String,
}

impl Shadow {
    /// The candidate manifest's path relative to the live one.
    pub fn manifest_path(&self) -> String {
        let hex = self
            .revision
            .strip_prefix("sha256:")
            .unwrap_or(&self.revision);
        format!("manifests/{hex}.json")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    pub name: String,
    pub version: String,
    /// Where the component is, relative to the manifest (a path next to a
    /// manifest file, a key under the manifest's prefix in a bucket).
    pub wasm: String,
    /// Hex sha256 of the component. Checked before the bytes are compiled
    /// or loaded; a manifest without hashes is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// Handed to the plugin's `configure` as JSON, so one compiled plugin
    /// serves any threshold.
    #[serde(default = "empty_config")]
    pub config: serde_json::Value,
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    pub limits: LimitOverrides,
    #[serde(default)]
    pub on_error: OnError,
    /// WASI granted to the plugin; none unless its entry asks (see [`Wasi`]).
    #[serde(default, skip_serializing_if = "Wasi::is_none")]
    pub wasi: Wasi,
    /// The wasm precompiled for the functions' engines (see [`Artifact`]);
    /// not part of the revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

fn empty_config() -> serde_json::Value {
    serde_json::json!({})
}

impl PluginSpec {
    /// Where the plugin is, given the directory its manifest is in.
    pub fn wasm_path(&self, manifest_dir: &Path) -> PathBuf {
        manifest_dir.join(&self.wasm)
    }
}

/// Which chain of a manifest a plugin belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chain {
    Rules,
    Transforms,
}

impl Chain {
    /// `rule` or `transform`: what one plugin of the chain is.
    pub fn kind(self) -> &'static str {
        match self {
            Chain::Rules => "rule",
            Chain::Transforms => "transform",
        }
    }
}

/// What a plugin's failure (error, trap, limit) does to the order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Refuse the order, with the plugin's reason. The safe default: a rule
    /// that could not decide must not let an order through unexamined.
    #[default]
    Reject,
    /// Record the failure in the decision trace and go on without the plugin.
    Skip,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {source_name}: {path}: {message}")]
    Parse {
        source_name: String,
        path: String,
        message: String,
    },
    #[error("manifest {source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// A checked, locked manifest and its revision.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    /// [`Manifest::revision`]: `sha256:<hex>` of the content that decides.
    pub revision: String,
}

impl Manifest {
    /// Parses and checks a manifest; `source_name` (a path, an S3 key) goes
    /// into every error so an operator knows which file is wrong.
    pub fn parse(bytes: &[u8], source_name: &str) -> Result<LoadedManifest, ManifestError> {
        let manifest = Self::deserialize(bytes, source_name)?;
        manifest.check(source_name, true)?;
        Ok(manifest.loaded())
    }

    /// Parses and checks a source manifest, as an operator writes it: a
    /// `sha256` may be left out; [`Manifest::lock`] fills it in (and
    /// refuses bytes that differ from one that is given).
    pub fn parse_source(bytes: &[u8], source_name: &str) -> Result<Manifest, ManifestError> {
        let manifest = Self::deserialize(bytes, source_name)?;
        manifest.check(source_name, false)?;
        Ok(manifest)
    }

    /// This manifest with its revision, unchecked: for a manifest the
    /// caller has just locked or checked itself.
    pub fn loaded(self) -> LoadedManifest {
        LoadedManifest {
            revision: self.revision(),
            manifest: self,
        }
    }

    /// Every plugin of both chains, rules first, each with its chain's name.
    pub fn plugins(&self) -> impl Iterator<Item = (Chain, &PluginSpec)> {
        let rules = self.rules.iter().map(|p| (Chain::Rules, p));
        rules.chain(self.transforms.iter().map(|p| (Chain::Transforms, p)))
    }

    fn plugins_mut(&mut self) -> impl Iterator<Item = &mut PluginSpec> {
        self.rules.iter_mut().chain(self.transforms.iter_mut())
    }

    fn deserialize(bytes: &[u8], source_name: &str) -> Result<Manifest, ManifestError> {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ManifestError::Invalid {
                source_name: source_name.into(),
                message: "a manifest must be a JSON object with `rules` and `transforms`".into(),
            });
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let manifest: Manifest =
            serde_path_to_error::deserialize(de).map_err(|e| ManifestError::Parse {
                source_name: source_name.into(),
                path: e.path().to_string(),
                message: strip_position(&e.into_inner().to_string()),
            })?;
        Ok(manifest)
    }

    /// Checks names, versions and hashes. `require_hashes` is off only
    /// for a source manifest, whose hashes are still to be filled in (a
    /// pinned one is compared with the bytes when it is locked).
    pub fn check(&self, source_name: &str, require_hashes: bool) -> Result<(), ManifestError> {
        let bad = |message: String| ManifestError::Invalid {
            source_name: source_name.into(),
            message,
        };
        if let Some(shadow) = &self.shadow {
            let hex = shadow.revision.strip_prefix("sha256:").unwrap_or_default();
            if !is_sha256_hex(hex) {
                return Err(bad(format!(
                    "shadow.revision {:?} must be `sha256:` and 64 hex digits",
                    shadow.revision
                )));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (kind, specs) in [("rules", &self.rules), ("transforms", &self.transforms)] {
            for (i, p) in specs.iter().enumerate() {
                let at = format!("{kind}[{i}] ({})", p.name);
                if p.name.is_empty()
                    || !p
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(bad(format!(
                        "{kind}[{i}].name {:?}: use letters, digits, '-' or '_'",
                        p.name
                    )));
                }
                if !seen.insert(p.name.as_str()) {
                    return Err(bad(format!("{at}: the name is used twice")));
                }
                if p.version.is_empty() {
                    return Err(bad(format!("{at}: version is empty")));
                }
                if p.wasm.is_empty()
                    || p.wasm.starts_with('/')
                    || p.wasm.split('/').any(|s| s == "..")
                {
                    return Err(bad(format!(
                        "{at}: wasm {:?} must be a relative path without '..'",
                        p.wasm
                    )));
                }
                if require_hashes && !is_sha256_hex(&p.sha256) {
                    return Err(bad(format!(
                        "{at}: sha256 must be 64 hex digits, got {:?}",
                        p.sha256
                    )));
                }
                p.limits
                    .check()
                    .map_err(|m| bad(format!("{at}: limits: {m}")))?;
                for a in &p.artifacts {
                    a.check().map_err(|m| bad(format!("{at}: {m}")))?;
                }
            }
        }
        Ok(())
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serialises") + "\n"
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A serde_json message without its "at line 1 column 5": the callers name
/// the field (or the line) themselves.
pub fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests;
