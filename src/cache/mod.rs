//! The exact-match response cache.

pub mod key;
pub mod replay;
pub mod semantic;
