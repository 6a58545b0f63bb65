//! Snapshot artifacts: the pre-initialised plugin (see `preinit`) made at
//! publish and precompiled for each function target, so that a cold
//! function with `preinit` on starts configured instances without
//! compiling anything (three compiles per plugin otherwise: the plugin,
//! the instrumented plugin, the snapshot).
//!
//! A snapshot artifact is listed beside the plain ones with the
//! pre-initialisation key it was made for (`Artifact::preinit`): a sha256
//! over the wasm's sha256, the world and the configuration, computed by the
//! function itself. A function uses it only when that key and its engine's
//! key match, and only once its bytes match the manifest's sha256, as for
//! any artifact. Otherwise it takes the plain artifact (and snapshots at
//! load), and says why.

use crate::artifact::{Fallback, Offer, Precompiled, Precompiler};
use crate::bindings;
use crate::manifest::{Artifact, Chain, PluginSpec, sha256_hex};
use crate::runtime::{LoadKind, Obtained, Runtime};
use crate::sandbox::{Sandbox, World};
use std::sync::Arc;

/// The world a chain's plugins answer to.
fn world(chain: Chain) -> &'static str {
    match chain {
        Chain::Rules => <bindings::rule::RulePlugin as World>::NAME,
        Chain::Transforms => <bindings::transform::TransformPlugin as World>::NAME,
    }
}

/// The pre-initialisation key of a plugin of world `world`.
pub(crate) fn preinit_key(world: &str, spec: &PluginSpec) -> String {
    crate::preinit::key(&spec.sha256, world, &spec.config.to_string())
}

/// Which of `spec`'s artifacts an engine of key `engine` wants: with
/// `preinit` (the key of its own pre-initialisation, when that is on) the
/// snapshot made for it; else, or when there is none, the plain one, with
/// why no snapshot was taken. An error is why none at all can be.
pub(crate) fn wanted<'a>(
    spec: &'a PluginSpec,
    engine: &str,
    preinit: Option<&str>,
) -> Result<(&'a Artifact, Option<Fallback>), Fallback> {
    let Some(preinit) = preinit else {
        let plain = spec.artifact(engine);
        return plain
            .map(|a| (a, None))
            .ok_or_else(|| Fallback::none_for(spec, engine));
    };
    if let Some(snapshot) = spec.snapshot(engine, preinit) {
        return Ok((snapshot, None));
    }
    let plain = spec
        .artifact(engine)
        .ok_or_else(|| Fallback::none_for(spec, engine))?;
    let listed: Vec<&str> = spec
        .artifacts
        .iter()
        .filter(|a| a.engine == engine)
        .filter_map(|a| a.preinit.as_deref())
        .collect();
    Ok((
        plain,
        Some(Fallback::NoSnapshot {
            preinit: preinit.into(),
            listed: listed.join(", "),
        }),
    ))
}

impl Runtime {
    /// The artifact of `spec` (a plugin of `chain`) to fetch for this
    /// runtime: `None` when the manifest lists none or this process holds
    /// the component it would give, else the one it wants (its snapshot,
    /// when it pre-initialises and there is one for this configuration;
    /// else the plain one) or why there is none for its engine.
    pub fn wanted_artifact<'a>(
        &self,
        chain: Chain,
        spec: &'a PluginSpec,
    ) -> Option<Result<&'a Artifact, Fallback>> {
        if spec.artifacts.is_empty() {
            return None;
        }
        let preinit = self.preinit_for(world(chain), spec);
        if preinit.as_deref().is_some_and(|key| self.holds(key)) {
            return None;
        }
        let wanted = wanted(spec, self.engine_key(), preinit.as_deref()).map(|(a, _)| a);
        let snapshot = matches!(wanted, Ok(a) if a.preinit.is_some());
        (snapshot || !self.holds(&spec.sha256)).then_some(wanted)
    }

    /// The component of the artifact `offer`ed, the one [`wanted`] names:
    /// the snapshot for `preinit` (its key) when there is one, else the
    /// plain one, with why there was no snapshot.
    pub(crate) fn from_artifact(
        &self,
        spec: &PluginSpec,
        preinit: Option<&str>,
        offer: Offer,
    ) -> Result<Obtained, Fallback> {
        let (artifact, no_snapshot) = wanted(spec, self.engine_key(), preinit)?;
        let component = crate::artifact::load_pinned(&self.engine, artifact, offer)?;
        let snapshot = artifact.preinit.as_deref();
        self.remember(snapshot.unwrap_or(&spec.sha256), &component);
        Ok(Obtained {
            component,
            kind: match snapshot {
                Some(_) => LoadKind::Snapshot,
                None => LoadKind::Precompiled,
            },
            fallback: no_snapshot,
            preinitialized: snapshot.is_some(),
        })
    }

    /// The pre-initialisation key of `spec`, when this runtime snapshots.
    pub(crate) fn preinit_for(&self, world: &str, spec: &PluginSpec) -> Option<String> {
        self.config.preinit.then(|| preinit_key(world, spec))
    }
}

