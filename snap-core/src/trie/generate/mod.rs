//! Trie-node generation from verified ranges, chunk by chunk.
