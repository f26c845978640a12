//! Starting discv4 and discv5 next to `serve` and `sync`.

use std::net::SocketAddr;

use k256::SecretKey;
use snap_node::network::Network;
use snap_tokio_adapter::{
    discv4::{Candidate, Discovery, DiscoveryConfig},
    discv5::{Discv5Config, Discv5Discovery, Enr},
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

/// Starts discv5 on UDP `udp` (its own port), announcing RLPx on `tcp_port` and our chain's
/// fork id, from the ENRs `bootnodes`. A taken port that was not asked for (`required`) falls
/// back to any free one; other bind failures are a warning and no discv5.
pub(crate) async fn start_v5(
    key: SecretKey,
    udp: SocketAddr,
    tcp_port: u16,
    network: &Network,
    bootnodes: Vec<Enr>,
    required: bool,
) -> Result<Option<Discv5Discovery>, String> {
    let count = bootnodes.len();
    let mut config = Discv5Config::new(key, udp, tcp_port, Some(network.info.clone()));
    config.bootnodes = bootnodes;
    let spawned = match Discv5Discovery::spawn(config.clone()).await {
        Err(error) if !required && udp.port() != 0 => {
            tracing::debug!("discv5: udp {udp}: {error}; trying any port");
            config.listen.set_port(0);
            Discv5Discovery::spawn(config).await
        }
        spawned => spawned,
    };
    match spawned {
        Ok(discovery) => {
            tracing::info!(
                "discv5 on udp {} from {count} bootnodes: {}",
                discovery.local_udp(),
                discovery.local_enr().to_base64()
            );
            Ok(Some(discovery))
        }
        Err(error) if required => Err(format!("discv5 on udp {udp}: {error}")),
        Err(error) => {
            tracing::warn!("no discv5: udp {udp}: {error}");
            Ok(None)
        }
    }
}

async fn next_v4(discovery: &mut Option<Discovery>) -> Option<Candidate> {
    match discovery {
        Some(discovery) => discovery.next_candidate().await,
        None => std::future::pending().await,
    }
}

async fn next_v5(discovery: &mut Option<Discv5Discovery>) -> Option<Candidate> {
    match discovery {
        Some(discovery) => discovery.next_candidate().await,
        None => std::future::pending().await,
    }
}

/// Hands the peers of our chain that discv4 and discv5 find to the driver, merged (it dials
/// them while it has room), logging how many were found; drops them while the driver is
/// behind.
pub(crate) fn forward_candidates(
    mut v4: Option<Discovery>,
    mut v5: Option<Discv5Discovery>,
) -> (tokio::task::JoinHandle<()>, tokio::sync::mpsc::Receiver<Enode>) {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut found = 0u64;
        loop {
            let (candidate, via) = tokio::select! {
                candidate = next_v4(&mut v4) => (candidate, "discv4"),
                candidate = next_v5(&mut v5) => (candidate, "discv5"),
            };
            // A service stops only when dropped: this is the end.
            let Some(candidate) = candidate else { return };
            found += 1;
            tracing::debug!(peer = %candidate.enode, fork_id = ?candidate.fork_id, via, "discovered");
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
pub(crate) fn log_candidates(
    v4: Option<Discovery>,
    v5: Option<Discv5Discovery>,
) -> tokio::task::JoinHandle<()> {
    let (task, mut receiver) = forward_candidates(v4, v5);
    tokio::spawn(async move { while receiver.recv().await.is_some() {} });
    task
}
