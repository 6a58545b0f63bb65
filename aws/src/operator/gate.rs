//! Rule sets as the functions would load them, for the rollout gate's
//! replay (what is live, what is about to be published), for `replay
//! --bucket` (a revision published here) and for checking a shadow.

use super::{OperatorError, PluginStore};
use orderflow_host::{LoadedManifest, Manifest, PluginSpec, RuleSet, Runtime};
use std::collections::HashMap;
use std::path::Path;

impl PluginStore {
    /// The live rule set, its plugins downloaded and hash-checked; `None`
    /// when nothing is live yet.
    pub async fn live_rules(&self, runtime: &Runtime) -> Result<Option<RuleSet>, OperatorError> {
        let uri = self.location.manifest_uri();
        let Some(live) = self.get(&self.location.manifest_key).await? else {
            return Ok(None);
        };
        let manifest = Manifest::parse(&live.bytes, &uri)?;
        Ok(Some(self.rules_of(&manifest, &uri, runtime).await?))
    }

    /// The rule set of `revision` (`live`, or one published here: a full
    /// revision, its hex or a unique prefix of 8+ hex digits), its plugins
    /// downloaded and hash-checked.
    pub async fn rules_at(
        &self,
        revision: &str,
        runtime: &Runtime,
    ) -> Result<RuleSet, OperatorError> {
        let manifest = self.manifest_at(revision).await?;
        let name = format!("{} ({revision})", self.location.manifest_uri());
        self.rules_of(&manifest, &name, runtime).await
    }

    /// The rules of `manifest` (named `name` in errors), loaded from the
    /// bucket; the host checks each plugin against the hash it pins.
    pub(super) async fn rules_of(
        &self,
        manifest: &LoadedManifest,
        name: &str,
        runtime: &Runtime,
    ) -> Result<RuleSet, OperatorError> {
        let mut bytes = HashMap::new();
        for spec in &manifest.manifest.rules {
            let key = self.location.key(&spec.wasm);
            let object = self
                .get(&key)
                .await?
                .ok_or_else(|| OperatorError::Corrupt {
                    key: name.to_string(),
                    message: format!("plugin {} is missing: no {key}", spec.name),
                })?;
            bytes.insert(spec.wasm.clone(), object.bytes);
        }
        let wasm = |spec: &PluginSpec| Ok(bytes.get(&spec.wasm).cloned().unwrap_or_default());
        Ok(RuleSet::load(runtime, manifest, &wasm)?)
    }

    /// The rule set `source` would make live, locked as a publish locks it.
    pub fn candidate_rules(
        &self,
        source: &Manifest,
        wasm_dir: &Path,
        runtime: &Runtime,
    ) -> Result<RuleSet, OperatorError> {
        let (locked, loaded, _) = self.prepare(source, wasm_dir, None)?;
        let wasm = |spec: &PluginSpec| Ok(locked.bytes(spec).unwrap_or_default().to_vec());
        Ok(RuleSet::load(runtime, &loaded, &wasm)?)
    }
}
