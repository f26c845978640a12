//! Test support for the snap workspace: locating the shared test data, and the deterministic
//! simulator ([`sim`]), and the bodies of the fuzz targets ([`fuzzing`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod fuzzing;
pub mod sim;
pub mod testdata;
