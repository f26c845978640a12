//! Failures shown to people by the real binary (issue #16 items 6 and 7): one readable line
//! and a non-zero exit, never a backtrace, no colour codes off a terminal.

mod common;

use common::{SNAP, path};
use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output =
        Command::new(SNAP).args(args).env("RUST_BACKTRACE", "1").output().expect("snap runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("$ snap {}\n{stdout}{stderr}", args.join(" "));
    (output.status.code(), stdout, stderr)
}

fn demo(seed: &str, dir: &std::path::Path) -> (Option<i32>, String, String) {
    run(&[
        "demo",
        "--accounts",
        "300",
        "--slots",
        "600",
        "--seed",
        seed,
        "--quiet",
        "--datadir",
        path(dir),
    ])
}

/// Item 6: a demo into a datadir that holds another state's sync says which root it synced
/// and fails, instead of printing the served root as verified. Its logs carry no ANSI codes.
#[test]
fn a_demo_into_a_datadir_of_another_state_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, first, logs) = demo("1", dir.path());
    assert_eq!(code, Some(0));
    assert!(!logs.contains('\u{1b}'), "colour codes in {logs:?}");
    let synced = first
        .lines()
        .find_map(|l| l.strip_prefix("demo: verified root "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the first demo verified a root")
        .to_owned();
    let (code, second, _) = demo("2", dir.path());
    assert_eq!(code, Some(1));
    assert!(second.contains("holds the sync of another state"), "{second}");
    assert!(second.contains(&synced), "names the root synced: {second}");
    assert!(!second.contains("demo: verified root"), "{second}");
}

/// Item 7: 200 KB of garbage inside `store.redb` makes `verify` (and `sync`, `serve`) say so
/// in one line and exit 1, not 101 with a backtrace from redb.
#[test]
fn a_damaged_store_is_one_line_and_exit_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, _) = demo("3", dir.path());
    assert_eq!(code, Some(0));
    let file = dir.path().join("store.redb");
    let mut bytes = std::fs::read(&file).expect("store");
    let start = bytes.len() / 3;
    let end = (start + 200_000).min(bytes.len());
    for (i, byte) in bytes[start..end].iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(13).wrapping_add(5);
    }
    std::fs::write(&file, bytes).expect("damaged");
    let verify = ["verify", "--datadir", path(dir.path())];
    let serve = ["serve", "--datadir", path(dir.path()), "--listen", "127.0.0.1:0"];
    let sync = [
        "sync",
        "--peer",
        "enode://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@127.0.0.1:1",
        "--datadir",
        path(dir.path()),
    ];
    for args in [&verify[..], &serve[..], &sync[..]] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(1), "snap {args:?}");
        assert!(!stderr.contains("stack backtrace"), "{stderr}");
        let error = stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
        assert!(error.contains("damaged"), "{error}");
        assert!(stderr.lines().count() <= 2, "{stderr}");
    }
}

/// A sync with nowhere to find peers (no `--peer`, discovery off) says what to pass and exits
/// 1 at once, though it listens for peers: waiting for someone to connect is not a plan.
#[test]
fn a_sync_with_no_way_to_find_peers_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = format!("0x{}", "42".repeat(32));
    let (code, stdout, stderr) = run(&[
        "sync",
        "--chain",
        "demo",
        "--root",
        &root,
        "--no-discovery",
        "--addr",
        "127.0.0.1",
        "--port",
        "0",
        "--datadir",
        path(dir.path()),
    ]);
    assert_eq!(code, Some(1));
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("no peers: pass --peer ENODE"), "{said}");
    assert!(!said.contains("panicked") && !said.contains("stack backtrace"), "{said}");
}
