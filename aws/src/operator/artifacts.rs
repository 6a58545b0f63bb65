//! Precompiled artifacts at publish: each plugin compiled for the
//! functions' targets ([`Precompiler`]), uploaded beside its wasm under a
//! content-addressed name, and listed in the plugin's manifest entry with
//! its target, sha256 and engine key; beside them, each plugin's snapshot
//! (pre-initialised with its configuration, then precompiled), listed with
//! its pre-initialisation key. Artifacts are derived from the wasm and the
//! configuration, so the manifest's revision stays (see
//! `orderflow_manifest::Artifact`).

use super::objects::{Condition, Object};
use super::{META_REVISION, META_SHA256, OperatorError, PluginStore};
use orderflow_host::manifest::{Chain, Locked};
use orderflow_host::{LoadedManifest, Manifest, Precompiler};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An artifact to upload: its key and bytes.
pub(super) struct Upload {
    key: String,
    sha256: String,
    bytes: Arc<Vec<u8>>,
}

impl PluginStore {
    /// Precompiles the locked manifest's plugins and lists the artifacts
    /// in its entries; returns the manifest so completed, its text, and
    /// what to upload. Without a precompiler, the manifest as it is.
    pub(super) fn precompile(
        &self,
        locked: &Locked,
        loaded: LoadedManifest,
        json: Vec<u8>,
    ) -> Result<(LoadedManifest, Vec<u8>, Vec<Upload>), OperatorError> {
        let Some(precompiler) = &self.precompiler else {
            return Ok((loaded, json, Vec::new()));
        };
        let mut manifest = loaded.manifest;
        let mut uploads: BTreeMap<String, Upload> = BTreeMap::new();
        for (chain, specs) in [
            (Chain::Rules, &mut manifest.rules),
            (Chain::Transforms, &mut manifest.transforms),
        ] {
            for spec in specs.iter_mut() {
                let wasm = locked.bytes(spec).unwrap_or_default();
                spec.artifacts.clear();
                let failed = |message| OperatorError::Precompile {
                    plugin: spec.name.clone(),
                    message,
                };
                let mut built = precompiler.precompile(&spec.name, wasm).map_err(failed)?;
                match precompiler.precompile_snapshot(chain, spec, wasm) {
                    Ok(snapshots) => built.extend(snapshots),
                    Err(why) => tracing::warn!(
                        plugin = %spec.name,
                        "published without a snapshot, so a function pre-initialises it at load: {why}"
                    ),
                }
                for built in built {
                    let artifact = built.listed(spec);
                    uploads.insert(
                        artifact.object.clone(),
                        Upload {
                            key: self.location.key(&artifact.object),
                            sha256: built.sha256,
                            bytes: built.bytes,
                        },
                    );
                    spec.artifacts.push(artifact);
                }
            }
        }
        let revision = loaded.revision;
        debug_assert_eq!(manifest.revision(), revision, "artifacts keep the revision");
        let json = manifest.to_json_pretty().into_bytes();
        Ok((
            LoadedManifest { manifest, revision },
            json,
            uploads.into_values().collect(),
        ))
    }

    /// Uploads each artifact not there yet, before the manifest that
    /// names it goes live; returns how many were uploaded.
    pub(super) async fn upload_artifacts(
        &self,
        uploads: &[Upload],
    ) -> Result<usize, OperatorError> {
        let mut uploaded = 0;
        for u in uploads {
            if self.missing(&u.key, &u.sha256).await? {
                self.put(
                    &u.key,
                    u.bytes.to_vec(),
                    "application/octet-stream",
                    &[(META_SHA256, &u.sha256)],
                    None,
                )
                .await?;
                uploaded += 1;
            }
        }
        Ok(uploaded)
    }

    /// The revision `live` holds is the one being published, but its
    /// plugins' artifacts may not be these (new targets, or an upgraded
    /// engine): then the live manifest and its copy are replaced to list
    /// them, under the history entry it has, since what decides is the
    /// same. Returns whether it replaced them.
    pub(super) async fn refresh_artifacts(
        &self,
        live: &Object,
        loaded: &LoadedManifest,
        json: &[u8],
        copy_key: &str,
    ) -> Result<bool, OperatorError> {
        let Ok(current) = Manifest::parse(&live.bytes, "(live)") else {
            return Ok(false);
        };
        if self.precompiler.is_none() || current.manifest == loaded.manifest {
            return Ok(false);
        }
        let (Some(entry), Some(etag)) = (self.live_entry(live).await?, live.etag.as_deref()) else {
            return Ok(false);
        };
        self.put(
            copy_key,
            json.to_vec(),
            "application/json",
            &[(META_REVISION, loaded.revision.as_str())],
            None,
        )
        .await?;
        self.put_live(json.to_vec(), &entry, Condition::Matches(etag))
            .await?;
        tracing::info!(revision = %loaded.revision, "the live revision now lists these precompiled artifacts");
        Ok(true)
    }

    /// Publishes with precompiled artifacts for the functions' engines.
    pub fn precompiling(mut self, precompiler: Arc<Precompiler>) -> PluginStore {
        self.precompiler = Some(precompiler);
        self
    }
}
