//! Supervision by systemd (`Type=notify`, `WatchdogSec=`; sd_notify(3)): rvsd says READY once
//! its ports are up and its workers run, and feeds the watchdog only while every worker still
//! completes its loop and every control-plane thread the service depends on still runs its own
//! (the control socket, health checks, connection sync, VIP watch or announce, the neighbour
//! loop). A worker stuck in a loop, a driver call or a spinning lock, or a control-plane thread
//! that died or stalled, stops the pings; systemd then restarts rvsd (`Restart=on-watchdog` or
//! `on-failure`). Each stall, death and recovery is logged once. Outside systemd (no
//! `NOTIFY_SOCKET`) all of this is silent.
//!
//! Workers prove they live by a heartbeat: each stores its clock in its own cache line at
//! every report (every 200 ms), so the check costs the packet path nothing. Control-plane
//! threads beat once per turn of their loop ([`ThreadBeat`]); one that has not beaten for
//! [`THREAD_STALL_AFTER`] is stalled, and one whose loop returned while rvsd runs has died.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// A worker that has not beaten for this long is stalled (reports come every 200 ms).
pub const STALL_AFTER: Duration = Duration::from_millis(1000);

/// One worker's heartbeat, alone in its cache line: no other core writes it.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Heartbeat {
    /// Milliseconds since the daemon's start, at the worker's last report.
    at_ms: AtomicU64,
    /// Fault injection (`rvsadm --pause-worker`): the worker idles, without polling, until
    /// this time (milliseconds since start).
    pause_until_ms: AtomicU64,
}

impl Heartbeat {
    /// The worker's beat at `now_ms` (never 0: 0 means "not started").
    #[inline]
    pub fn beat(&self, now_ms: u64) {
        self.at_ms.store(now_ms.max(1), Ordering::Relaxed);
    }

    /// True once the worker has beaten at least once (its loop runs).
    pub fn started(&self) -> bool {
        self.at_ms.load(Ordering::Relaxed) != 0
    }

    /// The time of the last beat.
    pub fn last(&self) -> u64 {
        self.at_ms.load(Ordering::Relaxed)
    }

    /// Asks the worker to stop polling until `until_ms` (a test of the supervision).
    pub fn pause_until(&self, until_ms: u64) {
        self.pause_until_ms.store(until_ms, Ordering::Relaxed);
    }

    /// Worker side: if a pause was asked for, holds the worker (without beating) until it ends.
    #[inline]
    pub fn honour_pause(&self, clock: &Instant, stop: &AtomicBool) {
        let until = self.pause_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return;
        }
        while (clock.elapsed().as_millis() as u64) < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.pause_until_ms.store(0, Ordering::Relaxed);
    }
}

/// A control-plane thread that has not beaten for this long is stalled (their loops turn at
/// least every 200 ms; a listing or a reload may wait on the workers for up to a second).
pub const THREAD_STALL_AFTER: Duration = Duration::from_secs(5);

/// The control-plane threads the watchdog follows, by name (`rvsadm --pause-thread NAME`).
pub const SUPERVISED_THREADS: [&str; 5] = ["control", "health", "sync", "vip", "neighbours"];

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const ENDED: u8 = 2;

/// One control-plane thread's heartbeat.
#[derive(Debug)]
pub struct ThreadBeat {
    name: &'static str,
    started: Instant,
    beat: Heartbeat,
    state: AtomicU8,
}

/// While alive, the thread runs; dropped (its loop returned, or it panicked), it has ended.
#[derive(Debug)]
pub struct Running<'a>(&'a ThreadBeat);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state.store(ENDED, Ordering::Relaxed);
    }
}

/// What the watchdog sees of a control-plane thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadHealth {
    /// Not running in this configuration (e.g. no VIP watch outside VRRP mode).
    Idle,
    /// Beating.
    Alive,
    /// Running but silent for longer than [`THREAD_STALL_AFTER`].
    Stalled,
    /// Its loop returned while rvsd runs.
    Died,
}

impl ThreadBeat {
    /// The heartbeat of thread `name`, on the clock that starts at `started`.
    pub fn new(name: &'static str, started: Instant) -> Self {
        ThreadBeat { name, started, beat: Heartbeat::default(), state: AtomicU8::new(NOT_STARTED) }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The thread starts its loop; hold the guard for the loop's life.
    pub fn running(&self) -> Running<'_> {
        self.state.store(RUNNING, Ordering::Relaxed);
        self.beat();
        Running(self)
    }

    /// One turn of the thread's loop. A pause asked for (`--pause-thread`, a test of the
    /// supervision) holds the thread here, without beating, until it ends.
    pub fn beat(&self) {
        let never = AtomicBool::new(false);
        self.beat.honour_pause(&self.started, &never);
        self.beat.beat(self.started.elapsed().as_millis() as u64);
    }

    /// Asks the thread to stop its loop until `until_ms` (since start).
    pub fn pause_until(&self, until_ms: u64) {
        self.beat.pause_until(until_ms);
    }

