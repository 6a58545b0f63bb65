//! Locking: a source manifest plus its plugins' bytes become the locked
//! form a function loads (every sha256 filled in), written out next to the
//! plugins. The build tool, the operator's publish and the tests all lock
//! through here.

use crate::{LoadedManifest, Manifest, ManifestError, PluginSpec, sha256_hex};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin {plugin}: {path} has sha256 {actual}, but the source manifest pins {expected}")]
    HashMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// A locked manifest and the bytes of every plugin it pins.
#[derive(Clone, Debug)]
pub struct Locked {
    pub manifest: LoadedManifest,
    /// Each plugin's bytes, by sha256.
    pub wasm: BTreeMap<String, Vec<u8>>,
}

impl Manifest {
    /// Reads each plugin from `wasm_dir` (its `wasm` path taken relative to
    /// it), checks it against a sha256 the source pins, and fills in the
    /// sha256 of the others. `source_name` names the source in errors.
    pub fn lock(&self, source_name: &str, wasm_dir: &Path) -> Result<Locked, LockError> {
        self.check(source_name, false)?;
        let mut manifest = self.clone();
        // What is locked (and published, and kept by revision) is a rule
        // set; a shadow is set on the live manifest only, by the operator.
        manifest.shadow = None;
        let mut wasm = BTreeMap::new();
        for spec in manifest.plugins_mut() {
            let path = spec.wasm_path(wasm_dir);
            let bytes = std::fs::read(&path).map_err(|source| LockError::Read {
                plugin: spec.name.clone(),
                path: path.clone(),
                source,
            })?;
            let actual = sha256_hex(&bytes);
            if !spec.sha256.is_empty() && spec.sha256 != actual {
                return Err(LockError::HashMismatch {
                    plugin: spec.name.clone(),
                    path,
                    expected: spec.sha256.clone(),
                    actual,
                });
            }
            spec.sha256 = actual.clone();
            wasm.insert(actual, bytes);
        }
        manifest.check(source_name, true)?;
        Ok(Locked {
            manifest: manifest.loaded(),
            wasm,
        })
    }
}

impl Locked {
    /// Renames every plugin to `<stem>-<first 8 hex of its sha256>.wasm`,
    /// so an object under that name is never overwritten by other bytes.
    /// The revision stays: it does not depend on where the bytes are.
    pub fn content_addressed(mut self) -> Locked {
        for spec in self.manifest.manifest.plugins_mut() {
            spec.wasm = format!("{}-{}.wasm", object_stem(&spec.wasm), &spec.sha256[..8]);
        }
        self
    }

    /// The bytes of one plugin of this manifest.
    pub fn bytes(&self, spec: &PluginSpec) -> Option<&[u8]> {
        self.wasm.get(&spec.sha256).map(Vec::as_slice)
    }

    /// The locked manifest's text, as it is written and published.
    pub fn json(&self) -> String {
        self.manifest.manifest.to_json_pretty()
    }

    /// Writes `dir/manifest.json` and each plugin at its `wasm` path under
    /// `dir`, and returns the manifest's path. Files are replaced
    /// atomically (tests lay out manifests from several threads); a plugin
    /// already there with the same bytes is left alone.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, LockError> {
        for (_, spec) in self.manifest.manifest.plugins() {
            let path = spec.wasm_path(dir);
            let bytes = &self.wasm[&spec.sha256];
            if std::fs::read(&path).is_ok_and(|there| there == *bytes) {
                continue;
            }
            write_atomically(&path, bytes)?;
        }
        let path = dir.join("manifest.json");
        write_atomically(&path, self.json().as_bytes())?;
        Ok(path)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LockError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}.{n}.tmp", std::process::id()));
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LockError::Write { path, source }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write(parent))?;
    }
    std::fs::write(&tmp, bytes).map_err(write(&tmp))?;
    std::fs::rename(&tmp, path).map_err(write(path))
}

