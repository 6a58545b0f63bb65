//! The AWS pipeline end to end on a moto server, through the real handlers
//! and the real SDK clients: plugins published to S3, the producer handler
//! publishing to SNS, SNS delivering raw to SQS, an emulated event source
//! mapping invoking the consumer handler, items in DynamoDB.
//!
//! Each test starts its own moto server (about a second) and creates the
//! stack from template.yaml on it with `deploy/local_stack.py` (a few
//! seconds), under a stage name of its own.
//!
//! - `env`: one moto server and stack per test, the example plugins, helpers;
//! - `artifacts`: a cold function loads precompiled artifacts, or compiles when its engine changed;
//! - `snapshots`: a cold function starts from the published snapshots, or falls back and says why;
//! - `delivery`: orders through to the table, malformed messages to the DLQ;
//! - `http_api`: `POST /orders` as a signed request's event; an unsigned one refused;
//! - `hot_reload`: a running producer follows rule changes, survives bad ones;
//! - `calls`: AWS calls per order, counted by moto's recorder;
//! - `decision_log`: what the producer records with `DecisionLog=Enabled`;
//! - `faults`: publish and store failures injected at the client boundary;
//! - `sdk_faults`: faults below the real SDK clients (throttling, partial failures, S3, a dying consumer);
//! - `redrive`: a poison order listed in the DLQ, fixed, redriven, stored;
//! - `soak`: generated orders under random faults, counts that balance, `dlq list` and `redrive`;
//! - `shadow`: a shadow candidate's disagreements logged, the live decisions stored.

mod artifacts;
mod calls;
mod decision_log;
mod delivery;
mod env;
mod faults;
mod hot_reload;
mod http_api;
mod redrive;
mod sdk_faults;
mod shadow;
mod snapshots;
mod soak;
