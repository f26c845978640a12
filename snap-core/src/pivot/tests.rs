//! Unit tests of the selector's parts; whole runs against lying peers are in the pivot
//! simulation (`tests/tests/sync_pivot.rs`).

use alloy_primitives::{B256, keccak256};
use proptest::prelude::*;

use super::{
    chain::{Emitted, Headers, Unlinked},
    *,
};
use std::time::Duration;

use crate::sync::test_epoch;

fn header(number: u64, parent: B256, fork: u8) -> Header {
    let root = B256::repeat_byte(fork);
    let hash = keccak256([&number.to_be_bytes()[..], parent.as_slice(), root.as_slice()].concat());
    Header { number, hash, parent_hash: parent, state_root: root, bal_hash: None }
}

/// Blocks `from..=to` on `fork`, the first linked to `parent`.
fn chain(from: u64, to: u64, parent: B256, fork: u8) -> Vec<Header> {
    let mut parent = parent;
    (from..=to)
        .map(|n| {
            let h = header(n, parent, fork);
            parent = h.hash;
            h
        })
        .collect()
}

#[test]
fn replies_must_answer_their_request() {
    let blocks = chain(10, 14, B256::ZERO, 1);
    let forward = HeaderRequest { id: 1, start: HeaderStart::Number(10), limit: 5, reverse: false };
    assert_eq!(check_reply(&forward, &blocks), Ok(()));
    assert_eq!(check_reply(&forward, &[]), Ok(()));
    assert!(check_reply(&HeaderRequest { limit: 4, ..forward }, &blocks).is_err());
    assert!(
        check_reply(&HeaderRequest { start: HeaderStart::Number(11), ..forward }, &blocks).is_err()
    );
    let mut gap = blocks.clone();
    gap.remove(2);
    assert!(check_reply(&forward, &gap).is_err());
    let other = chain(12, 14, blocks[0].hash, 2);
    let unlinked = [blocks[0], blocks[1], other[0]];
    assert!(check_reply(&forward, &unlinked).is_err());

    let mut down = blocks.clone();
    down.reverse();
    let reverse =
        HeaderRequest { id: 2, start: HeaderStart::Hash(blocks[4].hash), limit: 5, reverse: true };
    assert_eq!(check_reply(&reverse, &down), Ok(()));
    assert!(check_reply(&reverse, &blocks).is_err());
    assert!(
        check_reply(&HeaderRequest { start: HeaderStart::Hash(B256::ZERO), ..reverse }, &down)
            .is_err()
    );
}

#[test]
fn agreed_headers_link_down_to_the_trusted_chain_and_replace_a_branch() {
    let main = chain(100, 120, B256::ZERO, 1);
    let mut headers = Headers::new(1000);
    headers.reset([main[0]]);
    headers.vote(PeerId(1), &main[1..]);
    assert_eq!(headers.best_agreed(2, 100), None, "one voter is not a quorum");
    headers.vote(PeerId(2), &main[1..15]);
    let top = headers.best_agreed(2, 100).expect("agreed");
    assert_eq!(top, main[14]);
    let path = headers.path_to(top, 100).expect("links");
    assert_eq!(path, main[1..15].to_vec());
    assert_eq!(headers.splice(path), None);
    assert_eq!(headers.tip(), Some(&main[14]));

    // A branch from block 110 that two peers agree on replaces 111..=114.
    let branch = chain(111, 118, main[10].hash, 2);
    headers.vote(PeerId(1), &branch[3..]);
    headers.vote(PeerId(2), &branch[3..]);
    let top = headers.best_agreed(2, 100).expect("agreed");
    assert_eq!(
        headers.path_to(top, 100),
        Err(Unlinked::Missing { hash: branch[2].hash, number: 113 })
    );
    headers.add_lineage(&branch[..3]);
    let path = headers.path_to(top, 100).expect("links through the lineage");
    let replaced = headers.splice(path).expect("a reorg");
    assert_eq!((replaced.ancestor, replaced.depth), (110, 4));
    assert_eq!(headers.tip(), Some(&branch[7]));
    assert!(!headers.is_trusted(main[12].hash));
}

#[test]
fn a_hash_under_two_headers_pins_nothing() {
    let main = chain(1, 3, B256::ZERO, 1);
    let mut headers = Headers::new(100);
    headers.reset([main[0]]);
    let mut forged = main[1];
    forged.state_root = B256::repeat_byte(0xee);
    headers.vote(PeerId(1), &[forged]);
    headers.vote(PeerId(2), &main[1..]);
    // The hash of block 2 was seen with two bodies: neither is kept, so block 3 cannot link.
    assert!(matches!(headers.path_to(main[2], 10), Err(Unlinked::Missing { .. })));
    // Sent again (alone), block 2 links, and the forged body never enters the chain.
    headers.vote(PeerId(3), &main[1..]);
    assert_eq!(headers.best_agreed(2, 0), Some(main[2]));
    assert_eq!(headers.path_to(main[2], 10), Ok(main[1..].to_vec()));
}

