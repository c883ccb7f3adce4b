//! The integration test binary: every test owns a real `redis-server` and runs
//! the built `agentctl` binary against it.

// Test code: a failed unwrap is a failed test, and names its location.
#![allow(clippy::unwrap_used)]

mod harness;

mod burst;
mod claim;
mod cli;
mod clients_resume;
mod faults;
mod generated;
mod groups;
mod inspect;
mod limits;
mod limits_holes;
mod limits_unknown_keys;
mod odp;
mod parity;
mod readme;
mod redis_tls;
mod serve_admin;
mod serve_auth;
mod serve_config;
mod serve_decide;
mod serve_errors;
mod serve_lifecycle;
mod serve_notifications;
mod serve_tracing;
mod serve_ups;
mod serve_webhook;
mod subscribe;
mod sync;
mod topologies;
mod trim;
mod ups;
