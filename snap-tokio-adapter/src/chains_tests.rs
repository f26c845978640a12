//! Tests of the built-in chains against published values.

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{B64, Bytes, FixedBytes, U256, b256, keccak256};

use super::*;
use crate::eth::{EthVersion, Status};

/// `(head, time, fork hash, fork next)`.
type Vector = (u64, u64, u32, u64);

/// Mainnet, go-ethereum `core/forkid/forkid_test.go` (02b73d4) `TestCreation`: 38 cases.
const MAINNET: &[Vector] = &[
    (0, 0, 0xfc64ec04, 1150000),
    (1149999, 0, 0xfc64ec04, 1150000),
    (1150000, 0, 0x97c2c34c, 1920000),
    (1919999, 0, 0x97c2c34c, 1920000),
    (1920000, 0, 0x91d1f948, 2463000),
    (2462999, 0, 0x91d1f948, 2463000),
    (2463000, 0, 0x7a64da13, 2675000),
    (2674999, 0, 0x7a64da13, 2675000),
    (2675000, 0, 0x3edd5b10, 4370000),
    (4369999, 0, 0x3edd5b10, 4370000),
    (4370000, 0, 0xa00bc324, 7280000),
    (7279999, 0, 0xa00bc324, 7280000),
    (7280000, 0, 0x668db0af, 9069000),
    (9068999, 0, 0x668db0af, 9069000),
    (9069000, 0, 0x879d6e30, 9200000),
    (9199999, 0, 0x879d6e30, 9200000),
    (9200000, 0, 0xe029e991, 12244000),
    (12243999, 0, 0xe029e991, 12244000),
    (12244000, 0, 0x0eb440f6, 12965000),
    (12964999, 0, 0x0eb440f6, 12965000),
    (12965000, 0, 0xb715077d, 13773000),
    (13772999, 0, 0xb715077d, 13773000),
    (13773000, 0, 0x20c327fc, 15050000),
    (15049999, 0, 0x20c327fc, 15050000),
    (15050000, 0, 0xf0afd0e3, 1681338455),
    (20000000, 1681338454, 0xf0afd0e3, 1681338455),
    (20000000, 1681338455, 0xdce96c2d, 1710338135),
    (30000000, 1710338134, 0xdce96c2d, 1710338135),
    (30000000, 1710338135, 0x9f3d2254, 1746612311),
    (30000000, 1746022486, 0x9f3d2254, 1746612311),
    (30000000, 1746612311, 0xc376cf8b, 1764798551),
    (30000000, 1764798550, 0xc376cf8b, 1764798551),
    (30000000, 1764798551, 0x5167e2a6, 1765290071),
    (30000000, 1765290070, 0x5167e2a6, 1765290071),
    (30000000, 1765290071, 0xcba2a1c0, 1767747671),
    (30000000, 1767747670, 0xcba2a1c0, 1767747671),
    (30000000, 1767747671, 0x07c9462e, 0),
    (50000000, 2000000000, 0x07c9462e, 0),
];

/// Sepolia, same source: 16 cases.
const SEPOLIA: &[Vector] = &[
    (0, 0, 0xfe3366e7, 1735371),
    (1735370, 0, 0xfe3366e7, 1735371),
    (1735371, 0, 0xb96cbd13, 1677557088),
    (1735372, 1677557087, 0xb96cbd13, 1677557088),
    (1735372, 1677557088, 0xf7f9bc08, 1706655072),
    (1735372, 1706655071, 0xf7f9bc08, 1706655072),
    (1735372, 1706655072, 0x88cf81d9, 1741159776),
    (1735372, 1741159775, 0x88cf81d9, 1741159776),
    (1735372, 1741159776, 0xed88b5fd, 1760427360),
    (1735372, 1760427359, 0xed88b5fd, 1760427360),
    (1735372, 1760427360, 0xe2ae4999, 1761017184),
    (1735372, 1761017183, 0xe2ae4999, 1761017184),
    (1735372, 1761017184, 0x56078a1e, 1761607008),
    (1735372, 1761607007, 0x56078a1e, 1761607008),
    // geth 02b73d4 has Next: 0 here; Amsterdam was scheduled on Sepolia after it (geth
    // v1.17.6, go-ethereum#35734; alloy-hardforks 0.4.11).
    (1735372, 1761607008, 0x268956b6, 1791294816),
    (1735372, 1791294815, 0x268956b6, 1791294816),
    // Amsterdam: 0x6c1d9423 as published with its scheduling (ethereum/pm#2205).
    (1735372, 1791294816, 0x6c1d9423, 0),
    (1735372, 2000000000, 0x6c1d9423, 0),
];

