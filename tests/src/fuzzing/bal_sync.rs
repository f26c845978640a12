//! The whole `Syncer` in snap/2 catch-up, driven through the BAL simulation
//! (`snap_sim::sim::bal`) by fuzzer-chosen scenarios: chain size and length, peers (versions
//! and list behaviours), retention, when headers arrive, a reorg branch, crashes and store
//! damage.
//!
//! Checks: the runner's own (requests only to peers of their version, penalties only for faulty
//! lists); a run that ends must end exactly on the state of the root it reports, with every
//! rebuilt root matching unless the store was damaged; a run may only fail to end when the
//! peers' retention window dropped lists it needs, and must then have reported a stall.

use arbitrary::Arbitrary;
use snap_core::{
    serve::InMemoryState,
    sync::{CatchUpMode, Header, Phase, SyncEvent},
    wire::SnapVersion,
};

use crate::sim::bal::{BalChain, BalPeer, BalSetup, HostEvent, Served, When, run};

/// A scenario.
#[derive(Arbitrary, Debug)]
pub struct Input {
    seed: u16,
    accounts: u8,
    blocks: u8,
    peers: Vec<(u8, u8)>,
    retain: Option<u8>,
    catch_up: u8,
    /// Host events: (when, what, argument).
    events: Vec<(u8, u8, u8)>,
    /// A branch forking at this block index, this long.
    reorg: Option<(u8, u8)>,
}

const KINDS: [BalPeer; 6] = [
    BalPeer::Honest,
    BalPeer::Lacks,
    BalPeer::Truncates,
    BalPeer::Reorders,
    BalPeer::Corrupts,
    BalPeer::Silent,
];

/// Runs one scenario.
pub fn check(input: Input) {
    if std::env::var_os("BAL_SYNC_TRACE").is_some() {
        eprintln!("{input:?}");
    }
    let accounts = 40 + u64::from(input.accounts);
    let blocks = 1 + u64::from(input.blocks % 12);
    let chain = BalChain::generate(u64::from(input.seed), accounts, blocks);
    let branch = input.reorg.map(|(at, len)| {
        let ancestor = usize::from(at) % chain.headers.len();
        chain.fork(u64::from(input.seed) + 1, ancestor, 1 + u64::from(len % 6))
    });
    let mut states: Vec<InMemoryState> = chain.states.clone();
    let mut bals = chain.bals.clone();
    let mut headers: Vec<Header> = chain.headers.clone();
    if let Some(branch) = &branch {
        states.extend(branch.states.iter().cloned());
        bals.extend(branch.bals.clone());
        headers.extend(branch.headers.iter().copied());
    }
    let mut peers: Vec<(Vec<SnapVersion>, BalPeer)> = input
        .peers
        .iter()
        .take(4)
        .map(|&(versions, kind)| {
            let versions = match versions % 3 {
                0 => vec![SnapVersion::V1],
                1 => vec![SnapVersion::V2],
                _ => vec![SnapVersion::V1, SnapVersion::V2],
            };
            (versions, KINDS[usize::from(kind) % KINDS.len()])
        })
        .collect();
    // At least one honest peer of each version, so that both strategies can finish.
    peers.push((vec![SnapVersion::V2], BalPeer::Honest));
    peers.push((vec![SnapVersion::V1], BalPeer::Honest));
    let setup = BalSetup {
        peers,
        retain: input.retain.map(|r| 2 + u64::from(r)),
        catch_up: [CatchUpMode::Auto, CatchUpMode::Heal, CatchUpMode::Bal]
            [usize::from(input.catch_up % 3)],
    };
    let mut script = Vec::new();
    let mut next = 1usize;
    let mut damaged = false;
    for &(when, what, argument) in input.events.iter().take(6) {
        let when = match when % 4 {
            0 => When::Phase(Phase::Applying),
            1 => When::Phase(Phase::Rebuilding),
            _ => When::Step(usize::from(when) * 4),
        };
        let event = match what % 4 {
            0 | 1 if next < chain.headers.len() => {
                let end = (next + 1 + usize::from(argument % 4)).min(chain.headers.len());
                let delivered = chain.headers[next..end].to_vec();
                next = end;
                HostEvent::Headers(delivered)
            }
            2 => HostEvent::Crash,
            3 if !damaged => {
                damaged = true;
                let accounts = chain.states[0].account_list();
                HostEvent::Damage(accounts[usize::from(argument) % accounts.len()].0)
            }
            _ => continue,
        };
        script.push((when, event));
    }
    // The rest of the chain, then the branch.
    if next < chain.headers.len() {
        script.push((When::Step(2000), HostEvent::Headers(chain.headers[next..].to_vec())));
    }
    if let Some(branch) = &branch {
        script.push((When::Step(2100), HostEvent::Headers(branch.headers.clone())));
    }
    let served = Served { states: &states, bals: &bals, headers: &headers };
    match run(&setup, u64::from(input.seed), chain.headers[0], served, script) {
        Ok(out) => {
            let state = states
                .iter()
                .find(|state| state.root() == out.target_root)
                .expect("Done reports a root of the chain");
            crate::sim::check_exact(&out.store, state)
                .unwrap_or_else(|e| panic!("not exact: {e}; events {:?}", out.events));
            let mismatch = out.saw(|e| matches!(e, SyncEvent::RootMismatch { .. }));
            assert!(damaged || !mismatch, "a rebuilt root did not match: {:?}", out.events);
        }
        // Only lists past the peers' retention may keep a sync from ending, and it must say so.
        Err(error) => assert!(setup.retain.is_some() && !error.contains("stalls: 0"), "{error}"),
    }
}
