//! A scripted consensus client: drives a node's Engine API over real HTTP with a JWT, as a
//! beacon node does (`engine_exchangeCapabilities`, `engine_newPayload*`,
//! `engine_forkchoiceUpdated*`), and builds payloads whose block hash follows from their fields.
//! Also raw HTTP, for what a well-behaved client never sends (bad tokens, broken JSON, huge
//! bodies).
//!
//! For an end-to-end test: start the node's Engine API (`snap_node::engine::start`, or
//! `snap sync --authrpc.port 0 --authrpc.jwtsecret FILE`), then
//! `ScriptedCl::new(addr, secret).forkchoice_updated_v3(head, safe, finalized)` each time the
//! served chain grows.

use std::{net::SocketAddr, time::Duration};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_engine::{
    CancunPayloadFields, Claims, ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV1,
    ExecutionPayloadV2, ExecutionPayloadV3, ForkchoiceState, ForkchoiceUpdated, JwtSecret,
    PayloadAttributes, PayloadStatus, PraguePayloadFields,
};
use jsonrpsee_core::{
    client::{ClientT, Error as ClientError},
    params::ArrayParams,
    rpc_params,
};
use jsonrpsee_http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A token signed with `secret`, issued at `iat`.
pub fn token(secret: &JwtSecret, iat: u64) -> String {
    secret.encode(&Claims { iat, exp: None }).expect("HS256 encodes")
}

/// A consensus client talking to the Engine API at `addr` with `secret`.
#[derive(Clone, Debug)]
pub struct ScriptedCl {
    pub addr: SocketAddr,
    pub secret: JwtSecret,
}

impl ScriptedCl {
    pub fn new(addr: SocketAddr, secret: JwtSecret) -> Self {
        Self { addr, secret }
    }

    /// A client whose token is issued now (tokens live ±60 s, so one per call, as CLs do).
    fn client(&self) -> HttpClient {
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", token(&self.secret, unix_now()));
        headers.insert("authorization", HeaderValue::from_str(&bearer).expect("ASCII"));
        HttpClientBuilder::default()
            .set_headers(headers)
            .request_timeout(Duration::from_secs(10))
            .build(format!("http://{}", self.addr))
            .expect("a valid URL")
    }

    /// One call.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: ArrayParams,
    ) -> Result<R, ClientError> {
        self.client().request(method, params).await
    }

    pub async fn exchange_capabilities(&self, ours: &[&str]) -> Vec<String> {
        self.call("engine_exchangeCapabilities", rpc_params![ours]).await.expect("capabilities")
    }

    pub async fn new_payload_v1(&self, payload: &ExecutionPayloadV1) -> PayloadStatus {
        self.call("engine_newPayloadV1", rpc_params![payload]).await.expect("newPayloadV1")
    }

    pub async fn new_payload_v2(&self, payload: &ExecutionPayloadV2) -> PayloadStatus {
        self.call("engine_newPayloadV2", rpc_params![payload]).await.expect("newPayloadV2")
    }

    pub async fn new_payload_v3(
        &self,
        payload: &ExecutionPayloadV3,
        blob_hashes: &[B256],
        beacon_root: B256,
    ) -> PayloadStatus {
        self.call("engine_newPayloadV3", rpc_params![payload, blob_hashes, beacon_root])
            .await
            .expect("newPayloadV3")
    }

    pub async fn new_payload_v4(
        &self,
        payload: &ExecutionPayloadV3,
        blob_hashes: &[B256],
        beacon_root: B256,
        requests: &[Bytes],
    ) -> Result<PayloadStatus, ClientError> {
        self.call("engine_newPayloadV4", rpc_params![payload, blob_hashes, beacon_root, requests])
            .await
    }

    /// `engine_forkchoiceUpdatedV{version}` without payload attributes.
    pub async fn forkchoice_updated(
        &self,
        version: u8,
        head: B256,
        safe: B256,
        finalized: B256,
    ) -> ForkchoiceUpdated {
        self.forkchoice_updated_with(version, head, safe, finalized, None)
            .await
            .expect("forkchoiceUpdated")
    }

    /// `engine_forkchoiceUpdatedV3` (Cancun on), the call a beacon node makes every slot.
    pub async fn forkchoice_updated_v3(
        &self,
        head: B256,
        safe: B256,
        finalized: B256,
    ) -> ForkchoiceUpdated {
        self.forkchoice_updated(3, head, safe, finalized).await
    }

    pub async fn forkchoice_updated_with(
        &self,
        version: u8,
        head: B256,
        safe: B256,
        finalized: B256,
        attributes: Option<&PayloadAttributes>,
    ) -> Result<ForkchoiceUpdated, ClientError> {
        let state = ForkchoiceState {
            head_block_hash: head,
            safe_block_hash: safe,
            finalized_block_hash: finalized,
        };
        let method = format!("engine_forkchoiceUpdatedV{version}");
        self.call(&method, rpc_params![state, attributes]).await
    }

    /// Raw HTTP POST of `body` with `authorization` (if any); returns status and body.
    pub async fn post_raw(&self, authorization: Option<&str>, body: &[u8]) -> (u16, String) {
        post_raw(self.addr, authorization, &[], body).await
    }

    /// The `Authorization` value a well-behaved client sends now.
    pub fn bearer_now(&self) -> String {
        format!("Bearer {}", token(&self.secret, unix_now()))
    }
}

