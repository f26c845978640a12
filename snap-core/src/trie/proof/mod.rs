//! Merkle range-proof verification for snap account and storage ranges.
