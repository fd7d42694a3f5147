//! What a run sets up: the forwarding mode, the test network (three services, their real
//! servers, their routes), the frames of the flows, and each worker's pipeline with its flows'
//! connections established.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Direct routing, client to server.
    Dr,
    /// IP-in-IP tunnelling, client to server.
    Tun,
    /// NAT, client to server.
    NatIn,
    /// NAT, server replies to client.
    NatOut,
    /// NAT, both directions (one burst of each per loop).
    Nat,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
            Mode::NatIn => "nat-in",
            Mode::NatOut => "nat-out",
            Mode::Nat => "nat",
        }
    }
    pub(crate) fn vip(self) -> Ipv4Addr {
        match self {
            Mode::Dr => Ipv4Addr::new(198, 18, 0, 101),
            Mode::Tun => Ipv4Addr::new(198, 18, 0, 102),
            _ => Ipv4Addr::new(198, 18, 0, 100),
        }
    }
    pub(crate) fn nat(self) -> bool {
        matches!(self, Mode::NatIn | Mode::NatOut | Mode::Nat)
    }
    pub(crate) fn client_side(self) -> bool {
        self != Mode::NatOut
    }
    pub(crate) fn reply_side(self) -> bool {
        matches!(self, Mode::NatOut | Mode::Nat)
    }
}

pub(crate) const OUT_MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);
pub(crate) const IN_MAC: Mac = Mac([2, 0, 0, 0, 1, 1]);
pub(crate) const ROUTER: Mac = Mac([2, 0, 0, 0, 0, 0xfe]);
pub(crate) const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
pub(crate) const NAT_PORT: u16 = 8080;
/// Established flows' clients start here; new flows' clients elsewhere.
pub(crate) const CLIENTS: u32 = u32::from_be_bytes([100, 64, 0, 0]);
pub(crate) const NEW_CLIENTS: u32 = u32::from_be_bytes([100, 96, 0, 0]);
/// Runs with and without the flood, in turn, per mode (`--flood`).
pub(crate) const FLOOD_PAIRS: usize = 3;
/// Loop warm-up before counting starts.
pub(crate) const WARM: Duration = Duration::from_millis(250);

pub(crate) fn rs_addr(i: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 11)) + u32::from(i))
}

pub(crate) fn rs_mac(i: u16) -> Mac {
    Mac([2, 0, 0, 0, 2, i as u8])
}

/// Three services (NAT, DR, TUN) of `reals` real servers each, on a jumbo-frame back end so
/// that IMIX's largest frames still fit once tunnelled.
pub(crate) fn snapshot(scheduler: &str, reals: u16) -> Result<Snapshot> {
    let svc = |id: u16, vip: Ipv4Addr, fwd: Forward, port: u16| Service {
        id,
        protocol: Protocol::Tcp,
        vip: vip.into(),
        port: 80,
        scheduler: scheduler.into(),
        persistence: 0,
        persistence_prefix: 32,
        sched_flags: 0,
        dests: (0..reals).map(|i| Dest::new(id * reals + i, rs_addr(i), port, 1 + u32::from(i % 3), fwd)).collect(),
    };
    let mut neighbours: Vec<_> = (0..reals).map(|i| (rs_addr(i), rs_mac(i))).collect();
    neighbours.push((GATEWAY, ROUTER));
    Snapshot::new(
        vec![
            Interface::v4(OUT_MAC, Ipv4Addr::new(198, 18, 0, 1), 24, Some(GATEWAY), 1500),
            Interface::v4(IN_MAC, Ipv4Addr::new(198, 19, 0, 1), 24, None, 9000),
        ],
        vec![
            svc(0, Mode::Nat.vip(), Forward::Nat, NAT_PORT),
            svc(1, Mode::Dr.vip(), Forward::DirectRoute, 80),
            svc(2, Mode::Tun.vip(), Forward::Tunnel, 80),
        ],
        neighbours,
        Timeouts::default(),
    )
    .map_err(|e| anyhow::anyhow!("bench config: {e}"))
}

/// Wire sizes (with FCS) of a size spec.
pub(crate) fn sizes(spec: &str) -> Result<Vec<usize>> {
    if spec == "imix" {
        // Simple IMIX, 7:4:1, interleaved so every burst carries the mix.
        return Ok(vec![64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594]);
    }
    let n: usize = spec.parse().with_context(|| format!("--sizes: {spec:?} is not a size or imix"))?;
    ensure!((64..=1518).contains(&n), "--sizes: {n} is outside 64..=1518");
    Ok(vec![n])
}

/// An ACK (TCP, 20-byte headers) frame of `wire` bytes on the wire, from `b`.
pub(crate) fn ack_frame(b: &PacketBuilder, sport: u16, dport: u16, wire: usize) -> Vec<u8> {
    b.tcp(sport, dport, ACK, 2, &vec![0; wire - 4 - 54])
}

#[derive(Debug)]
pub(crate) struct RunSpec {
    pub(crate) mode: Mode,
    pub(crate) size: String,
    pub(crate) flows: u32,
    pub(crate) cores: usize,
}

