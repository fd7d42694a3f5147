//! Ethernet ports: attach, configure with N rx/tx queue pairs (RSS where the PMD has it),
//! start, and hand out one [`Queue`] per worker.

use super::{Burst, DpdkError, Eal, Mempool};
use std::ffi::CString;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// RSS hash types rvs asks for: IPv4 and TCP/UDP over IPv4, so both directions of a flow's
/// 4-tuple spread over queues (bits of `RTE_ETH_RSS_*`, which bindgen cannot evaluate).
const RSS_IPV4: u64 = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5);

/// `RTE_ETH_RX_OFFLOAD_IPV4_CKSUM`: the NIC checks received IPv4 header checksums and says so
/// in each mbuf's flags ([`super::mbuf`]), which spares the parse its own check.
const RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;

/// How to bring a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// Rx/tx queue pairs: one per worker lcore.
    pub queues: u16,
    /// Descriptors per rx queue.
    pub rx_desc: u16,
    /// Descriptors per tx queue.
    pub tx_desc: u16,
    /// Receive every frame, not only those for our MAC (needed for bridging; the load balancer
    /// also wants it where VIPs are answered for by ARP on its behalf).
    pub promiscuous: bool,
    /// MTU to set, where the PMD allows it.
    pub mtu: Option<u16>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig { queues: 1, rx_desc: 1024, tx_desc: 1024, promiscuous: true, mtu: None }
    }
}

/// Link state as the PMD reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mb/s (0 if unknown).
    pub speed_mbps: u32,
}

/// The port's hardware/PMD counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the NIC dropped because rx queues were full.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Receive buffer allocation failures.
    pub rx_nombuf: u64,
}

/// A started port. Stopped and closed on drop (which also returns its rx buffers to the pool
/// it borrows).
#[derive(Debug)]
pub struct Port<'p> {
    id: u16,
    name: String,
    queues: u16,
    rss: bool,
    rx_ipv4_checksum: bool,
    queues_taken: AtomicBool,
    _pool: PhantomData<&'p Mempool<'p>>,
}

impl<'p> Port<'p> {
    /// Attaches a device by its DPDK device string and returns its port id.
    ///
    /// A virtual device (`net_af_packet0,iface=veth0`, `net_null0`, `net_tap0,iface=tap0`,
    /// ...) is probed now (hot-plug); anything else (a PCI address) must already have been
    /// probed by EAL and is looked up by name.
    pub fn attach(_eal: &Eal, device: &str) -> Result<u16, DpdkError> {
        let name = device.split(',').next().unwrap_or(device);
        if let Some(id) = Self::lookup(name)? {
            return Ok(id);
        }
        let op = format!("rte_dev_probe({device})");
        let cdev = CString::new(device).map_err(|_| DpdkError::invalid(&op, "device string contains NUL"))?;
        // SAFETY: EAL is initialised (&Eal); cdev is a valid C string for the call.
        let rc = unsafe { dpdk_sys::rte_dev_probe(cdev.as_ptr()) };
        if rc < 0 {
            return Err(DpdkError::new(op, rc));
        }
        Self::lookup(name)?.ok_or_else(|| DpdkError::invalid(op, format!("probed, but no port is named {name}")))
    }

    fn lookup(name: &str) -> Result<Option<u16>, DpdkError> {
        let op = format!("rte_eth_dev_get_port_by_name({name})");
        let cname = CString::new(name).map_err(|_| DpdkError::invalid(&op, "name contains NUL"))?;
        let mut id = 0u16;
        // SAFETY: cname is a valid C string, id a valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        Ok((rc == 0).then_some(id))
    }

    /// Configures port `id` with `cfg.queues` rx/tx queue pairs whose receive buffers come
    /// from `pool`, and starts it.
    pub fn start(_eal: &Eal, id: u16, cfg: &PortConfig, pool: &'p Mempool<'_>) -> Result<Self, DpdkError> {
        let info = Self::info(id)?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null driver_name is a static C string owned by the driver.
            unsafe { std::ffi::CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        if cfg.queues == 0 || cfg.queues > info.max_rx_queues || cfg.queues > info.max_tx_queues {
            return Err(DpdkError::invalid(
                format!("configure port {id} ({driver})"),
                format!(
                    "{} queue pairs asked, the device has at most {} rx / {} tx",
                    cfg.queues, info.max_rx_queues, info.max_tx_queues
                ),
            ));
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        let rss_hf = info.flow_type_rss_offloads & RSS_IPV4;
        let rss = cfg.queues > 1 && rss_hf != 0;
        if rss {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // Asked for where the device has it; without it every header is checked in software.
        let rx_ipv4_checksum = info.rx_offload_capa & RX_OFFLOAD_IPV4_CKSUM != 0;
        if rx_ipv4_checksum {
            conf.rxmode.offloads |= RX_OFFLOAD_IPV4_CKSUM;
        }
        // SAFETY: id names an attached port (info succeeded); conf is a valid config struct.
        let rc = unsafe { dpdk_sys::rte_eth_dev_configure(id, cfg.queues, cfg.queues, &conf) };
        if rc < 0 {
            return Err(DpdkError::new(format!("rte_eth_dev_configure(port {id})"), rc));
        }
        let mut rx_desc = cfg.rx_desc;
        let mut tx_desc = cfg.tx_desc;
        // SAFETY: port configured; the descriptor counts are valid out-pointers.
        let rc = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if rc < 0 {
            return Err(DpdkError::new(format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})"), rc));
        }
        // SAFETY: id is a valid port; returns a NUMA socket id or SOCKET_ID_ANY.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = u32::try_from(socket).unwrap_or(dpdk_sys::SOCKET_ID_ANY as u32);
        for q in 0..cfg.queues {
            // SAFETY: port configured with cfg.queues queues; pool is a live pktmbuf pool that
            // outlives the port ('p); a null rx_conf means the driver's defaults.
            let rc =
                unsafe { dpdk_sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr()) };
            if rc < 0 {
                return Err(DpdkError::new(format!("rte_eth_rx_queue_setup(port {id}, queue {q})"), rc));
            }
            // SAFETY: as above; null tx_conf means defaults.
            let rc = unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            if rc < 0 {
                return Err(DpdkError::new(format!("rte_eth_tx_queue_setup(port {id}, queue {q})"), rc));
            }
        }
        if let Some(mtu) = cfg.mtu {
            // SAFETY: valid configured port.
            let rc = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) };
            if rc < 0 && rc != -libc::ENOTSUP {
                return Err(DpdkError::new(format!("rte_eth_dev_set_mtu(port {id}, {mtu})"), rc));
            }
        }
        // SAFETY: all queues are set up.
        let rc = unsafe { dpdk_sys::rte_eth_dev_start(id) };
        if rc < 0 {
            return Err(DpdkError::new(format!("rte_eth_dev_start(port {id})"), rc));
        }
        if cfg.promiscuous {
            // SAFETY: started port. Failure (PMD without the feature) is not fatal.
            let _ = unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        }
        Ok(Port {
            id,
            name: driver,
            queues: cfg.queues,
            rss,
            rx_ipv4_checksum,
            queues_taken: AtomicBool::new(false),
            _pool: PhantomData,
        })
    }

