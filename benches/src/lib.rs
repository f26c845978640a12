//! Shared fixtures for the criterion benches in `benches/benches/`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
