//! Supervision by systemd (`Type=notify`, `WatchdogSec=`; sd_notify(3)): rvsd says READY once
//! its ports are up and its workers run, and feeds the watchdog only while every worker still
//! completes its loop. A worker stuck in a loop, a driver call or a spinning lock stops the
//! pings; systemd then restarts rvsd (`Restart=on-watchdog` or `on-failure`). Outside systemd
//! (no `NOTIFY_SOCKET`) all of this is silent.
//!
//! Workers prove they live by a heartbeat: each stores its clock in its own cache line at
//! every report (every 200 ms), so the check costs the packet path nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// worker beat within [`STALL_AFTER`]; logs each stall and recovery once. Returns at once when
/// systemd asked for no watchdog.
pub fn watchdog(beats: &[Heartbeat], started: Instant, stop: &AtomicBool) {
    let Some(usec) = watchdog_usec() else { return };
    let period = Duration::from_micros(usec / 2).max(Duration::from_millis(50));
    tracing::info!(interval_ms = usec / 1000, "systemd watchdog enabled");
    let mut stalled_before: Vec<usize> = Vec::new();
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
            if stalled != stalled_before {
                if stalled.is_empty() {
                    tracing::warn!("every worker polls again: watchdog pings resume");
                } else {
                    tracing::error!(workers = ?stalled, "worker stalled: watchdog pings withheld, systemd will restart rvsd");
                }
                stalled_before.clone_from(&stalled);
            }
            if stalled.is_empty() {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
