//! Built-in chains and discovery through the `snap` binary: `snap chains`, and a serving node
//! answering discv4 so that a node with only its enode as bootnode finds it, with the fork id
//! of its chain.

mod common;

use std::time::Duration;

use common::{run_ok, serve};
use snap_node::network::Network;
use snap_tokio_adapter::{
    chains::NamedChain,
    discv4::{Discovery, DiscoveryConfig},
    session::Enode,
};

#[test]
fn chains_lists_every_built_in_chain_with_its_genesis_and_fork_id() {
    let stdout = run_ok(&["chains"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), NamedChain::ALL.len() + 1, "{stdout}");
    for (chain, line) in NamedChain::ALL.iter().zip(&lines) {
        let spec = chain.spec();
        let want = format!(
            "{} network_id={} genesis={} fork_id=",
            chain.name(),
            spec.network_id,
            spec.genesis_hash()
        );
        assert!(line.starts_with(&want), "{line}");
        assert!(line.ends_with(&format!("bootnodes={}", spec.bootnodes.len())), "{line}");
    }
    // Mainnet's fork hash is past Prague's (0xc376cf8b, May 2025) whenever this runs.
    assert!(!lines[0].contains("fork_id=0xc376cf8b"), "{}", lines[0]);
    assert!(lines[NamedChain::ALL.len()].starts_with("demo network_id=1936613744 "));
}

#[test]
fn a_typo_in_a_chain_name_is_one_plain_error() {
    let peer = NamedChain::Mainnet.spec().bootnodes[0].to_string();
    let output =
        common::run(&["sync", "--chain", "mainet", "--peer", &peer, "--datadir", "/nonexistent"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "error: unknown chain mainet; built in: mainnet, sepolia, hoodi, classic, mordor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_node_answers_discovery_with_its_chain() {
    let server = serve(&["--generate", "100", "--slots", "10"]);
    let enode: Enode = server.enode.parse().unwrap();
    let key = k256::SecretKey::random(&mut rand_core::OsRng);
    let demo = Network::demo_client().info;
    let mut config =
        DiscoveryConfig::new(key, "127.0.0.1:0".parse().unwrap(), 1, Some(demo.clone()));
    config.bootnodes = vec![enode];
    let mut discovery = Discovery::spawn(config).await.unwrap();
    let candidate = tokio::time::timeout(Duration::from_secs(20), discovery.next_candidate())
        .await
        .expect("the serving node is found in time")
        .expect("discovery runs");
    assert_eq!(candidate.enode, enode, "its RLPx address, as printed");
    assert_eq!(candidate.fork_id, Some(demo.forks.fork_id(0, 0)));
}
