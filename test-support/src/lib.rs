//! The one place for the fixtures of the crates above the host (pipeline,
//! orderflow-aws, the functions, the local stack, the CLI). Each fixture is
//! written once here instead of copied into each test file.
//!
//! - [`orders`]: the sample order (`samples/order.json`, which the host's
//!   own tests also read) and variations of it;
//! - [`manifests`]: plugin specs, the plugins built once per process, and
//!   manifests laid out in a directory as a function reads them;
//! - [`ports`]: in-memory and fault-injecting `Publisher`s and `ItemStore`s;
//! - [`events`]: Lambda events as the runtime delivers them;
//! - [`logs`]: log lines captured as JSON;
//! - [`dead_letters`] (feature `moto`): a queue and a DLQ holding both
//!   kinds of dead letter;
//! - [`faults`] (feature `moto`): seeded faults below the SDK clients
//!   (throttling, partial batch failures, 503s, slow or tampered objects);
//! - [`moto`] (feature `moto`): a local moto server and SDK configuration
//!   for it.

#[cfg(feature = "moto")]
pub mod dead_letters;
pub mod events;
#[cfg(feature = "moto")]
pub mod faults;
pub mod logs;
pub mod manifests;
#[cfg(feature = "moto")]
pub mod moto;
pub mod orders;
pub mod ports;
#[cfg(feature = "properties")]
pub mod properties;