#[test]
fn emitted_blocks_tell_where_a_branch_departs() {
    let main = chain(1, 10, B256::ZERO, 1);
    let mut headers = Headers::new(100);
    headers.reset(main.clone());
    let mut emitted = Emitted::new(4);
    for h in &main[..8] {
        emitted.push(h);
    }
    assert_eq!(emitted.last_agreeing(&headers), Some(8));
    let branch = chain(7, 12, main[5].hash, 2);
    headers.add_lineage(&branch);
    headers.splice(headers.path_to(branch[5], 100).expect("links")).expect("reorg");
    assert_eq!(emitted.last_agreeing(&headers), Some(6));
}

#[test]
fn a_root_anchor_starts_at_once_and_asks_nothing() {
    let now = test_epoch();
    let root = B256::repeat_byte(7);
    let mut selector = PivotSelector::new(PivotConfig::default(), Anchor::Root(root), now);
    assert_eq!(
        selector.poll_output(),
        Some(PivotOutput::Start { target: Target { root, number: 0 }, header: None })
    );
    selector.handle_input(now, PivotInput::PeerReady { peer: PeerId(1), head: root, snap: true });
    selector.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(selector.poll_output(), None);
    assert_eq!(selector.poll_timeout(), None);
}

#[test]
fn an_empty_state_needs_no_probe() {
    let now = test_epoch();
    let mut config = PivotConfig { quorum: 1, offset: 0, ..PivotConfig::default() };
    config.seed = 3;
    let mut selector = PivotSelector::new(config, Anchor::Peers, now);
    let mut genesis = header(0, B256::ZERO, 0);
    genesis.state_root = alloy_trie::EMPTY_ROOT_HASH;
    genesis.hash = keccak256(genesis.state_root);
    let peer = PeerId(1);
    selector.handle_input(now, PivotInput::PeerReady { peer, head: genesis.hash, snap: true });
    let mut started = None;
    for _ in 0..4 {
        while let Some(output) = selector.poll_output() {
            match output {
                PivotOutput::GetHeaders { request, .. } => {
                    let input =
                        PivotInput::Headers { peer, id: request.id, headers: vec![genesis] };
                    selector.handle_input(now, input);
                }
                PivotOutput::Start { target, .. } => started = Some(target),
                PivotOutput::Probe { .. } => panic!("probed the empty state"),
                _ => {}
            }
        }
    }
    assert_eq!(started, Some(genesis.target()));
}

proptest! {
    /// Whatever replies arrive, in whatever order, the selector never hands out a header no
    /// quorum (two peers here) vouched for, and never holds more headers than its bound.
    #[test]
    fn arbitrary_replies_never_start_on_a_header_one_peer_sent(
        replies in prop::collection::vec((0u64..4, 0u64..40, 0u64..8, any::<u8>()), 1..60),
    ) {
        let now = test_epoch();
        let config = PivotConfig { offset: 2, max_headers: 8, ..PivotConfig::default() };
        let mut selector = PivotSelector::new(config, Anchor::Peers, now);
        let honest = chain(0, 40, B256::ZERO, 1);
        for p in 1..=4 {
            let input = PivotInput::PeerReady { peer: PeerId(p), head: honest[40].hash, snap: true };
            selector.handle_input(now, input);
        }
        let mut requests = Vec::new();
        for (peer, from, len, fork) in replies {
            while let Some(output) = selector.poll_output() {
                match output {
                    PivotOutput::GetHeaders { peer, request } => requests.push((peer, request)),
                    PivotOutput::Start { header: Some(h), .. } | PivotOutput::Header(h) => {
                        // Only peer 4 lies (fork != 1 headers); peers 1-3 never send those.
                        prop_assert!(honest.contains(&h), "handed out {h:?}");
                    }
                    _ => {}
                }
            }
            let peer = PeerId(peer + 1);
            let Some(&(_, request)) = requests.iter().rev().find(|(p, _)| *p == peer) else { continue };
            let lying = peer == PeerId(4) && fork % 2 == 0;
            let from = match request.start { HeaderStart::Number(n) => n, HeaderStart::Hash(_) => from };
            let headers = if lying {
                chain(from, from + len, B256::repeat_byte(fork), fork.max(2))
            } else {
                honest.iter().filter(|h| h.number >= from).take(len as usize).copied().collect()
            };
            selector.handle_input(now, PivotInput::Headers { peer, id: request.id, headers });
            prop_assert!(selector.headers_held() <= 4 * 8 + 8192 + 64 * 2 + 16);
        }
    }
}

/// Blocks `from..=to` on `fork` with the empty state (started on without a probe).
fn empty_chain(from: u64, to: u64, parent: B256, fork: u8) -> Vec<Header> {
    let mut parent = parent;
    (from..=to)
        .map(|n| {
            let mut h = header(n, parent, fork);
            h.state_root = alloy_trie::EMPTY_ROOT_HASH;
            h.hash = keccak256([&n.to_be_bytes()[..], parent.as_slice(), &[fork]].concat());
            parent = h.hash;
            h
        })
        .collect()
}