    fn info(id: u16) -> Result<dpdk_sys::rte_eth_dev_info, DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out-struct; an invalid id is reported by the return code.
        let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
        if rc < 0 {
            return Err(DpdkError::new(format!("rte_eth_dev_info_get(port {id})"), rc));
        }
        Ok(info)
    }

    /// DPDK's port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The driver's name (`net_af_packet`, `net_ixgbe`, ...).
    pub fn driver(&self) -> &str {
        &self.name
    }

    /// Queue pairs configured.
    pub fn queue_count(&self) -> u16 {
        self.queues
    }

    /// True when received packets are spread over the queues by RSS in the NIC.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// True when the device checks received IPv4 header checksums (the offload is on).
    pub fn rx_ipv4_checksum(&self) -> bool {
        self.rx_ipv4_checksum
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: started port, valid out-pointer. It cannot fail for a valid port.
        unsafe { dpdk_sys::rte_eth_macaddr_get(self.id, &mut a) };
        a.addr_bytes
    }

    /// Link state, without waiting.
    pub fn link(&self) -> LinkStatus {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: started port, valid out-pointer.
        unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l) };
        LinkStatus { up: l.link_status() != 0, speed_mbps: l.link_speed }
    }

    /// The PMD's counters.
    pub fn stats(&self) -> PortStats {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: started port, valid out-pointer; reading stats is safe concurrently with
        // rx/tx on the queues.
        unsafe { dpdk_sys::rte_eth_stats_get(self.id, &mut s) };
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Hands out the queue pairs, one per worker; only once per port (a second call gets
    /// `None`), so no queue is ever polled by two threads.
    pub fn take_queues(&self) -> Option<Vec<Queue<'_, 'p>>> {
        if self.queues_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some((0..self.queues).map(|q| Queue { port: self.id, queue: q, _port: PhantomData }).collect())
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // SAFETY: every Queue borrows the Port, so no thread polls it any more; stop then close
        // releases the driver's buffers back to the pool, which outlives the port.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// One rx queue and one tx queue of a port, for one worker. `Send` but not `Sync`: a queue is
/// polled by exactly one thread at a time, as DPDK requires.
#[derive(Debug)]
pub struct Queue<'a, 'p> {
    port: u16,
    queue: u16,
    _port: PhantomData<(&'a Port<'p>, *const ())>,
}

// SAFETY: moving a queue handle to the worker that polls it is fine; the raw-pointer marker
// only removes Sync, so two threads can never use the same queue at once.
unsafe impl Send for Queue<'_, '_> {}

impl<'p> Queue<'_, 'p> {
    /// Port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn index(&self) -> u16 {
        self.queue
    }

    /// Receives into the free slots of `burst`; returns how many packets arrived.
    #[inline]
    pub fn rx(&mut self, burst: &mut Burst<'p>) -> usize {
        let (slots, room) = burst.spare_raw();
        // SAFETY: slots points to `room` writable pointer slots; this thread owns the queue
        // (&mut self, !Sync); received mbufs come from the pool that outlives 'p.
        let n = usize::from(unsafe { dpdk_sys::rvs_rx_burst(self.port, self.queue, slots, room) });
        // SAFETY: rte_eth_rx_burst stored n valid mbufs, now owned by the burst.
        unsafe { burst.commit(n) };
        n
    }

    /// Sends what `burst` holds; returns how many the PMD took. Unsent packets stay in the
    /// burst (at its front) for the caller to retry or drop.
    #[inline]
    pub fn tx(&mut self, burst: &mut Burst<'p>) -> usize {
        let (pkts, n) = burst.held_raw();
        if n == 0 {
            return 0;
        }
        // SAFETY: pkts points to n valid owned mbufs; the PMD takes ownership of the first
        // `sent` of them, which consumed() then forgets.
        let sent = usize::from(unsafe { dpdk_sys::rvs_tx_burst(self.port, self.queue, pkts, n) });
        burst.consumed(sent);
        sent
    }
}
