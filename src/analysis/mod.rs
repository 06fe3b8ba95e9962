//! Analysis layer: pure functions from the model to plain, serialisable data.
//! Nothing here prints or formats for a terminal.

pub mod bootstrap;
pub mod cells;
pub mod diff;
pub mod endpoints;
pub mod explain;
pub mod export;
pub mod filter;
pub mod gateway_merge;
pub mod inventory;
pub mod isolation;
pub mod matching;
pub mod nack;
pub mod paths;
pub mod raw;
pub mod report;
pub mod routes;
pub mod secrets;
pub mod summary;
pub mod tls;
pub mod trace;
pub mod triage;
