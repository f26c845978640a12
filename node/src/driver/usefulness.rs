//! Peers that speak snap but serve nothing: each peer's snap requests and the answers that
//! carried data, and the rule that sets a useless one aside (so its slot goes to a peer that
//! serves). A peer that answers anything of use is kept, however slowly it answers.

use std::time::{Duration, Instant};

use snap_core::wire::SnapMessage;

/// When a peer speaking snap is judged to serve nothing: not one answer carried data, and
/// either `asked` answers came back empty, or `asked` requests went out, the first at least
/// `after` ago (a peer that does not answer at all). It is then disconnected (`UselessPeer`)
/// and kept out for `set_aside_for`. Peers given with `--peer` are never judged. (The core
/// already stops asking a peer that answered empty for a while, so an honest peer that lacks
/// one state is asked again long before it could be judged by its empty answers.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UselessRule {
    /// Empty answers, or requests asked, before judging.
    pub asked: u32,
    /// Time since the first request before judging a peer by its requests alone.
    pub after: Duration,
    /// How long a useless peer is kept out.
    pub set_aside_for: Duration,
}

impl Default for UselessRule {
    /// 16 requests, a minute, kept out for ten minutes.
    fn default() -> Self {
        Self { asked: 16, after: Duration::from_secs(60), set_aside_for: Duration::from_secs(600) }
    }
}

/// One peer's snap record.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Usefulness {
    asked: u32,
    empty: u32,
    useful: u32,
    first_asked: Option<Instant>,
}

impl Usefulness {
    /// A snap request went to the peer at `now`.
    pub(super) fn asked(&mut self, now: Instant) {
        self.asked = self.asked.saturating_add(1);
        self.first_asked.get_or_insert(now);
    }

    /// The peer answered with `message`.
    pub(super) fn answered(&mut self, message: &SnapMessage) {
        if carries_data(message) {
            self.useful = self.useful.saturating_add(1);
        } else {
            self.empty = self.empty.saturating_add(1);
        }
    }

    /// Whether the peer is useless by `rule` at `now`.
    pub(super) fn is_useless(&self, rule: &UselessRule, now: Instant) -> bool {
        let silent = self.asked >= rule.asked
            && self
                .first_asked
                .is_some_and(|first| now.saturating_duration_since(first) >= rule.after);
        self.useful == 0 && (self.empty >= rule.asked || silent)
    }
}

/// Whether an answer holds anything: an empty reply is how a peer says it lacks the state.
/// A proof alone counts (it shows a range is empty).
fn carries_data(message: &SnapMessage) -> bool {
    match message {
        SnapMessage::AccountRange(reply) => !reply.accounts.is_empty() || !reply.proof.is_empty(),
        SnapMessage::StorageRanges(reply) => !reply.slots.is_empty() || !reply.proof.is_empty(),
        SnapMessage::ByteCodes(reply) => !reply.codes.is_empty(),
        SnapMessage::TrieNodes(reply) => !reply.nodes.is_empty(),
        SnapMessage::BlockAccessLists(reply) => reply.access_lists.iter().any(|l| !l.is_empty()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use snap_core::wire::{AccountRange, ByteCodes};

    use super::*;

    fn rule() -> UselessRule {
        UselessRule { asked: 3, after: Duration::from_secs(10), ..UselessRule::default() }
    }

    #[test]
    fn a_peer_is_useless_only_after_enough_requests_enough_time_and_no_data() {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let empty = SnapMessage::ByteCodes(ByteCodes { request_id: 1, codes: vec![] });
        // Silent: judged once enough were asked and enough time passed.
        let mut silent = Usefulness::default();
        for _ in 0..3 {
            silent.asked(start);
        }
        assert!(!silent.is_useless(&rule(), start + Duration::from_secs(9)), "too soon");
        assert!(silent.is_useless(&rule(), start + Duration::from_secs(10)));
        let mut fewer = Usefulness::default();
        fewer.asked(start);
        assert!(!fewer.is_useless(&rule(), start + Duration::from_secs(60)), "too few asked");
        // Answering empty: judged at the third empty answer, whenever it comes.
        let mut peer = Usefulness::default();
        for answered in 1..=3 {
            peer.asked(start);
            peer.answered(&empty);
            assert_eq!(peer.is_useless(&rule(), start), answered == 3);
        }
        // One answer with data keeps a peer for good.
        let proof_only = SnapMessage::AccountRange(AccountRange {
            request_id: 2,
            accounts: vec![],
            proof: vec![alloy_primitives::Bytes::from_static(&[0xc0])],
        });
        peer.answered(&proof_only);
        assert!(!peer.is_useless(&rule(), start + Duration::from_secs(600)));
    }
}
