//! End to end with a generated state of 100,000 accounts (with storage, large contracts and
//! code) over loopback with the real binary, and crash safety: `kill -9` during the range
//! download and during healing, restart, finish with a verified root.
//!
//! They take about half a minute: test builds are optimized (see the root `Cargo.toml`).

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use common::{SNAP, path, run_ok, serve};

const ACCOUNTS: &str = "100000";
const SLOTS: &str = "400000";

fn generated_server() -> common::Server {
    serve(&["--generate", ACCOUNTS, "--slots", SLOTS, "--seed", "7"])
}

fn synced_root(stdout: &str) -> String {
    let line = stdout.lines().find(|l| l.starts_with("synced root ")).expect("summary line");
    line["synced root ".len()..].split(':').next().expect("root").to_owned()
}

#[test]
fn generated_100k_accounts_serve_sync_verify() {
    let server = generated_server();
    let tmp = tempfile::tempdir().expect("tempdir");
    let stdout = run_ok(&[
        "sync",
        "--chain",
        "demo",
        "--peer",
        &server.enode,
        "--datadir",
        path(tmp.path()),
        "--quiet",
    ]);
    assert!(stdout.contains("verify: OK"), "{stdout}");
    let verified = run_ok(&["verify", "--datadir", path(tmp.path())]);
    let root = synced_root(&stdout);
    assert!(verified.contains(&format!("verify: root {root} (10")), "{verified}");
}

/// Starts a sync and kills it with SIGKILL as soon as a stderr line contains `marker` (after
/// `after` such lines). Returns whether the marker was seen before the sync ended by itself.
fn kill_at(enode: &str, datadir: &std::path::Path, marker: &str, after: usize) -> bool {
    let mut child = Command::new(SNAP)
        .args(["sync", "--chain", "demo", "--peer", enode, "--datadir", path(datadir), "--quiet"])
        .args(["--progress-secs", "1"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sync starts");
    let stderr = child.stderr.take().expect("piped");
    let mut seen = 0;
    let mut killed = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains(marker) {
            seen += 1;
            if seen > after {
                child.kill().expect("SIGKILL");
                killed = true;
                break;
            }
        }
    }
    let _ = child.wait();
    killed
}

#[test]
fn kill_9_during_ranges_and_healing_then_resume_to_a_verified_root() {
    let server = generated_server();
    let tmp = tempfile::tempdir().expect("tempdir");
    let datadir = tmp.path();
    let started = Instant::now();
    // During the range download, twice: a second into the first run, and a second into the
    // resumed one (progress lines come every second; the first comes at the start).
    assert!(kill_at(&server.enode, datadir, "ranges ", 1), "killed during ranges");
    assert!(kill_at(&server.enode, datadir, "ranges ", 1), "killed during ranges again");
    // Ctrl-C (SIGINT) stops cleanly: exit code 130, progress saved.
    let child = Command::new(SNAP)
        .args([
            "sync",
            "--chain",
            "demo",
            "--peer",
            &server.enode,
            "--datadir",
            path(datadir),
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sync starts");
    std::thread::sleep(Duration::from_millis(700));
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(sent.success());
    let output = child.wait_with_output().expect("exits");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("after SIGINT ({:?}): {stdout}", output.status);
    if !stdout.contains("verify: OK") {
        assert_eq!(output.status.code(), Some(130), "{stdout}");
        assert!(stdout.contains("progress is saved"), "{stdout}");
    }
    // The restart resumes (it says so), and is killed as healing starts.
    let healing = kill_at(&server.enode, datadir, "phase: Healing", 0);
    eprintln!("killed at healing: {healing}");
    let stdout = run_ok(&[
        "sync",
        "--chain",
        "demo",
        "--peer",
        &server.enode,
        "--datadir",
        path(datadir),
        "--quiet",
    ]);
    assert!(stdout.contains("verify: OK"), "{stdout}");
    run_ok(&["verify", "--datadir", path(datadir)]);
    // The same state synced in one go gives the same root.
    let fresh = tempfile::tempdir().expect("tempdir");
    let once = run_ok(&[
        "sync",
        "--chain",
        "demo",
        "--peer",
        &server.enode,
        "--datadir",
        path(fresh.path()),
        "--quiet",
    ]);
    assert_eq!(synced_root(&stdout), synced_root(&once));
    eprintln!("kill -9 test took {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(600));
}

/// `snap generate` streams a state into a store; `snap verify` checks it against the printed
/// root; `snap serve --datadir` serves it and a sync over loopback ends at the same root.
#[test]
fn generate_into_a_store_verify_serve_and_sync_it() {
    let generated = tempfile::tempdir().expect("tempdir");
    let args = ["--accounts", "20000", "--slots", "200000", "--seed", "5", "--batch-mib", "2"];
    let stdout = run_ok(&[&["generate", "--datadir", path(generated.path())][..], &args].concat());
    let line = stdout.lines().find(|l| l.starts_with("generated root ")).expect("root line");
    let root = line["generated root ".len()..].trim().to_owned();
    let verified = run_ok(&["verify", "--datadir", path(generated.path())]);
    assert!(verified.contains(&format!("verify: root {root} (")), "{verified}");
    assert!(verified.contains("verify: OK"), "{verified}");
    // A store holding a state is refused.
    let again =
        common::run(&[&["generate", "--datadir", path(generated.path())][..], &args].concat());
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a state"));

    let server = serve(&["--datadir", path(generated.path())]);
    let synced = tempfile::tempdir().expect("tempdir");
    let stdout = run_ok(&[
        "sync",
        "--chain",
        "demo",
        "--peer",
        &server.enode,
        "--datadir",
        path(synced.path()),
        "--quiet",
    ]);
    assert!(stdout.contains("verify: OK"), "{stdout}");
    assert_eq!(synced_root(&stdout), root);

    // Issue #16 item 6: the datadir holds the sync of `root`; a run asking for another root is
    // refused in words (it used to exit 0 reporting the old root), and --restart starts over.
    let other = format!("{}", B256::repeat_byte(0x42));
    let asked = [&["sync", "--chain", "demo", "--peer", &server.enode][..], &["--quiet"]].concat();
    let refused =
        common::run(&[&asked[..], &["--root", &other, "--datadir", path(synced.path())]].concat());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cannot continue this sync"), "{stderr}");
    assert!(stderr.contains(&format!("this run asks for root {other}")), "{stderr}");
    assert!(stderr.contains("--restart"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    let again = run_ok(&[&asked[..], &["--restart", "--datadir", path(synced.path())]].concat());
    assert!(again.contains("verify: OK"), "{again}");
    assert_eq!(synced_root(&again), root);
}
