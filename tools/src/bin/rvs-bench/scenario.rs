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
    /// FULLNAT, client to server (both addresses rewritten, from a local address).
    FnatIn,
    /// FULLNAT, server replies (to a local address and port) to client.
    FnatOut,
    /// FULLNAT, both directions.
    Fnat,
    /// The same eight over IPv6 (TUN: IPv6-in-IPv6).
    Dr6,
    /// See [`Mode::Dr6`].
    Tun6,
    /// See [`Mode::Dr6`].
    NatIn6,
    /// See [`Mode::Dr6`].
    NatOut6,
    /// See [`Mode::Dr6`].
    Nat6,
    /// See [`Mode::Dr6`].
    FnatIn6,
    /// See [`Mode::Dr6`].
    FnatOut6,
    /// See [`Mode::Dr6`].
    Fnat6,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
            Mode::NatIn => "nat-in",
            Mode::NatOut => "nat-out",
            Mode::Nat => "nat",
            Mode::Dr6 => "dr6",
            Mode::Tun6 => "tun6",
            Mode::NatIn6 => "nat-in6",
            Mode::NatOut6 => "nat-out6",
            Mode::Nat6 => "nat6",
            Mode::FnatIn => "fnat-in",
            Mode::FnatOut => "fnat-out",
            Mode::Fnat => "fnat",
            Mode::FnatIn6 => "fnat-in6",
            Mode::FnatOut6 => "fnat-out6",
            Mode::Fnat6 => "fnat6",
        }
    }
    /// The IPv4 mode this one is, or runs over IPv6.
    pub(crate) fn base(self) -> Mode {
        match self {
            Mode::Dr6 => Mode::Dr,
            Mode::Tun6 => Mode::Tun,
            Mode::NatIn6 => Mode::NatIn,
            Mode::NatOut6 => Mode::NatOut,
            Mode::Nat6 => Mode::Nat,
            Mode::FnatIn6 => Mode::FnatIn,
            Mode::FnatOut6 => Mode::FnatOut,
            Mode::Fnat6 => Mode::Fnat,
            m => m,
        }
    }
    pub(crate) fn v6(self) -> bool {
        self.base() != self
    }
    pub(crate) fn vip(self) -> Ipv4Addr {
        match self.base() {
            Mode::Dr => Ipv4Addr::new(198, 18, 0, 101),
            Mode::Tun => Ipv4Addr::new(198, 18, 0, 102),
            Mode::FnatIn | Mode::FnatOut | Mode::Fnat => Ipv4Addr::new(198, 18, 0, 103),
            _ => Ipv4Addr::new(198, 18, 0, 100),
        }
    }
    pub(crate) fn vip6(self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(self.vip().octets()[3]))
    }
    /// NAT or FULLNAT: replies come back through rvs, to the real server's port.
    pub(crate) fn nat(self) -> bool {
        matches!(self.base(), Mode::NatIn | Mode::NatOut | Mode::Nat) || self.fullnat()
    }
    pub(crate) fn fullnat(self) -> bool {
        matches!(self.base(), Mode::FnatIn | Mode::FnatOut | Mode::Fnat)
    }
    pub(crate) fn client_side(self) -> bool {
        !matches!(self.base(), Mode::NatOut | Mode::FnatOut)
    }
    pub(crate) fn reply_side(self) -> bool {
        matches!(self.base(), Mode::NatOut | Mode::Nat | Mode::FnatOut | Mode::Fnat)
    }
}

/// IPv6 clients: flow client `ip` (a u32 as for IPv4) is 2001:db8:64::IP.
pub(crate) fn client6(ip: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 0)) | u128::from(ip))
}

pub(crate) fn rs_addr6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x11 + i)
}

pub(crate) const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);

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

/// FULLNAT's local addresses: 16, so that even 10 M flows find ports towards each real server.
pub(crate) const LOCAL_ADDRS: u32 = 16;

