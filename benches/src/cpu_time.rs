//! Timing by CPU time rather than wall time, for examples that print ratios on shared machines.

use std::time::Duration;

/// CPU time this thread has run so far (its CPU-time clock); `None` where there is none.
pub fn thread_cpu() -> Option<Duration> {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(time.tv_sec).ok()?;
    let nanos = u32::try_from(time.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The CPU time (wall time where CPU time is unavailable) of one call of `f`.
pub fn cpu(f: impl FnOnce()) -> Duration {
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::Instant::now();
    let before = thread_cpu();
    f();
    match (before, thread_cpu()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => wall.elapsed(),
    }
}

/// The median CPU time of `runs` calls of `f`.
pub fn median_cpu(runs: usize, mut f: impl FnMut()) -> Duration {
    median((0..runs.max(1)).map(|_| cpu(&mut f)).collect())
}

/// Runs every task once per round, `rounds` times, so that each round's tasks meet the same
/// load on a shared machine. Returns each task's median time and its median ratio to the
/// first task's time in the same round.
pub fn interleaved(rounds: usize, tasks: &mut [&mut dyn FnMut()]) -> Vec<(Duration, f64)> {
    let mut times = vec![Vec::new(); tasks.len()];
    for _ in 0..rounds.max(1) {
        for (task, times) in tasks.iter_mut().zip(&mut times) {
            times.push(cpu(&mut **task));
        }
    }
    let base = times[0].clone();
    times
        .into_iter()
        .map(|times| {
            let ratios: Vec<f64> =
                times.iter().zip(&base).map(|(t, b)| t.as_secs_f64() / b.as_secs_f64()).collect();
            (median(times), median_f64(ratios))
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// User and system CPU time this thread has run so far, in clock ticks (Linux); `None`
/// elsewhere. System time is mostly the kernel handing out fresh pages.
pub fn thread_user_sys_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}
