//! Lab: two minutes of the soak-and-chaos run (`rvs_lab::soak`, the same harness as
//! `tools/soak.sh`): a keepalived VRRP pair with NAT, FULLNAT, DR, TUN and SYN-proxied services
//! under steady load while faults are injected every 5 to 8 s from a fixed seed. Every failed
//! request must be explained by a fault, no long-lived connection may be lost outside a killed
//! real server, no health check may fail a server no fault touched, no download corrupted, and
//! the end's invariants must hold.

use rvs_lab::require_lab;
use rvs_lab::soak::{run, SoakOptions};

#[test]
fn two_minutes_of_chaos_lose_nothing_unexplained() {
    require_lab!();
    let (f, md) = run(&SoakOptions { seconds: 120, seed: 28, gap: (5, 8), faults: true }).expect("the soak runs");
    eprintln!("{md}");
    assert!(f.unexplained.is_empty(), "unexplained failures: {:?}", f.unexplained);
    assert!(f.long_unexplained.is_empty(), "long-lived connections lost unexplained: {:?}", f.long_unexplained);
    assert!(f.health_unexplained.is_empty(), "working servers failed their checks: {:?}", f.health_unexplained);
    assert!(f.flaps_without_effect.is_empty(), "health flaps that did nothing: {:?}", f.flaps_without_effect);
    assert_eq!(f.corrupted(), 0, "corrupted downloads");
    assert!(f.invariants_hold(), "invariants: {:?}", f.invariants);
    assert!(f.faults.len() >= 8, "only {} faults were injected", f.faults.len());
    let done: Vec<_> = f.faults.iter().filter(|x| x.error.is_none()).collect();
    assert!(done.len() + 1 >= f.faults.len(), "faults that could not be done: {:?}", f.fault_errors);
    assert!(!f.failovers.is_empty(), "no failover was measured (seed 28 kills the master)");
    let made: u64 = f.requests.values().map(|r| r.made).sum();
    assert!(made > 1000, "only {made} requests were made");
    assert!(f.downloads.0 > 5, "only {} downloads", f.downloads.0);
}