pub(crate) fn laddr(k: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 201)) + k)
}

pub(crate) fn laddr6(k: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x201)) + u128::from(k))
}

pub(crate) fn rs_mac(i: u16) -> Mac {
    Mac([2, 0, 0, 0, 2, i as u8])
}

/// Four services (NAT, DR, TUN, FULLNAT) per family of `reals` real servers each, on a
/// jumbo-frame back end so that IMIX's largest frames still fit once tunnelled.
pub(crate) fn snapshot(scheduler: &str, reals: u16) -> Result<Snapshot> {
    let svc = |id: u16, vip: std::net::IpAddr, fwd: Forward, port: u16| Service {
        id,
        protocol: Protocol::Tcp,
        vip,
        port: 80,
        scheduler: scheduler.into(),
        persistence: 0,
        persistence_prefix: if vip.is_ipv6() { 128 } else { 32 },
        ops: false,
        fwmark: 0,
        pe_sip: false,
        sched_flags: 0,
        dests: (0..reals)
            .map(|i| {
                let a: std::net::IpAddr = if vip.is_ipv6() { rs_addr6(i).into() } else { rs_addr(i).into() };
                Dest::new(id * reals + i, a, port, 1 + u32::from(i % 3), fwd)
            })
            .collect(),
        laddrs: vec![],
        lports: Default::default(),
        toa: false,
        proxy_protocol: Default::default(),
        uoa: false,
        synproxy: false,
        access: Default::default(),
    };
    let mut neighbours: Vec<(std::net::IpAddr, Mac)> = (0..reals).map(|i| (rs_addr(i).into(), rs_mac(i))).collect();
    neighbours.extend((0..reals).map(|i| (rs_addr6(i).into(), rs_mac(i))));
    neighbours.push((GATEWAY.into(), ROUTER));
    neighbours.push((GATEWAY6.into(), ROUTER));
    let mut out = Interface::v4(OUT_MAC, Ipv4Addr::new(198, 18, 0, 1), 24, Some(GATEWAY), 1500);
    out.addr6 = Some((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 64));
    out.gateway6 = Some(GATEWAY6);
    let mut inside = Interface::v4(IN_MAC, Ipv4Addr::new(198, 19, 0, 1), 24, None, 9000);
    inside.addr6 = Some((Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1), 64));
    Snapshot::new(
        vec![out, inside],
        vec![
            svc(0, Mode::Nat.vip().into(), Forward::Nat, NAT_PORT),
            svc(1, Mode::Dr.vip().into(), Forward::DirectRoute, 80),
            svc(2, Mode::Tun.vip().into(), Forward::Tunnel, 80),
            svc(3, Mode::Nat6.vip6().into(), Forward::Nat, NAT_PORT),
            svc(4, Mode::Dr6.vip6().into(), Forward::DirectRoute, 80),
            svc(5, Mode::Tun6.vip6().into(), Forward::Tunnel, 80),
            Service {
                laddrs: (0..LOCAL_ADDRS).map(|k| laddr(k).into()).collect(),
                ..svc(6, Mode::Fnat.vip().into(), Forward::FullNat, NAT_PORT)
            },
            Service {
                laddrs: (0..LOCAL_ADDRS).map(|k| laddr6(k).into()).collect(),
                ..svc(7, Mode::Fnat6.vip6().into(), Forward::FullNat, NAT_PORT)
            },
        ],
        neighbours,
        Timeouts::default(),
    )
    .map_err(|e| anyhow::anyhow!("bench config: {e}"))
}

