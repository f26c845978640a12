//! How much of the range phase is done: the account ranges weighed against the storage still
//! expected, one unit of work per account, per storage slot and per bytecode.
//!
//! Account keys are hashes, spread evenly over the key space, so the accounts left follow from
//! the accounts fetched (written, or verified and held until their storage and code are in)
//! and the share of the account space they cover. Slots are not spread evenly over accounts:
//! most belong to a few giant contracts. The slots left are three parts:
//! - in each large contract being fetched in chunks, its own density extrapolated: the slots
//!   received for it, over the share of its key space they cover, times the share left;
//! - for the accounts held waiting for their storage, the slots per contract complete so far;
//!   for the accounts not seen yet, the slots per account fetched (those waiting counted with
//!   their expected slots). The contracts still being fetched in chunks are left out of those
//!   means; those completed count in them, so the
//!   accounts ahead are expected to hold large contracts in proportion. That is right over a
//!   mainnet-like state with many of them; on a state with a single giant it is pessimistic
//!   while few accounts are fetched, and the giant's completion steps the estimate back (the
//!   meter holds the fraction shown). After a resume, what a contract still in chunks got
//!   before it is not known apart and counts in the mean;
//! - nothing else: small contracts come whole with their accounts.
//!
//! Codes left are those wanted and not written, plus, for the accounts not seen yet, as many
//! per account as seen so far.
//!
//! `fraction = done / (done + left)`, with `done` the accounts fetched and the slots and codes
//! written, kept below 1 until every account range is written. The estimate is pure: the
//! counters and the account cursors come from the progress record, so they survive a resume;
//! the held accounts and the per-contract counts are kept in memory and rebuilt as answers
//! arrive. A contract resumed from a record has no count until its first chunk answer: until
//! then its slots left are bounded from above by taking every slot written so far for its own
//! (the estimate starts low and rises when measured).

/// Slot counts above this are treated as this (no state comes near; keeps every sum finite).
const MAX_SLOTS: f64 = 1e15;

/// The fraction shown while any range work is left: never 100 % before the end.
pub(crate) const MAX_UNFINISHED: f64 = 0.999;

/// A large contract being fetched in chunks, as the estimate sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct LargeContract {
    /// Share of its key space still to fetch.
    pub(crate) space_left: f64,
    /// Slots received for it while `space_measured` of its key space was fetched (counted in
    /// memory since this `Syncer` began following it).
    pub(crate) slots_measured: u64,
    /// Share of its key space fetched while `slots_measured` slots were received.
    pub(crate) space_measured: f64,
}

impl LargeContract {
    /// Its slots left, extrapolated from its density; `None` before anything was measured.
    pub(crate) fn slots_left(&self) -> Option<f64> {
        (self.slots_measured > 0 && self.space_measured > 0.0).then(|| {
            (self.slots_measured as f64 * self.space_left.max(0.0) / self.space_measured)
                .min(MAX_SLOTS)
        })
    }

    /// Its slots left, or when unmeasured a bound from above: all `slots_written` of the sync
    /// taken for its own, over the share of its key space already fetched.
    fn slots_left_or_bound(&self, slots_written: u64) -> f64 {
        self.slots_left().unwrap_or_else(|| {
            let fetched = 1.0 - self.space_left;
            if fetched > 0.0 {
                (slots_written as f64 * self.space_left.max(0.0) / fetched).min(MAX_SLOTS)
            } else {
                MAX_SLOTS
            }
        })
    }
}

/// What the estimate is computed from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RangeWork<'a> {
    /// Every account range is written (the range phase is over or about to be).
    pub(crate) accounts_done: bool,
    /// Share of the account key space fetched (written, or verified and held until its
    /// storage and code are in).
    pub(crate) account_fraction: f64,
    /// Accounts fetched (written or held).
    pub(crate) accounts: u64,
    /// Accounts fetched whose storage is not complete yet (held waiting for it).
    pub(crate) storage_pending: u64,
    /// Accounts with storage whose storage is complete, as far as known (counted in memory
    /// since this `Syncer` began): the slots per contract are measured over them.
    pub(crate) storage_settled: u64,
    /// Slots written.
    pub(crate) slots: u64,
    /// Bytecodes written.
    pub(crate) codes: u64,
    /// Bytecodes known to be wanted and not written yet.
    pub(crate) codes_left: u64,
    /// The large contracts being fetched in chunks.
    pub(crate) large: &'a [LargeContract],
}

