//! Measuring progress for the periodic [`ProgressReport`](super::contract::ProgressReport):
//! rates from successive counter snapshots, the fraction shown, and the time left.

use std::time::{Duration, Instant};

use super::{contract::Counters, estimate::WorkEstimate};

/// Turns successive counter snapshots and work estimates into rates, a fraction and an ETA.
#[derive(Clone, Debug)]
pub(crate) struct ProgressMeter {
    started: Instant,
    /// The items (accounts and slots) written when measuring started.
    start_items: u64,
    last: Option<(Instant, Counters)>,
    /// The highest fraction shown since the range phase (re)started.
    shown: f64,
}

/// The measured parts of a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rates {
    /// The fraction to show: the estimate's, held while an estimate that grew catches up.
    pub(crate) fraction: f64,
    pub(crate) accounts_per_second: f64,
    pub(crate) slots_per_second: f64,
    pub(crate) bytes_per_second: f64,
    pub(crate) eta: Option<Duration>,
    pub(crate) elapsed: Duration,
}

/// The work items the estimate counts: accounts and slots written.
const fn items(counters: &Counters) -> u64 {
    counters.accounts.saturating_add(counters.slots)
}

impl ProgressMeter {
    /// Starts measuring at `now`, with `counters` written already (after a resume).
    pub(crate) fn new(now: Instant, counters: Counters) -> Self {
        Self { started: now, start_items: items(&counters), last: None, shown: 0.0 }
    }

    /// The range phase starts over (after a restart, or more ranges to fetch after the
    /// catch-up): the fraction shown may drop to the new estimate.
    pub(crate) fn ranges_again(&mut self) {
        self.shown = 0.0;
    }

    /// Rates since the previous call (or since the start); the fraction to show, which never
    /// goes back between calls (a grown estimate of the work is held until progress passes
    /// it); and the ETA: the items left at the rate this run has written items so far. The
    /// ETA follows the estimate at once, held fraction or not.
    pub(crate) fn measure(
        &mut self,
        now: Instant,
        counters: Counters,
        estimate: WorkEstimate,
    ) -> Rates {
        let (since, before) = self.last.unwrap_or((self.started, counters));
        let seconds = now.saturating_duration_since(since).as_secs_f64();
        let per_second = |after: u64, before: u64| {
            if seconds > 0.0 { after.saturating_sub(before) as f64 / seconds } else { 0.0 }
        };
        let bytes = |c: &Counters| c.account_bytes + c.slot_bytes + c.code_bytes + c.node_bytes;
        let elapsed = now.saturating_duration_since(self.started);
        let gained = items(&counters).saturating_sub(self.start_items) as f64;
        let eta = match estimate.left {
            Some(left) if left > 0.0 && gained > 0.0 && estimate.fraction < 1.0 => {
                Some(elapsed.mul_f64((left / gained).min(1e6)))
            }
            _ => None,
        };
        self.shown = self.shown.max(estimate.fraction);
        let rates = Rates {
            fraction: self.shown,
            accounts_per_second: per_second(counters.accounts, before.accounts),
            slots_per_second: per_second(counters.slots, before.slots),
            bytes_per_second: per_second(bytes(&counters), bytes(&before)),
            eta,
            elapsed,
        };
        self.last = Some((now, counters));
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::test_epoch as epoch;

    fn estimate(fraction: f64, left: f64) -> WorkEstimate {
        WorkEstimate { fraction, left: Some(left) }
    }

    #[test]
    fn rates_and_eta_follow_the_counters() {
        let start = epoch();
        let mut meter = ProgressMeter::new(start, Counters::default());
        let nothing = WorkEstimate { fraction: 0.0, left: None };
        let first = meter.measure(start, Counters::default(), nothing);
        assert_eq!(first.eta, None, "nothing done: no estimate");
        let counters =
            Counters { accounts: 1000, slots: 5000, account_bytes: 100_000, ..Counters::default() };
        let rates =
            meter.measure(start + Duration::from_secs(10), counters, estimate(0.25, 18_000.0));
        assert_eq!(rates.accounts_per_second, 100.0);
        assert_eq!(rates.slots_per_second, 500.0);
        assert_eq!(rates.bytes_per_second, 10_000.0);
        assert_eq!(rates.fraction, 0.25);
        // 6,000 items took 10 s: 18,000 more take 30 s.
        assert_eq!(rates.eta, Some(Duration::from_secs(30)));
    }

    #[test]
    fn eta_counts_only_this_runs_work_after_a_resume() {
        let start = epoch();
        let resumed = Counters { accounts: 500, slots: 500, ..Counters::default() };
        let mut meter = ProgressMeter::new(start, resumed);
        let later = Counters { accounts: 750, slots: 750, ..Counters::default() };
        let rates = meter.measure(start + Duration::from_secs(10), later, estimate(0.75, 500.0));
        assert_eq!(rates.eta, Some(Duration::from_secs(10)));
        let all = Counters { accounts: 1000, slots: 1000, ..Counters::default() };
        let done = meter.measure(start + Duration::from_secs(20), all, WorkEstimate::COMPLETE);
        assert_eq!((done.eta, done.fraction), (None, 1.0));
    }

    #[test]
    fn a_grown_estimate_holds_the_fraction_and_lengthens_the_eta() {
        let start = epoch();
        let mut meter = ProgressMeter::new(start, Counters::default());
        let at = |seconds| start + Duration::from_secs(seconds);
        let counters = |items| Counters { slots: items, ..Counters::default() };
        let first = meter.measure(at(10), counters(1000), estimate(0.5, 1000.0));
        assert_eq!((first.fraction, first.eta), (0.5, Some(Duration::from_secs(10))));
        // A giant turns up: 9,000 items more than thought.
        let grown = meter.measure(at(20), counters(2000), estimate(0.2, 8000.0));
        assert_eq!((grown.fraction, grown.eta), (0.5, Some(Duration::from_secs(80))));
        let caught_up = meter.measure(at(60), counters(6000), estimate(0.6, 4000.0));
        assert_eq!(caught_up.fraction, 0.6);
        // The range phase starts over: the fraction may drop.
        meter.ranges_again();
        assert_eq!(meter.measure(at(61), counters(6000), estimate(0.1, 1.0)).fraction, 0.1);
    }
}
