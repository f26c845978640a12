//! Test support for the snap workspace: locating the shared test data, and (later) the
//! deterministic simulator.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod testdata;