/// Work done and left, counted in items (accounts and slots).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WorkEstimate {
    /// Share of the work done, in `0.0..=1.0`; 1 only when every account range is written.
    pub(crate) fraction: f64,
    /// Items left, once they can be estimated (some accounts written).
    pub(crate) left: Option<f64>,
}

impl WorkEstimate {
    /// Nothing left.
    pub(crate) const COMPLETE: Self = Self { fraction: 1.0, left: Some(0.0) };
}

/// Estimates the work of the range phase; see the module documentation.
pub(crate) fn estimate(work: &RangeWork<'_>) -> WorkEstimate {
    if work.accounts_done {
        return WorkEstimate::COMPLETE;
    }
    let account_fraction = work.account_fraction.clamp(0.0, 1.0);
    if account_fraction <= 0.0 || work.accounts == 0 && work.slots == 0 {
        return WorkEstimate { fraction: 0.0, left: None };
    }
    let accounts = work.accounts as f64;
    let slots = work.slots as f64;
    let large_left: f64 =
        work.large.iter().map(|large| large.slots_left_or_bound(work.slots)).sum();
    let accounts_left = accounts * (1.0 - account_fraction) / account_fraction;
    // Slots of contracts still being fetched are not in the mean (see the module doc).
    let pending: u64 =
        work.large.iter().map(|large| large.slots_measured).fold(0, u64::saturating_add);
    let settled = work.slots.saturating_sub(pending) as f64;
    // The accounts waiting for their storage are expected to hold as many slots as the
    // contracts complete so far (or, unmeasured, as the accounts fetched that are not waiting);
    // the accounts not seen yet as many as the accounts fetched, those waiting included.
    let pending_accounts = work.storage_pending.min(work.accounts);
    let per_contract = match (work.storage_settled, work.accounts - pending_accounts) {
        (contracts, _) if contracts > 0 => settled / contracts as f64,
        (_, others) if others > 0 => settled / others as f64,
        _ => 0.0,
    };
    let pending_slots = pending_accounts as f64 * per_contract;
    let slots_per_account = (settled + pending_slots) / accounts;
    // Codes: those known to be wanted, and for the accounts not seen yet as many per account
    // as so far (each code counts as one item, as an account or a slot does).
    let codes_known = work.codes.saturating_add(work.codes_left) as f64;
    let codes_per_account = if work.accounts > 0 { codes_known / accounts } else { 0.0 };
    let codes_left = work.codes_left as f64 + accounts_left * codes_per_account;
    let left = (accounts_left
        + accounts_left * slots_per_account
        + pending_slots
        + large_left
        + codes_left)
        .min(MAX_SLOTS);
    let done = accounts + slots + work.codes as f64;
    let fraction = (done / (done + left)).clamp(0.0, MAX_UNFINISHED);
    WorkEstimate { fraction, left: Some(left) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn work(account_fraction: f64, accounts: u64, slots: u64, large: &[LargeContract]) -> f64 {
        let work = RangeWork {
            accounts_done: false,
            account_fraction,
            accounts,
            storage_pending: 0,
            storage_settled: 0,
            slots,
            codes: 0,
            codes_left: 0,
            large,
        };
        estimate(&work).fraction
    }

    /// `fetched` of `total` slots of a giant contract, fetched evenly over its key space.
    fn giant(fetched: u64, total: u64) -> LargeContract {
        let share = fetched as f64 / total as f64;
        LargeContract { space_left: 1.0 - share, slots_measured: fetched, space_measured: share }
    }

    #[test]
    fn one_giant_half_fetched_after_the_accounts_is_half_the_work() {
        // 10,000 accounts with 20,000 slots between them, and one contract of 1,000,000 slots.
        // Every account but the giant's is written (its range is complete but for it), and
        // half the giant's key space is fetched.
        let large = [giant(500_000, 1_000_000)];
        let fraction = work(0.9999, 9_999, 520_000, &large);
        let truth = (9_999.0 + 520_000.0) / (10_000.0 + 1_020_000.0);
        assert!((fraction - truth).abs() < 0.01, "{fraction} vs {truth}");
        assert!(fraction < 0.6);
        // The account space alone would say 99.99 %.
    }

    #[test]
    fn an_even_state_is_as_done_as_its_account_space() {
        // 100,000 accounts with 5 slots each: the work is spread like the accounts.
        for percent in 1..100 {
            let share = f64::from(percent) / 100.0;
            let accounts = (100_000.0 * share) as u64;
            let fraction = work(share, accounts, accounts * 5, &[]);
            assert!((fraction - share).abs() < 1e-3, "{fraction} at {share}");
        }
    }

    /// The giant of the model sync: 400,000 slots, owned by task 0's 376th account.
    const GIANT: u64 = 400_000;
    const GIANT_INDEX: u64 = 375;
    /// The model's tasks, their accounts, and the accounts each writes per step.
    const TASKS: u64 = 16;
    const PER_TASK: u64 = 1_250;
    const SPEED: u64 = 8;
    /// The step task 0 reaches the giant, and the step its last chunk arrives (2,000 slots a
    /// step).
    const FOUND: u64 = GIANT_INDEX / SPEED + 1;
    const FETCHED: u64 = FOUND + GIANT / 2_000 - 1;

    /// A model sync at `step`: every task writes its accounts (4 slots each) evenly over its
    /// range; task 0 waits at the giant's account until the giant's storage is in. Returns the
    /// estimate and the true share of the work done.
    fn model(step: u64) -> (f64, f64) {
        let fetched = if step >= FOUND { ((step - FOUND + 1) * 2_000).min(GIANT) } else { 0 };
        let giant_done = fetched == GIANT;
        let first = match step {
            _ if step < FOUND => step * SPEED,
            _ if !giant_done => GIANT_INDEX,
            _ => (GIANT_INDEX + 1 + (step - FETCHED) * SPEED).min(PER_TASK),
        };
        let accounts = first + (TASKS - 1) * (step * SPEED).min(PER_TASK);
        let total = TASKS * PER_TASK;
        let small_slots = (accounts - u64::from(giant_done)) * 4;
        let large = if step >= FOUND && !giant_done { vec![giant(fetched, GIANT)] } else { vec![] };
        let estimate = estimate(&RangeWork {
            accounts_done: accounts == total,
            // The cursors: each task's written share of its range.
            account_fraction: accounts as f64 / total as f64,
            accounts,
            storage_pending: 0,
            storage_settled: 0,
            slots: small_slots + fetched,
            codes: 0,
            codes_left: 0,
            large: &large,
        })
        .fraction;
        let done = accounts + small_slots + fetched;
        (estimate, done as f64 / (total + (total - 1) * 4 + GIANT) as f64)
    }

    #[test]
    fn steady_progress_after_the_giant_is_found_is_monotone_and_near_the_truth() {
        let mut previous = 0.0;
        let mut ended = false;
        for step in FOUND..500 {
            let (estimate, truth) = model(step);
            // The giant completed joins the mean of slots per account: the accounts ahead are
            // expected to hold their share of giants. A small step back, once.
            let back = if step == FETCHED { 0.05 } else { 0.0 };
            assert!(estimate + back >= previous, "step {step}: {estimate} after {previous}");
            assert!((estimate - truth).abs() < 0.05, "step {step}: {estimate} vs {truth}");
            assert_eq!(estimate == 1.0, truth == 1.0, "step {step}");
            previous = estimate;
            ended |= estimate == 1.0;
        }
        assert!(ended, "the model sync ends");
        // Every account but the giant's task's is written, most of the giant is to fetch: the
        // account space says 95.6 %.
        let (estimate, truth) = model(PER_TASK / SPEED + 1);
        assert!(estimate < 0.7 && (estimate - truth).abs() < 0.02, "{estimate} vs {truth}");
        // Before the giant is found, nothing says it is there: the estimate is the account
        // space's (and the giant drops it when found; the meter holds the shown fraction).
        let (before, _) = model(FOUND - 1);
        assert!(before > model(FOUND).0);
    }

    #[test]
    fn an_unmeasured_contract_counts_low_until_measured() {
        // After a resume: the giant's chunks say half its key space is left, nothing counted.
        let unmeasured = LargeContract { space_left: 0.5, ..LargeContract::default() };
        let before = work(0.9999, 9_999, 520_000, &[unmeasured]);
        let after = work(0.9999, 9_999, 530_000, &[giant(510_000, 1_000_000)]);
        assert!(before < after, "{before} then {after}");
        assert_eq!(unmeasured.slots_left(), None);
        // Nothing fetched of it at all: as little done as can be said.
        let blank = LargeContract { space_left: 1.0, ..LargeContract::default() };
        assert!(work(0.5, 100, 400, &[blank]) < 1e-9);
    }

    #[test]
    fn accounts_held_for_their_storage_and_codes_still_to_come_are_work_left() {
        // The whole account space fetched: 100 accounts, 10 of them written with 10 slots each;
        // the other 90 wait for theirs, and 50 codes are wanted.
        let held = RangeWork {
            accounts_done: false,
            account_fraction: 1.0,
            accounts: 100,
            storage_pending: 90,
            storage_settled: 10,
            slots: 100,
            codes: 0,
            codes_left: 0,
            large: &[],
        };
        let fraction = estimate(&held).fraction;
        // 200 items done, 900 slots expected for the 90 held accounts.
        assert!((fraction - 200.0 / 1100.0).abs() < 1e-9, "{fraction}");
        let with_codes = estimate(&RangeWork { codes_left: 50, ..held }).fraction;
        assert!((with_codes - 200.0 / 1150.0).abs() < 1e-9, "{with_codes}");
    }

    #[test]
    fn nothing_written_gives_no_estimate_and_done_is_complete() {
        let nothing = RangeWork {
            accounts_done: false,
            account_fraction: 0.0,
            accounts: 0,
            storage_pending: 0,
            storage_settled: 0,
            slots: 0,
            codes: 0,
            codes_left: 0,
            large: &[],
        };
        assert_eq!(estimate(&nothing), WorkEstimate { fraction: 0.0, left: None });
        let done = RangeWork { accounts_done: true, ..nothing };
        assert_eq!(estimate(&done), WorkEstimate::COMPLETE);
        // The account space complete, a contract still pending: not done.
        let pending = RangeWork {
            account_fraction: 1.0,
            accounts: 10,
            slots: 10,
            large: &[giant(10, 20)],
            ..nothing
        };
        assert!(estimate(&pending).fraction <= MAX_UNFINISHED);
    }

    fn large() -> impl Strategy<Value = LargeContract> {
        (0.0..=1.0f64, any::<u64>(), 0.0..=1.0f64).prop_map(
            |(space_left, slots_measured, space_measured)| LargeContract {
                space_left,
                slots_measured,
                space_measured,
            },
        )
    }

    proptest! {
        #[test]
        fn the_fraction_is_a_share_below_one_until_done(
            account_fraction in -0.5..1.5f64,
            accounts in any::<u64>(),
            slots in any::<u64>(),
            large in proptest::collection::vec(large(), 0..4),
        ) {
            let work = RangeWork {
                accounts_done: false,
                account_fraction,
                accounts,
                storage_pending: accounts / 2,
                storage_settled: slots % 97,
                slots,
                codes: accounts / 3,
                codes_left: slots / 7,
                large: &large,
            };
            let estimate = estimate(&work);
            prop_assert!((0.0..=MAX_UNFINISHED).contains(&estimate.fraction), "{estimate:?}");
            if let Some(left) = estimate.left {
                prop_assert!(left.is_finite() && left >= 0.0, "{estimate:?}");
            }
            for contract in &large {
                prop_assert!(contract.slots_left().is_none_or(|s| s.is_finite() && s >= 0.0));
            }
        }

        #[test]
        fn more_written_of_the_same_state_is_never_less_done(
            share in 0.01..0.99f64,
            step in 0.0..0.01f64,
            per_account in 0u64..50,
            fetched in 1u64..500_000,
            more in 0u64..10_000,
        ) {
            // 100,000 accounts; a giant of 1,000,000 slots fetched evenly.
            let at = |share: f64, fetched: u64| {
                let accounts = (100_000.0 * share) as u64;
                work(share, accounts, accounts * per_account + fetched, &[giant(fetched, 1_000_000)])
            };
            let before = at(share, fetched);
            let after = at(share + step, fetched + more);
            prop_assert!(after + 1e-3 >= before, "{before} then {after}");
        }
    }
}
