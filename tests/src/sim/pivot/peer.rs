//! The peers of the pivot simulation: honest ones (from the honest chain, some behind its
//! tip, some serving only their head state) and header liars of every kind the target logic
//! must shrug off.

use alloy_primitives::{B256, Bytes, keccak256};
use snap_core::{
    pivot::{HeaderRequest, HeaderStart},
    serve::{NoBals, ServeLimits, serve},
    sync::Header,
    wire::{AccountRange, GetAccountRange, SnapMessage},
};

use super::chain::{HonestChain, make_header};

/// How a simulated peer behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// Answers from the honest chain as it was `lag` blocks ago, and serves the states of the
    /// last `retain` blocks it sees (1: only its head, as `snap serve` does).
    Honest {
        /// Blocks behind the tip.
        lag: u64,
        /// States kept.
        retain: u64,
    },
    /// Announces a made-up head `bump` blocks above the tip and answers every request by
    /// number with made-up headers, linked among themselves, with arbitrary state roots.
    FakeChain {
        /// How far above the real tip its head claims to be.
        bump: u64,
    },
    /// Answers header requests with headers that do not answer them (wrong first block or
    /// broken links): provable, must be penalized.
    Malformed,
    /// Honest headers, but answers probes with a proof that does not verify: must be penalized.
    BadProof,
    /// Never answers.
    Silent,
    /// Answers honestly, but only after the request timed out.
    Late,
    /// Answers everything empty.
    Empty,
}

impl PeerKind {
    /// Whether the target logic may penalize this peer.
    pub const fn may_be_penalized(&self) -> bool {
        matches!(self, Self::Malformed | Self::BadProof)
    }

    /// Whether it answers from the honest chain and stays connected (and so can be counted on
    /// for a quorum). A `BadProof` peer sends honest headers too, but is penalized, and so
    /// dropped, at its first probe.
    pub const fn is_honest_source(&self) -> bool {
        matches!(self, Self::Honest { .. })
    }
}

/// A simulated peer.
#[derive(Clone, Debug)]
pub struct SimPeer {
    /// Its behaviour.
    pub kind: PeerKind,
    /// A salt for what it makes up.
    pub salt: u64,
}

impl SimPeer {
    const fn lag(&self) -> u64 {
        match self.kind {
            PeerKind::Honest { lag, .. } => lag,
            _ => 0,
        }
    }

    /// The head it announces in its Status.
    pub fn announced_head(&self, chain: &HonestChain) -> B256 {
        match self.kind {
            PeerKind::FakeChain { bump } => self.fake(chain.tip().number + bump, 1)[0].hash,
            _ => chain.head(self.lag()).hash,
        }
    }

    /// `count` made-up headers from `number` up, linked among themselves.
    fn fake(&self, number: u64, count: u64) -> Vec<Header> {
        let mut parent = keccak256([&number.to_be_bytes()[..], &self.salt.to_be_bytes()].concat());
        (number..number.saturating_add(count))
            .map(|n| {
                let root = keccak256([&n.to_be_bytes()[..], b"made-up root"].concat());
                let header = make_header(n, parent, root, self.salt);
                parent = header.hash;
                header
            })
            .collect()
    }

    /// Its reply to a header request (`None`: no reply).
    pub fn headers(&self, chain: &HonestChain, request: &HeaderRequest) -> Option<Vec<Header>> {
        let limit = request.limit.min(1024);
        Some(match self.kind {
            PeerKind::Silent => return None,
            PeerKind::Empty => Vec::new(),
            PeerKind::Honest { .. } | PeerKind::BadProof | PeerKind::Late => {
                honest_headers(chain, self.lag(), request, limit)
            }
            PeerKind::FakeChain { bump } => match request.start {
                HeaderStart::Number(number) => self.fake(number, limit),
                HeaderStart::Hash(hash) => {
                    let head = self.fake(chain.tip().number + bump, 1);
                    if head[0].hash == hash { head } else { Vec::new() }
                }
            },
            PeerKind::Malformed => {
                // Real headers (hashed as a host hashes them) that do not answer the request:
                // another block first, or blocks out of order.
                let mut headers = honest_headers(chain, 0, request, limit);
                if headers.len() > 1 {
                    headers.swap(0, 1);
                    headers
                } else {
                    let first = headers.first().map_or(chain.tip().number, |h| h.number);
                    self.fake(first + 1, 1)
                }
            }
        })
    }

    /// Its reply to a probe (`None`: no reply).
    pub fn probe(&self, chain: &HonestChain, request: &GetAccountRange) -> Option<AccountRange> {
        let empty =
            AccountRange { request_id: request.request_id, accounts: vec![], proof: vec![] };
        match self.kind {
            PeerKind::Silent => None,
            PeerKind::Empty | PeerKind::FakeChain { .. } | PeerKind::Malformed => Some(empty),
            PeerKind::Honest { retain, .. } => {
                let head = chain.head(self.lag()).number;
                let kept = (head.saturating_sub(retain.max(1) - 1)..=head)
                    .filter_map(|n| chain.at(n, self.lag()))
                    .any(|h| h.state_root == request.root);
                Some(if kept { serve_probe(chain, request) } else { empty })
            }
            PeerKind::Late => Some(serve_probe(chain, request)),
            PeerKind::BadProof => {
                let mut reply = serve_probe(chain, request);
                if reply.proof.is_empty() && reply.accounts.is_empty() {
                    return Some(reply);
                }
                reply.proof = vec![Bytes::from_static(&[0xc0])];
                if let Some(first) = reply.accounts.first_mut() {
                    first.account.nonce += 1;
                }
                Some(reply)
            }
        }
    }
}

fn serve_probe(chain: &HonestChain, request: &GetAccountRange) -> AccountRange {
    let empty = AccountRange { request_id: request.request_id, accounts: vec![], proof: vec![] };
    let Some(state) = chain.states.get(&request.root) else { return empty };
    match serve(
        &SnapMessage::GetAccountRange(request.clone()),
        state,
        &NoBals,
        &ServeLimits::default(),
    ) {
        Ok(SnapMessage::AccountRange(range)) => range,
        _ => empty,
    }
}

/// What an honest node `lag` blocks behind answers: by number from its canonical chain, by
/// hash any block it ever saw, then consecutive blocks in the request's direction.
fn honest_headers(
    chain: &HonestChain,
    lag: u64,
    request: &HeaderRequest,
    limit: u64,
) -> Vec<Header> {
    let first = match request.start {
        HeaderStart::Number(number) => chain.at(number, lag),
        HeaderStart::Hash(hash) => chain.known(&hash),
    };
    let Some(first) = first else { return Vec::new() };
    let mut headers = vec![first];
    while (headers.len() as u64) < limit {
        let last = headers[headers.len() - 1];
        let next = if request.reverse {
            last.number.checked_sub(1).and_then(|_| chain.known(&last.parent_hash))
        } else {
            chain.at(last.number + 1, lag).filter(|h| h.parent_hash == last.hash)
        };
        match next {
            Some(header) => headers.push(header),
            None => break,
        }
    }
    headers
}
