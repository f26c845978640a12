//! Bounds the decoder enforces before it allocates for a peer's message.

/// The maximum size of a snap message, as geth enforces it (10 MiB).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// The maximum number of proof nodes in an `AccountRange` or `StorageRanges` (geth: 128).
pub const MAX_PROOF_NODES: usize = 128;

/// The default bound on list items in one message, over all its lists (512 Ki).
pub const MAX_MESSAGE_ITEMS: usize = 512 * 1024;

/// Decoding limits. Every check happens on RLP headers and item counts, before any allocation
/// sized by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, in bytes. Default: 10 MiB.
    pub max_message_bytes: usize,
    /// Most proof nodes accepted in one `AccountRange` or `StorageRanges`. Default: 128.
    pub max_proof_nodes: usize,
    /// Most items accepted in any single list of a message. Default: 512 Ki (as for the whole
    /// message). A list is also never reserved for more items than its payload can hold at
    /// each item's minimal wire size.
    pub max_list_items: usize,
    /// Most list items accepted in one message, over all its lists together. Default: 512 Ki,
    /// about twice the most accounts or slots a 10 MiB message can carry, so no honest message
    /// comes near it. This is what bounds decoded memory for messages of tiny items (empty
    /// codes, nodes, strings or lists decode to 24-32 bytes each): a 10 MiB message decodes to
    /// at most its own bytes plus about 16 MiB.
    pub max_message_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_proof_nodes: MAX_PROOF_NODES,
            max_list_items: MAX_MESSAGE_ITEMS,
            max_message_items: MAX_MESSAGE_ITEMS,
        }
    }
}
