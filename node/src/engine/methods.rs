//! The methods the Engine API answers, as a node that is syncing answers them: payloads are
//! checked as far as they can be without their parent state and then `SYNCING` (never `VALID`:
//! nothing is executed), forkchoice updates are `SYNCING` with no payload build, and each update
//! becomes a [`ForkchoiceAnchor`](super::ForkchoiceAnchor).
//!
//! Besides the `engine_` methods, the node answers the `eth_` calls consensus clients make on
//! this port at startup and as a liveness check: `eth_chainId`, `eth_syncing` (always a syncing
//! object), and `eth_getBlockByNumber` / `eth_getBlockByHash` (`null`: the node holds no
//! blocks). Anything else is `-32601 Method not found`.

use std::time::Instant;

use alloy_primitives::{B256, Bytes, U64};
use alloy_rpc_types_engine::{
    CancunPayloadFields, ExecutionPayload, ExecutionPayloadInputV2, ExecutionPayloadSidecar,
    ExecutionPayloadV1, ExecutionPayloadV3, ForkchoiceState, ForkchoiceUpdated, PayloadAttributes,
    PayloadStatus, PayloadStatusEnum, PraguePayloadFields,
};
use jsonrpsee::{
    RpcModule,
    types::{ErrorCode, ErrorObjectOwned, Params},
};

use super::{
    anchors::AnchorPublisher,
    payload::{check_payload, check_requests},
};

/// The methods `engine_exchangeCapabilities` announces: every `engine_` method this server
/// answers except `engine_exchangeCapabilities` itself (the spec leaves it out).
pub const CAPABILITIES: &[&str] = &[
    "engine_newPayloadV1",
    "engine_newPayloadV2",
    "engine_newPayloadV3",
    "engine_newPayloadV4",
    "engine_forkchoiceUpdatedV1",
    "engine_forkchoiceUpdatedV2",
    "engine_forkchoiceUpdatedV3",
    "engine_getClientVersionV1",
];

/// The two-letter code `engine_getClientVersionV1` answers with. It is not one the spec
/// reserves (so alloy's `ClientCode` enum cannot carry it; the spec lets unlisted clients pick
/// any two letters that collide with none of its codes, and requires consensus clients to accept
/// them).
pub const CLIENT_CODE: &str = "SN";

/// What `engine_getClientVersionV1` answers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVersion {
    /// [`CLIENT_CODE`].
    pub code: String,
    /// `snap`.
    pub name: String,
    /// The crate version.
    pub version: String,
    /// The first four bytes of the build's commit as hex (`SNAP_GIT_COMMIT` at build time,
    /// zeros when unset).
    pub commit: String,
}

impl ClientVersion {
    /// This build's version.
    pub fn ours() -> Self {
        let commit = option_env!("SNAP_GIT_COMMIT")
            .map(|commit| commit.trim_start_matches("0x").to_ascii_lowercase())
            .filter(|commit| commit.len() >= 8 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
            .map_or_else(|| "00000000".to_owned(), |commit| commit[..8].to_owned());
        Self {
            code: CLIENT_CODE.to_owned(),
            name: "snap".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit,
        }
    }
}

/// What every method shares.
#[derive(Debug)]
pub(crate) struct EngineState {
    pub(crate) publisher: AnchorPublisher,
    pub(crate) chain_id: u64,
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(ErrorCode::InvalidParams.code(), message.into(), None::<()>)
}

const fn syncing() -> PayloadStatus {
    PayloadStatus::from_status(PayloadStatusEnum::Syncing)
}

/// Checks a payload, records its header, and answers as a syncing node.
fn new_payload(
    state: &EngineState,
    payload: ExecutionPayload,
    sidecar: ExecutionPayloadSidecar,
) -> PayloadStatus {
    let (number, claimed) = (payload.block_number(), payload.block_hash());
    match check_payload(payload, &sidecar) {
        Ok(header) => {
            tracing::debug!(number, hash = %claimed, "engine: payload delivered");
            state.publisher.payload(header);
            syncing()
        }
        Err(reason) => {
            tracing::warn!(number, hash = %claimed, "engine: invalid payload: {reason}");
            // `latestValidHash: null`: a syncing node knows no valid ancestor to name.
            PayloadStatus::from_status(PayloadStatusEnum::Invalid { validation_error: reason })
        }
    }
}

/// Which `engine_forkchoiceUpdated` version, for the payload attributes it may carry.
#[derive(Clone, Copy, Debug)]
enum FcuVersion {
    V1,
    V2,
    V3,
}

fn forkchoice_updated(
    state: &EngineState,
    params: Params<'_>,
    version: FcuVersion,
) -> Result<ForkchoiceUpdated, ErrorObjectOwned> {
    let mut params = params.sequence();
    let fork: ForkchoiceState = params.next()?;
    let attributes: Option<PayloadAttributes> = params.optional_next()?;
    if let Some(attributes) = &attributes {
        let (withdrawals, beacon_root) =
            (attributes.withdrawals.is_some(), attributes.parent_beacon_block_root.is_some());
        let fits = match version {
            FcuVersion::V1 => !withdrawals && !beacon_root,
            FcuVersion::V2 => !beacon_root,
            FcuVersion::V3 => withdrawals && beacon_root,
        };
        if !fits {
            return Err(invalid_params(format!(
                "payload attributes of the wrong version for forkchoiceUpdated{version:?}"
            )));
        }
    }
    if fork.head_block_hash.is_zero() {
        // As geth: a zero head is refused, and is no anchor.
        tracing::warn!("engine: forkchoice update to the zero hash refused");
        return Ok(ForkchoiceUpdated::from_status(PayloadStatusEnum::Invalid {
            validation_error: "forkchoice update to the zero hash".to_owned(),
        }));
    }
    let anchor = state.publisher.forkchoice(
        fork.head_block_hash,
        fork.safe_block_hash,
        fork.finalized_block_hash,
        Instant::now(),
    );
    tracing::debug!(
        seq = anchor.seq,
        head = %anchor.head,
        finalized = ?anchor.finalized,
        "engine: forkchoice updated"
    );
    // Payload attributes ask for a block to be built on a VALID head: a syncing node has none,
    // so no build starts (`payloadId: null`).
    Ok(ForkchoiceUpdated::new(syncing()))
}

/// The `eth_syncing` answer: always syncing (the node exits when its sync is done); the highest
/// block is the consensus client's head when its payload was delivered.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncingStatus {
    starting_block: U64,
    current_block: U64,
    highest_block: U64,
}

