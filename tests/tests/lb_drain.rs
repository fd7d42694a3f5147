//! Lab: taking real servers out and bringing them back, beyond IPVS. Two NAT real servers
//! running the line echo service behind one wrr VIP.
//!
//! - Drain to completion: `-e --drain` on rs1 with held connections: new connections go to
//!   rs2 only, rs1's held connections keep working, the drain survives `--reload`, and when
//!   the holder resets its connections (CLOSE, 10 s) rvsd deletes rs1 by itself. A drain with
//!   `--deadline 3` deletes rs2 while its held connections still live, and they keep working.
//! - Slow start: rs2 comes back with `--slow-start 8`; one new connection after another for
//!   ten seconds, the share rs2 gets grows from about 1/11 towards 1/2 (wrr 10:10).

use rvs_lab::admin::ok;
use rvs_lab::conf::Real;
use rvs_lab::hold::{connect_once, Holder};
use rvs_lab::{conf, require_lab, topo, Lab, Ns};
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

/// The lab, rvsd started; returns (lab, client, director, rvsd, held sources).
fn lab_with_two_servers() -> (Lab, Ns, Ns, rvs_lab::Rvsd, Vec<String>) {
    let mut lab = Lab::new().unwrap();
    let sources: Vec<String> = (21..=40).map(|k| format!("198.18.0.{k}")).collect();
    let (client, lb) = topo::nat_echo_pair(&mut lab, &sources).unwrap();
    let reals = [
        Real { addr: "198.19.0.11", port: None, weight: 10, forward: "nat" },
        Real { addr: "198.19.0.12", port: None, weight: 10, forward: "nat" },
    ];
    let config = conf::dataplane(&[1])
        + &conf::port("out", 0, "p0", "198.18.0.1/24")
        + &conf::port("in", 1, "p1", "198.19.0.1/24")
        + &conf::service("tcp", VIP, 7, "wrr", &reals)
        + "[control]\nmetrics = \"127.0.0.1:9390\"\n";
    let rvsd = lab.rvsd(&lb, &config).unwrap();
    (lab, client, lb, rvsd, sources)
}

fn real_row(listing: &str, rip: &str) -> Option<String> {
    listing.lines().find(|l| l.contains(rip)).map(str::to_owned)
}

/// Polls -L (bounded) until real server `rip` is no longer listed; returns how long it took.
fn until_gone(socket: &std::path::Path, rip: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    while real_row(&ok(socket, &["-L", "-n"]), rip).is_some() {
        assert!(t0.elapsed() < limit, "{rip} still listed after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    t0.elapsed()
}

#[test]
fn a_drained_real_server_is_deleted_when_its_connections_end_or_at_its_deadline() {
    require_lab!();
    let (mut lab, client, _lb, rvsd, sources) = lab_with_two_servers();
    let s = rvsd.socket.clone();
    let svc = format!("{VIP}:7");
    let held = Holder::start(&mut lab, &client, VIP, 7, &sources[..6], 3, true);
    let first = held.round(&mut lab, 1, "before the drain");
    assert_eq!(first.matches(":rs1").count(), 3, "wrr 10:10 over six: {first}");

    ok(&s, &["-e", "-t", &svc, "-r", "198.19.0.11:7", "--drain"]);
    let listing = ok(&s, &["-L", "-n"]);
    let row = real_row(&listing, "198.19.0.11:7").expect("still listed while draining");
    assert!(row.ends_with(" draining (3 conns)"), "{listing}");
    assert!(row.contains(" 0      3 "), "weight 0, three active: {row}");
    for src in &sources[6..10] {
        assert_eq!(connect_once(&client, VIP, 7, src).as_deref(), Ok("rs2"), "new connections avoid rs1");
    }
    assert!(ok(&s, &["-S", "-n"]).contains("-r 198.19.0.11:7 -m -w 10 --drain\n"), "-S keeps the drain");
    ok(&s, &["--reload"]);
    assert!(real_row(&ok(&s, &["-L", "-n"]), "198.19.0.11:7").unwrap().contains("draining"), "kept by --reload");
    assert_eq!(held.round(&mut lab, 2, "held through the drain"), first, "every held connection on its server");

    // The holder resets its connections after round 3: CLOSE for 10 s, then none is left.
    held.round(&mut lab, 3, "last round");
    lab.wait_for_line(held.handle, "done", Duration::from_secs(10)).unwrap();
    let took = until_gone(&s, "198.19.0.11:7", Duration::from_secs(30));
    assert!(took > Duration::from_secs(5), "not before its connections expired (CLOSE 10 s): {took:?}");
    lab.rvsd_line(&rvsd, "drain complete: real server deleted", Duration::from_secs(5)).unwrap();

    // A deadline deletes rs2 while its held connections still live; they keep working.
    let more = Holder::start(&mut lab, &client, VIP, 7, &sources[10..12], 2, false);
    ok(&s, &["-e", "-t", &svc, "-r", "198.19.0.12:7", "--drain", "--deadline", "3"]);
    let row = real_row(&ok(&s, &["-L", "-n"]), "198.19.0.12:7").unwrap();
    assert!(row.contains(" draining (") && row.contains(" conns, deadline in "), "{row}");
    let took = until_gone(&s, "198.19.0.12:7", Duration::from_secs(10));
    assert!(took > Duration::from_secs(1), "at the deadline, not before: {took:?}");
    assert_eq!(more.round(&mut lab, 1, "after the deadline").matches(":rs2").count(), 2, "they still work");
    let json: serde_json::Value = serde_json::from_str(&ok(&s, &["-L", "-n", "--json"])).unwrap();
    assert_eq!(json["drains_completed"], 2, "{json}");
    more.round(&mut lab, 2, "last");
    lab.stop_rvsd(rvsd).unwrap();
}

/// One new connection after another from `src` for `secs` seconds: (seconds since start, the
/// server that answered).
fn picks(client: &Ns, src: &str, secs: u32) -> Vec<(f64, String)> {
    let py = format!(
        "import socket,time\nt0=time.time()\nwhile time.time()-t0<{secs}:\n\
         \ttry:\n\t\ts=socket.create_connection(('{VIP}',7),timeout=2,source_address=('{src}',0))\n\
         \t\ts.sendall(b'x\\n');n=s.makefile('rb').readline().split(b' ')[0].decode();s.close()\n\
         \t\tprint('%.2f %s'%(time.time()-t0,n),flush=True)\n\texcept OSError:\n\t\tprint('%.2f -'%(time.time()-t0))\n\
         \ttime.sleep(0.01)\n"
    );
    let out = client.run("python3", &["-c", &py], Duration::from_secs(u64::from(secs) + 30)).unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(t, n)| (t.parse().unwrap_or(0.0), n.to_owned())))
        .collect()
}

