//! End to end over loopback with the real binary: `snap serve` on hivechain's head state with
//! its genesis and 600-block chain, `snap sync` picking the pivot from the served headers,
//! `snap verify`; then a second hop serving the synced store itself, and `snap query`.

mod common;

use std::path::PathBuf;

use common::{path, run, run_ok, serve};
use snap_sim::testdata::{HIVECHAIN_HEAD_STATE_ROOT, hivechain_dir};

/// `snap serve` on hivechain's head state, genesis and chain; with the genesis and chain file
/// paths. `None` (said loudly) when the test data is absent.
fn serve_hivechain(test: &str) -> Option<(common::Server, PathBuf, PathBuf)> {
    let dir = hivechain_dir(test)?;
    let (state, genesis, chain) =
        (dir.join("headstate.json"), dir.join("genesis.json"), dir.join("chain.rlp"));
    let server =
        serve(&["--state", path(&state), "--chain", path(&genesis), "--headers", path(&chain)]);
    Some((server, genesis, chain))
}

#[test]
fn hivechain_serve_sync_verify_and_serve_the_synced_store() {
    let Some((server, genesis, chain)) =
        serve_hivechain("hivechain_serve_sync_verify_and_serve_the_synced_store")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = tmp.path().join("first");
    let stdout = run_ok(&[
        "sync",
        "--peer",
        &server.enode,
        "--chain",
        path(&genesis),
        "--datadir",
        path(&first),
        "--authrpc.port",
        "0",
        "--quiet",
    ]);
    let root = HIVECHAIN_HEAD_STATE_ROOT.to_string();
    assert!(stdout.contains(&format!("synced root {root}")), "{stdout}");
    assert!(stdout.contains("verify: OK"), "{stdout}");
    let verified = run_ok(&["verify", "--datadir", path(&first)]);
    assert!(verified.contains(&format!("verify: root {root}")) && verified.contains("OK"));

    // The synced node serves what it synced: a second node syncs from it alone, with the
    // pivot again from its headers.
    drop(server);
    let relay =
        serve(&["--datadir", path(&first), "--chain", path(&genesis), "--headers", path(&chain)]);
    let second = tmp.path().join("second");
    let stdout = run_ok(&[
        "sync",
        "--peer",
        &relay.enode,
        "--chain",
        path(&genesis),
        "--datadir",
        path(&second),
        "--authrpc.port",
        "0",
        "--quiet",
    ]);
    assert!(stdout.contains(&format!("synced root {root}")), "{stdout}");

    // A fixed target: by block hash (the head's header fetched from the peer), and by root.
    let head_hash = snap_sim::testdata::HIVECHAIN_HEAD_HASH.to_string();
    for (flag, value, dir) in
        [("--block-hash", &head_hash, "by-hash"), ("--root", &root, "by-root")]
    {
        let datadir = tmp.path().join(dir);
        let stdout = run_ok(&[
            "sync",
            "--peer",
            &relay.enode,
            "--chain",
            path(&genesis),
            flag,
            value,
            "--datadir",
            path(&datadir),
            "--quiet",
        ]);
        assert!(stdout.contains(&format!("synced root {root}")), "{flag}: {stdout}");
    }

    // One request through `snap query`: the whole account range with a proof that verifies.
    let json = run_ok(&[
        "query",
        "--peer",
        &relay.enode,
        "--chain",
        path(&genesis),
        "account-range",
        "--root",
        &root,
    ]);
    let value: serde_json::Value = serde_json::from_str(&json).expect("query prints JSON");
    assert_eq!(value["proofVerifies"], serde_json::Value::Bool(true), "{json}");
    assert_eq!(value["accounts"].as_array().map(Vec::len), Some(194));
    // A root the peer does not serve: an empty answer, which proves nothing for that root.
    let json = run_ok(&[
        "query",
        "--peer",
        &relay.enode,
        "--chain",
        path(&genesis),
        "account-range",
        "--root",
        "0x1111111111111111111111111111111111111111111111111111111111111111",
    ]);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["accounts"].as_array().map(Vec::len), Some(0));

    // A store that is not a synced state fails verification with a non-zero exit.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert!(!run(&["verify", "--datadir", path(&empty)]).status.success());
}

#[test]
fn sync_with_a_wrong_fixed_root_does_not_exit_zero() {
    let Some(dir) = hivechain_dir("sync_with_a_wrong_fixed_root_does_not_exit_zero") else {
        return;
    };
    let genesis = dir.join("genesis.json");
    let server = serve(&["--state", path(&dir.join("headstate.json")), "--chain", path(&genesis)]);
    let tmp = tempfile::tempdir().expect("tempdir");
    // The peer serves no state for this root: the sync cannot finish; the test stops it.
    let mut child = std::process::Command::new(common::SNAP)
        .args(["sync", "--peer", &server.enode, "--chain", path(&genesis), "--quiet"])
        .args(["--root", "0x1111111111111111111111111111111111111111111111111111111111111111"])
        .args(["--datadir", path(tmp.path())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        child.try_wait().expect("status").is_none(),
        "a sync with nothing served must not succeed"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue #17: a sync given only a bootnode (no `--peer`) finds the serving node by discovery
/// (its ENR names our chain's fork id), dials it and syncs hivechain's head state.
#[test]
fn a_sync_with_only_a_bootnode_finds_its_peer_by_discovery() {
    let Some((server, genesis, _)) =
        serve_hivechain("a_sync_with_only_a_bootnode_finds_its_peer_by_discovery")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let stdout = run_ok(&[
        "sync",
        "--chain",
        path(&genesis),
        "--bootnodes",
        &server.enode,
        "--port",
        "0",
        "--datadir",
        path(tmp.path()),
        "--quiet",
    ]);
    let root = HIVECHAIN_HEAD_STATE_ROOT.to_string();
    assert!(stdout.contains(&format!("synced root {root}")), "{stdout}");
}
