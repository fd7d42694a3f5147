//! The fuzz harness on stable, in CI: every committed seed (and a few mutations of each) runs
//! through `Pipeline::process` with the harness's invariants, and the committed seeds are the
//! ones `examples/fuzz_seeds.rs` generates.

mod common;

#[test]
fn committed_seeds_are_current_and_pass_the_harness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/process");
    for (name, input) in common::seeds() {
        let on_disk = std::fs::read(dir.join(format!("{name}.bin"))).unwrap_or_default();
        assert!(on_disk == input, "seed {name} is stale: run `cargo run -p rvs-core --example fuzz_seeds`");
        common::harness::run(&input);
        // Cheap deterministic mutations: flip each byte in turn (bounded), truncate.
        for i in (0..input.len()).step_by(7) {
            let mut m = input.clone();
            m[i] ^= 0x5a;
            common::harness::run(&m);
        }
        for cut in (0..input.len()).step_by(13) {
            common::harness::run(&input[..cut]);
        }
    }
}

/// The seeds of this round's modes reach the paths they are for (a seed that only meets drops
/// would leave the fuzzer far from them): NAT64 translates both ways, the PROXY header goes in,
/// SNAT leaves from the pool and its answers come back, the denied client is refused.
#[test]
fn nat64_and_snat_seeds_reach_their_paths() {
    use rvs_core::{DropReason, Frame, Pipeline, PipelineConfig, VecFrame, Verdict};
    let run = |name: &str| {
        let (_, input) = common::seeds().into_iter().find(|(n, _)| *n == name).unwrap();
        let mut p = Pipeline::new(
            PipelineConfig::default(),
            std::sync::Arc::new(common::harness::harness_snapshot()),
            1_000_000,
        );
        let verdicts: Vec<Verdict> = common::harness::decode(&input)
            .into_iter()
            .map(|(port, f)| {
                let mut frame = VecFrame::new(&f);
                let v = p.process(1_000_000, port, &mut frame);
                let _ = frame.len();
                v
            })
            .collect();
        (verdicts, p)
    };
    let (v, p) = run("nat64");
    assert!(v[..5].iter().all(|v| matches!(v, Verdict::Forward(_))), "{v:?}");
    assert!(matches!(v[5], Verdict::Forward(0)) && matches!(v[6], Verdict::Forward(1)), "ICMP both ways: {v:?}");
    assert!(v[7..].iter().all(|v| matches!(v, Verdict::Forward(_))), "{v:?}");
    assert_eq!(p.counters().proxy_headers, 1);
    let (v, p) = run("snat");
    assert!(v[..6].iter().all(|v| matches!(v, Verdict::Forward(_))), "{v:?}");
    assert_eq!(v[6], Verdict::Drop(DropReason::AccessDenied));
    assert_eq!(p.counters().snat_inbound, 1);
}

/// The SYN proxy's seed reaches its paths: the cookie SYN-ACK, the validated ACK sent on as
/// the SYN, the held data after the server's SYN-ACK, shifted segments both ways, the ACK-storm
/// guard, a forged cookie; with the clock moving, the silent server's retries and the reset.
#[test]
fn synproxy_seed_reaches_its_paths() {
    use rvs_core::{DropReason, Pipeline, PipelineConfig, VecFrame, Verdict};
    let (_, input) = common::seeds().into_iter().find(|(n, _)| *n == "synproxy").unwrap();
    let mut p =
        Pipeline::new(PipelineConfig::default(), std::sync::Arc::new(common::harness::harness_snapshot()), 1_000_000);
    let mut now = 1_000_000;
    let mut v = Vec::new();
    let mut data = &input[..];
    while data.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([data[1], data[2]]));
        if data[0] >> 1 != 0 {
            now += 1000 * u64::from(data[0] >> 1);
            p.poll_synproxy(now, || Some(VecFrame::new(&[])), |_, _| {});
        }
        let mut frame = VecFrame::new(&data[3..3 + len]);
        v.push(p.process(now, u16::from(data[0] & 1), &mut frame));
        data = &data[3 + len..];
    }
    assert_eq!(v[0], Verdict::Reply, "{v:?}");
    assert!(v[1..5].iter().all(|v| matches!(v, Verdict::Forward(_))), "{v:?}");
    // The SACK's ACK and the storm's first nine repeat it; the tenth repeat on is dropped.
    assert!(v[5..14].iter().all(|v| *v == Verdict::Forward(1)), "{v:?}");
    assert_eq!(&v[14..17], &[Verdict::Drop(DropReason::SynproxyAckStorm); 3]);
    assert_eq!(v[17], Verdict::Drop(DropReason::SynproxyBadCookie));
    assert_eq!((v[18], v[19]), (Verdict::Reply, Verdict::Forward(1)));
    let c = p.counters();
    assert_eq!((c.synproxy_cookies_valid, c.synproxy_ack_storms), (2, 1));
    assert_eq!((c.synproxy_syn_retries, c.synproxy_rs_timeouts), (3, 1), "retries, then the reset");
}

/// Inputs the fuzzer once failed on (`fuzz/regressions/process/`) pass the harness.
#[test]
fn past_fuzz_failures_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/process");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("the regressions directory") {
        let path = e.unwrap().path();
        common::harness::run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
