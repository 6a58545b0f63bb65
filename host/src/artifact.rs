//! Precompiled artifacts: the publisher compiles each plugin once per
//! target the functions run on ([`Precompiler`]), and a function whose
//! engine has the same compatibility key deserialises the artifact instead
//! of compiling (`Runtime::component`).
//!
//! A native engine's key includes the CPU flags it detected on its host,
//! so no two machines would agree on one: the functions' engine names its
//! target explicitly instead ([`Target::Portable`](crate::Target)), as the
//! publisher's do, and both generate the architecture's baseline code.
//!
//! An artifact is native code that runs outside the sandbox: it is loaded
//! only when its bytes match the sha256 the manifest pins for it. Any
//! reason it cannot be used is a [`Fallback`], and the plugin is compiled
//! from its wasm as before.

use crate::manifest::{PluginSpec, sha256_hex};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What the functions run on (template.yaml's `Architecture`: arm64 or
/// x86_64, both Linux).
pub const FUNCTION_TARGETS: [&str; 2] = ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"];

/// The function target of this machine's architecture, if it is one.
pub fn host_function_target() -> Option<&'static str> {
    let arch = std::env::consts::ARCH;
    FUNCTION_TARGETS
        .into_iter()
        .find(|t| cfg!(target_os = "linux") && t.split('-').next() == Some(arch))
}

/// An engine's compatibility key: the sha256 (32 hex digits of it) of
/// everything wasmtime checks before it deserialises an artifact (its
/// version, the target, the CPU flags, every setting that changes the
/// machine code).
pub fn engine_key(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One plugin compiled for one target.
#[derive(Clone, Debug)]
pub struct Precompiled {
    pub target: &'static str,
    /// [`engine_key`] of the engine that compiled it.
    pub engine: String,
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
    /// Set on a snapshot (see `snapshot`): the pre-initialisation key.
    pub preinit: Option<String>,
}

/// Compiles plugins for the functions' targets with the functions' engine
/// settings. Compiling is deterministic, so results are kept by the wasm's
/// sha256: a process that publishes the same plugin twice compiles it once.
pub struct Precompiler {
    pub(crate) engines: Vec<(&'static str, Engine, String)>,
    /// This machine's function engine, which runs `configure` for the
    /// snapshots (see `snapshot`).
    pub(crate) snapshots: Arc<crate::Runtime>,
    /// By the wasm's sha256, or a snapshot's pre-initialisation key.
    done: Mutex<HashMap<String, Vec<Precompiled>>>,
}

impl std::fmt::Debug for Precompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<&str> = self.engines.iter().map(|(t, _, _)| *t).collect();
        f.debug_struct("Precompiler")
            .field("targets", &targets)
            .finish()
    }
}

impl Precompiler {
    /// One engine per target of [`FUNCTION_TARGETS`]. Needs this crate's
    /// `cross-compile` feature for any target not of this machine's
    /// architecture (wasmtime has no backend for it otherwise).
    pub fn for_functions() -> Result<Precompiler, String> {
        let mut engines = Vec::new();
        for target in FUNCTION_TARGETS {
            let config = crate::runtime::engine_config(Some(target))?;
            let engine = Engine::new(&config).map_err(|e| {
                format!("no engine for {target} (built without `cross-compile`?): {e:#}")
            })?;
            let key = engine_key(&engine);
            engines.push((target, engine, key));
        }
        let snapshots = crate::Runtime::new(crate::RuntimeConfig {
            max_instances: 4,
            target: crate::Target::Portable,
            ..Default::default()
        })?;
        Ok(Precompiler {
            engines,
            snapshots,
            done: Mutex::new(HashMap::new()),
        })
    }

    /// What was built under `key` before.
    pub(crate) fn done(&self, key: &str) -> Option<Vec<Precompiled>> {
        self.done
            .lock()
            .expect("precompiled lock")
            .get(key)
            .cloned()
    }

    /// Keeps `built` under `key` and returns it.
    pub(crate) fn keep(&self, key: String, built: Vec<Precompiled>) -> Vec<Precompiled> {
        self.done
            .lock()
            .expect("precompiled lock")
            .insert(key, built.clone());
        built
    }

