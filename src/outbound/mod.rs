//! The outbound HTTP clients of `serve`: the services it calls, as opposed to the
//! HTTP service it is ([`crate::server`]).
//!
//! - [`events`]: batches impression and conversion events and POSTs them to
//!   `client.eventURL`, off the request path.
//! - [`cmab`]: the CMAB prediction-service client and its decision cache.
//! - [`ups`]: the REST user profile service client.
//! - [`odp`]: the ODP segments (GraphQL) and events clients.
//!
//! Dependency rule: this layer uses only [`crate::config`] (settings) and
//! [`crate::util`]; it imports nothing from `server`, `cmd` or `cli`, so the server
//! hands it plain values and reads its counters.

pub mod cmab;
pub mod events;
pub mod odp;
pub mod ups;
