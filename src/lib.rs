//! egress-xray: explain the configuration Envoy proxies actually hold.
//!
//! Layers, in order: [`input`] (read, detect, decode) → [`model`] (typed
//! index) → [`analysis`] (pure functions returning plain data) → [`render`]
//! (table, JSON, YAML). The binary only wires them.

pub mod analysis;
pub mod cli;
pub mod findings;
pub mod input;
pub mod istio;
pub mod model;
pub mod render;