/// `threshold.wasm` → `threshold`; anything outside a safe alphabet becomes `_`.
fn object_stem(wasm: &str) -> String {
    let file = wasm.rsplit('/').next().unwrap_or(wasm);
    let stem = file.strip_suffix(".wasm").unwrap_or(file);
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"{
        "rules": [{"name": "threshold", "version": "1.0.0", "wasm": "threshold.wasm",
                   "config": {"minimum_minor": {"EUR": 1}}}],
        "transforms": [{"name": "normalize", "version": "1.0.0", "wasm": "sub/normalize.wasm"}]
    }"#;

    fn plugins() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("threshold.wasm"), b"rule bytes").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/normalize.wasm"), b"transform bytes").unwrap();
        dir
    }

    #[test]
    fn locking_fills_in_hashes_and_writes_a_manifest_that_parses() {
        let wasm = plugins();
        let source = Manifest::parse_source(SOURCE.as_bytes(), "src.json").unwrap();
        let locked = source.lock("src.json", wasm.path()).unwrap();
        let rule = &locked.manifest.manifest.rules[0];
        assert_eq!(rule.sha256, sha256_hex(b"rule bytes"));
        assert_eq!(locked.bytes(rule), Some(&b"rule bytes"[..]));

        let out = tempfile::tempdir().unwrap();
        let path = locked.write_to(out.path()).unwrap();
        assert_eq!(path, out.path().join("manifest.json"));
        let written = Manifest::parse(&std::fs::read(&path).unwrap(), "out").unwrap();
        assert_eq!(written, locked.manifest);
        assert_eq!(
            std::fs::read(out.path().join("sub/normalize.wasm")).unwrap(),
            b"transform bytes"
        );
        // Writing where the plugins already are leaves them in place.
        locked.write_to(wasm.path()).unwrap();
        assert_eq!(
            std::fs::read(wasm.path().join("threshold.wasm")).unwrap(),
            b"rule bytes"
        );
    }

    #[test]
    fn what_is_locked_is_a_rule_set_without_a_shadow() {
        let wasm = plugins();
        let mut source = Manifest::parse_source(SOURCE.as_bytes(), "src.json").unwrap();
        let plain = source.lock("src.json", wasm.path()).unwrap();
        source.shadow = Some(crate::Shadow {
            revision: format!("sha256:{}", "c".repeat(64)),
        });
        let locked = source.lock("src.json", wasm.path()).unwrap();
        assert_eq!(
            locked.manifest, plain.manifest,
            "a shadow is set on the live manifest only"
        );
        assert!(!locked.json().contains("shadow"));
    }

    #[test]
    fn a_pinned_hash_must_match_and_a_missing_plugin_is_named() {
        let wasm = plugins();
        let mut source = Manifest::parse_source(SOURCE.as_bytes(), "src.json").unwrap();
        source.rules[0].sha256 = sha256_hex(b"other bytes");
        let e = source.lock("src.json", wasm.path()).unwrap_err();
        assert!(
            e.to_string().starts_with("plugin threshold: ")
                && e.to_string().contains("but the source manifest pins"),
            "{e}"
        );
        source.rules[0].sha256.clear();
        source.rules[0].wasm = "gone.wasm".into();
        let e = source.lock("src.json", wasm.path()).unwrap_err();
        assert!(
            e.to_string().starts_with("plugin threshold: cannot read "),
            "{e}"
        );
    }

    #[test]
    fn content_addressed_names_keep_the_revision() {
        let wasm = plugins();
        let source = Manifest::parse_source(SOURCE.as_bytes(), "src.json").unwrap();
        let locked = source.lock("src.json", wasm.path()).unwrap();
        let addressed = locked.clone().content_addressed();
        let sha = sha256_hex(b"transform bytes");
        assert_eq!(
            addressed.manifest.manifest.transforms[0].wasm,
            format!("normalize-{}.wasm", &sha[..8])
        );
        assert_eq!(addressed.manifest.revision, locked.manifest.revision);
        assert_eq!(
            addressed.manifest.manifest.revision(),
            locked.manifest.revision
        );
    }

    #[test]
    fn object_stems_are_safe_file_names() {
        assert_eq!(object_stem("threshold.wasm"), "threshold");
        assert_eq!(object_stem("build/vip-customer.wasm"), "vip-customer");
        assert_eq!(object_stem("odd name.v2.wasm"), "odd_name_v2");
    }
}
