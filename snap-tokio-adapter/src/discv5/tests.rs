//! Two discv5 services over loopback find each other from one's ENR; a node of another
//! chain is seen but never proposed.

use std::time::Duration;

use alloy_primitives::keccak256;
use k256::SecretKey;

use super::{Discv5Config, Discv5Discovery, enr_node_id, parse_enr};
use crate::{chains::NamedChain, discv4::protocol::enr_fork_id, eth::ChainInfo};

fn key(seed: u64) -> SecretKey {
    SecretKey::from_slice(keccak256(seed.to_be_bytes()).as_slice()).unwrap()
}

async fn node(
    seed: u64,
    tcp_port: u16,
    chain: ChainInfo,
    bootnodes: Vec<super::Enr>,
) -> Discv5Discovery {
    let mut config =
        Discv5Config::new(key(seed), "127.0.0.1:0".parse().unwrap(), tcp_port, Some(chain));
    config.bootnodes = bootnodes;
    config.lookup_interval = Duration::from_millis(100);
    Discv5Discovery::spawn(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_find_each_other_and_another_chain_is_not_proposed() {
    let mainnet = NamedChain::Mainnet.spec().chain_info();
    let sepolia = NamedChain::Sepolia.spec().chain_info();
    let mut a = node(1, 30301, mainnet.clone(), Vec::new()).await;
    // Our ENR carries the `eth` entry of our fork id, and survives its text form.
    let a_enr = parse_enr(&a.local_enr().to_base64()).unwrap();
    assert_eq!(
        enr_fork_id(&a_enr),
        Some(mainnet.forks.fork_id(mainnet.head_number, mainnet.head_time))
    );
    let mut b = node(2, 30302, mainnet.clone(), vec![a_enr.clone()]).await;
    let mut c = node(3, 30303, sepolia, vec![a_enr]).await;
    let a_id = enr_node_id(a.local_enr()).unwrap();
    let b_id = enr_node_id(b.local_enr()).unwrap();
    let c_id = enr_node_id(c.local_enr()).unwrap();

    let within = Duration::from_secs(5);
    let found = tokio::time::timeout(within, b.next_candidate()).await.unwrap().unwrap();
    assert_eq!(found.enode.id, a_id);
    assert_eq!(found.enode.addr, "127.0.0.1:30301".parse().unwrap(), "its TCP port");
    let found = tokio::time::timeout(within, a.next_candidate()).await.unwrap().unwrap();
    assert_eq!(found.enode.id, b_id);
    assert_eq!(found.enode.addr, "127.0.0.1:30302".parse().unwrap());

    // A meets C (C's lookups go through A), and refuses it; C refuses A.
    tokio::time::timeout(within, async {
        while a.other_chain() == 0 || c.other_chain() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the node of another chain is met");
    // Let lookups run on: B may learn of C through A, and must refuse it too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for node in [&mut a, &mut b] {
        while let Some(candidate) = node.try_next_candidate() {
            assert_ne!(candidate.enode.id, c_id, "another chain's node is never proposed");
        }
    }
    assert!(c.try_next_candidate().is_none(), "nothing of mainnet is proposed to Sepolia");
}
