//! Starting discv4 next to `serve` and `sync`.

use std::net::SocketAddr;

use k256::SecretKey;
use snap_node::network::Network;
use snap_tokio_adapter::{
    discv4::{Discovery, DiscoveryConfig},
    session::Enode,
};

/// Starts discovery on UDP `udp`, announcing RLPx on `tcp_port` and our chain's fork id, from
/// `bootnodes`. A bind failure is an error when the port was asked for (`required`), else a
/// warning and no discovery.
pub(crate) async fn start(
    key: SecretKey,
    udp: SocketAddr,
    tcp_port: u16,
    network: &Network,
    bootnodes: Vec<Enode>,
    required: bool,
) -> Result<Option<Discovery>, String> {
    let count = bootnodes.len();
    let mut config = DiscoveryConfig::new(key, udp, tcp_port, Some(network.info.clone()));
    config.bootnodes = bootnodes;
    match Discovery::spawn(config).await {
        Ok(discovery) => {
            tracing::info!("discovery on udp {} from {count} bootnodes", discovery.local_udp());
            Ok(Some(discovery))
        }
        Err(error) if required => Err(format!("discovery on udp {udp}: {error}")),
        Err(error) => {
            tracing::warn!("no discovery: udp {udp}: {error}");
            Ok(None)
        }
    }
}

/// Pulls discovered peers of our chain and logs them. The driver dials only `--peer` for now;
/// its peer set takes these candidates instead once it can.
pub(crate) fn log_candidates(mut discovery: Discovery) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut found = 0u64;
        while let Some(candidate) = discovery.next_candidate().await {
            found += 1;
            tracing::debug!(peer = %candidate.enode, fork_id = ?candidate.fork_id, "discovered");
            if found.is_power_of_two() {
                tracing::info!("discovery: {found} peers of our chain found");
            }
        }
    })
}
