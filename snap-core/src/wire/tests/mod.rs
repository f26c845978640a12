//! Codec tests: property round trips against an independent RLP-tree oracle, hand-encoded
//! known answers, and malformed input.

mod hivechain;
mod known_answer;
mod malformed;
mod oracle;
mod roundtrip;
pub(crate) mod strategies;
