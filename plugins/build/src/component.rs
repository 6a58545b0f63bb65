//! Wrapping a plugin's core module into a component.

use crate::BuildError;
use std::path::Path;

/// Wraps a core module (with the component-type section wit-bindgen
/// embedded) into a component, writing it atomically so concurrent test
/// processes never read half a file.
pub(crate) fn componentize(package: &str, core: &Path, dest: &Path) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let package = package.to_string();
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            package,
            path,
            source,
        }
    };
    let module = std::fs::read(core).map_err(io(core))?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|e| e.encode())
        .map_err(|e| BuildError::Componentize {
            package: package.into(),
            message: format!("{e:#}"),
        })?;
    // Unique per call: tests build the same plugin from several threads.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dest.with_extension(format!("wasm.{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, &component).map_err(io(&tmp))?;
    std::fs::rename(&tmp, dest).map_err(io(dest))?;
    Ok(())
}
