//! [`BatchSize`]: the size of a batch that grows, counted as it grows instead of re-summed
//! after every input.

use super::contract::{WriteBatch, code_bytes, node_bytes, slot_bytes};

/// [`WriteBatch::estimated_bytes`] of a batch that grows between calls, summing only the
/// entries added since the last call rather than the whole batch every time. A batch only
/// shrinks by [`WriteBatch::prune`], which adds a pruned range: then, or when any list is
/// shorter than counted, it counts afresh. Reset it when the batch is replaced.
#[derive(Clone, Debug, Default)]
pub(crate) struct BatchSize {
    /// Entries counted so far: slots, codes, node writes.
    counted: [usize; 3],
    /// Their bytes.
    bytes: [usize; 3],
    /// Pruned ranges of the batch when last counted.
    pruned: usize,
}

impl BatchSize {
    /// `batch.estimated_bytes()`, the batch being the one counted before or a grown copy.
    pub(crate) fn estimated_bytes(&mut self, batch: &WriteBatch) -> usize {
        let lengths = [batch.storage.len(), batch.codes.len(), batch.nodes.writes.len()];
        if batch.pruned.len() != self.pruned
            || lengths.iter().zip(&self.counted).any(|(length, counted)| length < counted)
        {
            *self = Self { pruned: batch.pruned.len(), ..Self::default() };
        }
        self.bytes[0] += batch.storage[self.counted[0]..].iter().map(slot_bytes).sum::<usize>();
        self.bytes[1] += batch.codes[self.counted[1]..].iter().map(code_bytes).sum::<usize>();
        self.bytes[2] +=
            batch.nodes.writes[self.counted[2]..].iter().map(node_bytes).sum::<usize>();
        self.counted = lengths;
        batch.fixed_bytes() + self.bytes.iter().sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use alloy_primitives::{B256, Bytes};
    use alloy_trie::TrieAccount;
    use nybbles::Nibbles;

    use super::*;
    use crate::trie::{PrunedRange, generate::NodeKey};

    /// One change to a batch: grow one list, prune a subtree, or replace the batch.
    #[derive(Clone, Debug)]
    enum Step {
        Slot(u8, usize),
        Code(usize),
        Node(u8, usize),
        Account,
        Delete,
        Prune(u8),
        Replace,
        Count,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (any::<u8>(), 0..40usize).prop_map(|(a, len)| Step::Slot(a, len)),
            1 => (0..3000usize).prop_map(Step::Code),
            4 => (any::<u8>(), 0..600usize).prop_map(|(a, len)| Step::Node(a, len)),
            1 => Just(Step::Account),
            1 => Just(Step::Delete),
            1 => any::<u8>().prop_map(Step::Prune),
            1 => Just(Step::Replace),
            4 => Just(Step::Count),
        ]
    }

    proptest! {
        #[test]
        fn counted_size_equals_the_full_sum(steps in prop::collection::vec(step(), 0..200)) {
            let mut batch = WriteBatch::default();
            let mut size = BatchSize::default();
            let owner = |byte: u8| B256::repeat_byte(byte >> 4);
            for step in steps {
                match step {
                    Step::Slot(a, len) => batch.storage.push((owner(a), B256::repeat_byte(a), Bytes::from(vec![1; len]))),
                    Step::Code(len) => batch.codes.push((B256::ZERO, Bytes::from(vec![2; len]))),
                    Step::Node(a, len) => {
                        let key = NodeKey { owner: owner(a), path: Nibbles::from_nibbles([a & 0xf]) };
                        batch.nodes.writes.push((key, Bytes::from(vec![3; len])));
                    }
                    Step::Account => batch.accounts.push((B256::ZERO, TrieAccount::default())),
                    Step::Delete => batch.nodes.deletes.push(NodeKey { owner: B256::ZERO, path: Nibbles::new() }),
                    Step::Prune(a) => batch.prune(PrunedRange::subtree(owner(a), Nibbles::new())),
                    Step::Replace => {
                        batch = WriteBatch::default();
                        size = BatchSize::default();
                    }
                    Step::Count => {
                        prop_assert_eq!(size.estimated_bytes(&batch), batch.estimated_bytes());
                    }
                }
            }
            prop_assert_eq!(size.estimated_bytes(&batch), batch.estimated_bytes());
        }
    }
}
