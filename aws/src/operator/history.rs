//! The history of what went live: an append-only journal, one object per
//! change (`plugins/history/<sequence>.json`), rollbacks included.
//!
//! Why a journal and not the manifest copies' timestamps: S3's
//! `LastModified` has one-second resolution, a rollback writes no copy, and
//! a re-published revision would rewrite its copy's idea of what came
//! before (so repeated rollbacks cycled between two revisions).
//!
//! The live manifest carries its entry's sequence number in its metadata.
//! Each change writes the live manifest with a conditional PUT on the ETag
//! it read, so sequence `n + 1` can only be taken by the one writer that
//! replaced the manifest of sequence `n`; the entry is then written with
//! `If-None-Match: *`. Should a command die between the two PUTs, the live
//! manifest's metadata still holds the whole entry, and the next change
//! writes it before its own.
//!
//! Each entry names the entry a rollback from it returns to (`undo`): a
//! publish returns to what was live before it; a rollback to what was live
//! before the entry it went back to. So `rollback`, `rollback`, … walks
//! back through the publishes, and ends with "nothing to roll back to". A
//! shadow entry (starting or ending one) leaves the live revision as it is,
//! so it keeps the `undo` of the entry before it.

use super::objects::{Condition, Object};
use super::{META_ACTION, META_PUBLISHED_AT, META_REVISION, OperatorError, PluginStore};
use serde::{Deserialize, Serialize};

pub const META_SEQUENCE: &str = crate::s3_source::META_SEQUENCE;
pub const META_UNDO: &str = "orderflow-undo";
pub const META_SHADOW: &str = "orderflow-shadow";

/// How a revision went live, or what changed about the live manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Publish,
    Rollback,
    /// The live revision stays; a shadow candidate was named ([`Entry::shadow`]).
    Shadow,
    /// The live revision stays; the shadow was ended.
    ShadowOff,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Rollback => "rollback",
            Action::Shadow => "shadow",
            Action::ShadowOff => "shadow_off",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        [
            Action::Publish,
            Action::Rollback,
            Action::Shadow,
            Action::ShadowOff,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One change of the live manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1 for the first revision that went live, then one more per change.
    pub sequence: u64,
    pub revision: String,
    pub action: Action,
    /// When it went live (RFC 3339, UTC).
    pub at: String,
    /// The sequence of the entry a rollback from this one returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<u64>,
    /// The shadow candidate the live manifest names from this entry on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

impl Entry {
    /// The live manifest's metadata for this entry.
    pub(super) fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut meta = vec![
            (META_REVISION, self.revision.clone()),
            (META_PUBLISHED_AT, self.at.clone()),
            (META_ACTION, self.action.as_str().to_string()),
            (META_SEQUENCE, self.sequence.to_string()),
        ];
        if let Some(undo) = self.undo {
            meta.push((META_UNDO, undo.to_string()));
        }
        if let Some(shadow) = &self.shadow {
            meta.push((META_SHADOW, shadow.clone()));
        }
        meta
    }

    /// The entry a live manifest's metadata records; `None` for a manifest
    /// written by hand or by an orderflow without the journal.
    pub(super) fn of_live(live: &Object) -> Option<Entry> {
        let m = &live.metadata;
        Some(Entry {
            sequence: m.get(META_SEQUENCE)?.parse().ok()?,
            revision: live.revision()?,
            action: Action::parse(m.get(META_ACTION)?)?,
            at: m.get(META_PUBLISHED_AT).cloned().unwrap_or_default(),
            undo: m.get(META_UNDO).and_then(|u| u.parse().ok()),
            shadow: m.get(META_SHADOW).cloned(),
        })
    }
}

impl PluginStore {
    fn entry_key(&self, sequence: u64) -> String {
        self.location.key(&format!("history/{sequence:012}.json"))
    }

