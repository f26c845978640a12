//! Metrics through the `metrics` facade: a host that embeds the node collects them with its
//! own recorder (reth's exporter, say); the `snap` binary installs
//! `metrics-exporter-prometheus` and serves them at `/metrics` ([`install_prometheus`]).
//! The names are the node's Prometheus names: `snap_peers`, `snap_requests_total`, ...,
//! `snap_errors_total{kind}`.

use std::net::SocketAddr;

use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use snap_core::sync::{Phase, ProgressReport};

/// The node's metric handles.
#[derive(Debug)]
pub struct Metrics {
    /// Peers with a ready session.
    pub peers: Gauge,
    /// Snap requests sent.
    pub requests: Counter,
    /// Snap responses received.
    pub responses: Counter,
    /// Bytes written to the store (estimated batch sizes).
    pub bytes_written: Counter,
    /// Batches written.
    pub batches: Counter,
    /// Accounts synced (from the last progress report).
    pub accounts: Counter,
    /// Storage slots synced.
    pub slots: Counter,
    /// Bytecodes synced.
    pub codes: Counter,
    /// Trie nodes healed.
    pub nodes: Counter,
    /// Block access lists applied (snap/2 catch-up).
    pub bals: Counter,
    /// Bytes of block access lists applied.
    pub bal_bytes: Counter,
    /// Account changes applied from block access lists.
    pub bal_accounts: Counter,
    /// Slot changes applied from block access lists.
    pub bal_slots: Counter,
    /// Trie leaves rebuilt from the flat state after a catch-up.
    pub rebuilt_leaves: Counter,
    /// The phase: 0 ranges, 1 healing, 2 flushing, 3 done, 4 applying, 5 rebuilding.
    pub phase: Gauge,
    /// Heal requests pending.
    pub heal_pending: Gauge,
    /// Heal paths queued.
    pub heal_queued: Gauge,
    /// A private recorder (and its renderer) when not recording through the global one.
    local: Option<(PrometheusRecorder, PrometheusHandle)>,
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

fn handles(local: Option<(PrometheusRecorder, PrometheusHandle)>) -> Metrics {
    let register = || Metrics {
        peers: metrics::gauge!("snap_peers"),
        requests: metrics::counter!("snap_requests_total"),
        responses: metrics::counter!("snap_responses_total"),
        bytes_written: metrics::counter!("snap_written_bytes_total"),
        batches: metrics::counter!("snap_batches_total"),
        accounts: metrics::counter!("snap_accounts_total"),
        slots: metrics::counter!("snap_slots_total"),
        codes: metrics::counter!("snap_codes_total"),
        nodes: metrics::counter!("snap_nodes_total"),
        bals: metrics::counter!("snap_bals_total"),
        bal_bytes: metrics::counter!("snap_bal_bytes_total"),
        bal_accounts: metrics::counter!("snap_bal_accounts_total"),
        bal_slots: metrics::counter!("snap_bal_slots_total"),
        rebuilt_leaves: metrics::counter!("snap_rebuilt_leaves_total"),
        phase: metrics::gauge!("snap_phase"),
        heal_pending: metrics::gauge!("snap_heal_pending"),
        heal_queued: metrics::gauge!("snap_heal_queued"),
        local: None,
    };
    match local {
        Some((recorder, handle)) => {
            let mut metrics = metrics::with_local_recorder(&recorder, register);
            metrics.local = Some((recorder, handle));
            metrics
        }
        None => register(),
    }
}

impl Default for Metrics {
    /// Handles on the global recorder (none installed: the metrics go nowhere).
    fn default() -> Self {
        handles(None)
    }
}

impl Metrics {
    /// Handles on a private Prometheus recorder, rendered by [`Self::render`] (for tests and
    /// hosts without a recorder of their own).
    pub fn with_prometheus() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        handles(Some((recorder, handle)))
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: &str) {
        let kind = kind.to_owned();
        let counter = || metrics::counter!("snap_errors_total", "kind" => kind);
        match &self.local {
            Some((recorder, _)) => metrics::with_local_recorder(recorder, counter).increment(1),
            None => counter().increment(1),
        }
    }