/// Hoodi, same source: 10 cases.
const HOODI: &[Vector] = &[
    (0, 0, 0xbef71d30, 1742999832),
    (123, 1742999831, 0xbef71d30, 1742999832),
    (123, 1742999832, 0x0929e24e, 1761677592),
    (123, 1761677591, 0x0929e24e, 1761677592),
    (123, 1761677592, 0xe7e0e7ff, 1762365720),
    (123, 1762365719, 0xe7e0e7ff, 1762365720),
    (123, 1762365720, 0x3893353e, 1762955544),
    (123, 1762955543, 0x3893353e, 1762955544),
    (123, 1762955544, 0x23aa1351, 0),
    (123, 2000000000, 0x23aa1351, 0),
];

/// Ethereum Classic, core-geth `core/forkid/forkid_test.go` (4185df4) `TestCreation`: 42 cases.
const CLASSIC: &[Vector] = &[
    (0, 0, 0xfc64ec04, 1150000),
    (1, 0, 0xfc64ec04, 1150000),
    (2, 0, 0xfc64ec04, 1150000),
    (3, 0, 0xfc64ec04, 1150000),
    (9, 0, 0xfc64ec04, 1150000),
    (10, 0, 0xfc64ec04, 1150000),
    (1149999, 0, 0xfc64ec04, 1150000),
    (1150000, 0, 0x97c2c34c, 2500000),
    (1150001, 0, 0x97c2c34c, 2500000),
    (2499999, 0, 0x97c2c34c, 2500000),
    (2500000, 0, 0xdb06803f, 3000000),
    (2500001, 0, 0xdb06803f, 3000000),
    (2999999, 0, 0xdb06803f, 3000000),
    (3000000, 0, 0xaff4bed4, 5000000),
    (3000001, 0, 0xaff4bed4, 5000000),
    (4999999, 0, 0xaff4bed4, 5000000),
    (5000000, 0, 0xf79a63c0, 5900000),
    (5000001, 0, 0xf79a63c0, 5900000),
    (5899999, 0, 0xf79a63c0, 5900000),
    (5900000, 0, 0x744899d6, 8772000),
    (5900001, 0, 0x744899d6, 8772000),
    (8771999, 0, 0x744899d6, 8772000),
    (8772000, 0, 0x518b59c6, 9573000),
    (8772001, 0, 0x518b59c6, 9573000),
    (9572999, 0, 0x518b59c6, 9573000),
    (9573000, 0, 0x7ba22882, 10500839),
    (9573001, 0, 0x7ba22882, 10500839),
    (10500838, 0, 0x7ba22882, 10500839),
    (10500839, 0, 0x9007bfcc, 11_700_000),
    (10500840, 0, 0x9007bfcc, 11_700_000),
    (11_699_999, 0, 0x9007bfcc, 11_700_000),
    (11_700_000, 0, 0xdb63a1ca, 13_189_133),
    (11_700_001, 0, 0xdb63a1ca, 13_189_133),
    (13_189_132, 0, 0xdb63a1ca, 13_189_133),
    (13_189_133, 0, 0x0f6bf187, 14_525_000),
    (13_189_134, 0, 0x0f6bf187, 14_525_000),
    (14_524_999, 0, 0x0f6bf187, 14_525_000),
    (14_525_000, 0, 0x7fd1bb25, 19_250_000),
    (14_525_001, 0, 0x7fd1bb25, 19_250_000),
    (19_249_999, 0, 0x7fd1bb25, 19_250_000),
    (19_250_000, 0, 0xbe46d57c, 0),
    (19_250_001, 0, 0xbe46d57c, 0),
];

/// Mordor, same source: 23 cases.
const MORDOR: &[Vector] = &[
    (0, 0, 0x175782aa, 301243),
    (1, 0, 0x175782aa, 301243),
    (2, 0, 0x175782aa, 301243),
    (3, 0, 0x175782aa, 301243),
    (9, 0, 0x175782aa, 301243),
    (10, 0, 0x175782aa, 301243),
    (301242, 0, 0x175782aa, 301243),
    (301243, 0, 0x604f6ee1, 999983),
    (301244, 0, 0x604f6ee1, 999983),
    (999982, 0, 0x604f6ee1, 999983),
    (999983, 0, 0xf42f5539, 2_520_000),
    (999984, 0, 0xf42f5539, 2_520_000),
    (2_519_999, 0, 0xf42f5539, 2_520_000),
    (2_520_000, 0, 0x66b5c286, 3_985_893),
    (3_985_892, 0, 0x66b5c286, 3_985_893),
    (3_985_893, 0, 0x92b323e0, 5_520_000),
    (3_985_894, 0, 0x92b323e0, 5_520_000),
    (5_519_999, 0, 0x92b323e0, 5_520_000),
    (5_520_000, 0, 0x8c9b1797, 9_957_000),
    (5_520_001, 0, 0x8c9b1797, 9_957_000),
    (9_956_999, 0, 0x8c9b1797, 9_957_000),
    (9_957_000, 0, 0x3a6b00d7, 0),
    (9_957_001, 0, 0x3a6b00d7, 0),
];