    pub(super) async fn entry(&self, sequence: u64) -> Result<Option<Entry>, OperatorError> {
        let key = self.entry_key(sequence);
        match self.get(&key).await? {
            None => Ok(None),
            Some(o) => {
                serde_json::from_slice(&o.bytes)
                    .map(Some)
                    .map_err(|e| OperatorError::Corrupt {
                        key,
                        message: e.to_string(),
                    })
            }
        }
    }

    /// The entry of the live manifest, written to the journal if a command
    /// died before it could (see the module docs).
    pub(super) async fn live_entry(&self, live: &Object) -> Result<Option<Entry>, OperatorError> {
        let Some(entry) = Entry::of_live(live) else {
            return Ok(None);
        };
        if self.entry(entry.sequence).await?.is_none() {
            self.append(&entry).await?;
        }
        Ok(Some(entry))
    }

    /// The entry that comes after `live`: `undo` names where a rollback
    /// from it goes.
    pub(super) fn next_entry(
        live: Option<&Entry>,
        revision: &str,
        action: Action,
        at: String,
        undo: Option<u64>,
    ) -> Entry {
        Entry {
            sequence: live.map_or(1, |e| e.sequence + 1),
            revision: revision.to_string(),
            action,
            at,
            undo,
            shadow: None,
        }
    }

    /// Makes `json` the live manifest as `entry` (a conditional PUT on what
    /// the caller read), then appends the entry to the history.
    pub(super) async fn put_live(
        &self,
        json: Vec<u8>,
        entry: &Entry,
        condition: Condition<'_>,
    ) -> Result<(), OperatorError> {
        let mut meta = entry.metadata();
        // The signature covers the bytes and the sequence written with them.
        if let Some(signer) = &self.signer {
            let (signature, key_id) = signer.sign(entry.sequence, &json);
            meta.push((crate::s3_source::META_SIGNATURE, signature));
            meta.push((crate::s3_source::META_KEY_ID, key_id));
        }
        let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.put(
            &self.location.manifest_key,
            json,
            "application/json",
            &meta,
            Some(condition),
        )
        .await?;
        self.append(entry).await
    }

    async fn append(&self, entry: &Entry) -> Result<(), OperatorError> {
        let body = serde_json::to_vec_pretty(entry).expect("an entry serialises");
        match self
            .put(
                &self.entry_key(entry.sequence),
                body,
                "application/json",
                &[],
                Some(Condition::Absent),
            )
            .await
        {
            // Written already by the command that made it live (a backfill race).
            Err(OperatorError::Conflict { .. }) => Ok(()),
            other => other,
        }
    }

    /// The newest `limit` entries, newest first: the live one (from the
    /// live manifest's metadata, so reading never has to write it), then the
    /// journal's down from it.
    pub(super) async fn recent(
        &self,
        live: Option<&Entry>,
        limit: usize,
    ) -> Result<Vec<Entry>, OperatorError> {
        let mut out: Vec<Entry> = live.into_iter().cloned().collect();
        let mut sequence = live.map_or(0, |e| e.sequence.saturating_sub(1));
        while sequence > 0 && out.len() < limit {
            match self.entry(sequence).await? {
                Some(e) => out.push(e),
                None => break,
            }
            sequence -= 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_keys_sort_by_sequence() {
        let e = PluginStore::next_entry(None, "sha256:ab", Action::Publish, "t".into(), None);
        assert_eq!(e.sequence, 1);
        let next =
            PluginStore::next_entry(Some(&e), "sha256:cd", Action::Rollback, "t".into(), Some(1));
        assert_eq!((next.sequence, next.undo), (2, Some(1)));
        let json = serde_json::to_string(&next).unwrap();
        assert!(json.contains(r#""action":"rollback""#), "{json}");
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), next);
        assert!(format!("{:012}", 9) < format!("{:012}", 10));
        for action in [Action::Shadow, Action::ShadowOff] {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        let mut shadow = next.clone();
        shadow.shadow = Some("sha256:ef".into());
        assert!(
            shadow
                .metadata()
                .contains(&(META_SHADOW, "sha256:ef".into()))
        );
        assert!(!next.metadata().iter().any(|(k, _)| *k == META_SHADOW));
    }
}
