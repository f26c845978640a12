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

/// Hands the peers of our chain that discovery finds to the driver (which dials them while
/// it has room), logging how many were found; drops them while the driver is behind.
pub(crate) fn forward_candidates(
    mut discovery: Discovery,
) -> (tokio::task::JoinHandle<()>, tokio::sync::mpsc::Receiver<Enode>) {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut found = 0u64;
        while let Some(candidate) = discovery.next_candidate().await {
            found += 1;
            tracing::debug!(peer = %candidate.enode, fork_id = ?candidate.fork_id, "discovered");
            if found.is_power_of_two() {
                tracing::info!("discovery: {found} peers of our chain found");
            }
            if sender.is_closed() {
                return;
            }
            let _ = sender.try_send(candidate.enode);
        }
    });
    (task, receiver)
}

/// Logs the peers discovery finds (for `serve`, which dials no one).
pub(crate) fn log_candidates(discovery: Discovery) -> tokio::task::JoinHandle<()> {
    let (task, mut receiver) = forward_candidates(discovery);
    tokio::spawn(async move { while receiver.recv().await.is_some() {} });
    task
}
