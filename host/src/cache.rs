//! The on-disk cache of compiled plugins, so a warm start deserializes an
//! artifact (well under a millisecond) instead of compiling (tens of ms).
//!
//! Entries are keyed by the wasm's sha256 and the engine's compatibility
//! hash (wasmtime version and every setting that changes the machine code),
//! so an artifact is only ever loaded by an engine that could have built it.
//! Each artifact's own sha256 is stored beside it and checked before the
//! artifact is deserialized: loading native code from a truncated or
//! tampered file is not an option.

use crate::error::LoadError;
use crate::manifest::sha256_hex;
use crate::sandbox::LoadKind;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into sha256, for a key that is stable across runs
/// (unlike `DefaultHasher`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

impl ArtifactCache {
    pub(crate) fn new(dir: PathBuf) -> ArtifactCache {
        ArtifactCache { dir }
    }

    fn path(&self, engine: &Engine, wasm_sha256: &str) -> PathBuf {
        let mut h = ShaHasher(Sha256::new());
        wasm_sha256.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        let key: String =
            h.0.finalize()
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
        self.dir.join(format!("{key}.cwasm"))
    }

    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
        compile: impl FnOnce() -> Result<Component, LoadError>,
    ) -> Result<(Component, LoadKind), LoadError> {
        let path = self.path(engine, wasm_sha256);
        if let Some(component) = load(engine, &path) {
            return Ok((component, LoadKind::FromDiskCache));
        }
        let component = compile()?;
        // A cache that cannot be written costs speed, not correctness.
        if let Err(e) = store(&component, &path) {
            tracing::warn!(path = %path.display(), error = %e, "could not write the compiled-plugin cache");
        }
        Ok((component, LoadKind::Compiled))
    }
}

fn sidecar(path: &Path) -> PathBuf {
    path.with_extension("cwasm.sha256")
}

fn load(engine: &Engine, path: &Path) -> Option<Component> {
    let bytes = std::fs::read(path).ok()?;
    let expected = std::fs::read_to_string(sidecar(path)).ok()?;
    if sha256_hex(&bytes) != expected.trim() {
        tracing::warn!(path = %path.display(), "compiled-plugin cache entry does not match its hash; recompiling");
        return None;
    }
    // SAFETY: the bytes were written by `store` below from
    // `Component::serialize` of an engine with the same compatibility hash
    // (it is part of the file name), and their sha256 was just verified.
    match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "compiled-plugin cache entry refused; recompiling");
            None
        }
    }
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = path.parent().expect("cache paths have a parent");
    std::fs::create_dir_all(dir)?;
    // Unique per write: two threads may compile the same plugin at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::write(sidecar(path), sha256_hex(&bytes))?;
    std::fs::rename(&tmp, path)
}
