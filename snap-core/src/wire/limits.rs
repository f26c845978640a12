//! Bounds the decoder enforces before it allocates for a peer's message.

/// The maximum size of a snap message, as geth enforces it (10 MiB).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// The maximum number of proof nodes in an `AccountRange` or `StorageRanges` (geth: 128).
pub const MAX_PROOF_NODES: usize = 128;

/// Decoding limits. Every check happens on RLP headers and item counts, before any allocation
/// sized by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, in bytes. Default: 10 MiB.
    pub max_message_bytes: usize,
    /// Most proof nodes accepted in one `AccountRange` or `StorageRanges`. Default: 128.
    pub max_proof_nodes: usize,
    /// Most items accepted in any single list of a message. Default: 10 Mi, the number of
    /// one-byte items (the smallest RLP item) that fit in a 10 MiB message, so the default never
    /// rejects a message the size limit accepts; lower it to bound item counts harder.
    ///
    /// Decoded memory is at most a small multiple of the message size either way: a list is
    /// reserved for no more items than its payload can hold at each item's minimal wire size,
    /// the worst case being one-byte items (empty codes, nodes or slot lists) that decode to
    /// 24-32 bytes each.
    pub max_list_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_proof_nodes: MAX_PROOF_NODES,
            max_list_items: MAX_MESSAGE_BYTES,
        }
    }
}
