//! The Engine API over real HTTP on loopback, driven by a scripted consensus client: who gets
//! in (the JWT), what a syncing node answers (never `VALID`), what the node takes from it (the
//! forkchoice anchors, the latest winning), and what a hostile or broken client cannot do
//! (malformed JSON, oversized bodies).

mod common;

use std::time::Duration;

use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_engine::{JwtSecret, PayloadAttributes, PayloadStatusEnum};
use common::cl::{
    ScriptedCl, beacon_root, hash_of, payload_chain, post_raw, sealed_payload_v3, sidecar_v4,
    state_root, token, unix_now,
};
use snap_node::engine::{self, AnchorReceiver, CAPABILITIES, EngineConfig, EngineServer};

const CHAIN_ID: u64 = 560048;

async fn start_with(
    configure: impl FnOnce(&mut EngineConfig),
) -> (EngineServer, AnchorReceiver, ScriptedCl) {
    let secret = JwtSecret::random();
    let mut config = EngineConfig::new("127.0.0.1:0".parse().unwrap(), secret, CHAIN_ID);
    configure(&mut config);
    let (server, anchors) = engine::start(config).await.expect("starts");
    let cl = ScriptedCl::new(server.local_addr(), secret);
    (server, anchors, cl)
}

async fn start() -> (EngineServer, AnchorReceiver, ScriptedCl) {
    start_with(|_| {}).await
}

const CAPS: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"engine_exchangeCapabilities","params":[[]]}"#;

