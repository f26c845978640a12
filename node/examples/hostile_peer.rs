//! A hostile peer for measurements against a running `snap serve` (demo network):
//!
//! ```sh
//! hostile_peer pipeline ENODE COUNT HOLD_SECS   # COUNT GetAccountRange (2 MiB) unread
//! hostile_peer idle ENODE COUNT HOLD_SECS       # COUNT idle TCP connections
//! ```
//!
//! The numbers it helps measure are in the README; this is a tool, not a test.

use std::time::Duration;

use alloy_primitives::B256;
use snap_core::wire::{GetAccountRange, SnapMessage};
use snap_node::network::Network;
use snap_tokio_adapter::{
    enode::Enode,
    test_peer::{TestPeer, TestPeerConfig},
};
use tokio::io::AsyncWriteExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, enode, count, hold] = args.as_slice() else {
        return Err("usage: hostile_peer pipeline|idle ENODE COUNT HOLD_SECS".into());
    };
    let enode: Enode = enode.parse().map_err(|e| format!("{e}"))?;
    let count: u64 = count.parse().map_err(|e| format!("{e}"))?;
    let hold = Duration::from_secs(hold.parse().map_err(|e| format!("{e}"))?);
    match mode.as_str() {
        "pipeline" => {
            let config = TestPeerConfig::new(Network::demo_client().info);
            let mut peer =
                TestPeer::dial(enode.addr, &enode.id, config).await.map_err(|e| e.to_string())?;
            let state_root: B256 = std::env::var("ROOT")
                .map_err(|_| "set ROOT to the served state root".to_string())?
                .parse()
                .map_err(|e| format!("{e}"))?;
            let mut frames = Vec::new();
            for id in 0..count {
                let request = SnapMessage::GetAccountRange(GetAccountRange {
                    request_id: id,
                    root: state_root,
                    origin: B256::ZERO,
                    limit: B256::repeat_byte(0xff),
                    response_bytes: 2 * 1024 * 1024,
                });
                frames.extend(peer.snap_frame(&request).map_err(|e| e.to_string())?);
            }
            let mut writer = peer.take_writer().ok_or("no writer")?;
            let writing = tokio::spawn(async move { writer.write_all(&frames).await });
            tokio::time::sleep(hold).await;
            println!("pipelined {count} requests, read nothing for {} s", hold.as_secs());
            writing.abort();
        }
        "idle" => {
            let mut streams = Vec::new();
            let mut failed = 0;
            for _ in 0..count {
                match tokio::net::TcpStream::connect(enode.addr).await {
                    Ok(stream) => streams.push(stream),
                    Err(_) => failed += 1,
                }
            }
            println!("opened {} idle connections ({failed} failed)", streams.len());
            tokio::time::sleep(hold).await;
        }
        other => return Err(format!("unknown mode {other}")),
    }
    Ok(())
}
