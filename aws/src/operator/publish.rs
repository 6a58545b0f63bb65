//! Publishing a source manifest: lock it, check it loads, upload the
//! plugins it lacks, then make it live.

use super::history::Action;
use super::objects::Condition;
use super::{
    DryRun, META_REVISION, META_SHA256, OperatorError, PluginObject, PluginStore, PublishReport,
    now,
};
use orderflow_host::manifest::diff::diff;
use orderflow_host::manifest::{Locked, sha256_hex};
use orderflow_host::{LoadedManifest, Manifest, PluginSpec, RuleSet, Runtime, TransformChain};
use std::collections::BTreeMap;
use std::path::Path;

impl PluginStore {
    /// Uploads the plugins `source` names (paths relative to `wasm_dir`)
    /// under content-addressed keys, fills in their sha256, and makes the
    /// resulting manifest live; when [`precompiling`](Self::precompiling),
    /// uploads each plugin's artifacts first and lists them in it. With `verify`, the new set is loaded first
    /// and nothing is uploaded if any plugin would not load.
    pub async fn publish(
        &self,
        source: &Manifest,
        wasm_dir: &Path,
        verify: Option<&Runtime>,
    ) -> Result<PublishReport, OperatorError> {
        let (locked, loaded, json) = self.prepare(source, wasm_dir, verify)?;
        let (loaded, json, artifacts) = self.precompile(&locked, loaded, json)?;
        // Plugins first: a manifest must never be live before its objects.
        let plugins = self.upload_plugins(&locked).await?;
        let artifacts_uploaded = self.upload_artifacts(&artifacts).await?;
        let (previous, copy_key, changed) = self.make_live(&loaded, json).await?;
        Ok(PublishReport {
            revision: loaded.revision,
            previous,
            changed,
            manifest_key: self.location.manifest_key.clone(),
            copy_key,
            plugins,
            artifacts_uploaded,
            manifest: loaded.manifest,
        })
    }

    /// What [`publish`](Self::publish) would do, with the same checks, and
    /// nothing written: the new revision, what changes from the live one,
    /// and which plugin objects would be uploaded.
    pub async fn dry_run(
        &self,
        source: &Manifest,
        wasm_dir: &Path,
        verify: Option<&Runtime>,
    ) -> Result<DryRun, OperatorError> {
        let (locked, loaded, _) = self.prepare(source, wasm_dir, verify)?;
        let live = match self.get(&self.location.manifest_key).await? {
            Some(o) => Some(Manifest::parse(&o.bytes, &self.location.manifest_uri())?),
            None => None,
        };
        let mut uploads = Vec::new();
        for (_, spec) in locked.manifest.manifest.plugins() {
            let key = self.location.key(&spec.wasm);
            if !uploads.contains(&key) && self.missing(&key, &spec.sha256).await? {
                uploads.push(key);
            }
        }
        let empty = Manifest::default();
        let before = live.as_ref().map_or(&empty, |l| &l.manifest);
        Ok(DryRun {
            changes: diff(before, &loaded.manifest),
            live: live.map(|l| l.revision),
            revision: loaded.revision,
            uploads,
        })
    }

    /// Locks `source` and checks it as the functions will read it, under
    /// the name they will use; with `verify`, loads every plugin too.
    pub(super) fn prepare(
        &self,
        source: &Manifest,
        wasm_dir: &Path,
        verify: Option<&Runtime>,
    ) -> Result<(Locked, LoadedManifest, Vec<u8>), OperatorError> {
        let locked = source
            .lock("the source manifest", wasm_dir)?
            .content_addressed();
        let json = locked.json().into_bytes();
        let loaded = Manifest::parse(&json, &self.location.manifest_uri())?;
        if let Some(runtime) = verify {
            let wasm = |spec: &PluginSpec| Ok(locked.bytes(spec).unwrap_or_default().to_vec());
            RuleSet::load(runtime, &loaded, &wasm)?;
            TransformChain::load(runtime, &loaded, &wasm)?;
        }
        Ok((locked, loaded, json))
    }