/// One raw HTTP/1.1 POST (`connection: close`) with `extra` headers; returns status and body.
/// The request is written from another task, so a server that answers before reading the whole
/// body (and closes) is seen answering.
pub async fn post_raw(
    addr: SocketAddr,
    authorization: Option<&str>,
    extra: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nconnection: close\r\n"
    );
    if let Some(value) = authorization {
        head.push_str(&format!("authorization: {value}\r\n"));
    }
    if !extra.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let body = body.to_vec();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
        writer
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut response));
    let _ = read.await.expect("the server answers in time");
    writing.abort();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// A Cancun-shaped payload at `number` on `parent` with `state_root`, sealed: its block hash
/// is the hash of the header its fields (and `sidecar`) make.
pub fn sealed_payload_v3(
    number: u64,
    parent: B256,
    state_root: B256,
    sidecar: &ExecutionPayloadSidecar,
) -> ExecutionPayloadV3 {
    let mut payload = ExecutionPayloadV3 {
        payload_inner: ExecutionPayloadV2 {
            payload_inner: ExecutionPayloadV1 {
                parent_hash: parent,
                fee_recipient: Address::repeat_byte(0xfe),
                state_root,
                receipts_root: alloy_consensus::EMPTY_ROOT_HASH,
                logs_bloom: Default::default(),
                prev_randao: B256::repeat_byte(0x42),
                block_number: number,
                gas_limit: 36_000_000,
                gas_used: 0,
                timestamp: 1_742_999_832 + 12 * number,
                extra_data: Bytes::from_static(b"scripted cl"),
                base_fee_per_gas: U256::from(7u64),
                block_hash: B256::ZERO,
                transactions: vec![],
            },
            withdrawals: vec![],
        },
        blob_gas_used: 0,
        excess_blob_gas: 0,
    };
    let block = ExecutionPayload::V3(payload.clone())
        .into_block_with_sidecar_raw(sidecar)
        .expect("well-formed fields");
    payload.payload_inner.payload_inner.block_hash = block.header.hash_slow();
    payload
}

/// The sidecar of an `engine_newPayloadV3` call.
pub fn sidecar_v3(beacon_root: B256, blob_hashes: Vec<B256>) -> ExecutionPayloadSidecar {
    ExecutionPayloadSidecar::v3(CancunPayloadFields::new(beacon_root, blob_hashes))
}

/// The sidecar of an `engine_newPayloadV4` call.
pub fn sidecar_v4(
    beacon_root: B256,
    blob_hashes: Vec<B256>,
    requests: Vec<Bytes>,
) -> ExecutionPayloadSidecar {
    ExecutionPayloadSidecar::v4(
        CancunPayloadFields::new(beacon_root, blob_hashes),
        PraguePayloadFields::new(requests),
    )
}

/// A chain of `len` sealed Cancun payloads after `parent` (numbers `first..`), each on the
/// previous one, with beacon roots derived from the number.
pub fn payload_chain(first: u64, parent: B256, len: u64) -> Vec<ExecutionPayloadV3> {
    let mut parent = parent;
    (first..first + len)
        .map(|number| {
            let sidecar = sidecar_v3(beacon_root(number), vec![]);
            let payload = sealed_payload_v3(number, parent, state_root(number), &sidecar);
            parent = payload.payload_inner.payload_inner.block_hash;
            payload
        })
        .collect()
}

/// The beacon root [`payload_chain`] uses at `number`.
pub fn beacon_root(number: u64) -> B256 {
    alloy_primitives::keccak256([b"beacon".as_slice(), &number.to_be_bytes()].concat())
}

/// The state root [`payload_chain`] uses at `number`.
pub fn state_root(number: u64) -> B256 {
    alloy_primitives::keccak256([b"state".as_slice(), &number.to_be_bytes()].concat())
}

/// The block hash of a payload.
pub fn hash_of(payload: &ExecutionPayloadV3) -> B256 {
    payload.payload_inner.payload_inner.block_hash
}
