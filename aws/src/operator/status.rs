//! What is live, whether it would load, and what went live before.

use super::history::Entry;
use super::{
    HISTORY_LIMIT, META_SHA256, OperatorError, PluginStatus, PluginStore, ShadowStatus, Status,
};
use orderflow_host::manifest::sha256_hex;
use orderflow_host::{LoadedManifest, Manifest, PluginSpec, RuleSet, Runtime, TransformChain};
use std::collections::HashMap;

impl PluginStore {
    /// What is live: the manifest's revision and plugins, when and how it
    /// became live, what a rollback would return to, and the recent
    /// history. Each plugin object is checked to be there with the hash the
    /// manifest pins; with `verify`, every plugin is also downloaded and the
    /// set loaded as a function would load it. Whatever would stop a
    /// function from activating the set is in [`Status::problems`].
    pub async fn status(&self, verify: Option<&Runtime>) -> Result<Status, OperatorError> {
        let uri = self.location.manifest_uri();
        let live = self
            .get(&self.location.manifest_key)
            .await?
            .ok_or(OperatorError::NoLiveManifest { uri: uri.clone() })?;
        let manifest = Manifest::parse(&live.bytes, &uri)?;
        let mut problems = Vec::new();
        let mut plugins = Vec::new();
        let mut bytes: HashMap<String, Vec<u8>> = HashMap::new();
        for (chain, spec) in manifest.manifest.plugins() {
            let key = self.location.key(&spec.wasm);
            let (present, size, sha256) = if verify.is_some() {
                match self.get(&key).await? {
                    Some(o) => {
                        let found = sha256_hex(&o.bytes);
                        let size = o.bytes.len() as u64;
                        bytes.insert(spec.wasm.clone(), o.bytes);
                        (true, Some(size), Some(found))
                    }
                    None => (false, None, None),
                }
            } else {
                match self.head(&key).await? {
                    Some((size, meta)) => (true, Some(size), meta.get(META_SHA256).cloned()),
                    None => (false, None, None),
                }
            };
            if !present {
                problems.push(format!("plugin {} is missing: no {key}", spec.name));
            } else if let Some(found) = sha256.filter(|found| *found != spec.sha256) {
                problems.push(format!(
                    "plugin {}: {key} has sha256 {found}, the manifest pins {}",
                    spec.name, spec.sha256
                ));
            }
            plugins.push(PluginStatus {
                kind: chain.kind(),
                name: spec.name.clone(),
                version: spec.version.clone(),
                sha256: spec.sha256.clone(),
                key,
                present,
                size,
            });
        }
        if let (Some(runtime), true) = (verify, problems.is_empty()) {
            let wasm = |spec: &PluginSpec| Ok(bytes.get(&spec.wasm).cloned().unwrap_or_default());
            if let Err(e) = RuleSet::load(runtime, &manifest, &wasm) {
                problems.push(e.to_string());
            } else if let Err(e) = TransformChain::load(runtime, &manifest, &wasm) {
                problems.push(e.to_string());
            }
        }
        let shadow = match &manifest.manifest.shadow {
            Some(s) => Some(self.shadow_status(&s.revision, verify).await),
            None => None,
        };
        // Read-only: a health check must work with read-only credentials.
        let entry = Entry::of_live(&live);
        let history = self.recent(entry.as_ref(), HISTORY_LIMIT).await?;
        let previous = match entry.as_ref().and_then(|e| e.undo) {
            Some(undo) => self.entry(undo).await?.map(|e| e.revision),
            None => None,
        };
        Ok(Status {
            bucket: self.location.bucket.clone(),
            manifest_key: self.location.manifest_key.clone(),
            revision: manifest.revision,
            sequence: entry.as_ref().map(|e| e.sequence),
            signed_by: crate::s3_source::signature_meta(Some(&live.metadata))
                .signature
                .and(live.metadata.get(crate::s3_source::META_KEY_ID).cloned()),
            etag: live.etag,
            version_id: live.version_id,
            last_modified: live.last_modified,
            published_at: entry.as_ref().map(|e| e.at.clone()),
            action: entry.as_ref().map(|e| e.action.as_str().to_string()),
            previous,
            plugins,
            history,
            problems,
            shadow,
            reported: super::Reported::unknown(
                "no decision log named: with DecisionLog=Enabled, name it to see what the producer last decided with",
            ),
        })
    }

    /// Whether the producer could load the candidate `revision`: kept here,
    /// every plugin there, and (with `verify`) its rules loading.
    async fn shadow_status(&self, revision: &str, verify: Option<&Runtime>) -> ShadowStatus {
        let check = async {
            self.revision_copy(revision).await?;
            if let Some(runtime) = verify {
                let (_, manifest) = self.kept(revision).await?;
                self.rules_of(&manifest, &self.copy_key(revision), runtime)
                    .await?;
            }
            Ok::<(), OperatorError>(())
        };
        ShadowStatus {
            revision: revision.to_string(),
            problems: check
                .await
                .err()
                .map(|e| e.to_string())
                .into_iter()
                .collect(),
        }
    }

    /// The manifest of a revision: `live`, or one published here (a full
    /// revision, its hex, or a unique prefix of 8+ hex digits).
    pub async fn manifest_at(&self, revision: &str) -> Result<LoadedManifest, OperatorError> {
        if revision == "live" {
            let uri = self.location.manifest_uri();
            let live = self
                .get(&self.location.manifest_key)
                .await?
                .ok_or(OperatorError::NoLiveManifest { uri: uri.clone() })?;
            return Ok(Manifest::parse(&live.bytes, &uri)?);
        }
        let revision = self.resolve(revision).await?;
        Ok(self.kept(&revision).await?.1)
    }
}
