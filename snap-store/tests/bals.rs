//! Block access lists kept in the store are served to snap/2 peers through `StoreView`:
//! written, pruned and reopened, the store answers `GetBlockAccessLists` exactly as
//! snap-core's server answers from an in-memory map holding the same lists (the oracle), with
//! request order kept, empty entries for unknown hashes and the soft byte limit cutting the
//! tail.

use std::{collections::BTreeMap, path::Path};

use alloy_primitives::{B256, Bytes};
use proptest::prelude::*;
use snap_core::{
    serve::{ServeLimits, serve},
    wire::{BlockAccessLists, GetBlockAccessLists, SnapMessage},
};
use snap_store::{KvBackend, KvStore, StoreError, StoreView};

/// A stored list must be one RLP list: `[bytes]`.
fn rlp_list(bytes: Vec<u8>) -> Bytes {
    Bytes::from(alloy_rlp::encode(vec![Bytes::from(bytes)]))
}

fn ask(
    view: &StoreView<'_, impl snap_store::SyncStore>,
    bals: &BTreeMap<B256, Bytes>,
    request: &GetBlockAccessLists,
) -> (SnapMessage, SnapMessage) {
    let message = SnapMessage::GetBlockAccessLists(request.clone());
    let limits = ServeLimits::default();
    let from_store = serve(&message, view, view, &limits).unwrap();
    let from_memory = serve(&message, view, bals, &limits).unwrap();
    (from_store, from_memory)
}

fn check_backend<B: KvBackend>(
    open: impl Fn(&Path) -> Result<KvStore<B>, StoreError>,
    written: &[(B256, Bytes)],
    pruned: &[B256],
    asked: &[B256],
    response_bytes: u64,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut oracle = BTreeMap::new();
    {
        let mut store = open(dir.path()).unwrap();
        store.put_block_access_lists(written).unwrap();
        store.prune_block_access_lists(pruned).unwrap();
    }
    for (hash, bal) in written {
        oracle.insert(*hash, bal.clone());
    }
    for hash in pruned {
        oracle.remove(hash);
    }
    // Reopened: the lists are durable.
    let store = open(dir.path()).unwrap();
    let view = StoreView::new(&store).unwrap();
    let request =
        GetBlockAccessLists { request_id: 7, block_hashes: asked.to_vec(), response_bytes };
    let (from_store, from_memory) = ask(&view, &oracle, &request);
    prop_assert_eq!(&from_store, &from_memory);
    let SnapMessage::BlockAccessLists(BlockAccessLists { request_id, access_lists }) = from_store
    else {
        panic!("not a BlockAccessLists reply");
    };
    prop_assert_eq!(request_id, 7);
    // Each entry is the list of the hash at the same position, empty when not stored.
    prop_assert!(access_lists.len() <= asked.len());
    for (entry, hash) in access_lists.iter().zip(asked) {
        prop_assert_eq!(entry, &oracle.get(hash).cloned().unwrap_or_default());
    }
    Ok(())
}

fn hash() -> impl Strategy<Value = B256> {
    (0u8..12).prop_map(B256::repeat_byte)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn stored_lists_are_served_like_the_oracle(
        written in proptest::collection::vec(
            (hash(), proptest::collection::vec(any::<u8>(), 1..200).prop_map(rlp_list)), 0..10),
        pruned in proptest::collection::vec(hash(), 0..3),
        asked in proptest::collection::vec(hash(), 0..12),
        response_bytes in prop_oneof![Just(0u64), 1u64..600, Just(u64::MAX)],
    ) {
        #[cfg(feature = "redb")]
        check_backend(snap_store::RedbStore::open, &written, &pruned, &asked, response_bytes)?;
        #[cfg(feature = "fjall")]
        check_backend(snap_store::FjallStore::open, &written, &pruned, &asked, response_bytes)?;
        #[cfg(feature = "mdbx")]
        check_backend(snap_store::MdbxStore::open, &written, &pruned, &asked, response_bytes)?;
    }
}

/// Known answer: order kept, unknown hashes empty, and the soft limit stops the reply before
/// the first entry that would cross it (the tail is dropped); the first entry always goes.
#[cfg(feature = "redb")]
#[test]
fn order_unknowns_and_soft_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = snap_store::RedbStore::open(dir.path()).unwrap();
    let bal = |byte: u8| rlp_list(vec![byte; 100]);
    store
        .put_block_access_lists(&[(B256::repeat_byte(1), bal(1)), (B256::repeat_byte(2), bal(2))])
        .unwrap();
    let view = StoreView::new(&store).unwrap();
    let asked = vec![
        B256::repeat_byte(2),
        B256::repeat_byte(9),
        B256::repeat_byte(1),
        B256::repeat_byte(2),
    ];
    let reply = |response_bytes| {
        let request =
            GetBlockAccessLists { request_id: 1, block_hashes: asked.clone(), response_bytes };
        match serve(
            &SnapMessage::GetBlockAccessLists(request),
            &view,
            &view,
            &ServeLimits::default(),
        ) {
            Ok(SnapMessage::BlockAccessLists(reply)) => reply.access_lists,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(reply(10_000), vec![bal(2), Bytes::new(), bal(1), bal(2)]);
    // Each list is 104 bytes, an empty entry 1: 104 + 1 = 105 <= 150, and the third entry
    // would make 209 > 150, so it and the tail stay out.
    assert_eq!(reply(150), vec![bal(2), Bytes::new()]);
    // A budget below the first list still gets that list: every request makes progress.
    assert_eq!(reply(10), vec![bal(2)]);
    store.prune_block_access_lists(&[B256::repeat_byte(2)]).unwrap();
    let view = StoreView::new(&store).unwrap();
    let request =
        GetBlockAccessLists { request_id: 1, block_hashes: asked.clone(), response_bytes: 10_000 };
    let Ok(SnapMessage::BlockAccessLists(reply)) =
        serve(&SnapMessage::GetBlockAccessLists(request), &view, &view, &ServeLimits::default())
    else {
        panic!("not a reply");
    };
    assert_eq!(reply.access_lists, vec![Bytes::new(), Bytes::new(), bal(1), Bytes::new()]);
}

/// A value that is not one RLP list would corrupt every reply that embeds it: it is refused,
/// and nothing of the call is written.
#[test]
fn only_whole_rlp_lists_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = snap_store::RedbStore::open(dir.path()).unwrap();
    let good = (B256::repeat_byte(1), Bytes::from_static(&[0xc1, 0x80]));
    for bad in [&[0x80][..], &[0xc2, 0x80][..], &[0xc1, 0x80, 0x80][..], &[][..]] {
        let lists = [good.clone(), (B256::repeat_byte(2), Bytes::copy_from_slice(bad))];
        assert!(store.put_block_access_lists(&lists).is_err(), "{bad:?}");
    }
    use snap_store::SyncStore;
    assert_eq!(store.block_access_list(&good.0).unwrap(), None);
    assert!(!store.holds_block_access_lists().unwrap(), "nothing written: no snap/2 serving");
    store.put_block_access_lists(std::slice::from_ref(&good)).unwrap();
    assert_eq!(store.block_access_list(&good.0).unwrap(), Some(good.1));
    assert!(store.holds_block_access_lists().unwrap());
    store.prune_block_access_lists(&[good.0]).unwrap();
    assert!(!store.holds_block_access_lists().unwrap(), "all pruned");
}
