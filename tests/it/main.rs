//! The integration tests, as one test binary: linking the Envoy API once
//! instead of once per file is most of a clean `cargo test`'s time.

mod archives;
mod common;

mod cli;
mod corpus;
mod descriptors;
mod determinism;
mod diff;
#[cfg(unix)]
mod envoy;
mod explain;
mod export;
mod hostile;
mod istiod_gateway;
mod nack;
mod paths;
#[cfg(unix)]
mod pty;
mod questions;
mod report;
mod robustness;
mod snapshots;
mod trace;
mod transcode;
