//! `snap query`: one snap request to one peer, the response as JSON, and whether it verifies.

use std::{process::ExitCode, time::Duration};

use alloy_primitives::{B256, Bytes, keccak256};
use serde_json::{Value, json};
use snap_core::{
    trie::verify_range,
    wire::{
        GetAccountRange, GetByteCodes, GetStorageRanges, GetTrieNodes, SnapMessage, TrieNodePathSet,
    },
};
use snap_tokio_adapter::{
    connection::{ConnectionConfig, Event},
    enode::Enode,
    server::NoServer,
    session::{Command, Node, PeerHandle, SessionEvent},
};

use snap_node::network::Network;

use super::shared::{CliResult, NetworkArgs, parse_b256, parse_enode};

/// Arguments of `snap query`.
#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// The peer to ask.
    #[arg(long, value_name = "ENODE", value_parser = parse_enode)]
    peer: Enode,
    #[command(flatten)]
    network: NetworkArgs,
    /// Response size limit in bytes.
    #[arg(long, default_value_t = 512 * 1024)]
    bytes: u64,
    #[command(subcommand)]
    request: Request,
}

#[derive(Debug, clap::Subcommand)]
enum Request {
    /// GetAccountRange.
    AccountRange {
        /// The state root (default: the peer's head state, from its headers).
        #[arg(long, value_parser = parse_b256)]
        root: B256,
        /// The first account hash.
        #[arg(long, value_parser = parse_b256, default_value = "0x0000000000000000000000000000000000000000000000000000000000000000")]
        origin: B256,
        /// The last account hash.
        #[arg(long, value_parser = parse_b256, default_value = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
        limit: B256,
    },
    /// GetStorageRanges (verified against the account's storage root, fetched first).
    StorageRanges {
        /// The state root.
        #[arg(long, value_parser = parse_b256)]
        root: B256,
        /// Account hashes.
        #[arg(long = "account", value_parser = parse_b256, required = true)]
        accounts: Vec<B256>,
        /// The first slot hash.
        #[arg(long, value_parser = parse_b256, default_value = "0x0000000000000000000000000000000000000000000000000000000000000000")]
        origin: B256,
    },
    /// GetByteCodes.
    Bytecodes {
        /// Code hashes.
        #[arg(value_parser = parse_b256, required = true)]
        hashes: Vec<B256>,
    },
    /// GetTrieNodes: each PATHSET is comma-separated hex compact paths (account path first).
    TrieNodes {
        /// The state root.
        #[arg(long, value_parser = parse_b256)]
        root: B256,
        /// Path sets, e.g. `0x00` (account trie root) or `0x<acct>,0x00`.
        #[arg(required = true)]
        pathsets: Vec<String>,
    },
}

const WAIT: Duration = Duration::from_secs(30);

async fn next(handle: &mut PeerHandle) -> Result<Event, String> {
    match tokio::time::timeout(WAIT, handle.next_event()).await {
        Err(_) => Err("the peer did not answer in time".into()),
        Ok(Some(SessionEvent::Connection(Event::Closed(reason)))) => {
            Err(format!("the connection closed: {reason}"))
        }
        Ok(Some(SessionEvent::Connection(event))) => Ok(event),
        Ok(Some(SessionEvent::Rejected(_, error))) => Err(format!("request rejected: {error}")),
        Ok(None) => Err("the session ended".into()),
    }
}