    /// Takes the totals of a progress report.
    pub fn report(&self, report: &ProgressReport) {
        let counters = &report.counters;
        self.accounts.absolute(counters.accounts);
        self.slots.absolute(counters.slots);
        self.codes.absolute(counters.codes);
        self.nodes.absolute(counters.nodes);
        self.bals.absolute(counters.bals);
        self.bal_bytes.absolute(counters.bal_bytes);
        self.bal_accounts.absolute(counters.bal_accounts);
        self.bal_slots.absolute(counters.bal_slots);
        self.rebuilt_leaves.absolute(counters.rebuilt_leaves);
        self.phase.set(phase_number(report.phase) as f64);
        self.heal_pending.set(report.heal_pending as f64);
        self.heal_queued.set(report.heal_queued as f64);
    }

    /// The text exposition of a private recorder ([`Self::with_prometheus`]); empty when
    /// recording through the global recorder.
    pub fn render(&self) -> String {
        self.local.as_ref().map(|(_, handle)| handle.render()).unwrap_or_default()
    }
}

/// Installs the Prometheus exporter as the global recorder, serving `http://addr/metrics`
/// on the current runtime.
pub fn install_prometheus(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new().with_http_listener(addr).install().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    fn report() -> ProgressReport {
        let counters = snap_core::sync::Counters {
            bals: 4,
            bal_bytes: 900,
            rebuilt_leaves: 77,
            ..Default::default()
        };
        ProgressReport {
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
            elapsed: Duration::ZERO,
            target: snap_core::sync::Target { root: Default::default(), number: 1 },
            heal_pending: 0,
            heal_queued: 0,
            bals_left: 0,
            rebuild_fraction: 0.5,
        }
    }

    #[test]
    fn the_names_are_the_prometheus_names() {
        let metrics = Metrics::with_prometheus();
        metrics.peers.set(3.0);
        metrics.report(&report());
        metrics.error("snap_timeout");
        metrics.error("snap_timeout");
        metrics.error("bad \"kind\"");
        let body = metrics.render();
        for line in [
            "snap_peers 3\n",
            "snap_bals_total 4\n",
            "snap_bal_bytes_total 900\n",
            "snap_rebuilt_leaves_total 77\n",
            "snap_phase 5\n",
            "snap_errors_total{kind=\"snap_timeout\"} 2\n",
        ] {
            assert!(body.contains(line), "{line:?} in {body}");
        }
        assert!(body.contains("# TYPE snap_peers gauge"), "{body}");
        assert!(body.contains("# TYPE snap_requests_total counter"), "{body}");
    }

    async fn get(addr: SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    /// Issue #16 item 9: the endpoint keeps answering while idle and slow connections hang
    /// on it (the hand-written one read each connection with no timeout and died on its
    /// first accept error).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_endpoint_keeps_answering_beside_idle_and_slow_connections() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let (recorder, exporter) =
            PrometheusBuilder::new().with_http_listener(addr).build().expect("exporter builds");
        let metrics =
            metrics::with_local_recorder(&recorder, || metrics::counter!("snap_requests_total"));
        metrics.increment(7);
        tokio::spawn(exporter);
        let mut waited = 0;
        while TcpStream::connect(addr).await.is_err() {
            waited += 1;
            assert!(waited < 100, "the exporter listens");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut idle = Vec::new();
        for _ in 0..64 {
            idle.push(TcpStream::connect(addr).await.expect("idle connection"));
        }
        let mut slow = TcpStream::connect(addr).await.expect("slow connection");
        slow.write_all(b"GET /met").await.expect("half a request");
        for _ in 0..3 {
            let response = tokio::time::timeout(Duration::from_secs(10), get(addr))
                .await
                .expect("answered in time");
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(response.contains("snap_requests_total 7"), "{response}");
        }
        drop(idle);
    }
}