    /// How it fares at `now_ms` (since start).
    pub fn health(&self, now_ms: u64) -> ThreadHealth {
        match self.state.load(Ordering::Relaxed) {
            NOT_STARTED => ThreadHealth::Idle,
            ENDED => ThreadHealth::Died,
            _ if now_ms.saturating_sub(self.beat.last()) > THREAD_STALL_AFTER.as_millis() as u64 => {
                ThreadHealth::Stalled
            }
            _ => ThreadHealth::Alive,
        }
    }
}

/// The supervised control-plane threads that are stalled or dead at `now_ms`, by name.
pub fn failing_threads(threads: &[ThreadBeat], now_ms: u64) -> Vec<(&'static str, ThreadHealth)> {
    threads
        .iter()
        .map(|t| (t.name(), t.health(now_ms)))
        .filter(|(_, h)| matches!(h, ThreadHealth::Stalled | ThreadHealth::Died))
        .collect()
}

/// The watchdog interval systemd asked for, as sd_watchdog_enabled(3) reads it:
/// `WATCHDOG_USEC`, for this process unless `WATCHDOG_PID` names another. (The sd-notify
/// crate's own reader also demands `WATCHDOG_PID`, which systemd sets but is optional.)
pub fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok().filter(|&u| u > 0)?;
    match std::env::var("WATCHDOG_PID").ok().map(|p| p.parse::<u32>()) {
        Some(Ok(pid)) if pid != std::process::id() => None,
        Some(Err(_)) => None,
        _ => Some(usec),
    }
}

/// Waits (at most `limit`) until every worker's loop runs; false if one never started.
pub fn wait_running(beats: &[Heartbeat], limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while !beats.iter().all(Heartbeat::started) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Tells systemd the daemon is ready (no-op outside systemd).
pub fn notify_ready(workers: usize) {
    let status = format!("STATUS=serving with {workers} worker(s)");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Custom(&status)]);
}

/// Tells systemd the daemon is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}

/// The watchdog loop until `stop`: pings at half the interval systemd asked for, while every
/// worker beat within [`STALL_AFTER`] and every supervised thread is alive; logs each stall,
/// death and recovery once. Returns at once when systemd asked for no watchdog.
pub fn watchdog(beats: &[Heartbeat], threads: &[ThreadBeat], started: Instant, stop: &AtomicBool) {
    let Some(usec) = watchdog_usec() else { return };
    let period = Duration::from_micros(usec / 2).max(Duration::from_millis(50));
    tracing::info!(interval_ms = usec / 1000, "systemd watchdog enabled");
    let mut stalled_before: Vec<usize> = Vec::new();
    let mut failing_before: Vec<(&'static str, ThreadHealth)> = Vec::new();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            next += period;
            let now_ms = started.elapsed().as_millis() as u64;
            let stalled: Vec<usize> = beats
                .iter()
                .enumerate()
                .filter(|(_, b)| now_ms.saturating_sub(b.last()) > STALL_AFTER.as_millis() as u64)
                .map(|(w, _)| w)
                .collect();
            let failing = if stop.load(Ordering::Relaxed) { Vec::new() } else { failing_threads(threads, now_ms) };
            if stalled != stalled_before {
                if stalled.is_empty() {
                    tracing::warn!("every worker polls again: watchdog pings resume");
                } else {
                    tracing::error!(workers = ?stalled, "worker stalled: watchdog pings withheld, systemd will restart rvsd");
                }
                stalled_before.clone_from(&stalled);
            }
            for &(name, health) in failing.iter().filter(|f| !failing_before.contains(f)) {
                let what = if health == ThreadHealth::Died { "died" } else { "stalled" };
                tracing::error!(
                    thread = name,
                    state = what,
                    "control-plane thread {what}: watchdog pings withheld, systemd will restart rvsd"
                );
            }
            for &(name, _) in failing_before.iter().filter(|(n, _)| !failing.iter().any(|f| f.0 == *n)) {
                tracing::warn!(thread = name, "control-plane thread runs again");
            }
            failing_before = failing;
            if stalled.is_empty() && failing_before.is_empty() {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hardening: the watchdog's view of control-plane threads. A thread not started is no
    /// concern; one that beats is alive; one silent past the limit has stalled; one whose loop
    /// returned (a poisoned lock, a panic) has died.
    #[test]
    fn stalled_or_dead_control_threads_are_failing() {
        let t0 = Instant::now();
        let threads: Vec<ThreadBeat> = SUPERVISED_THREADS.iter().map(|n| ThreadBeat::new(n, t0)).collect();
        assert!(failing_threads(&threads, 0).is_empty(), "none started");
        let _control = threads[0].running();
        {
            let _health = threads[1].running();
        } // the health loop returned
        let _sync = threads[2].running();
        let now = threads[0].beat.last();
        assert_eq!(failing_threads(&threads, now), vec![("health", ThreadHealth::Died)]);
        let late = now + THREAD_STALL_AFTER.as_millis() as u64 + 1;
        assert_eq!(
            failing_threads(&threads, late),
            vec![("control", ThreadHealth::Stalled), ("health", ThreadHealth::Died), ("sync", ThreadHealth::Stalled)]
        );
        threads[0].beat();
        threads[2].beat();
        let fresh = threads[2].beat.last();
        assert_eq!(failing_threads(&threads, fresh), vec![("health", ThreadHealth::Died)]);
    }
}