async fn ask(handle: &mut PeerHandle, request: SnapMessage) -> Result<SnapMessage, String> {
    let id = request.request_id();
    handle.send(Command::Snap(request)).await.map_err(|_| "the session ended".to_string())?;
    loop {
        match next(handle).await? {
            Event::Snap(message) if message.request_id() == id => return Ok(message),
            _ => {}
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

fn parse_bytes(s: &str) -> Result<Bytes, String> {
    ::hex::decode(s.trim().trim_start_matches("0x"))
        .map(Bytes::from)
        .map_err(|e| format!("{s}: {e}"))
}

async fn query(args: &QueryArgs, handle: &mut PeerHandle) -> Result<Value, String> {
    let bytes = args.bytes;
    Ok(match &args.request {
        Request::AccountRange { root, origin, limit } => {
            let request = GetAccountRange {
                request_id: 1,
                root: *root,
                origin: *origin,
                limit: *limit,
                response_bytes: bytes,
            };
            let SnapMessage::AccountRange(range) =
                ask(handle, SnapMessage::GetAccountRange(request)).await?
            else {
                return Err("not an AccountRange".into());
            };
            let keys: Vec<B256> = range.accounts.iter().map(|a| a.hash).collect();
            let values: Vec<Vec<u8>> =
                range.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
            let verified = verify_range(*root, *origin, &keys, &values, &range.proof);
            json!({
                "accounts": range.accounts.iter().map(|a| json!({
                    "hash": a.hash.to_string(), "nonce": a.account.nonce,
                    "balance": a.account.balance.to_string(),
                    "storageRoot": a.account.storage_root.to_string(),
                    "codeHash": a.account.code_hash.to_string(),
                })).collect::<Vec<_>>(),
                "proof": range.proof.iter().map(|n| hex(n)).collect::<Vec<_>>(),
                "proofVerifies": verified.is_ok(),
                "more": verified.as_ref().ok(),
                "error": verified.err().map(|e| e.to_string()),
            })
        }
        Request::StorageRanges { root, accounts, origin } => {
            let mut roots = Vec::new();
            for (index, account) in accounts.iter().enumerate() {
                let probe = GetAccountRange {
                    request_id: 100 + index as u64,
                    root: *root,
                    origin: *account,
                    limit: *account,
                    response_bytes: 1,
                };
                let found = match ask(handle, SnapMessage::GetAccountRange(probe)).await? {
                    SnapMessage::AccountRange(range) => range
                        .accounts
                        .first()
                        .filter(|a| a.hash == *account)
                        .map(|a| a.account.storage_root),
                    _ => None,
                };
                roots.push(found);
            }
            let request = GetStorageRanges {
                request_id: 1,
                root: *root,
                account_hashes: accounts.clone(),
                origin: Bytes::copy_from_slice(origin.as_slice()),
                limit: Bytes::new(),
                response_bytes: bytes,
            };
            let SnapMessage::StorageRanges(ranges) =
                ask(handle, SnapMessage::GetStorageRanges(request)).await?
            else {
                return Err("not a StorageRanges".into());
            };
            let count = ranges.slots.len();
            let lists: Vec<Value> = ranges.slots.iter().enumerate().map(|(index, slots)| {
                let keys: Vec<B256> = slots.iter().map(|s| s.hash).collect();
                let values: Vec<&[u8]> = slots.iter().map(|s| s.value.as_ref()).collect();
                let start = if index == 0 { *origin } else { B256::ZERO };
                let proof = if index + 1 == count { ranges.proof.as_slice() } else { &[] };
                let verified = roots.get(index).copied().flatten()
                    .map(|storage_root| verify_range(storage_root, start, &keys, &values, proof));
                json!({
                    "account": accounts.get(index).map(|a| a.to_string()),
                    "slots": slots.iter().map(|s| json!({"hash": s.hash.to_string(), "value": hex(&s.value)})).collect::<Vec<_>>(),
                    "proofVerifies": verified.as_ref().map(Result::is_ok),
                    "error": verified.and_then(Result::err).map(|e| e.to_string()),
                })
            }).collect();
            json!({ "storage": lists, "proof": ranges.proof.iter().map(|n| hex(n)).collect::<Vec<_>>() })
        }
        Request::Bytecodes { hashes } => {
            let request =
                GetByteCodes { request_id: 1, hashes: hashes.clone(), response_bytes: bytes };
            let SnapMessage::ByteCodes(codes) =
                ask(handle, SnapMessage::GetByteCodes(request)).await?
            else {
                return Err("not a ByteCodes".into());
            };
            let verifies = codes.codes.iter().all(|code| hashes.contains(&keccak256(code)));
            json!({
                "codes": codes.codes.iter().map(|c| json!({"hash": keccak256(c).to_string(), "code": hex(c)})).collect::<Vec<_>>(),
                "allRequested": verifies,
            })
        }
        Request::TrieNodes { root, pathsets } => {
            let paths = pathsets
                .iter()
                .map(|set| {
                    set.split(',')
                        .map(parse_bytes)
                        .collect::<Result<Vec<_>, _>>()
                        .map(TrieNodePathSet)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let request = GetTrieNodes { request_id: 1, root: *root, paths, response_bytes: bytes };
            let SnapMessage::TrieNodes(nodes) =
                ask(handle, SnapMessage::GetTrieNodes(request)).await?
            else {
                return Err("not a TrieNodes".into());
            };
            let root_matches = nodes.nodes.first().map(|node| keccak256(node) == *root);
            json!({
                "nodes": nodes.nodes.iter().map(|n| json!({"hash": keccak256(n).to_string(), "node": hex(n)})).collect::<Vec<_>>(),
                "firstIsRoot": root_matches,
            })
        }
    })
}

pub(crate) async fn run(args: QueryArgs) -> CliResult {
    let network = super::shared::network(&args.network, "demo", None)?
        .map_or_else(Network::demo_client, |(n, _)| n);
    let mut config = ConnectionConfig::new(network.info.clone());
    // snap/1: the version that still carries trie nodes.
    config.snap_versions = vec![snap_core::wire::SnapVersion::V1];
    let node = Node::new(
        k256::SecretKey::random(&mut rand_core::OsRng),
        config,
        std::sync::Arc::new(NoServer),
    );
    let mut handle = node.dial(&args.peer).await.map_err(|e| format!("dial {}: {e}", args.peer))?;
    loop {
        if let Event::Ready { client_id, snap, .. } = next(&mut handle).await? {
            if snap.is_none() {
                return Err(format!("{client_id} does not speak snap"));
            }
            break;
        }
    }
    let output = query(&args, &mut handle).await?;
    println!("{}", serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?);
    Ok(ExitCode::SUCCESS)
}
