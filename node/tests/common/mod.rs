//! Running the real `snap` binary: a serving process that prints its enode, and commands that
//! must succeed.

#![allow(dead_code, unreachable_pub)]

pub mod cl;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
};

pub const SNAP: &str = env!("CARGO_BIN_EXE_snap");

/// A `snap serve` child, killed on drop.
pub struct Server {
    pub child: Child,
    pub enode: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `snap serve ARGS --listen 127.0.0.1:0` and reads its enode line.
pub fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(SNAP)
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("snap serve starts");
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("reads the enode line");
    let enode = line.trim().to_owned();
    assert!(enode.starts_with("enode://"), "serve printed {enode:?}");
    Server { child, enode }
}

/// Runs `snap ARGS` to its end.
pub fn run(args: &[&str]) -> Output {
    let output = Command::new(SNAP).args(args).output().expect("snap runs");
    eprintln!(
        "$ snap {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `snap ARGS`, asserting success, and returns its stdout.
pub fn run_ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(output.status.success(), "snap {} failed: {:?}", args.join(" "), output.status);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Our `Node` serving with `server` on 127.0.0.1, announcing `info` and offering what
/// `snap serve` offers for that server (snap/2 only with access lists); every session runs
/// until the peer leaves. Returns its enode.
pub async fn serve_in_process(
    server: std::sync::Arc<dyn snap_tokio_adapter::server::Server>,
    info: snap_tokio_adapter::eth::ChainInfo,
) -> snap_tokio_adapter::session::Enode {
    use snap_tokio_adapter::{
        connection::ConnectionConfig,
        server::served_snap_versions,
        session::{Enode, Node},
    };
    let mut config = ConnectionConfig::new(info);
    config.snap_versions = served_snap_versions(server.as_ref());
    let node = Node::new(k256::SecretKey::random(&mut rand_core::OsRng), config, server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = Enode { id: node.id(), addr: listener.local_addr().expect("addr") };
    tokio::spawn(async move {
        while let Ok(mut handle) = node.accept_from(&listener).await {
            tokio::spawn(async move { while handle.next_event().await.is_some() {} });
        }
    });
    enode
}
