//! The on-disk cache of compiled plugins, so a warm start deserializes an
//! artifact (well under a millisecond) instead of compiling (tens of ms).
//!
//! Entries are keyed by the wasm's sha256 and the engine's compatibility
//! hash (wasmtime version and every setting that changes the machine code),
//! so an artifact is only ever loaded by an engine that could have built it.
//! Each artifact's own sha256 is stored beside it and checked before the
//! artifact is deserialized, so a truncated or corrupted file is recompiled,
//! never loaded.
//!
//! The hash beside an artifact cannot tell a file from a forgery: whoever
//! can write one can write both, and a deserialized artifact is native code
//! that runs outside the sandbox. So the cache is trusted like the binary
//! itself: it is used only if it is a directory owned by this user that no
//! one else can write (created 0700), and so is every entry it loads.
//! Otherwise plugins are compiled, with a warning saying why.

use crate::error::LoadError;
use crate::manifest::sha256_hex;
use crate::runtime::LoadKind;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Whether the directory passed the ownership check, checked once.
    usable: std::sync::OnceLock<Result<(), String>>,
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
        ArtifactCache {
            dir,
            usable: std::sync::OnceLock::new(),
        }
    }

    /// Creates the directory if needed, and checks it is private to us.
    pub(crate) fn usable(&self) -> Result<(), &str> {
        self.usable
            .get_or_init(|| {
                let result = create_private(&self.dir).and_then(|()| private(&self.dir));
                if let Err(why) = &result {
                    tracing::warn!(path = %self.dir.display(), "compiled-plugin cache not used: {why}");
                }
                result
            })
            .as_ref()
            .map(|_| ())
            .map_err(String::as_str)
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
        if self.usable().is_err() {
            return Ok((compile()?, LoadKind::Compiled));
        }
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

#[cfg(unix)]
fn create_private(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create it: {e}"))
}

/// Owned by this process's user and writable by no one else.
#[cfg(unix)]
fn check_owner(meta: &std::fs::Metadata, path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "{} is owned by uid {}, not by this user ({me})",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {:o})",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// The cache directory itself (a symlink to a private directory is fine:
/// what matters is who can write the directory the entries live in).
#[cfg(unix)]
fn private(dir: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    check_owner(&meta, dir)
}

/// Reads an entry, checking the very file it reads: opened without
/// following a symlink, and its owner and mode taken from the open file, so
/// nothing can be swapped in between the check and the read.
#[cfg(unix)]
fn read_private(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    check_owner(&meta, path)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Writes a new file readable and writable by this user only, whatever the
/// umask, and moves it into place.
#[cfg(unix)]
fn write_private(tmp: &Path, bytes: &[u8], dest: &Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(tmp, dest)
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))
}

#[cfg(not(unix))]
fn private(_: &Path) -> Result<(), String> {
    Err("ownership cannot be checked on this platform".into())
}

#[cfg(not(unix))]
fn read_private(_: &Path) -> Result<Vec<u8>, String> {
    Err("ownership cannot be checked on this platform".into())
}

#[cfg(not(unix))]
fn write_private(tmp: &Path, bytes: &[u8], dest: &Path) -> std::io::Result<()> {
    std::fs::write(tmp, bytes)?;
    std::fs::rename(tmp, dest)
}

fn load(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    let read = |p: &Path| {
        read_private(p)
            .map_err(|why| {
                tracing::warn!("compiled-plugin cache entry refused: {why}; recompiling")
            })
            .ok()
    };
    let bytes = read(path)?;
    let expected = read(&sidecar(path))?;
    if sha256_hex(&bytes).as_bytes() != expected.trim_ascii() {
        tracing::warn!(path = %path.display(), "compiled-plugin cache entry does not match its hash; recompiling");
        return None;
    }
    // SAFETY: the bytes were written by `store` below from
    // `Component::serialize` of an engine with the same compatibility hash
    // (it is part of the file name): the directory and the very files read
    // are private to this user, and the sha256 was just verified.
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
    // Unique per write: two threads may compile the same plugin at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = || {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        dir.join(format!(".{}.{n}.tmp", std::process::id()))
    };
    write_private(&tmp(), sha256_hex(&bytes).as_bytes(), &sidecar(path))?;
    write_private(&tmp(), &bytes, path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_private_directory_is_used() {
        let root = tempfile::tempdir().unwrap();
        let fresh = ArtifactCache::new(root.path().join("a/b"));
        assert_eq!(fresh.usable(), Ok(()));
        let mode = std::fs::metadata(root.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "created private");

        // Entries are written 0600 whatever the umask.
        let path = root.path().join("a/b/x.cwasm");
        write_private(&root.path().join("a/b/.tmp"), b"bytes", &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_private(&path).unwrap(), b"bytes");
        // A symlink in place of an entry is not followed.
        let link = root.path().join("a/b/link.cwasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_private(&link).is_err());

        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = ArtifactCache::new(shared).usable().unwrap_err().to_string();
        assert!(
            why.contains("writable by group or others (mode 777)"),
            "{why}"
        );
    }
}
