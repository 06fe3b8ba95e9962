//! Analysis layer: pure functions from the model to plain, serialisable data.
//! Nothing here prints or formats for a terminal.

pub mod inventory;
pub mod summary;
