//! Shadowing: naming a published revision the producer evaluates beside the
//! live rules on live traffic, for comparison only.
//!
//! Starting or ending a shadow re-publishes the live manifest with only its
//! `shadow` field changed (so its revision, and every decision, stays), by
//! the same conditional PUT as a publish, and records it in the history as
//! its own entry. A publish or a rollback makes a kept rule set live, which
//! names no shadow: it ends the shadow too.

use super::history::Action;
use super::objects::Condition;
use super::{OperatorError, PluginStore, now};
use orderflow_host::Manifest;
use orderflow_host::manifest::Shadow;
use serde::Serialize;

/// What [`PluginStore::shadow`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowReport {
    /// The live revision, unchanged.
    pub live: String,
    /// The candidate named now, if any.
    pub shadow: Option<String>,
    /// The one named before.
    pub previous: Option<String>,
    /// False when it was so already (nothing written).
    pub changed: bool,
}

impl PluginStore {
    /// Makes the live manifest name `candidate` as its shadow, or none.
    /// `candidate` is a revision published here (a full revision, its hex,
    /// or a unique prefix of 8+ hex digits), checked to be kept with every
    /// plugin it names, and not the live revision itself.
    pub async fn shadow(&self, candidate: Option<&str>) -> Result<ShadowReport, OperatorError> {
        let uri = self.location.manifest_uri();
        let live = self
            .get(&self.location.manifest_key)
            .await?
            .ok_or(OperatorError::NoLiveManifest { uri: uri.clone() })?;
        let mut manifest = Manifest::parse(&live.bytes, &uri)?;
        let shadow = match candidate {
            None => None,
            Some(given) => {
                let revision = self.resolve(given).await?;
                if revision == manifest.revision {
                    return Err(OperatorError::ShadowIsLive { revision });
                }
                self.revision_copy(&revision).await?;
                Some(revision)
            }
        };
        let previous = manifest.manifest.shadow.take().map(|s| s.revision);
        let report = ShadowReport {
            live: manifest.revision.clone(),
            shadow: shadow.clone(),
            changed: previous != shadow,
            previous,
        };
        if !report.changed {
            return Ok(report);
        }
        manifest.manifest.shadow = shadow.clone().map(|revision| Shadow { revision });
        let current = self.live_entry(&live).await?;
        let action = match shadow {
            Some(_) => Action::Shadow,
            None => Action::ShadowOff,
        };
        let mut entry = Self::next_entry(
            current.as_ref(),
            &manifest.revision,
            action,
            now(),
            current.as_ref().and_then(|e| e.undo),
        );
        entry.shadow = shadow;
        let condition = match live.etag.as_deref() {
            Some(etag) => Condition::Matches(etag),
            None => Condition::Absent,
        };
        let json = manifest.manifest.to_json_pretty().into_bytes();
        self.put_live(json, &entry, condition).await?;
        tracing::info!(
            live = %report.live, shadow = ?report.shadow, previous = ?report.previous,
            sequence = entry.sequence, manifest = %uri, "shadow changed"
        );
        Ok(report)
    }
}
