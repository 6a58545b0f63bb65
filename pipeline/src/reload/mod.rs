//! Plugin sets hot-swapped while a process stays up.
//!
//! A [`PluginCache`] holds the current [`RuleSet`](orderflow_host::RuleSet)
//! (producer) or [`TransformChain`](orderflow_host::TransformChain)
//! (consumer) behind an atomically swapped `Arc`. At most every `refresh`
//! it asks its [`PluginSource`] for the manifest again, conditionally (on
//! the ETag it has), so an unchanged manifest costs one request and a 304.
//! A changed manifest is parsed, the wasm objects it names (those not
//! already held) are fetched and their sha256 checked, and the new set is
//! built and swapped in; in-flight events keep the set they started with.
//!
//! Whatever goes wrong with a new manifest, the last good set stays in
//! place and the failure is logged with the revision still serving (see
//! [`RefreshError`]).
//!
//! This knows no AWS: `orderflow-aws` adds the S3 source; [`DirSource`]
//! reads a directory.
//!
//! - [`source`]: the [`PluginSource`] trait and what it answers;
//! - [`dir`]: [`DirSource`], a manifest file and the plugins beside it;
//! - [`set`]: [`PluginSet`], what is loaded from a manifest (rules or transforms);
//! - [`status`]: why a refresh failed, what it did, counters;
//! - [`shadow`]: the candidate a live manifest names ([`Shadow`]), loaded
//!   beside the live rules and never in their way;
//! - [`signing`]: signed manifests ([`ManifestKey`]): with a key, an
//!   unsigned, tampered or replayed manifest never goes live;
//! - [`cache`]: [`PluginCache`], the refresh and swap.

pub mod cache;
pub mod dir;
pub mod set;
pub mod shadow;
pub mod signing;
pub mod source;
pub mod status;

pub use cache::{Loaded, PluginCache};
pub use dir::DirSource;
pub use set::PluginSet;
pub use shadow::{Candidate, Shadow};
pub use signing::{ManifestKey, ManifestSigner, SignatureError, SignatureMeta};
pub use source::{BoxFuture, ManifestFetch, ManifestObject, PluginSource, SourceError};
pub use status::{CacheStatus, RefreshError, RefreshErrorKind, Refreshed};