    /// `wasm` compiled for each target. `plugin` names it in errors.
    pub fn precompile(&self, plugin: &str, wasm: &[u8]) -> Result<Vec<Precompiled>, String> {
        let sha256 = sha256_hex(wasm);
        if let Some(done) = self.done(&sha256) {
            return Ok(done);
        }
        let mut out = Vec::with_capacity(self.engines.len());
        for (target, engine, key) in &self.engines {
            let bytes = engine
                .precompile_component(wasm)
                .map_err(|e| format!("plugin {plugin}: cannot compile for {target}: {e:#}"))?;
            out.push(Precompiled {
                target,
                engine: key.clone(),
                sha256: sha256_hex(&bytes),
                bytes: Arc::new(bytes),
                preinit: None,
            });
        }
        Ok(self.keep(sha256, out))
    }
}

/// Why a plugin whose manifest entry lists artifacts was compiled from its
/// wasm instead.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Fallback {
    /// None was built for this engine: another wasmtime version, target or
    /// setting (an engine upgrade), or a publisher that did not know it.
    #[error("no artifact for this engine (key {engine}; the manifest has {listed})")]
    NoneForEngine { engine: String, listed: String },
    /// Its object could not be fetched.
    #[error("the artifact could not be fetched: {0}")]
    Fetch(String),
    /// Its bytes are not those the manifest pins.
    #[error("the artifact's sha256 is {actual}, not the manifest's {expected}")]
    HashMismatch { expected: String, actual: String },
    /// wasmtime refused it.
    #[error("the artifact does not deserialise: {0}")]
    Refused(String),
    /// The runtime pre-initialises, and no snapshot artifact is for its
    /// engine and this configuration (`listed`: the keys there are): the
    /// plain artifact was taken and the snapshot made at load.
    #[error(
        "no snapshot artifact for this engine and configuration (preinit key {preinit}; the manifest has [{listed}])"
    )]
    NoSnapshot { preinit: String, listed: String },
}

impl Fallback {
    /// `no_artifact_for_engine`, `fetch` …: the reason's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Fallback::NoneForEngine { .. } => "no_artifact_for_engine",
            Fallback::Fetch(_) => "fetch",
            Fallback::HashMismatch { .. } => "hash_mismatch",
            Fallback::Refused(_) => "refused",
            Fallback::NoSnapshot { .. } => "no_snapshot",
        }
    }

    /// The reason when `spec` has no artifact for the engine `key`.
    pub fn none_for(spec: &PluginSpec, key: &str) -> Fallback {
        let listed: Vec<&str> = spec.artifacts.iter().map(|a| a.engine.as_str()).collect();
        Fallback::NoneForEngine {
            engine: key.into(),
            listed: listed.join(", "),
        }
    }
}

/// What a source offers of a plugin's artifact for this runtime's engine:
/// its bytes, or why there are none.
pub type Offer = Result<Vec<u8>, Fallback>;

/// Deserialises the artifact `spec` lists for `engine` (its key `key`),
/// once its bytes are checked against the manifest.
#[cfg(all(test, feature = "cross-compile"))]
fn load(
    engine: &Engine,
    key: &str,
    spec: &PluginSpec,
    offer: Offer,
) -> Result<Component, Fallback> {
    let artifact = spec
        .artifact(key)
        .ok_or_else(|| Fallback::none_for(spec, key))?;
    load_pinned(engine, artifact, offer)
}

/// Deserialises `artifact` from the bytes `offer`ed, once they are checked
/// against the sha256 the manifest pins for it.
pub(crate) fn load_pinned(
    engine: &Engine,
    artifact: &crate::manifest::Artifact,
    offer: Offer,
) -> Result<Component, Fallback> {
    let bytes = offer?;
    let actual = sha256_hex(&bytes);
    if actual != artifact.sha256 {
        return Err(Fallback::HashMismatch {
            expected: artifact.sha256.clone(),
            actual,
        });
    }
    // SAFETY: the bytes are those the manifest pins (checked just above),
    // and the manifest is as trusted as the wasm it pins: it names the
    // artifact the publisher compiled from that wasm with an engine of this
    // very key, and wasmtime checks the key's contents again itself.
    unsafe { Component::deserialize(engine, &bytes) }
        .map_err(|e| Fallback::Refused(format!("{e:#}")))
}

