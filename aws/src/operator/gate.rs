//! The two rule sets a rollout gate replays: what is live, and what is
//! about to be published, each loaded exactly as a function would load it.

use super::{OperatorError, PluginStore};
use orderflow_host::{Manifest, PluginSpec, RuleSet, Runtime};
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
        let mut bytes = HashMap::new();
        for spec in &manifest.manifest.rules {
            let key = self.location.key(&spec.wasm);
            let object = self
                .get(&key)
                .await?
                .ok_or_else(|| OperatorError::Corrupt {
                    key: uri.clone(),
                    message: format!("plugin {} is missing: no {key}", spec.name),
                })?;
            bytes.insert(spec.wasm.clone(), object.bytes);
        }
        let wasm = |spec: &PluginSpec| Ok(bytes.get(&spec.wasm).cloned().unwrap_or_default());
        Ok(Some(RuleSet::load(runtime, &manifest, &wasm)?))
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
