//! Measuring progress for the periodic [`ProgressReport`](super::contract::ProgressReport):
//! rates from successive counter snapshots, and the time left.

use std::time::{Duration, Instant};

use super::contract::Counters;

/// Turns successive counter snapshots into rates and an ETA.
#[derive(Clone, Debug)]
pub(crate) struct ProgressMeter {
    started: Instant,
    start_fraction: f64,
    last: Option<(Instant, Counters)>,
}

/// The measured parts of a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rates {
    pub(crate) accounts_per_second: f64,
    pub(crate) slots_per_second: f64,
    pub(crate) bytes_per_second: f64,
    pub(crate) eta: Option<Duration>,
    pub(crate) elapsed: Duration,
}

impl ProgressMeter {
    /// Starts measuring at `now`, with `fraction` of the work already done (after a resume).
    pub(crate) fn new(now: Instant, fraction: f64) -> Self {
        Self { started: now, start_fraction: fraction, last: None }
    }

    /// Rates since the previous call (or since the start), and the ETA extrapolated from the
    /// fraction done by this run.
    pub(crate) fn measure(&mut self, now: Instant, counters: Counters, fraction: f64) -> Rates {
        let (since, before) = self.last.unwrap_or((self.started, counters));
        let seconds = now.saturating_duration_since(since).as_secs_f64();
        let per_second = |after: u64, before: u64| {
            if seconds > 0.0 { after.saturating_sub(before) as f64 / seconds } else { 0.0 }
        };
        let bytes = |c: &Counters| c.account_bytes + c.slot_bytes + c.code_bytes + c.node_bytes;
        let elapsed = now.saturating_duration_since(self.started);
        let gained = fraction - self.start_fraction;
        let eta = (gained > 1e-6 && fraction < 1.0)
            .then(|| elapsed.mul_f64(((1.0 - fraction) / gained).min(1e6)));
        let rates = Rates {
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

    #[test]
    fn rates_and_eta_follow_the_counters() {
        let start = epoch();
        let mut meter = ProgressMeter::new(start, 0.0);
        let first = meter.measure(start, Counters::default(), 0.0);
        assert_eq!(first.eta, None, "nothing done: no estimate");
        let counters =
            Counters { accounts: 1000, slots: 5000, account_bytes: 100_000, ..Counters::default() };
        let rates = meter.measure(start + Duration::from_secs(10), counters, 0.25);
        assert_eq!(rates.accounts_per_second, 100.0);
        assert_eq!(rates.slots_per_second, 500.0);
        assert_eq!(rates.bytes_per_second, 10_000.0);
        // A quarter took 10 s: three quarters take 30 s more.
        assert_eq!(rates.eta, Some(Duration::from_secs(30)));
    }

    #[test]
    fn eta_counts_only_this_runs_work_after_a_resume() {
        let start = epoch();
        let mut meter = ProgressMeter::new(start, 0.5);
        let rates = meter.measure(start + Duration::from_secs(10), Counters::default(), 0.75);
        assert_eq!(rates.eta, Some(Duration::from_secs(10)));
        let done = meter.measure(start + Duration::from_secs(20), Counters::default(), 1.0);
        assert_eq!(done.eta, None);
    }
}