/// Answers every header request from each peer's view of the chain (blocks by number,
/// ascending, from genesis), until the selector asks nothing more; returns what it handed out
/// (starts, headers and jumps) and the requests' limits.
fn serve(
    selector: &mut PivotSelector,
    now: Instant,
    views: &BTreeMap<PeerId, Vec<Header>>,
) -> (Vec<Header>, Vec<u64>) {
    let (mut handed, mut limits) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let Some(output) = selector.poll_output() else { break };
        match output {
            PivotOutput::GetHeaders { peer, request } => {
                limits.push(request.limit);
                let view = &views[&peer];
                let limit = request.limit as usize;
                let headers: Vec<Header> = match (request.start, request.reverse) {
                    (HeaderStart::Number(n), false) => {
                        view.iter().skip(n as usize).take(limit).copied().collect()
                    }
                    (HeaderStart::Hash(hash), true) => {
                        match view.iter().position(|h| h.hash == hash) {
                            Some(at) => view[..=at].iter().rev().take(limit).copied().collect(),
                            None => Vec::new(),
                        }
                    }
                    (HeaderStart::Hash(hash), false) => {
                        view.iter().filter(|h| h.hash == hash).take(1).copied().collect()
                    }
                    (HeaderStart::Number(_), true) => Vec::new(),
                };
                selector.handle_input(now, PivotInput::Headers { peer, id: request.id, headers });
            }
            PivotOutput::Start { header: Some(h), .. }
            | PivotOutput::Header(h)
            | PivotOutput::Jump(h) => handed.push(h),
            _ => {}
        }
    }
    (handed, limits)
}

#[test]
fn a_consensus_anchor_reaches_the_offset_in_several_requests() {
    let now = test_epoch();
    let config = PivotConfig { offset: 10, max_headers: 4, ..PivotConfig::default() };
    let mut selector = PivotSelector::new(config, Anchor::Consensus, now);
    let blocks = empty_chain(0, 30, B256::ZERO, 1);
    let views: BTreeMap<PeerId, Vec<Header>> =
        (1..=2).map(|p| (PeerId(p), blocks.clone())).collect();
    for &peer in views.keys() {
        selector
            .handle_input(now, PivotInput::PeerReady { peer, head: blocks[30].hash, snap: true });
    }
    let input = PivotInput::ConsensusHead { head: blocks[30].hash, finalized: B256::ZERO };
    selector.handle_input(now, input);
    let (handed, limits) = serve(&mut selector, now, &views);
    assert_eq!(handed.first(), Some(&blocks[20]), "started `offset` below the head");
    assert!(limits.iter().all(|&limit| limit <= 4), "requests within max_headers: {limits:?}");
}

#[test]
fn a_reorg_replacing_the_tip_at_its_height_is_followed() {
    let now = test_epoch();
    let config = PivotConfig { offset: 0, max_headers: 16, ..PivotConfig::default() };
    let mut selector = PivotSelector::new(config, Anchor::Peers, now);
    let main = empty_chain(0, 20, B256::ZERO, 1);
    let mut views: BTreeMap<PeerId, Vec<Header>> =
        (1..=3).map(|p| (PeerId(p), main.clone())).collect();
    for &peer in views.keys() {
        selector.handle_input(now, PivotInput::PeerReady { peer, head: main[20].hash, snap: true });
    }
    let (handed, _) = serve(&mut selector, now, &views);
    assert_eq!(handed.last(), Some(&main[20]));
    // Blocks 18..=20 are replaced by a branch of the same height: no peer has anything above
    // the trusted tip, so only asking again below it finds the branch.
    let mut reorged = main[..18].to_vec();
    reorged.extend(empty_chain(18, 20, main[17].hash, 2));
    for view in views.values_mut() {
        *view = reorged.clone();
    }
    let later = now + Duration::from_secs(60);
    selector.handle_timeout(later);
    let (handed, _) = serve(&mut selector, later, &views);
    assert_eq!(handed.last(), Some(&reorged[20]), "follows the branch: {handed:?}");
}

#[test]
fn branches_a_reorg_left_behind_make_room_for_the_one_being_linked() {
    let main = chain(0, 22, B256::ZERO, 1);
    let mut headers = Headers::new(8);
    headers.reset(main[..17].to_vec());
    // Reorgs at the same height, one after the other: each leaves a branch of 17..=22 behind.
    for fork in 2..8 {
        headers.add_lineage(&chain(17, 22, main[16].hash, fork));
    }
    let newest = chain(17, 22, main[16].hash, 9);
    headers.add_lineage(&newest[1..]);
    headers.add_lineage(&newest[..1]);
    assert_eq!(headers.path_to(newest[5], 64), Ok(newest.clone()), "the newest branch links");
    assert!(headers.candidate_count() <= 8, "bounded: {}", headers.candidate_count());
}
