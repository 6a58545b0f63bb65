//! Rolling back: making an earlier published revision live again.

use super::objects::Condition;
use super::{
    META_ACTION, META_PREVIOUS, META_PUBLISHED_AT, META_REVISION, OperatorError, PluginStore,
    RollbackReport, hex, now,
};
use aws_sdk_s3::primitives::DateTime;
use orderflow_host::Manifest;

impl PluginStore {
    /// Makes an earlier revision live again: `to`, or the revision that was
    /// live before the current one was published. `to` may be a full
    /// revision (`sha256:…`), its hex, or a unique hex prefix of 8+ digits.
    pub async fn rollback(&self, to: Option<&str>) -> Result<RollbackReport, OperatorError> {
        let uri = self.location.manifest_uri();
        let live = self
            .get(&self.location.manifest_key)
            .await?
            .ok_or(OperatorError::NoLiveManifest { uri })?;
        // A live manifest that neither parses nor records its revision (a
        // broken hand upload) can still be rolled back from.
        let from = live
            .revision()
            .unwrap_or_else(|| "(a live manifest that does not parse)".into());
        let target = match to {
            Some(t) => self.resolve(t).await?,
            None => {
                // The copy holds the history; the live object's metadata is a fallback.
                let recorded = match self.head(&self.copy_key(&from)).await? {
                    Some((_, meta)) => meta.get(META_PREVIOUS).cloned(),
                    None => None,
                };
                recorded
                    .or_else(|| live.metadata.get(META_PREVIOUS).cloned())
                    .ok_or(OperatorError::NoPrevious {
                        revision: from.clone(),
                    })?
            }
        };
        let key = self.copy_key(&target);
        let copy = self
            .get(&key)
            .await?
            .ok_or_else(|| OperatorError::UnknownRevision {
                revision: target.clone(),
                key: key.clone(),
            })?;
        let manifest = Manifest::parse(&copy.bytes, &key)?;
        if manifest.revision != target {
            let actual = &manifest.revision;
            return Err(OperatorError::Corrupt {
                key,
                message: format!("its content is revision {actual}, not {target}"),
            });
        }
        // Never make live a manifest whose plugins are gone (a lifecycle rule, a manual delete).
        for (_, spec) in manifest.manifest.plugins() {
            let plugin_key = self.location.key(&spec.wasm);
            if self.head(&plugin_key).await?.is_none() {
                return Err(OperatorError::Corrupt {
                    key,
                    message: format!("plugin {} is missing: no {plugin_key}", spec.name),
                });
            }
        }
        if target == from {
            return Ok(RollbackReport {
                from,
                to: target,
                manifest_key: self.location.manifest_key.clone(),
            });
        }
        let at = now();
        let mut meta = vec![
            (META_REVISION, target.as_str()),
            (META_PUBLISHED_AT, at.as_str()),
            (META_ACTION, "rollback"),
        ];
        if let Some(p) = copy.metadata.get(META_PREVIOUS) {
            meta.push((META_PREVIOUS, p.as_str()));
        }
        let condition = live.etag.as_deref().map(Condition::Matches);
        self.put(
            &self.location.manifest_key,
            copy.bytes,
            "application/json",
            &meta,
            condition,
        )
        .await?;
        tracing::info!(from = %from, to = %target, manifest = %self.location.manifest_uri(), "manifest rolled back");
        Ok(RollbackReport {
            from,
            to: target,
            manifest_key: self.location.manifest_key.clone(),
        })
    }

    /// A revision as the operator typed it → the full `sha256:<hex>`.
    async fn resolve(&self, given: &str) -> Result<String, OperatorError> {
        let h = hex(given.trim()).to_ascii_lowercase();
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(format!("sha256:{h}"));
        }
        if h.len() < 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(OperatorError::UnknownRevision {
                revision: given.to_string(),
                key: "(give 8 or more hex digits)".into(),
            });
        }
        let matches: Vec<String> = self
            .revisions()
            .await?
            .into_iter()
            .map(|(rev, _)| rev)
            .filter(|r| hex(r).starts_with(&h))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(OperatorError::UnknownRevision {
                revision: given.to_string(),
                key: self.copy_key(&format!("{h}…")),
            }),
            _ => Err(OperatorError::UnknownRevision {
                revision: given.to_string(),
                key: format!("(ambiguous: {} revisions start with {h})", matches.len()),
            }),
        }
    }

    /// Every kept revision with its last-modified time, from `manifests/`.
    pub(super) async fn revisions(&self) -> Result<Vec<(String, Option<DateTime>)>, OperatorError> {
        let prefix = self.location.key("manifests/");
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.s3_error("ListObjectsV2", &prefix, &e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let Some(h) = key
                    .strip_prefix(&prefix)
                    .and_then(|k| k.strip_suffix(".json"))
                else {
                    continue;
                };
                if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    out.push((format!("sha256:{h}"), o.last_modified().cloned()));
                }
            }
        }
        Ok(out)
    }
}
