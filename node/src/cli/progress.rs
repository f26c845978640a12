//! What `snap sync` and `snap demo` show while syncing: indicatif bars per phase on a terminal
//! (percentage, rates, ETA and what remains), log lines otherwise.

use std::{io::IsTerminal, time::Duration};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use snap_core::{
    pivot::WaitReason,
    sync::{Phase, ProgressReport, SyncEvent},
};
use snap_node::DriverEvent;

const MIB: f64 = 1024.0 * 1024.0;

/// The progress display.
pub(crate) struct Display {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn eta(report: &ProgressReport) -> String {
    report.eta.map_or_else(|| "?".into(), |eta| format!("{}s", eta.as_secs()))
}

/// The large contracts still being fetched in chunks (the report lists up to five), with the
/// slots estimated left in them.
fn big_contracts(report: &ProgressReport) -> String {
    let pending = &report.largest_pending_contracts;
    let slots = pending.iter().filter_map(|p| p.slots_left).fold(0u64, u64::saturating_add);
    match (pending.len(), slots) {
        (count, 0) => format!("{count} big contracts"),
        (count, slots) => format!("{count} big contracts (~{slots} slots)"),
    }
}

fn ranges_line(report: &ProgressReport) -> String {
    let c = &report.counters;
    let bytes = (c.account_bytes + c.slot_bytes + c.code_bytes + c.node_bytes) as f64 / MIB;
    format!(
        "{} accounts, {} slots, {} codes, {bytes:.1} MiB | {:.0} acc/s, {:.0} slots/s, {:.2} MiB/s | ETA {} | left: {} codes, {} | {} peers, {} in flight",
        c.accounts,
        c.slots,
        c.codes,
        report.accounts_per_second,
        report.slots_per_second,
        report.bytes_per_second / MIB,
        eta(report),
        report.codes_outstanding,
        big_contracts(report),
        report.peers,
        report.in_flight,
    )
}

fn heal_line(report: &ProgressReport) -> String {
    let c = &report.counters;
    if matches!(report.phase, Phase::Applying | Phase::Rebuilding) {
        return catch_up_line(report);
    }
    format!(
        "{} nodes, {} accounts and {} slots healed | {} pending, {} queued | {} peers",
        c.nodes,
        c.healed_accounts,
        c.healed_slots,
        report.heal_pending,
        report.heal_queued,
        report.peers
    )
}

/// The block-access-list catch-up (snap/2): lists applied, then the tries rebuilt.
fn catch_up_line(report: &ProgressReport) -> String {
    let c = &report.counters;
    format!(
        "{} BALs ({} bytes), {} left: {} accounts, {} slots changed | {} leaves rebuilt ({:.0}%) \
         | {} peers",
        c.bals,
        c.bal_bytes,
        report.bals_left,
        c.bal_accounts,
        c.bal_slots,
        c.rebuilt_leaves,
        report.rebuild_fraction * 100.0,
        report.peers
    )
}

impl Display {
    /// Bars when stderr is a terminal (and `quiet` is off), log lines otherwise.
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self { bars: None };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let ranges = multi.add(ProgressBar::new(1000));
        ranges.set_style(style("ranges  [{bar:30}] {percent:>3}% {wide_msg}"));
        let heal = multi.add(ProgressBar::new_spinner());
        heal.set_style(style("healing {spinner} {wide_msg}"));
        heal.enable_steady_tick(Duration::from_millis(250));
        heal.set_message("waiting for ranges");
        Self { bars: Some((multi, ranges, heal)) }
    }

    fn log(&self, line: &str) {
        match &self.bars {
            Some((multi, _, _)) => {
                let _ = multi.println(line);
            }
            None => tracing::info!("{line}"),
        }
    }

