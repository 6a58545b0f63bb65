//! What is live, and what was before.

use super::{
    HISTORY_LIMIT, META_ACTION, META_PREVIOUS, META_PUBLISHED_AT, OperatorError, PluginStatus,
    PluginStore, RevisionRecord, Status,
};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use orderflow_host::Manifest;

impl PluginStore {
    /// What is live: the manifest's revision and plugins (each checked to
    /// be present), when and how it became live, and the recent history.
    pub async fn status(&self) -> Result<Status, OperatorError> {
        let uri = self.location.manifest_uri();
        let live = self
            .get(&self.location.manifest_key)
            .await?
            .ok_or(OperatorError::NoLiveManifest { uri: uri.clone() })?;
        let manifest = Manifest::parse(&live.bytes, &uri)?;
        let mut plugins = Vec::new();
        for (chain, spec) in manifest.manifest.plugins() {
            let key = self.location.key(&spec.wasm);
            let head = self.head(&key).await?;
            plugins.push(PluginStatus {
                kind: chain.kind(),
                name: spec.name.clone(),
                version: spec.version.clone(),
                sha256: spec.sha256.clone(),
                key,
                present: head.is_some(),
                size: head.map(|(size, _)| size),
            });
        }
        let mut revisions = self.revisions().await?;
        revisions.sort_by(|a, b| {
            b.1.as_ref()
                .map(DateTime::as_nanos)
                .cmp(&a.1.as_ref().map(DateTime::as_nanos))
        });
        let mut history = Vec::new();
        for (revision, last_modified) in revisions.into_iter().take(HISTORY_LIMIT) {
            let key = self.copy_key(&revision);
            let meta = self.head(&key).await?.map(|(_, m)| m).unwrap_or_default();
            history.push(RevisionRecord {
                revision,
                key,
                published_at: meta.get(META_PUBLISHED_AT).cloned(),
                previous: meta.get(META_PREVIOUS).cloned(),
                last_modified: last_modified.and_then(|d| d.fmt(DateTimeFormat::DateTime).ok()),
            });
        }
        Ok(Status {
            bucket: self.location.bucket.clone(),
            manifest_key: self.location.manifest_key.clone(),
            revision: manifest.revision,
            etag: live.etag,
            version_id: live.version_id,
            last_modified: live.last_modified,
            published_at: live.metadata.get(META_PUBLISHED_AT).cloned(),
            action: live.metadata.get(META_ACTION).cloned(),
            previous: live.metadata.get(META_PREVIOUS).cloned(),
            plugins,
            history,
        })
    }
}
