//! Prometheus metrics: a handful of counters and gauges in atomics, rendered in the text
//! exposition format by a minimal `/metrics` endpoint on a tokio listener (no exporter crate).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use snap_core::sync::{Phase, ProgressReport};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// The node's metrics (shared; every field is updated with relaxed atomics).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Peers with a ready session.
    pub peers: AtomicU64,
    /// Snap requests sent.
    pub requests: AtomicU64,
    /// Snap responses received.
    pub responses: AtomicU64,
    /// Bytes written to the store (estimated batch sizes).
    pub bytes_written: AtomicU64,
    /// Batches written.
    pub batches: AtomicU64,
    /// Accounts, slots, codes and trie nodes synced (from the last progress report).
    pub accounts: AtomicU64,
    /// Storage slots synced.
    pub slots: AtomicU64,
    /// Bytecodes synced.
    pub codes: AtomicU64,
    /// Trie nodes healed.
    pub nodes: AtomicU64,
    /// Block access lists applied (snap/2 catch-up).
    pub bals: AtomicU64,
    /// Bytes of block access lists applied.
    pub bal_bytes: AtomicU64,
    /// Account changes applied from block access lists.
    pub bal_accounts: AtomicU64,
    /// Slot changes applied from block access lists.
    pub bal_slots: AtomicU64,
    /// Trie leaves rebuilt from the flat state after a catch-up.
    pub rebuilt_leaves: AtomicU64,
    /// The phase: 0 ranges, 1 healing, 2 flushing, 3 done, 4 applying, 5 rebuilding.
    pub phase: AtomicU64,
    /// Heal requests pending.
    pub heal_pending: AtomicU64,
    /// Heal paths queued.
    pub heal_queued: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// The number a phase is exported as.
pub const fn phase_number(phase: Phase) -> u64 {
    match phase {
        Phase::Ranges => 0,
        Phase::Healing => 1,
        Phase::Flushing => 2,
        Phase::Done => 3,
        Phase::Applying => 4,
        Phase::Rebuilding => 5,
    }
}

impl Metrics {
    /// Counts one error of `kind`.
    pub fn error(&self, kind: &str) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// Takes the totals of a progress report.
    pub fn report(&self, report: &ProgressReport) {
        let counters = &report.counters;
        self.accounts.store(counters.accounts, Relaxed);
        self.slots.store(counters.slots, Relaxed);
        self.codes.store(counters.codes, Relaxed);
        self.nodes.store(counters.nodes, Relaxed);
        self.bals.store(counters.bals, Relaxed);
        self.bal_bytes.store(counters.bal_bytes, Relaxed);
        self.bal_accounts.store(counters.bal_accounts, Relaxed);
        self.bal_slots.store(counters.bal_slots, Relaxed);
        self.rebuilt_leaves.store(counters.rebuilt_leaves, Relaxed);
        self.phase.store(phase_number(report.phase), Relaxed);
        self.heal_pending.store(report.heal_pending as u64, Relaxed);
        self.heal_queued.store(report.heal_queued as u64, Relaxed);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauges: [(&str, &str, &AtomicU64); 17] = [
            ("snap_peers", "gauge", &self.peers),
            ("snap_requests_total", "counter", &self.requests),
            ("snap_responses_total", "counter", &self.responses),
            ("snap_written_bytes_total", "counter", &self.bytes_written),
            ("snap_batches_total", "counter", &self.batches),
            ("snap_accounts_total", "counter", &self.accounts),
            ("snap_slots_total", "counter", &self.slots),
            ("snap_codes_total", "counter", &self.codes),
            ("snap_nodes_total", "counter", &self.nodes),
            ("snap_bals_total", "counter", &self.bals),
            ("snap_bal_bytes_total", "counter", &self.bal_bytes),
            ("snap_bal_accounts_total", "counter", &self.bal_accounts),
            ("snap_bal_slots_total", "counter", &self.bal_slots),
            ("snap_rebuilt_leaves_total", "counter", &self.rebuilt_leaves),
            ("snap_phase", "gauge", &self.phase),
            ("snap_heal_pending", "gauge", &self.heal_pending),
            ("snap_heal_queued", "gauge", &self.heal_queued),
        ];
        for (name, kind, value) in gauges {
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {}", value.load(Relaxed));
        }
        let _ = writeln!(out, "# TYPE snap_errors_total counter");
        if let Ok(errors) = self.errors.lock() {
            for (kind, count) in errors.iter() {
                let kind = kind.replace(['"', '\\', '\n'], "_");
                let _ = writeln!(out, "snap_errors_total{{kind=\"{kind}\"}} {count}");
            }
        }
        out
    }
}

/// Serves `metrics` at `http://addr/metrics` (any path answers) until the runtime stops.
/// Returns the bound address.
pub async fn serve_metrics(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                let body = metrics.render();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_serves_the_text_exposition() {
        let metrics = Arc::new(Metrics::default());
        metrics.peers.store(3, Relaxed);
        let counters = snap_core::sync::Counters {
            bals: 4,
            bal_bytes: 900,
            rebuilt_leaves: 77,
            ..Default::default()
        };
        metrics.report(&ProgressReport {
            phase: Phase::Rebuilding,
            fraction_done: 1.0,
            counters,
            accounts_per_second: 0.0,
            slots_per_second: 0.0,
            bytes_per_second: 0.0,
            eta: None,
            largest_pending_contracts: Vec::new(),
            codes_outstanding: 0,
            peers: 0,
            in_flight: 0,
            elapsed: std::time::Duration::ZERO,
            target: snap_core::sync::Target { root: Default::default(), number: 1 },
            heal_pending: 0,
            heal_queued: 0,
            bals_left: 0,
            rebuild_fraction: 0.5,
        });
        metrics.error("snap_timeout");
        metrics.error("snap_timeout");
        metrics.error("bad \"kind\"");
        let addr = serve_metrics("127.0.0.1:0".parse().expect("addr"), metrics.clone())
            .await
            .expect("bound");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        let body = response.split("\r\n\r\n").nth(1).expect("body");
        assert_eq!(body, metrics.render());
        assert!(body.contains("# TYPE snap_peers gauge\nsnap_peers 3\n"), "{body}");
        assert!(body.contains("snap_bals_total 4\n"), "{body}");
        assert!(body.contains("snap_bal_bytes_total 900\n"), "{body}");
        assert!(body.contains("snap_rebuilt_leaves_total 77\n"), "{body}");
        assert!(body.contains("snap_phase 5\n"), "{body}");
        assert!(body.contains("snap_errors_total{kind=\"snap_timeout\"} 2\n"), "{body}");
        assert!(body.contains("snap_errors_total{kind=\"bad _kind_\"} 1\n"), "{body}");
    }
}
