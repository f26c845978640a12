//! The simulator's only source of randomness: the seeded SplitMix64 generator of `snap-gen`
//! (shared with the state generators, so a seed gives the same state everywhere).

/// A seeded SplitMix64 generator (see [`snap_gen::SeededRng`]).
pub use snap_gen::SeededRng as SimRng;