    /// Shows one driver event.
    pub(crate) fn event(&self, event: &DriverEvent) {
        match event {
            DriverEvent::Sync(SyncEvent::Progress(report)) => match &self.bars {
                Some((_, ranges, heal)) => {
                    if report.phase == Phase::Ranges {
                        ranges.set_position((report.fraction_done * 1000.0) as u64);
                        ranges.set_message(ranges_line(report));
                    } else {
                        heal.set_message(heal_line(report));
                    }
                }
                None => {
                    let line = if report.phase == Phase::Ranges {
                        format!(
                            "ranges {:.1}% {}",
                            report.fraction_done * 100.0,
                            ranges_line(report)
                        )
                    } else {
                        format!("{:?}: {}", report.phase, heal_line(report))
                    };
                    tracing::info!("{line}");
                }
            },
            DriverEvent::Sync(SyncEvent::Phase(phase)) => {
                if let (Some((_, ranges, heal)), true) = (&self.bars, *phase > Phase::Ranges) {
                    ranges.set_position(1000);
                    ranges.finish();
                    let what = match phase {
                        Phase::Applying => "applying block access lists",
                        Phase::Rebuilding => "rebuilding the tries from the flat state",
                        _ => "walking the trie from the root",
                    };
                    heal.set_message(format!("{phase:?}: {what}"));
                }
                self.log(&format!("phase: {phase:?}"));
            }
            DriverEvent::Sync(SyncEvent::NewTarget(target)) => {
                self.log(&format!("new target: block {} root {}", target.number, target.root));
            }
            DriverEvent::Sync(SyncEvent::Stalled { usable_peers, in_flight }) => {
                self.log(&format!(
                    "stalled: {usable_peers} usable peers, {in_flight} requests in flight"
                ));
            }
            DriverEvent::Sync(SyncEvent::Done { .. }) => {
                if let Some((_, ranges, heal)) = &self.bars {
                    ranges.finish();
                    heal.finish_with_message("done");
                }
            }
            DriverEvent::PeerReady { enode, client, snap } => {
                self.log(&format!("peer ready: {client} at {} (snap: {snap})", enode.addr));
            }
            DriverEvent::PeerGone { enode, reason } => {
                self.log(&format!("peer gone: {} ({reason})", enode.addr));
            }
            DriverEvent::Misbehaved { enode, reason } => {
                self.log(&format!("peer dropped and banned: {} ({reason})", enode.addr));
            }
            DriverEvent::Useless { enode, kept_out } => {
                self.log(&format!(
                    "peer {} served nothing it was asked; dropped for {} min",
                    enode.addr,
                    kept_out.as_secs() / 60
                ));
            }
            DriverEvent::WrongNetwork { enode, reason } => {
                self.log(&format!("peer {} is on another network: {reason}", enode.addr));
            }
            DriverEvent::Resumed(target) => {
                self.log(&format!(
                    "resuming the sync of block {} root {}",
                    target.number, target.root
                ));
            }
            DriverEvent::Started(target) => {
                self.log(&format!("syncing block {} root {}", target.number, target.root));
            }
            DriverEvent::Unserved(target) => {
                self.log(&format!(
                    "no peer serves the state of block {} ({}); waiting",
                    target.number, target.root
                ));
            }
            DriverEvent::Waiting(reason) => {
                self.log(&format!("no target yet: {}", waiting(*reason)))
            }
            DriverEvent::Reorg { ancestor, depth } => {
                self.log(&format!("the chain reorganised: {depth} blocks after block {ancestor}"));
            }
            _ => {}
        }
    }

    /// Removes the bars.
    pub(crate) fn finish(&self) {
        if let Some((multi, ranges, heal)) = &self.bars {
            ranges.abandon();
            heal.abandon();
            let _ = multi.clear();
        }
    }
}

/// Why no target is chosen yet, in words.
fn waiting(reason: WaitReason) -> String {
    match reason {
        WaitReason::TooFewPeers { have, need } => format!(
            "{have} of the {need} peers needed have sent their head (--pivot-quorum sets how \
             many must agree)"
        ),
        WaitReason::NoAgreement => "the peers' headers disagree; waiting for more peers".into(),
        WaitReason::NoConsensusHead => {
            "waiting for the consensus client's fork choice at the Engine API (--authrpc.*)".into()
        }
        WaitReason::HeaderUnknown => "no peer has sent the anchored block's header yet".into(),
        WaitReason::NoSnapPeer => "no snap peer to check the pivot's state with".into(),
    }
}
