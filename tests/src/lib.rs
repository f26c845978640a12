//! Test support for the snap workspace: locating the shared test data, and the deterministic
//! simulator ([`sim`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod sim;
pub mod testdata;