/// `snap` with a director deny list of `n` single IPv4 addresses: every other one from just
/// past the new clients' first addresses, so none merge, none is a bench client, and a new
/// client's look-up searches a full bucket (its /16 holds 32 K of them); `n` = 0: unchanged.
/// `blackhole`: every packet's source is looked up first (an attack in progress).
pub(crate) fn with_deny_list(snap: Snapshot, n: u32, blackhole: bool) -> Snapshot {
    if n == 0 {
        return snap;
    }
    let base = NEW_CLIENTS + (1 << 12) + 1;
    let prefixes: Vec<(std::net::IpAddr, u8)> = (0..n).map(|i| (Ipv4Addr::from(base + 2 * i).into(), 32)).collect();
    let deny = Some(Arc::new(rvs_core::access::AccessList::new(&prefixes)));
    snap.with_access(rvs_core::access::Access { allow: None, deny, ..Default::default() }, blackhole)
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

/// Builds the frames of one side of a flow, IPv4 or IPv6.
#[derive(Clone)]
pub(crate) enum Side {
    V4(PacketBuilder),
    V6(PacketBuilder6),
}

impl Side {
    pub(crate) fn tcp(&self, sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        match self {
            Side::V4(b) => b.tcp(sport, dport, flags, seq, payload),
            Side::V6(b) => b.tcp(sport, dport, flags, seq, payload),
        }
    }

    /// Bytes before the TCP payload (Ethernet, IP and TCP headers).
    fn headers(&self) -> usize {
        match self {
            Side::V4(_) => 54,
            Side::V6(_) => 74,
        }
    }
}

/// An ACK (TCP, 20-byte headers) frame of `wire` bytes on the wire (IPv6: at least its 78),
/// from `b`.
pub(crate) fn ack_frame(b: &Side, sport: u16, dport: u16, wire: usize) -> Vec<u8> {
    let wire = wire.max(b.headers() + 4);
    b.tcp(sport, dport, ACK, 2, &vec![0; wire - 4 - b.headers()])
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
    let v6 = mode.v6();
    let owned = |ip: u32| {
        let o = if v6 { snap.owner_of(u128::from(client6(ip)), cores) } else { snap.owner(Ipv4Addr::from(ip), cores) };
        o == w as u16
    };
    let flows = Arc::new(Flows::new(per, CLIENTS.., owned));
    let syn = if mode.client_side() { args.syn_percent } else { 0 };
    // Room for every SYN a run can send at up to 8 M/s per core.
    let new_max = if syn > 0 { (8e6 * (args.seconds + 1.0)) as u32 } else { 0 };
    let new_flows = Arc::new(Flows::new(new_max, NEW_CLIENTS.., owned));
    let capacity = if args.flood { per as usize + 1024 } else { (per + new_max) as usize + 1024 };
    let cfg = PipelineConfig {
        conn_capacity: if v6 { 1024 } else { capacity },
        conn6_capacity: if v6 { capacity } else { 1024 },
        hash_seed: 0x9E37_79B9_7F4A_7C15 ^ w as u64,
        core: w as u16,
        cores,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::new(cfg, Arc::clone(snap), CLOCK_EPOCH_MS);
    let c = if v6 {
        Side::V6(PacketBuilder6::new(ROUTER, OUT_MAC, client6(CLIENTS), mode.vip6()))
    } else {
        Side::V4(PacketBuilder::new(ROUTER, OUT_MAC, Ipv4Addr::from(CLIENTS), mode.vip()))
    };
    let hdr = if v6 { rvs_tools::replay::MIN_FRAME6 } else { 60 };
    let syn_t = FrameTemplate::new(&c.tcp(1024, 80, SYN, 1, b""), hdr, true);
    let ack_t = FrameTemplate::new(&c.tcp(1024, 80, ACK, 2, b""), hdr, true);
    let dport = if mode.nat() { NAT_PORT } else { 80 };
    // A real server's frames to the client (NAT) or to a local address (FULLNAT: the template's
    // high 96 bits of IPv6 are the local addresses').
    let reply = |i: u16| match (v6, mode.fullnat()) {
        (true, false) => Side::V6(PacketBuilder6::new(rs_mac(i), IN_MAC, rs_addr6(i), client6(CLIENTS))),
        (true, true) => Side::V6(PacketBuilder6::new(rs_mac(i), IN_MAC, rs_addr6(i), laddr6(0))),
        (false, false) => Side::V4(PacketBuilder::new(rs_mac(i), IN_MAC, rs_addr(i), Ipv4Addr::from(CLIENTS))),
        (false, true) => Side::V4(PacketBuilder::new(rs_mac(i), IN_MAC, rs_addr(i), laddr(0))),
    };
    let synack: Vec<FrameTemplate> = (0..args.reals)
        .map(|i| FrameTemplate::new(&reply(i).tcp(dport, 1024, SYN | ACK, 1, b""), hdr, false))
        .collect();

    // Establish every flow: SYN, (NAT: the server's SYN-ACK), ACK.
    let mut buf = vec![0u8; 128];
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
    // FULLNAT: where each flow's replies go (a local address's low 32 bits, and port).
    let mut local_ends = vec![(0u32, 0u16); if mode.fullnat() { flows.len as usize } else { 0 }];
    if mode.nat() {
        let of4 = p
            .connections()
            .iter()
            .map(|(_, c)| (c.caddr, c.cport, c.daddr - u32::from(rs_addr(0)), (c.laddr, c.lport)));
        let of6 = p.connections6().iter().map(|(_, c)| {
            // the addresses' low 32 bits
            (c.caddr as u32, c.cport, (c.daddr - u128::from(rs_addr6(0))) as u32, (c.laddr as u32, c.lport))
        });
        for (caddr, cport, rs, end) in of4.chain(of6) {
            let f = flows.index_of(caddr, cport).context("setup: a connection of no flow")?;
            flow_set[f as usize] = rs as u8;
            if let Some(e) = local_ends.get_mut(f as usize) {
                *e = end;
            }
        }
    }
    for f in 0..flows.len {
        let (ip, port) = local_ends.get(f as usize).copied().unwrap_or(flows.flow(f));
        if mode.nat() {
            let v = send(&mut p, &synack[usize::from(flow_set[f as usize])], ip, port, 1);
            ensure!(v == Verdict::Forward(0), "setup: SYN-ACK of flow {f}: {v:?}");
        }
        let (ip, port) = flows.flow(f);
        let v = send(&mut p, &ack_t, ip, port, 0);
        ensure!(matches!(v, Verdict::Forward(_)), "setup: ACK of flow {f}: {v:?}");
    }
    let held = p.connections().len() + p.connections6().len();
    ensure!(held == flows.len as usize, "setup: {held} connections");

    let wire = sizes(&spec.size)?;
    let client = mode.client_side().then(|| Traffic {
        flows: Arc::clone(&flows),
        flow_set: Arc::new(Vec::new()),
        sets: vec![wire
            .iter()
            .map(|&n| {
                let f = ack_frame(&c, 1024, 80, n);
                let len = f.len();
                FrameTemplate::new(&f, len, true)
            })
            .collect()],
        syn_percent: syn,
        syn: Some(syn_t.clone()),
        new_flows: Arc::clone(&new_flows),
        local_ends: Arc::new(Vec::new()),
    });
    let replies = mode.reply_side().then(|| Traffic {
        flows: Arc::clone(&flows),
        flow_set: Arc::new(flow_set),
        sets: (0..args.reals)
            .map(|i| {
                wire.iter()
                    .map(|&n| {
                        let f = ack_frame(&reply(i), dport, 1024, n);
                        let len = f.len();
                        FrameTemplate::new(&f, len, false)
                    })
                    .collect()
            })
            .collect(),
        syn_percent: 0,
        syn: None,
        new_flows: Arc::new(Flows { ips: Vec::new(), len: 0 }),
        local_ends: Arc::new(local_ends),
    });
    let table_bytes = if v6 { p.connections6().memory_bytes() } else { p.connections().memory_bytes() };
    Ok(Prepared { pipeline: p, traffic: [client, replies], table_bytes })
}
