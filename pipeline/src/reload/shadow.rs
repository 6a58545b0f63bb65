//! The candidate rule set a live manifest names as its shadow, as the
//! cache could load it.
//!
//! A candidate never stands in the way of the live set: it is loaded after
//! the live set, with the same checks (its manifest fetched from
//! `manifests/<hex>.json` beside the live one and checked to be the named
//! revision, every plugin checked against the hash it pins), and if it
//! cannot be loaded the live set serves alone and the failure is logged.

use super::status::RefreshError;
use orderflow_host::manifest::Shadow as Named;

/// A loaded candidate and its revision.
pub struct Candidate<T> {
    pub set: T,
    pub revision: String,
}

/// What the live manifest's `shadow` came to.
pub enum Shadow<T> {
    /// The live manifest names no candidate (or this kind has no shadow:
    /// transforms decide nothing to compare).
    Off,
    Ready(Candidate<T>),
    /// Named but not loaded; the live set serves alone.
    Failed {
        revision: String,
        error: RefreshError,
    },
}

impl<T> Shadow<T> {
    /// The revision the live manifest names, loaded or not.
    pub fn revision(&self) -> Option<&str> {
        match self {
            Shadow::Off => None,
            Shadow::Ready(c) => Some(&c.revision),
            Shadow::Failed { revision, .. } => Some(revision),
        }
    }

    pub fn candidate(&self) -> Option<&Candidate<T>> {
        match self {
            Shadow::Ready(c) => Some(c),
            _ => None,
        }
    }

    /// Whether this is what `wanted` comes to, so that loading it again
    /// cannot change anything: off when none is wanted, the very revision
    /// loaded, or failed for good.
    pub(super) fn settled(&self, wanted: Option<&Named>) -> bool {
        match (self, wanted) {
            (Shadow::Off, None) => true,
            (Shadow::Ready(c), Some(w)) => c.revision == w.revision,
            (Shadow::Failed { revision, error }, Some(w)) => {
                *revision == w.revision && error.permanent()
            }
            _ => false,
        }
    }

    /// A failure that may pass on the next check (a candidate still being
    /// uploaded): the cache then fetches the live manifest again.
    pub(super) fn retry(&self) -> bool {
        matches!(self, Shadow::Failed { error, .. } if !error.permanent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reload::RefreshErrorKind;

    fn named(revision: &str) -> Named {
        Named {
            revision: revision.into(),
        }
    }

    fn failed(kind: RefreshErrorKind) -> Shadow<()> {
        Shadow::Failed {
            revision: "sha256:b".into(),
            error: RefreshError {
                kind,
                message: "x".into(),
            },
        }
    }

    #[test]
    fn a_shadow_is_settled_only_when_loading_again_cannot_change_it() {
        let ready: Shadow<()> = Shadow::Ready(Candidate {
            set: (),
            revision: "sha256:b".into(),
        });
        assert!(Shadow::<()>::Off.settled(None));
        assert!(!Shadow::<()>::Off.settled(Some(&named("sha256:b"))));
        assert!(ready.settled(Some(&named("sha256:b"))));
        assert!(!ready.settled(Some(&named("sha256:c"))));
        assert!(!ready.settled(None), "a shadow turned off unloads it");
        let broken = failed(RefreshErrorKind::Load);
        assert!(broken.settled(Some(&named("sha256:b"))) && !broken.retry());
        let uploading = failed(RefreshErrorKind::Fetch);
        assert!(!uploading.settled(Some(&named("sha256:b"))) && uploading.retry());
        assert_eq!(uploading.revision(), Some("sha256:b"));
        assert!(uploading.candidate().is_none());
    }
}
