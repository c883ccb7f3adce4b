//! The integration test binary: every test owns a real `redis-server` and runs
//! the built `agentctl` binary against it.

// Test code: a failed unwrap is a failed test, and names its location.
#![allow(clippy::unwrap_used)]

mod harness;

mod burst;
mod claim;
mod cli;
mod generated;
mod groups;
mod inspect;
mod serve;
mod subscribe;
mod sync;
mod trim;