impl Precompiler {
    /// The plugin `spec` of `chain` (its bytes `wasm`) pre-initialised with
    /// the manifest's configuration under its limits, the snapshot
    /// precompiled for each target. The configured instance runs on this
    /// machine's function engine, from the plain artifact just built for it
    /// (so nothing here compiles the plugin itself twice). An error is why
    /// it cannot be snapshotted: the plugin is then published without one.
    pub fn precompile_snapshot(
        &self,
        chain: Chain,
        spec: &PluginSpec,
        wasm: &[u8],
    ) -> Result<Vec<Precompiled>, String> {
        match chain {
            Chain::Rules => self.snapshot_of::<bindings::rule::RulePlugin>(spec, wasm),
            Chain::Transforms => {
                self.snapshot_of::<bindings::transform::TransformPlugin>(spec, wasm)
            }
        }
    }

    fn snapshot_of<W: World>(
        &self,
        spec: &PluginSpec,
        wasm: &[u8],
    ) -> Result<Vec<Precompiled>, String> {
        let key = preinit_key(W::NAME, spec);
        if let Some(done) = self.done(&key) {
            return Ok(done);
        }
        let runtime = &self.snapshots;
        let mut with_plain = spec.clone();
        let plain = self.precompile(&spec.name, wasm)?;
        with_plain.artifacts = plain.iter().map(|p| p.listed(spec)).collect();
        let offer = with_plain
            .artifact(runtime.engine_key())
            .and_then(|a| plain.iter().find(|p| p.sha256 == a.sha256))
            .map(|p| Ok(p.bytes.to_vec()));
        let sandbox =
            Sandbox::<W>::load(runtime, &with_plain, wasm, offer).map_err(|e| e.to_string())?;
        let snapshot = sandbox.snapshot(runtime, wasm)?;
        let mut out = Vec::new();
        for (target, engine, engine_key) in &self.engines {
            let bytes = engine
                .precompile_component(&snapshot)
                .map_err(|e| format!("cannot compile the snapshot for {target}: {e:#}"))?;
            out.push(Precompiled {
                target,
                engine: engine_key.clone(),
                sha256: sha256_hex(&bytes),
                bytes: Arc::new(bytes),
                preinit: Some(key.clone()),
            });
        }
        Ok(self.keep(key, out))
    }
}

impl Precompiled {
    /// Its manifest entry for `spec`, named by [`Artifact::object_name`].
    pub fn listed(&self, spec: &PluginSpec) -> Artifact {
        Artifact {
            target: self.target.into(),
            engine: self.engine.clone(),
            sha256: self.sha256.clone(),
            object: Artifact::object_name(spec, self.target, &self.sha256, self.preinit.is_some()),
            preinit: self.preinit.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn spec(artifacts: serde_json::Value) -> PluginSpec {
        serde_json::from_value(serde_json::json!({
            "name": "p", "version": "1", "wasm": "p.wasm", "sha256": A, "artifacts": artifacts,
        }))
        .unwrap()
    }

    fn entry(engine: &str, object: &str, preinit: Option<&str>) -> serde_json::Value {
        serde_json::json!({"target": "t", "engine": engine, "sha256": C, "object": object,
                           "preinit": preinit})
    }

    #[test]
    fn the_snapshot_is_wanted_only_for_its_engine_and_configuration() {
        let s = spec(serde_json::json!([
            entry("k1", "plain", None),
            entry("k1", "snap", Some(A)),
            entry("k2", "plain2", None),
        ]));
        let object = |r: Result<(&Artifact, Option<Fallback>), Fallback>| {
            r.map(|(a, why)| (a.object.clone(), why.map(|w| w.kind())))
                .map_err(|w| w.kind())
        };
        assert_eq!(object(wanted(&s, "k1", Some(A))), Ok(("snap".into(), None)));
        assert_eq!(object(wanted(&s, "k1", None)), Ok(("plain".into(), None)));
        assert_eq!(
            object(wanted(&s, "k1", Some(C))),
            Ok(("plain".into(), Some("no_snapshot"))),
            "another configuration's key takes the plain one, saying why"
        );
        let Ok((_, Some(why))) = wanted(&s, "k1", Some(C)) else {
            unreachable!()
        };
        assert!(
            why.to_string().contains(A) && why.to_string().contains(C),
            "{why}"
        );
        assert_eq!(
            object(wanted(&s, "k2", Some(A))),
            Ok(("plain2".into(), Some("no_snapshot")))
        );
        assert_eq!(
            object(wanted(&s, "k3", Some(A))),
            Err("no_artifact_for_engine")
        );
        assert_eq!(
            object(wanted(&s, "k3", None)),
            Err("no_artifact_for_engine")
        );
    }

    #[test]
    fn the_key_is_the_world_s_and_the_configuration_s() {
        let mut s = spec(serde_json::json!([]));
        let rule = preinit_key(world(Chain::Rules), &s);
        assert_ne!(rule, preinit_key(world(Chain::Transforms), &s));
        s.config = serde_json::json!({"min": 1});
        assert_ne!(rule, preinit_key(world(Chain::Rules), &s));
    }
}