#[test]
fn a_server_back_from_weight_zero_ramps_up_over_its_slow_start() {
    require_lab!();
    let (lab, client, lb, rvsd, sources) = lab_with_two_servers();
    let s = rvsd.socket.clone();
    let svc = format!("{VIP}:7");
    ok(&s, &["-e", "-t", &svc, "-r", "198.19.0.12:7", "-w", "0", "--slow-start", "8"]);
    ok(&s, &["-e", "-t", &svc, "-r", "198.19.0.12:7", "-w", "10"]);
    let row = real_row(&ok(&s, &["-L", "-n"]), "198.19.0.12:7").unwrap();
    assert!(row.contains(" slow-start (") && row.contains("left of 8s, weight "), "{row}");
    let got = picks(&client, &sources[0], 10);
    let share = |from: f64, to: f64| {
        let w: Vec<_> = got.iter().filter(|(t, _)| (from..to).contains(t)).collect();
        assert!(w.len() >= 20, "enough picks in {from}..{to}: {}", w.len());
        w.iter().filter(|(_, n)| n == "rs2").count() as f64 / w.len() as f64
    };
    let (early, middle, late) = (share(0.0, 2.0), share(4.0, 6.0), share(8.5, 10.0));
    eprintln!(
        "slow start: rs2's share of new connections {early:.2} (0-2 s), {middle:.2} (4-6 s), {late:.2} (8.5-10 s)"
    );
    assert!(got.iter().all(|(_, n)| n != "-"), "every connection answered");
    assert!(early < 0.2, "first 2 s: weight 1..3 of 10 ({early:.2})");
    assert!(middle > early && middle < late, "the share grows: {early:.2} {middle:.2} {late:.2}");
    assert!(late > 0.4, "after the ramp: 10:10 ({late:.2})");
    let out = lb.run("curl", &["-s", "http://127.0.0.1:9390/metrics"], Duration::from_secs(10)).unwrap();
    let metrics = String::from_utf8_lossy(&out.stdout);
    let series =
        "rvs_real_weight{protocol=\"tcp\",vip=\"198.18.0.100\",port=\"7\",real=\"198.19.0.12:7\",forward=\"nat\"}";
    assert!(metrics.contains(&format!("{series} 10\n")), "the weight in force after the ramp: {metrics}");
    let mut lab = lab;
    lab.stop_rvsd(rvsd).unwrap();
}