/// Needs both backends: `cargo test -p orderflow-host --features
/// cross-compile` (the workspace's tests have it, the CLI turns it on).
#[cfg(all(test, feature = "cross-compile"))]
mod tests {
    use super::*;
    use crate::manifest::Artifact;
    use crate::{Runtime, RuntimeConfig, Target};

    /// The smallest component: the component-model preamble and nothing else.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn host_engine(precompiler: &Precompiler) -> &(&'static str, Engine, String) {
        let target = host_function_target().expect("tests run on a function architecture");
        precompiler
            .engines
            .iter()
            .find(|(t, _, _)| *t == target)
            .unwrap()
    }

    fn spec_with(artifact: Option<Artifact>) -> PluginSpec {
        serde_json::from_value(serde_json::json!({
            "name": "p", "version": "1", "wasm": "p.wasm", "sha256": sha256_hex(EMPTY_COMPONENT),
            "artifacts": artifact.into_iter().collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn a_portable_runtime_has_the_publishers_key_and_a_native_one_does_not() {
        let precompiler = Precompiler::for_functions().unwrap();
        let (_, _, publisher) = host_engine(&precompiler);
        let portable = Runtime::new(RuntimeConfig {
            target: Target::Portable,
            max_instances: 2,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            portable.engine_key(),
            publisher,
            "pooling and caches do not change the key"
        );
        let native = Runtime::new(RuntimeConfig {
            max_instances: 2,
            ..Default::default()
        })
        .unwrap();
        assert_ne!(
            native.engine_key(),
            publisher,
            "a native engine names this CPU's flags"
        );
        let keys: Vec<&str> = precompiler
            .engines
            .iter()
            .map(|(_, _, k)| k.as_str())
            .collect();
        assert_ne!(keys[0], keys[1], "each target has a key of its own");
    }

    #[test]
    fn an_artifact_loads_only_with_its_pinned_bytes_and_for_its_engine() {
        let precompiler = Precompiler::for_functions().unwrap();
        let built = precompiler.precompile("p", EMPTY_COMPONENT).unwrap();
        assert_eq!(built.len(), FUNCTION_TARGETS.len());
        let again = precompiler.precompile("p", EMPTY_COMPONENT).unwrap();
        assert!(
            Arc::ptr_eq(&built[0].bytes, &again[0].bytes),
            "compiled once"
        );
        let (target, engine, key) = host_engine(&precompiler);
        let mine = built.iter().find(|b| b.target == *target).unwrap();
        assert_eq!(&mine.engine, key);
        let spec = spec_with(Some(Artifact {
            target: target.to_string(),
            engine: key.clone(),
            sha256: mine.sha256.clone(),
            object: "p.cwasm".into(),
            preinit: None,
        }));

        assert!(load(engine, key, &spec, Ok(mine.bytes.to_vec())).is_ok());
        let mut tampered = mine.bytes.to_vec();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            load(engine, key, &spec, Ok(tampered)),
            Err(Fallback::HashMismatch { .. })
        ));
        let other = built.iter().find(|b| b.target != *target).unwrap();
        let why = load(engine, &other.engine, &spec, Ok(other.bytes.to_vec())).unwrap_err();
        assert_eq!(why.kind(), "no_artifact_for_engine");
        assert!(why.to_string().contains(key.as_str()), "{why}");
        let why = load(engine, key, &spec, Err(Fallback::Fetch("gone".into()))).unwrap_err();
        assert_eq!(why, Fallback::Fetch("gone".into()));
    }

    #[test]
    fn an_artifact_of_another_engine_is_refused_by_wasmtime_too() {
        // Pinned, so only wasmtime's own check stands in the way: an
        // aarch64 artifact listed under this engine's key.
        let precompiler = Precompiler::for_functions().unwrap();
        let built = precompiler.precompile("p", EMPTY_COMPONENT).unwrap();
        let (target, engine, key) = host_engine(&precompiler);
        let foreign = built.iter().find(|b| b.target != *target).unwrap();
        let spec = spec_with(Some(Artifact {
            target: target.to_string(),
            engine: key.clone(),
            sha256: foreign.sha256.clone(),
            object: "p.cwasm".into(),
            preinit: None,
        }));
        let why = load(engine, key, &spec, Ok(foreign.bytes.to_vec())).unwrap_err();
        assert_eq!(why.kind(), "refused", "{why}");
    }
}
