//! Rolling back: making an earlier published revision live again.

use super::history::{Action, Entry};
use super::objects::{Condition, Object};
use super::{OperatorError, PluginStore, RollbackReport, hex, now};
use aws_sdk_s3::primitives::DateTime;
use orderflow_host::{LoadedManifest, Manifest};

/// What a rollback would do: from the live manifest (its revision and
/// history entry) to `target`, whose entry will carry `undo`.
struct Plan {
    live: Object,
    from: String,
    current: Option<Entry>,
    target: String,
    undo: Option<u64>,
}

impl PluginStore {
    /// Makes an earlier revision live again: `to`, or what was live before
    /// the current revision went live (see [`super::history`]: repeated
    /// rollbacks walk back through the publishes). `to` may be a full
    /// revision (`sha256:…`), its hex, or a unique hex prefix of 8+ digits.
    pub async fn rollback(&self, to: Option<&str>) -> Result<RollbackReport, OperatorError> {
        let Plan {
            live,
            from,
            current,
            target,
            undo,
        } = self.plan_rollback(to).await?;
        let report = RollbackReport {
            from: from.clone(),
            to: target.clone(),
            manifest_key: self.location.manifest_key.clone(),
        };
        let copy = self.revision_copy(&target).await?;
        if target == from {
            return Ok(report);
        }
        let entry = Self::next_entry(current.as_ref(), &target, Action::Rollback, now(), undo);
        let condition = match live.etag.as_deref() {
            Some(etag) => Condition::Matches(etag),
            None => Condition::Absent,
        };
        self.put_live(copy, &entry, condition).await?;
        tracing::info!(from = %from, to = %target, sequence = entry.sequence, manifest = %self.location.manifest_uri(), "manifest rolled back");
        Ok(report)
    }

    /// The revision [`rollback`](Self::rollback) with `to` would make live,
    /// making nothing live: for a gate to replay it first.
    pub async fn rollback_target(&self, to: Option<&str>) -> Result<String, OperatorError> {
        Ok(self.plan_rollback(to).await?.target)
    }

    async fn plan_rollback(&self, to: Option<&str>) -> Result<Plan, OperatorError> {
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
        let current = self.live_entry(&live).await?;
        let (target, undo) = match to {
            Some(t) => (self.resolve(t).await?, current.as_ref().map(|e| e.sequence)),
            None => {
                let back =
                    current
                        .as_ref()
                        .and_then(|e| e.undo)
                        .ok_or(OperatorError::NoPrevious {
                            revision: from.clone(),
                        })?;
                let entry = self
                    .entry(back)
                    .await?
                    .ok_or_else(|| OperatorError::Corrupt {
                        key: self.location.key("history/"),
                        message: format!("entry {back}, which a rollback returns to, is missing"),
                    })?;
                (entry.revision, entry.undo)
            }
        };
        Ok(Plan {
            live,
            from,
            current,
            target,
            undo,
        })
    }

    /// The kept copy of a published revision, checked to be that revision,
    /// with its bytes (what goes live, byte for byte).
    pub(super) async fn kept(
        &self,
        revision: &str,
    ) -> Result<(Vec<u8>, LoadedManifest), OperatorError> {
        let key = self.copy_key(revision);
        let copy = self
            .get(&key)
            .await?
            .ok_or_else(|| OperatorError::UnknownRevision {
                revision: revision.to_string(),
                key: key.clone(),
            })?;
        let manifest = Manifest::parse(&copy.bytes, &key)?;
        if manifest.revision != revision {
            let actual = &manifest.revision;
            return Err(OperatorError::Corrupt {
                key,
                message: format!("its content is revision {actual}, not {revision}"),
            });
        }
        Ok((copy.bytes, manifest))
    }

    /// [`kept`](Self::kept), and every plugin it names still in the bucket:
    /// a lifecycle rule or a manual delete must not make a broken set live.
    pub(super) async fn revision_copy(&self, revision: &str) -> Result<Vec<u8>, OperatorError> {
        let (bytes, manifest) = self.kept(revision).await?;
        for (_, spec) in manifest.manifest.plugins() {
            let plugin_key = self.location.key(&spec.wasm);
            if self.head(&plugin_key).await?.is_none() {
                return Err(OperatorError::Corrupt {
                    key: self.copy_key(revision),
                    message: format!("plugin {} is missing: no {plugin_key}", spec.name),
                });
            }
        }
        Ok(bytes)
    }

    /// A revision as the operator typed it → the full `sha256:<hex>`.
    pub(super) async fn resolve(&self, given: &str) -> Result<String, OperatorError> {
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