/// The JSON-RPC error code of a failed call.
fn code(error: jsonrpsee_core::client::Error) -> i32 {
    match error {
        jsonrpsee_core::client::Error::Call(object) => object.code(),
        other => panic!("not a JSON-RPC error: {other}"),
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON ({e}): {body:?}"))
}

#[tokio::test]
async fn only_a_fresh_token_signed_with_the_shared_secret_gets_in() {
    let (_server, _, cl) = start().await;
    let (status, body) = cl.post_raw(Some(&cl.bearer_now()), CAPS.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["result"].is_array(), "{body}");

    let other = JwtSecret::random();
    let refused = [
        ("no header", None),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("wrong secret", Some(format!("Bearer {}", token(&other, unix_now())))),
        ("stale iat", Some(format!("Bearer {}", token(&cl.secret, unix_now() - 61)))),
        ("future iat", Some(format!("Bearer {}", token(&cl.secret, unix_now() + 61)))),
        ("not a JWT", Some("Bearer abc.def.ghi".to_owned())),
        ("another scheme", Some(format!("Basic {}", token(&cl.secret, unix_now())))),
    ];
    for (what, authorization) in refused {
        let (status, body) = cl.post_raw(authorization.as_deref(), CAPS.as_bytes()).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(!body.contains("engine_"), "{what}: nothing answered: {body}");
    }

    // The typed client with the wrong secret is refused too.
    let impostor = ScriptedCl::new(cl.addr, other);
    let error = impostor
        .call::<Vec<String>>(
            "engine_exchangeCapabilities",
            jsonrpsee_core::rpc_params![Vec::<String>::new()],
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
}

#[tokio::test]
async fn capabilities_client_version_and_the_eth_probes() {
    let (_server, _, cl) = start().await;
    let ours = cl.exchange_capabilities(&["engine_newPayloadV4", "engine_getBlobsV2"]).await;
    assert_eq!(ours, CAPABILITIES.iter().map(|m| m.to_string()).collect::<Vec<_>>());
    assert!(!ours.iter().any(|m| m == "engine_exchangeCapabilities"));

    // Any two-letter code from the consensus client is accepted, listed or not.
    let theirs = serde_json::json!({"code": "XY", "name": "scripted", "version": "0.0.1", "commit": "deadbeef"});
    let versions: Vec<engine::ClientVersion> = cl
        .call("engine_getClientVersionV1", jsonrpsee_core::rpc_params![theirs])
        .await
        .expect("client version");
    assert_eq!(versions, vec![engine::ClientVersion::ours()]);
    assert_eq!(versions[0].code, "SN");

    let chain_id: String = cl.call("eth_chainId", jsonrpsee_core::rpc_params![]).await.unwrap();
    assert_eq!(chain_id, format!("{CHAIN_ID:#x}"));
    let syncing: serde_json::Value =
        cl.call("eth_syncing", jsonrpsee_core::rpc_params![]).await.unwrap();
    assert!(syncing.is_object(), "a syncing node never answers false: {syncing}");
    let block: Option<serde_json::Value> = cl
        .call("eth_getBlockByNumber", jsonrpsee_core::rpc_params!["latest", false])
        .await
        .unwrap();
    assert_eq!(block, None);
    let unknown = cl
        .call::<serde_json::Value>(
            "engine_getPayloadV4",
            jsonrpsee_core::rpc_params!["0x0000000000000001"],
        )
        .await;
    assert_eq!(code(unknown.unwrap_err()), -32601, "method not found");
}

#[tokio::test]
async fn every_new_payload_version_is_answered_syncing_and_a_bad_hash_invalid() {
    let (_server, anchors, cl) = start().await;
    let chain = payload_chain(100, B256::repeat_byte(0x11), 4);

    // V1 and V2 take the Paris and Shanghai shapes of the same fields: seal each on its own.
    let v1 = {
        let mut p = chain[0].payload_inner.payload_inner.clone();
        let block =
            alloy_rpc_types_engine::ExecutionPayload::V1(p.clone()).into_block_raw().unwrap();
        p.block_hash = block.header.hash_slow();
        p
    };
    let v2 = {
        let mut p = chain[0].payload_inner.clone();
        let block =
            alloy_rpc_types_engine::ExecutionPayload::V2(p.clone()).into_block_raw().unwrap();
        p.payload_inner.block_hash = block.header.hash_slow();
        p
    };
    assert_eq!(cl.new_payload_v1(&v1).await.status, PayloadStatusEnum::Syncing);
    assert_eq!(cl.new_payload_v2(&v2).await.status, PayloadStatusEnum::Syncing);
    let v3 = cl.new_payload_v3(&chain[1], &[], beacon_root(101)).await;
    assert_eq!((v3.status, v3.latest_valid_hash), (PayloadStatusEnum::Syncing, None));

    let requests = vec![Bytes::from_static(&[0x00, 0xaa]), Bytes::from_static(&[0x02, 0xbb])];
    let sidecar = sidecar_v4(beacon_root(7), vec![], requests.clone());
    let prague = sealed_payload_v3(102, hash_of(&chain[1]), state_root(102), &sidecar);
    let v4 = cl.new_payload_v4(&prague, &[], beacon_root(7), &requests).await.unwrap();
    assert_eq!(v4.status, PayloadStatusEnum::Syncing);
    assert_eq!(anchors.payload_header(hash_of(&prague)).map(|h| h.header.number), Some(102));

    // The same V4 payload with other requests: its hash no longer follows from its fields.
    let other = vec![Bytes::from_static(&[0x01, 0xcc])];
    let bad = cl.new_payload_v4(&prague, &[], beacon_root(7), &other).await.unwrap();
    assert!(
        matches!(&bad.status, PayloadStatusEnum::Invalid { validation_error } if validation_error.contains("blockhash mismatch")),
        "{bad:?}"
    );
    assert_eq!(bad.latest_valid_hash, None);
    // A wrong beacon root, a changed state root, an expected blob the block lacks: all INVALID,
    // and none is recorded.
    let mut forged = chain[2].clone();
    forged.payload_inner.payload_inner.state_root = B256::repeat_byte(0xee);
    for status in [
        cl.new_payload_v3(&chain[2], &[], B256::repeat_byte(0x99)).await,
        cl.new_payload_v3(&forged, &[], beacon_root(102)).await,
        cl.new_payload_v3(&chain[2], &[B256::repeat_byte(1)], beacon_root(102)).await,
    ] {
        assert!(status.status.is_invalid(), "{status:?}");
    }
    assert_eq!(anchors.payload_header(hash_of(&chain[2])), None);
    assert_eq!(anchors.payload_header(hash_of(&forged)), None);

    // Requests out of order, or without data, are invalid params (-32602), not a status.
    for requests in [
        vec![Bytes::from_static(&[0x02, 0xbb]), Bytes::from_static(&[0x00, 0xaa])],
        vec![Bytes::from_static(&[0x01])],
    ] {
        let error = cl.new_payload_v4(&prague, &[], beacon_root(7), &requests).await.unwrap_err();
        assert_eq!(code(error), -32602);
    }
    // A missing parameter is invalid params too.
    let error = cl
        .call::<serde_json::Value>("engine_newPayloadV3", jsonrpsee_core::rpc_params![&chain[3]])
        .await
        .unwrap_err();
    assert_eq!(code(error), -32602);
}

#[tokio::test]
async fn forkchoice_updates_are_syncing_and_become_anchors_the_latest_winning() {
    let (_server, mut anchors, cl) = start().await;
    assert_eq!(anchors.latest(), None);
    let chain = payload_chain(1000, B256::repeat_byte(0x22), 3);
    for (i, payload) in chain.iter().enumerate() {
        let status = cl.new_payload_v3(payload, &[], beacon_root(1000 + i as u64)).await;
        assert_eq!(status.status, PayloadStatusEnum::Syncing);
    }
    let (h0, h1, h2) = (hash_of(&chain[0]), hash_of(&chain[1]), hash_of(&chain[2]));

    for (version, head) in [(1, h0), (2, h1), (3, h2)] {
        let answer = cl.forkchoice_updated(version, head, h0, B256::ZERO).await;
        assert_eq!(answer.payload_status.status, PayloadStatusEnum::Syncing);
        assert_eq!((answer.payload_status.latest_valid_hash, answer.payload_id), (None, None));
        let anchor = anchors.next().await.expect("an anchor");
        assert_eq!((anchor.seq, anchor.head), (version as u64, head));
        assert_eq!((anchor.safe, anchor.finalized), (Some(h0), None));
        assert_eq!(anchor.head_header.map(|h| h.header.hash), Some(head));
        assert_eq!(anchor.safe_header.map(|h| h.header.number), Some(1000));
    }

    // Payload attributes ask for a build: a syncing node starts none.
    let attributes = PayloadAttributes {
        timestamp: unix_now(),
        prev_randao: B256::ZERO,
        suggested_fee_recipient: Default::default(),
        withdrawals: Some(vec![]),
        parent_beacon_block_root: Some(B256::ZERO),
        slot_number: None,
        target_gas_limit: None,
    };
    let answer = cl
        .forkchoice_updated_with(3, h2, h1, h0, Some(&attributes))
        .await
        .expect("fcu with attributes");
    assert_eq!(
        (answer.payload_status.status, answer.payload_id),
        (PayloadStatusEnum::Syncing, None)
    );
    let anchor = anchors.next().await.unwrap();
    assert_eq!(
        (anchor.seq, anchor.finalized, anchor.finalized_header.map(|h| h.header.number)),
        (4, Some(h0), Some(1000))
    );
    // Attributes of the wrong version are invalid params, and no anchor.
    let error = cl.forkchoice_updated_with(1, h2, h1, h0, Some(&attributes)).await.unwrap_err();
    assert_eq!(code(error), -32602);
    // A zero head is refused (INVALID, as geth), and no anchor either.
    let answer = cl.forkchoice_updated_v3(B256::ZERO, B256::ZERO, B256::ZERO).await;
    assert!(answer.payload_status.status.is_invalid());
    assert_eq!(anchors.latest().unwrap().seq, 4);

    // A head whose payload arrives after the update: the same anchor, its header filled in.
    let next = payload_chain(1003, h2, 1).remove(0);
    cl.forkchoice_updated_v3(hash_of(&next), h2, h0).await;
    let anchor = anchors.next().await.unwrap();
    assert_eq!((anchor.seq, anchor.head_header), (5, None));
    cl.new_payload_v3(&next, &[], beacon_root(1003)).await;
    let anchor = anchors.next().await.unwrap();
    assert_eq!((anchor.seq, anchor.head_header.map(|h| h.header.number)), (5, Some(1003)));
}

#[tokio::test]
async fn a_flood_of_updates_leaves_one_anchor_the_last() {
    let (_server, mut anchors, cl) = start().await;
    // 2000 forkchoice updates in one batch (geth's batch limit), then 500 more one by one,
    // with nobody reading: the reader then gets the last one, and nothing is queued behind it.
    let state = |n: u64| {
        serde_json::json!({
            "headBlockHash": B256::from(alloy_primitives::U256::from(n)),
            "safeBlockHash": B256::ZERO,
            "finalizedBlockHash": B256::ZERO,
        })
    };
    let batch: Vec<serde_json::Value> = (1..=2000u64)
        .map(|n| serde_json::json!({"jsonrpc": "2.0", "id": n, "method": "engine_forkchoiceUpdatedV3", "params": [state(n), null]}))
        .collect();
    let (status, body) = cl
        .post_raw(Some(&cl.bearer_now()), serde_json::to_string(&batch).unwrap().as_bytes())
        .await;
    assert_eq!(status, 200);
    let answers = json(&body);
    assert_eq!(answers.as_array().map(Vec::len), Some(2000));
    assert!(
        answers
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["result"]["payloadStatus"]["status"] == "SYNCING")
    );
    for n in 2001..=2500u64 {
        cl.forkchoice_updated_v3(
            B256::from(alloy_primitives::U256::from(n)),
            B256::ZERO,
            B256::ZERO,
        )
        .await;
    }
    let anchor = anchors.next().await.unwrap();
    assert_eq!(
        (anchor.seq, anchor.head),
        (2500, B256::from(alloy_primitives::U256::from(2500u64)))
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), anchors.next()).await.is_err(),
        "no older update is queued behind the latest"
    );
    // A batch over the limit is refused whole.
    let too_many: Vec<serde_json::Value> = (0..2001u64)
        .map(|n| serde_json::json!({"jsonrpc": "2.0", "id": n, "method": "eth_chainId", "params": []}))
        .collect();
    let (_, body) = cl
        .post_raw(Some(&cl.bearer_now()), serde_json::to_string(&too_many).unwrap().as_bytes())
        .await;
    assert!(json(&body)["error"].is_object(), "{body}");
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_refused_without_reading_them_whole() {
    let limit = 64 * 1024;
    let (_server, anchors, cl) = start_with(|config| config.max_request_body = limit).await;
    let bearer = cl.bearer_now();
    for malformed in [&b"{\"jsonrpc\":\"2.0\",\"id\":1,"[..], b"", b"hello", b"\xff\xfe{"] {
        let (status, body) = cl.post_raw(Some(&bearer), malformed).await;
        assert!(status == 400 || json(&body)["error"]["code"] == -32700, "{status} {body}");
    }
    // A well-formed call with fields of the wrong type: invalid params, nothing recorded.
    let wrong = r#"{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":[{"headBlockHash":"0x12"},null]}"#;
    let (_, body) = cl.post_raw(Some(&bearer), wrong.as_bytes()).await;
    assert_eq!(json(&body)["error"]["code"], -32602, "{body}");
    assert_eq!(anchors.latest(), None);

    // Over the limit, declared: 413 at once.
    let big = vec![b' '; limit as usize + 1];
    let (status, _) = cl.post_raw(Some(&bearer), &big).await;
    assert_eq!(status, 413);
    // Over the limit, streamed without a length: cut off at the limit (jsonrpsee reports the
    // cut as an internal error, 500, rather than 413).
    let mut chunked =
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\",\"params\":[\"".to_vec();
    chunked.resize(4 * limit as usize, b'a');
    let body = chunk(&chunked);
    let (status, _) =
        post_raw(cl.addr, Some(&bearer), &[("transfer-encoding", "chunked".into())], &body).await;
    assert!(status == 413 || status == 500, "{status}");
    // (A chunked body under the limit is read and answered: the refusal is the limit's.)
    let (status, body) = post_raw(
        cl.addr,
        Some(&bearer),
        &[("transfer-encoding", "chunked".into())],
        &chunk(CAPS.as_bytes()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Without a token a body is never read: a declared gigabyte, never sent, is refused at once.
    let (status, body) =
        post_raw(cl.addr, None, &[("content-length", "1000000000".into())], b"").await;
    assert_eq!(status, 401, "{body}");
    // And the server still answers.
    let (status, _) = cl.post_raw(Some(&cl.bearer_now()), CAPS.as_bytes()).await;
    assert_eq!(status, 200);
}

/// `body` as HTTP/1.1 chunks of 8 KiB.
fn chunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(8192) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn snap_sync_refuses_a_jwt_secret_file_it_cannot_use() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret = tmp.path().join("jwt.hex");
    std::fs::write(&secret, "not hex").unwrap();
    let enode = format!("enode://{}@127.0.0.1:1", "ab".repeat(64));
    let datadir = tmp.path().join("data");
    let output = common::run(&[
        "sync",
        "--peer",
        &enode,
        "--datadir",
        common::path(&datadir),
        "--authrpc.port",
        "0",
        "--authrpc.jwtsecret",
        common::path(&secret),
        "--quiet",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not 32 bytes of hex"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "not hex", "left alone");
}

/// `snap sync` runs the Engine API beside the sync: the secret file appears in the datadir
/// (0600), a consensus client holding it is answered, and its head is reported.
#[tokio::test]
async fn snap_sync_serves_the_engine_api_with_the_datadir_secret() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().expect("tempdir");
    let datadir = tmp.path().join("data");
    // A peer that is never there: the sync keeps waiting, the Engine API keeps answering.
    let enode = format!("enode://{}@127.0.0.1:1", "ab".repeat(64));
    let mut child = KillOnDrop(
        std::process::Command::new(common::SNAP)
            .args(["sync", "--peer", &enode, "--datadir", common::path(&datadir)])
            .args(["--authrpc.port", "0", "--quiet"])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("snap sync starts"),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("snap sync: {line}");
            let _ = sender.send(line);
        }
    });
    let wait_for = |needle: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("snap sync printed no {needle:?}"));
            if let Some(at) = line.find(needle) {
                return line[at + needle.len()..].to_owned();
            }
        }
    };
    let rest = wait_for("engine API at http://");
    let addr: std::net::SocketAddr =
        rest.split_whitespace().next().unwrap().parse().expect("an address");

    let secret_file = datadir.join("jwt.hex");
    let hex = std::fs::read_to_string(&secret_file).expect("the secret file is created");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let cl = ScriptedCl::new(addr, JwtSecret::from_hex(hex).expect("32 bytes of hex"));
    assert_eq!(cl.exchange_capabilities(&[]).await.len(), CAPABILITIES.len());
    let head = B256::repeat_byte(0x5a);
    let answer = cl.forkchoice_updated_v3(head, B256::ZERO, B256::ZERO).await;
    assert_eq!(answer.payload_status.status, PayloadStatusEnum::Syncing);
    let rest = wait_for("consensus client connected: head ");
    assert!(rest.starts_with(&head.to_string()), "{rest}");
}

/// A child process killed when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