fn schedule_of(chain: NamedChain) -> ForkSchedule {
    chain.spec().forks
}

#[test]
fn fork_ids_match_the_published_values_for_every_preset() {
    let tables: [(NamedChain, &[Vector]); 5] = [
        (NamedChain::Mainnet, MAINNET),
        (NamedChain::Sepolia, SEPOLIA),
        (NamedChain::Hoodi, HOODI),
        (NamedChain::Classic, CLASSIC),
        (NamedChain::Mordor, MORDOR),
    ];
    for (chain, cases) in tables {
        let schedule = schedule_of(chain);
        assert!(cases.len() >= 10, "{chain}: too few vectors");
        for &(head, time, hash, next) in cases {
            let want = ForkId { hash: FixedBytes(hash.to_be_bytes()), next };
            assert_eq!(schedule.fork_id(head, time), want, "{chain} head {head} time {time}");
        }
    }
}

#[test]
fn every_preset_accepts_its_own_current_peers_and_refuses_the_other_chains() {
    // A node of each chain at genesis (what a syncing node announces) meets an up-to-date
    // node of every chain: it must accept its own chain's and refuse the others'.
    let now = 1_780_000_000;
    for ours in NamedChain::ALL {
        let info = ours.spec().chain_info();
        for theirs in NamedChain::ALL {
            let spec = theirs.spec();
            let status = Status {
                version: 69,
                network_id: spec.network_id,
                total_difficulty: U256::ZERO,
                genesis: spec.genesis_hash(),
                fork_id: spec.fork_id_at(now),
                head_hash: B256::repeat_byte(1),
                earliest_block: 0,
                latest_block: 1,
            };
            let verdict = info.validate(EthVersion::V69, &status);
            assert_eq!(verdict.is_ok(), ours == theirs, "{ours} meeting {theirs}: {verdict:?}");
        }
    }
}

#[test]
fn status_of_every_preset_round_trips_at_eth68_and_eth69() {
    let genesis_ids = [
        (NamedChain::Mainnet, 0xfc64ec04_u32, 1_150_000),
        (NamedChain::Sepolia, 0xfe3366e7, 1_735_371),
        (NamedChain::Hoodi, 0xbef71d30, 1_742_999_832),
        (NamedChain::Classic, 0xfc64ec04, 1_150_000),
        (NamedChain::Mordor, 0x175782aa, 301_243),
    ];
    for (chain, hash, next) in genesis_ids {
        let spec = chain.spec();
        let info = spec.chain_info();
        let fork_id = ForkId { hash: FixedBytes(hash.to_be_bytes()), next };
        for version in [EthVersion::V68, EthVersion::V69] {
            let status = info.status(version);
            assert_eq!(status.version, u64::from(version.number()));
            assert_eq!(status.network_id, spec.network_id, "{chain}");
            assert_eq!(status.genesis, spec.genesis_hash(), "{chain}");
            assert_eq!(status.head_hash, spec.genesis_hash(), "{chain}: the head is the genesis");
            assert_eq!(status.fork_id, fork_id, "{chain} {version:?}");
            let v68 = version == EthVersion::V68;
            let td = if v68 { spec.genesis_difficulty } else { U256::ZERO };
            assert_eq!(status.total_difficulty, td, "{chain} {version:?}");
            assert_eq!((status.earliest_block, status.latest_block), (0, 0));
            let data = status.encode_data(version);
            assert_eq!(Status::decode_data(version, &data).unwrap(), status, "{chain} {version:?}");
            assert_eq!(info.validate(version, &status), Ok(()), "{chain} accepts itself");
            // The other layout does not decode into the same Status.
            let other = if v68 { EthVersion::V69 } else { EthVersion::V68 };
            assert_ne!(Status::decode_data(other, &data).ok(), Some(status));
        }
    }
}

