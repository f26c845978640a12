//! The hivechain test data: geth's 600-block chain decodes, links, and is served.

mod common;

use alloy_primitives::{B256, FixedBytes};
use snap_tokio_adapter::{
    chain::decode_chain_file,
    eth::{BlockHeaders, BlockId, EthError, GetBlockHeaders},
    forkid::{ForkKind, ForkSchedule},
};

use snap_sim::testdata::{
    HIVECHAIN_HEAD_HASH as HEAD_HASH, HIVECHAIN_HEAD_STATE_ROOT as HEAD_STATE_ROOT,
};

#[test]
fn chain_rlp_decodes_into_600_linked_blocks_with_the_known_head() {
    let Some(dir) = snap_sim::testdata::hivechain_dir(
        "chain_rlp_decodes_into_600_linked_blocks_with_the_known_head",
    ) else {
        return;
    };
    let headers =
        decode_chain_file(&std::fs::read(dir.join("chain.rlp")).expect("read")).expect("decodes");
    assert_eq!(headers.len(), 600);
    for (i, pair) in headers.windows(2).enumerate() {
        assert_eq!(pair[1].parent_hash, pair[0].hash_slow(), "block {} links", i + 2);
        assert_eq!(pair[1].number, pair[0].number + 1);
    }
    let head = headers.last().expect("600 blocks");
    assert_eq!(head.number, 600);
    assert_eq!(head.hash_slow(), HEAD_HASH);
    assert_eq!(head.state_root, HEAD_STATE_ROOT);
    // Post-merge fields are all there: Prague is active at the head.
    assert!(head.withdrawals_root.is_some() && head.parent_beacon_block_root.is_some());
    assert!(head.requests_hash.is_some());
}

#[test]
fn serving_node_announces_the_chain_and_answers_header_requests() {
    let Some((genesis, chain)) =
        common::hivechain("serving_node_announces_the_chain_and_answers_header_requests")
    else {
        return;
    };
    assert_eq!(chain.head_hash(), HEAD_HASH);
    let forks = ForkSchedule::from_genesis_json(chain.genesis_hash(), &genesis);
    // Block forks are all at 0 and Shanghai at the genesis time: only Cancun and Prague count.
    assert_eq!(forks.forks(), &[(ForkKind::Time, 60), (ForkKind::Time, 120)]);
    let info = chain.chain_info(3_503_995_874_084_926, forks);
    let id = info.forks.fork_id(info.head_number, info.head_time);
    let mut crc = crc32fast::Hasher::new();
    crc.update(chain.genesis_hash().as_slice());
    crc.update(&60u64.to_be_bytes());
    crc.update(&120u64.to_be_bytes());
    assert_eq!(id.hash, FixedBytes(crc.finalize().to_be_bytes()));
    assert_eq!(id.next, 0);
    assert_eq!((info.head_number, info.head_time), (600, 6000));

    let serve = |request: GetBlockHeaders| {
        let raw = chain.serve(&request);
        let data = BlockHeaders::encode_raw(request.request_id, &raw);
        let reply = BlockHeaders::decode_data(&data).expect("our reply decodes");
        reply.verify(&request).map(|()| reply)
    };
    let forward = GetBlockHeaders {
        request_id: 1,
        start: BlockId::Number(590),
        limit: 20,
        skip: 0,
        reverse: false,
    };
    let reply = serve(forward).expect("verifies");
    assert_eq!(reply.headers.len(), 11, "590..=600");
    assert_eq!(reply.headers.last().map(|h| h.hash), Some(HEAD_HASH));
    let back = GetBlockHeaders {
        request_id: 2,
        start: BlockId::Hash(HEAD_HASH),
        limit: 5,
        skip: 0,
        reverse: true,
    };
    let reply = serve(back).expect("verifies");
    let numbers: Vec<u64> = reply.headers.iter().map(|h| h.header.number).collect();
    assert_eq!(numbers, [600, 599, 598, 597, 596]);
    let skipping = GetBlockHeaders {
        request_id: 3,
        start: BlockId::Number(0),
        limit: 4,
        skip: 199,
        reverse: false,
    };
    let numbers: Vec<u64> =
        serve(skipping).expect("verifies").headers.iter().map(|h| h.header.number).collect();
    assert_eq!(numbers, [0, 200, 400, 600]);
    let unknown = GetBlockHeaders {
        request_id: 4,
        start: BlockId::Hash(B256::ZERO),
        limit: 5,
        skip: 0,
        reverse: false,
    };
    assert!(serve(unknown).expect("empty is fine").headers.is_empty());

    // A reply that swaps in another header, or answers another start, fails verification.
    let mut raw = chain.serve(&forward);
    raw.swap(3, 4);
    let bad = BlockHeaders::decode_data(&BlockHeaders::encode_raw(1, &raw)).expect("decodes");
    assert!(matches!(bad.verify(&forward), Err(EthError::UnexpectedHeader { index: 3 })));
    let other = GetBlockHeaders { start: BlockId::Hash(B256::repeat_byte(1)), ..back };
    let reply = BlockHeaders::decode_data(&BlockHeaders::encode_raw(2, &chain.serve(&back)))
        .expect("decodes");
    assert_eq!(reply.verify(&other), Err(EthError::UnexpectedHeader { index: 0 }));
    let fewer = GetBlockHeaders { limit: 4, ..back };
    assert!(matches!(reply.verify(&fewer), Err(EthError::TooManyHeaders { got: 5, limit: 4 })));
}