/// All the methods, registered on one module.
pub(crate) fn module(state: EngineState) -> RpcModule<EngineState> {
    let mut module = RpcModule::new(state);
    register(&mut module).expect("each method is registered once");
    module
}

fn register(
    module: &mut RpcModule<EngineState>,
) -> Result<(), jsonrpsee::server::RegisterMethodError> {
    module.register_blocking_method("engine_newPayloadV1", |params, state, _| {
        let payload: ExecutionPayloadV1 = params.one()?;
        let status =
            new_payload(&state, ExecutionPayload::V1(payload), ExecutionPayloadSidecar::none());
        Ok::<_, ErrorObjectOwned>(status)
    })?;
    module.register_blocking_method("engine_newPayloadV2", |params, state, _| {
        let payload: ExecutionPayloadInputV2 = params.one()?;
        let status = new_payload(&state, payload.into_payload(), ExecutionPayloadSidecar::none());
        Ok::<_, ErrorObjectOwned>(status)
    })?;
    module.register_blocking_method("engine_newPayloadV3", |params, state, _| {
        let mut params = params.sequence();
        let payload: ExecutionPayloadV3 = params.next()?;
        let blob_hashes: Vec<B256> = params.next()?;
        let beacon_root: B256 = params.next()?;
        let sidecar =
            ExecutionPayloadSidecar::v3(CancunPayloadFields::new(beacon_root, blob_hashes));
        Ok::<_, ErrorObjectOwned>(new_payload(&state, ExecutionPayload::V3(payload), sidecar))
    })?;
    module.register_blocking_method("engine_newPayloadV4", |params, state, _| {
        let mut params = params.sequence();
        let payload: ExecutionPayloadV3 = params.next()?;
        let blob_hashes: Vec<B256> = params.next()?;
        let beacon_root: B256 = params.next()?;
        let requests: Vec<Bytes> = params.next()?;
        check_requests(&requests).map_err(invalid_params)?;
        let sidecar = ExecutionPayloadSidecar::v4(
            CancunPayloadFields::new(beacon_root, blob_hashes),
            PraguePayloadFields::new(requests),
        );
        Ok::<_, ErrorObjectOwned>(new_payload(&state, ExecutionPayload::V3(payload), sidecar))
    })?;
    module.register_method("engine_forkchoiceUpdatedV1", |params, state, _| {
        forkchoice_updated(state, params, FcuVersion::V1)
    })?;
    module.register_method("engine_forkchoiceUpdatedV2", |params, state, _| {
        forkchoice_updated(state, params, FcuVersion::V2)
    })?;
    module.register_method("engine_forkchoiceUpdatedV3", |params, state, _| {
        forkchoice_updated(state, params, FcuVersion::V3)
    })?;
    module.register_method("engine_exchangeCapabilities", |params, _, _| {
        // The consensus client's list is only informative; it must be a list of strings.
        let _theirs: Vec<String> = params.one()?;
        Ok::<_, ErrorObjectOwned>(CAPABILITIES.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>())
    })?;
    module.register_method("engine_getClientVersionV1", |params, _, _| {
        // The consensus client's own version: any two-letter code is accepted (spec), so it is
        // read as plain JSON, not as alloy's closed `ClientCode`.
        let theirs: serde_json::Value = params.one()?;
        tracing::debug!("engine: consensus client {theirs}");
        Ok::<_, ErrorObjectOwned>(vec![ClientVersion::ours()])
    })?;
    module.register_method("eth_chainId", |_, state, _| {
        Ok::<_, ErrorObjectOwned>(U64::from(state.chain_id))
    })?;
    module.register_method("eth_syncing", |_, state, _| {
        let highest = state.publisher.latest_head_number().unwrap_or_default();
        Ok::<_, ErrorObjectOwned>(SyncingStatus {
            starting_block: U64::ZERO,
            current_block: U64::ZERO,
            highest_block: U64::from(highest),
        })
    })?;
    module.register_method("eth_getBlockByNumber", |_, _, _| None::<()>)?;
    module.register_method("eth_getBlockByHash", |_, _, _| None::<()>)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capabilities_are_exactly_the_engine_methods_answered() {
        let (publisher, _) = AnchorPublisher::new();
        let module = module(EngineState { publisher, chain_id: 1 });
        let mut answered: Vec<&str> = module
            .method_names()
            .filter(|name| name.starts_with("engine_") && *name != "engine_exchangeCapabilities")
            .collect();
        answered.sort_unstable();
        let mut announced = CAPABILITIES.to_vec();
        announced.sort_unstable();
        assert_eq!(answered, announced);
    }

    #[test]
    fn the_client_version_is_well_formed() {
        let ours = ClientVersion::ours();
        assert_eq!(ours.code.len(), 2);
        assert_eq!(ours.commit.len(), 8);
        assert!(ours.commit.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(ours.version, env!("CARGO_PKG_VERSION"));
    }
}