#[test]
fn network_ids_and_bootnodes_are_the_published_ones() {
    let ids: Vec<_> = NamedChain::ALL.iter().map(|c| (c.name(), c.spec().network_id)).collect();
    assert_eq!(
        ids,
        [
            ("mainnet", 1),
            ("sepolia", 11_155_111),
            ("hoodi", 560_048),
            ("classic", 1),
            ("mordor", 7)
        ]
    );
    for chain in NamedChain::ALL {
        let spec = chain.spec();
        assert!(!spec.bootnodes.is_empty(), "{chain}");
        for node in &spec.bootnodes {
            assert_eq!(node.addr.port(), 30303, "{chain}: {node}");
            // Every bootnode id is a point on secp256k1.
            crate::rlpx::public_key_from_id(&node.id).expect("a valid node id");
        }
        assert_eq!(chain.name().parse::<NamedChain>(), Ok(chain));
        assert_eq!(chain.name().to_uppercase().parse::<NamedChain>(), Ok(chain));
    }
    assert!("goerli".parse::<NamedChain>().is_err());
}

/// A genesis header from its published fields (pre-London, no optional fields).
fn frontier_genesis(
    state_root: B256,
    difficulty: u64,
    gas_limit: u64,
    timestamp: u64,
    extra: &[u8],
    nonce: u64,
) -> Header {
    Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        state_root,
        transactions_root: alloy_trie::EMPTY_ROOT_HASH,
        receipts_root: alloy_trie::EMPTY_ROOT_HASH,
        difficulty: U256::from(difficulty),
        gas_limit,
        timestamp,
        extra_data: Bytes::copy_from_slice(extra),
        nonce: B64::from(nonce),
        ..Header::default()
    }
}

#[test]
fn genesis_hashes_are_those_of_the_published_genesis_headers() {
    // Header fields: go-ethereum `core/genesis.go` and core-geth `params/genesis_mordor.go`;
    // state roots as the clients compute them from their allocs (Mordor's alloc is empty).
    let mainnet = frontier_genesis(
        b256!("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544"),
        17_179_869_184,
        5000,
        0,
        &::hex::decode("11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa").unwrap(),
        66,
    );
    let mut sepolia = frontier_genesis(
        b256!("5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494"),
        0x20000,
        0x1c9c380,
        1_633_267_481,
        b"Sepolia, Athens, Attica, Greece!",
        0,
    );
    sepolia.base_fee_per_gas = Some(1_000_000_000);
    let mordor = frontier_genesis(
        alloy_trie::EMPTY_ROOT_HASH,
        0x20000,
        0x2fefd8,
        0x5d96_76db,
        b"phoenix chicken absurd banana",
        0,
    );
    for (chain, header) in [
        (NamedChain::Mainnet, mainnet),
        (NamedChain::Sepolia, sepolia),
        (NamedChain::Mordor, mordor),
    ] {
        let spec = chain.spec();
        assert_eq!(keccak256(alloy_rlp::encode(&header)), spec.genesis_hash(), "{chain}");
        assert_eq!(header.timestamp, spec.genesis_time, "{chain}");
        assert_eq!(header.difficulty, spec.genesis_difficulty, "{chain}");
    }
    assert_eq!(
        NamedChain::Classic.spec().genesis_hash(),
        NamedChain::Mainnet.spec().genesis_hash()
    );
}

#[test]
fn a_genesis_file_gives_its_network_forks_and_genesis() {
    let json = serde_json::json!({
        "config": { "chainId": 1337, "homesteadBlock": 0, "londonBlock": 0,
                    "shanghaiTime": 0, "cancunTime": 1000 },
        "timestamp": "0x0", "gasLimit": "0x1c9c380", "difficulty": "0x1",
        "alloc": {}
    });
    let (spec, chain) = ChainSpec::from_genesis_json("dev", &json).unwrap();
    assert_eq!(spec.network_id, 1337);
    assert_eq!(spec.genesis_hash(), chain.genesis_hash());
    assert_eq!(spec.forks.forks(), &[(ForkKind::Time, 1000)]);
    assert_eq!(spec.fork_id_at(999).next, 1000);
    assert_eq!(spec.fork_id_at(1000).next, 0);
    assert!(spec.bootnodes.is_empty());
}

#[test]
fn chain_choice_takes_names_and_genesis_paths() {
    assert_eq!(ChainChoice::parse("Sepolia"), Ok(ChainChoice::Named(NamedChain::Sepolia)));
    assert_eq!(
        ChainChoice::parse("net/genesis.json"),
        Ok(ChainChoice::GenesisFile("net/genesis.json".into()))
    );
    assert!(ChainChoice::parse("mainet").is_err(), "a typo is not a path");
}