    /// Uploads each plugin whose object is not there yet; an object already
    /// under its key must hold these very bytes.
    async fn upload_plugins(&self, locked: &Locked) -> Result<Vec<PluginObject>, OperatorError> {
        let mut done: BTreeMap<String, bool> = BTreeMap::new();
        let mut plugins = Vec::new();
        for (chain, spec) in locked.manifest.manifest.plugins() {
            let bytes = locked.bytes(spec).unwrap_or_default();
            let key = self.location.key(&spec.wasm);
            let uploaded = match done.get(&key) {
                Some(&uploaded) => uploaded,
                None => {
                    let uploaded = self.missing(&key, &spec.sha256).await?;
                    if uploaded {
                        self.put(
                            &key,
                            bytes.to_vec(),
                            "application/wasm",
                            &[(META_SHA256, &spec.sha256)],
                            None,
                        )
                        .await?;
                    }
                    done.insert(key.clone(), uploaded);
                    uploaded
                }
            };
            plugins.push(PluginObject {
                kind: chain.kind(),
                name: spec.name.clone(),
                version: spec.version.clone(),
                key,
                sha256: spec.sha256.clone(),
                size: bytes.len() as u64,
                uploaded,
            });
        }
        Ok(plugins)
    }

    /// Whether the plugin `sha256` still has to be uploaded to `key`;
    /// refuses a key that holds other bytes.
    pub(super) async fn missing(&self, key: &str, sha256: &str) -> Result<bool, OperatorError> {
        let collision = |existing: String| OperatorError::Collision {
            key: key.to_string(),
            existing,
            wanted: sha256.to_string(),
        };
        let Some((_, meta)) = self.head(key).await? else {
            return Ok(true);
        };
        match meta.get(META_SHA256) {
            Some(existing) if existing == sha256 => Ok(false),
            Some(existing) => Err(collision(existing.clone())),
            // Not ours, or written without metadata: check the bytes.
            None => match self.get(key).await? {
                Some(o) if sha256_hex(&o.bytes) == sha256 => Ok(false),
                Some(o) => Err(collision(sha256_hex(&o.bytes))),
                None => Ok(true),
            },
        }
    }

    /// Keeps a copy of the manifest under its revision and replaces the
    /// live one, unless that revision is live already, then records the
    /// change in the history. Returns the previous revision, the copy's key
    /// and whether anything changed.
    async fn make_live(
        &self,
        loaded: &LoadedManifest,
        json: Vec<u8>,
    ) -> Result<(Option<String>, String, bool), OperatorError> {
        let live = self.get(&self.location.manifest_key).await?;
        let previous = live.as_ref().and_then(|o| o.revision());
        let copy_key = self.copy_key(&loaded.revision);
        if previous.as_deref() == Some(loaded.revision.as_str()) {
            let changed = match &live {
                Some(o) => self.refresh_artifacts(o, loaded, &json, &copy_key).await?,
                None => false,
            };
            if !changed {
                tracing::info!(revision = %loaded.revision, "this revision is already live; nothing to publish");
            }
            return Ok((previous, copy_key, changed));
        }
        let base = match &live {
            Some(o) => self.live_entry(o).await?,
            None => None,
        };
        let entry = Self::next_entry(
            base.as_ref(),
            &loaded.revision,
            Action::Publish,
            now(),
            base.as_ref().map(|e| e.sequence),
        );
        self.put(
            &copy_key,
            json.clone(),
            "application/json",
            &[(META_REVISION, loaded.revision.as_str())],
            None,
        )
        .await?;
        let condition = match live.as_ref().and_then(|o| o.etag.as_deref()) {
            Some(etag) => Condition::Matches(etag),
            None => Condition::Absent,
        };
        self.put_live(json, &entry, condition).await?;
        tracing::info!(revision = %loaded.revision, previous = ?previous, sequence = entry.sequence, manifest = %self.location.manifest_uri(), "manifest published");
        Ok((previous, copy_key, true))
    }
}
