//! agentctl: run, test and operate the notification system of a feature-flag
//! decision service ("the Agent") across many instances.
//!
//! Layers, and the only direction in which they may depend on each other:
//!
//! - [`cli`] holds the clap types and nothing else (no I/O).
//! - [`config`] resolves [`config::Settings`]: defaults, then the YAML file, then
//!   `OPTIMIZELY_*` environment variables, then flags.
//! - [`store`] is the Redis side: connections, retry policy, version detection,
//!   typed stream/group/pending operations. It depends only on [`config`].
//! - [`notify`] is the notification model and the hub that fans notifications out to
//!   SSE subscribers (in memory, or through Redis).
//! - [`cmd`] holds one thin adapter per subcommand; it may use every layer above and
//!   is the only place that prints.
//!
//! `main.rs` parses the command line, initialises logging and maps errors to exit
//! codes.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod decide;
pub mod notify;
pub mod server;
pub mod store;
