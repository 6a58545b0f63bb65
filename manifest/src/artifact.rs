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
//!
//! A snapshot artifact ([`Artifact::preinit`] set) is the plugin
//! pre-initialised at publish (its `configure` run with the manifest's
//! configuration, then snapshotted) and precompiled: a function whose
//! own pre-initialisation key is the same starts configured instances
//! from it without compiling anything.

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
    /// Set on a snapshot artifact: the pre-initialisation key (a sha256
    /// over the wasm's sha256, the world and the configuration) it was made
    /// for, so a function whose configuration differs does not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preinit: Option<String>,
}

impl PluginSpec {
    /// The plain artifact (the wasm compiled as it is) an engine with
    /// compatibility key `engine` can load.
    pub fn artifact(&self, engine: &str) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|a| a.engine == engine && a.preinit.is_none())
    }

    /// The snapshot artifact for `engine` made for pre-initialisation key
    /// `preinit`.
    pub fn snapshot(&self, engine: &str, preinit: &str) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|a| a.engine == engine && a.preinit.as_deref() == Some(preinit))
    }
}

impl Artifact {
    /// The object name an artifact of `spec` gets: the plugin's (already
    /// content-addressed) wasm name, the target's architecture, and the
    /// first 8 hex of the artifact's own sha256, so an object under that
    /// name is never overwritten by other bytes.
    /// A snapshot artifact's name has `-preinit` after the architecture.
    pub fn object_name(spec: &PluginSpec, target: &str, sha256: &str, snapshot: bool) -> String {
        let stem = spec.wasm.strip_suffix(".wasm").unwrap_or(&spec.wasm);
        let arch = target.split('-').next().unwrap_or(target);
        let kind = if snapshot { "-preinit" } else { "" };
        format!(
            "{stem}.{arch}{kind}-{}.cwasm",
            &sha256[..8.min(sha256.len())]
        )
    }

    /// Checks the form of one entry (what `Manifest::check` cannot see).
    pub(crate) fn check(&self) -> Result<(), String> {
        if !is_sha256_hex(&self.sha256) {
            return Err(format!(
                "artifact for {}: sha256 must be 64 hex digits, got {:?}",
                self.target, self.sha256
            ));
        }
        if let Some(key) = &self.preinit
            && !is_sha256_hex(key)
        {
            return Err(format!(
                "artifact for {}: preinit must be 64 hex digits, got {key:?}",
                self.target
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
            super::Artifact::object_name(
                &m.manifest.rules[0],
                "x86_64-unknown-linux-gnu",
                C,
                false
            ),
            "threshold-aaaaaaaa.x86_64-cccccccc.cwasm"
        );
        assert_eq!(
            super::Artifact::object_name(&m.manifest.rules[0], "x86_64-unknown-linux-gnu", C, true),
            "threshold-aaaaaaaa.x86_64-preinit-cccccccc.cwasm"
        );
    }

    #[test]
    fn a_snapshot_is_found_by_engine_and_key_and_never_taken_for_the_plain_one() {
        let entries = format!(
            r#", "artifacts": [
                {{"target": "t", "engine": "k1", "sha256": "{C}", "object": "plain.cwasm"}},
                {{"target": "t", "engine": "k1", "sha256": "{C}", "object": "snap.cwasm", "preinit": "{A}"}}]"#
        );
        let m = Manifest::parse(manifest(&entries).as_bytes(), "m.json").unwrap();
        let spec = &m.manifest.rules[0];
        let object = |a: Option<&super::Artifact>| a.map(|a| a.object.clone());
        assert_eq!(object(spec.artifact("k1")).as_deref(), Some("plain.cwasm"));
        assert_eq!(
            object(spec.snapshot("k1", A)).as_deref(),
            Some("snap.cwasm")
        );
        assert_eq!(spec.snapshot("k1", C), None, "another configuration's key");
        assert_eq!(spec.snapshot("k2", A), None, "another engine");
        let plain = Manifest::parse(manifest("").as_bytes(), "m.json").unwrap();
        assert_eq!(
            m.revision, plain.revision,
            "snapshots keep the revision too"
        );
        assert_eq!(
            Manifest::parse(m.manifest.to_json_pretty().as_bytes(), "m.json").unwrap(),
            m
        );
        let bad = entries.replace(&format!(r#""preinit": "{A}""#), r#""preinit": "x""#);
        let e = Manifest::parse(manifest(&bad).as_bytes(), "m.json").unwrap_err();
        assert!(
            e.to_string().contains("preinit must be 64 hex digits"),
            "{e}"
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
