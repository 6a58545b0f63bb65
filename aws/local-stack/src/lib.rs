//! The AWS pipeline on a local endpoint (a moto server): the resources of
//! template.yaml, created from the template itself by
//! `deploy/local_stack.py`, the real producer and consumer handlers with the
//! real SDK clients, and an emulated SQS event source mapping between them.
//!
//! Used by the `local-stack` command and by the end-to-end tests.
//!
//! - [`template`]: how the stack is created, and running `deploy/local_stack.py`;
//! - [`stack`]: the created resources, their clients and the functions on them;
//! - [`event_source`]: the emulated SQS event source mapping;
//! - [`plugins`]: the example plugins, built for publishing.

pub mod event_source;
pub mod plugins;
pub mod stack;
pub mod template;

pub use event_source::{Drain, EventSourceMapping, Poll};
pub use plugins::{build_plugins, example_manifest};
pub use stack::Stack;
pub use template::{StackSettings, TemplateOutputs, run_template_script, unique_stage};