/// Per worker: its pipeline (connections established) and the traffic of its two ports.
pub(crate) struct Prepared {
    pub(crate) pipeline: Pipeline,
    pub(crate) traffic: [Option<Traffic>; 2],
    pub(crate) table_bytes: usize,
}

pub(crate) fn prepare(args: &Args, spec: &RunSpec, snap: &Arc<Snapshot>, w: usize) -> Result<Prepared> {
    let mode = spec.mode;
    let cores = spec.cores as u16;
    let per = spec.flows.div_ceil(spec.cores as u32).max(1);
    let owned = |ip: u32| snap.owner(Ipv4Addr::from(ip), cores) == w as u16;
    let flows = Arc::new(Flows::new(per, CLIENTS.., owned));
    let syn = if mode.client_side() { args.syn_percent } else { 0 };
    // Room for every SYN a run can send at up to 8 M/s per core.
    let new_max = if syn > 0 { (8e6 * (args.seconds + 1.0)) as u32 } else { 0 };
    let new_flows = Arc::new(Flows::new(new_max, NEW_CLIENTS.., owned));
    let cfg = PipelineConfig {
        conn_capacity: if args.flood { per as usize + 1024 } else { (per + new_max) as usize + 1024 },
        hash_seed: 0x9E37_79B9_7F4A_7C15 ^ w as u64,
        core: w as u16,
        cores,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::new(cfg, Arc::clone(snap), CLOCK_EPOCH_MS);
    let vip = mode.vip();
    let c = PacketBuilder::new(ROUTER, OUT_MAC, Ipv4Addr::from(CLIENTS), vip);
    let syn_t = FrameTemplate::new(&c.tcp(1024, 80, SYN, 1, b""), 60, true);
    let ack_t = FrameTemplate::new(&c.tcp(1024, 80, ACK, 2, b""), 60, true);
    let dport = if mode.nat() { NAT_PORT } else { 80 };
    let reply = |i: u16| PacketBuilder::new(rs_mac(i), IN_MAC, rs_addr(i), Ipv4Addr::from(CLIENTS));
    let synack: Vec<FrameTemplate> =
        (0..args.reals).map(|i| FrameTemplate::new(&reply(i).tcp(dport, 1024, SYN | ACK, 1, b""), 60, false)).collect();

    // Establish every flow: SYN, (NAT: the server's SYN-ACK), ACK.
    let mut buf = vec![0u8; 64];
    let mut send = |p: &mut Pipeline, t: &FrameTemplate, ip: u32, port: u16, on: u16| -> Verdict {
        t.fill(&mut buf, ip, port);
        p.process(CLOCK_EPOCH_MS, on, &mut VecFrame::new(&buf[..t.len()]))
    };
    for f in 0..flows.len {
        let (ip, port) = flows.flow(f);
        let v = send(&mut p, &syn_t, ip, port, 0);
        ensure!(matches!(v, Verdict::Forward(_)), "setup: SYN of flow {f}: {v:?}");
    }
    let mut flow_set = vec![0u8; if mode.nat() { flows.len as usize } else { 0 }];
    if mode.nat() {
        for (_, conn) in p.connections().iter() {
            let f = flows.index_of(conn.caddr, conn.cport).context("setup: a connection of no flow")?;
            flow_set[f as usize] = (conn.daddr - u32::from(rs_addr(0))) as u8;
        }
    }
    for f in 0..flows.len {
        let (ip, port) = flows.flow(f);
        if mode.nat() {
            let v = send(&mut p, &synack[usize::from(flow_set[f as usize])], ip, port, 1);
            ensure!(v == Verdict::Forward(0), "setup: SYN-ACK of flow {f}: {v:?}");
        }
        let v = send(&mut p, &ack_t, ip, port, 0);
        ensure!(matches!(v, Verdict::Forward(_)), "setup: ACK of flow {f}: {v:?}");
    }
    ensure!(p.connections().len() == flows.len as usize, "setup: {} connections", p.connections().len());

    let wire = sizes(&spec.size)?;
    let client = mode.client_side().then(|| Traffic {
        flows: Arc::clone(&flows),
        flow_set: Arc::new(Vec::new()),
        sets: vec![wire.iter().map(|&n| FrameTemplate::new(&ack_frame(&c, 1024, 80, n), n - 4, true)).collect()],
        syn_percent: syn,
        syn: Some(syn_t.clone()),
        new_flows: Arc::clone(&new_flows),
    });
    let replies = mode.reply_side().then(|| Traffic {
        flows: Arc::clone(&flows),
        flow_set: Arc::new(flow_set),
        sets: (0..args.reals)
            .map(|i| {
                wire.iter().map(|&n| FrameTemplate::new(&ack_frame(&reply(i), dport, 1024, n), n - 4, false)).collect()
            })
            .collect(),
        syn_percent: 0,
        syn: None,
        new_flows: Arc::new(Flows { ips: Vec::new(), len: 0 }),
    });
    let table_bytes = p.connections().memory_bytes();
    Ok(Prepared { pipeline: p, traffic: [client, replies], table_bytes })
}
