//! Precompiled artifacts: a plugin's wasm compiled ahead of time by the
//! publisher, once per target the functions run on, so that a cold
//! function deserialises native code instead of compiling.
//!
//! An artifact is derived from the wasm: it decides nothing the wasm does
//! not, so it is not part of the manifest's [revision](crate::Manifest::revision)
//! (a re-publish with artifacts for a new engine names the same rule set).
//! It is native code that runs outside the sandbox, so a function loads one
//! only when its bytes match [`Artifact::sha256`], and only when
//! [`Artifact::engine`] is its own engine's key.

use crate::{PluginSpec, is_sha256_hex};
use serde::{Deserialize, Serialize};

/// One precompiled artifact of a plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// The target triple it was compiled for (`aarch64-unknown-linux-gnu`).
    pub target: String,
    /// The compatibility key of the engine that compiled it: only an
    /// engine with the same key (wasmtime version, target, CPU flags and
    /// every setting that changes the machine code) can load it.
    pub engine: String,
    /// Hex sha256 of the artifact's bytes.
    pub sha256: String,
    /// Where it is, relative to the manifest, like [`PluginSpec::wasm`].
    pub object: String,
}

impl PluginSpec {
    /// The artifact an engine with compatibility key `engine` can load.
    pub fn artifact(&self, engine: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.engine == engine)
    }
}

impl Artifact {
    /// The object name an artifact of `spec` gets: the plugin's (already
    /// content-addressed) wasm name, the target's architecture, and the
    /// first 8 hex of the artifact's own sha256, so an object under that
    /// name is never overwritten by other bytes.
    pub fn object_name(spec: &PluginSpec, target: &str, sha256: &str) -> String {
        let stem = spec.wasm.strip_suffix(".wasm").unwrap_or(&spec.wasm);
        let arch = target.split('-').next().unwrap_or(target);
        format!("{stem}.{arch}-{}.cwasm", &sha256[..8.min(sha256.len())])
    }

    /// Checks the form of one entry (what `Manifest::check` cannot see).
    pub(crate) fn check(&self) -> Result<(), String> {
        if !is_sha256_hex(&self.sha256) {
            return Err(format!(
                "artifact for {}: sha256 must be 64 hex digits, got {:?}",
                self.target, self.sha256
            ));
        }
        if self.target.is_empty() || self.engine.is_empty() {
            return Err("an artifact needs a target and an engine key".into());
        }
        if self.object.is_empty()
            || self.object.starts_with('/')
            || self.object.split('/').any(|s| s == "..")
        {
            return Err(format!(
                "artifact object {:?} must be a relative path without '..'",
                self.object
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Manifest;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn manifest(artifacts: &str) -> String {
        format!(
            r#"{{"rules": [{{"name": "threshold", "version": "1.0.0", "wasm": "threshold-aaaaaaaa.wasm",
                 "sha256": "{A}"{artifacts}}}]}}"#
        )
    }

    fn with_artifact(object: &str, sha256: &str) -> String {
        manifest(&format!(
            r#", "artifacts": [{{"target": "aarch64-unknown-linux-gnu", "engine": "k1",
                 "sha256": "{sha256}", "object": "{object}"}}]"#
        ))
    }

    #[test]
    fn artifacts_do_not_change_the_revision() {
        let plain = Manifest::parse(manifest("").as_bytes(), "m.json").unwrap();
        let object = "threshold-aaaaaaaa.aarch64-cccccccc.cwasm";
        let with = Manifest::parse(with_artifact(object, C).as_bytes(), "m.json").unwrap();
        assert_eq!(with.revision, plain.revision);
        let spec = &with.manifest.rules[0];
        assert_eq!(spec.artifact("k1").map(|a| a.object.as_str()), Some(object));
        assert_eq!(spec.artifact("k2"), None, "another engine finds none");
        assert!(
            !plain.manifest.to_json_pretty().contains("artifacts"),
            "none are not written out"
        );
        assert_eq!(
            Manifest::parse(with.manifest.to_json_pretty().as_bytes(), "m.json").unwrap(),
            with
        );
    }

    #[test]
    fn object_names_are_content_addressed_beside_the_wasm() {
        let m = Manifest::parse(manifest("").as_bytes(), "m.json").unwrap();
        assert_eq!(
            super::Artifact::object_name(&m.manifest.rules[0], "x86_64-unknown-linux-gnu", C),
            "threshold-aaaaaaaa.x86_64-cccccccc.cwasm"
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        let e = Manifest::parse(with_artifact("x.cwasm", "abc").as_bytes(), "m.json").unwrap_err();
        assert!(
            e.to_string().contains("sha256 must be 64 hex digits"),
            "{e}"
        );
        let e = Manifest::parse(with_artifact("../x.cwasm", C).as_bytes(), "m.json").unwrap_err();
        assert!(e.to_string().contains("must be a relative path"), "{e}");
    }
}
