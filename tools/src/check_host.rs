//! `rvsadm --check-host`: what a DPDK deployment of rvsd still lacks on this host, each with
//! the exact command that fixes it. Read-only: it reads /proc and /sys and changes nothing.
//!
//! Checks (DPDK's "System Requirements" and "Linux Drivers" guides): hugepages reserved and
//! a hugetlbfs mounted; the IOMMU on and vfio-pci loaded; each PCI port of the configuration
//! bound to a DPDK-capable driver (Debian's `dpdk-devbind.py`); the workers' CPUs isolated
//! (`isolcpus`, `nohz_full`); each NIC on the same NUMA node as the workers.

use std::path::{Path, PathBuf};

/// One finding: `ok`, or what is missing and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked.
    pub what: String,
    /// True when nothing is missing.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The command (or edit) that fixes it, when not ok.
    pub fix: Option<String>,
}

impl Finding {
    fn ok(what: &str, detail: String) -> Self {
        Finding { what: what.into(), ok: true, detail, fix: None }
    }
    fn missing(what: &str, detail: String, fix: String) -> Self {
        Finding { what: what.into(), ok: false, detail, fix: Some(fix) }
    }
}

/// The parts of rvs.toml the checks need.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// `[[port]] device` strings.
    pub devices: Vec<String>,
    /// `[dataplane] lcores`.
    pub lcores: Vec<u32>,
}

/// The host's /proc and /sys, under `root` ("/" on a real host; a fixture in tests).
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// The host under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Host { root: root.into() }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.path(p)).ok()
    }

    fn exists(&self, p: &str) -> bool {
        self.path(p).exists()
    }
}

/// A kernel CPU list (`0-3,8,10-11`) as numbers.
pub fn parse_cpu_list(s: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    v.extend(a..=b);
                }
            }
            None => v.extend(part.parse::<u32>().ok()),
        }
    }
    v
}

fn cpu_list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// True for a PCI address (`0000:01:00.0`); rvs.toml's vdevs (`net_af_packet0,...`) are not.
fn is_pci(dev: &str) -> bool {
    let a = dev.split(',').next().unwrap_or("");
    let b = a.as_bytes();
    b.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
}

/// Runs every check.
pub fn check(host: &Host, d: &Deployment) -> Vec<Finding> {
    let mut f = vec![hugepages(host), hugetlbfs(host), iommu(host), vfio(host)];
    f.extend(nics(host, d));
    f.push(isolation(host, d));
    f.extend(numa(host, d));
    f
}

fn meminfo(host: &Host, key: &str) -> Option<u64> {
    let m = host.read("/proc/meminfo")?;
    let line = m.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn hugepages(host: &Host) -> Finding {
    let total = meminfo(host, "HugePages_Total:").unwrap_or(0);
    let size_kb = meminfo(host, "Hugepagesize:").unwrap_or(2048);
    let free = meminfo(host, "HugePages_Free:").unwrap_or(0);
    if total > 0 {
        Finding::ok("hugepages", format!("{total} x {size_kb} kB reserved, {free} free"))
    } else {
        Finding::missing(
            "hugepages",
            "none reserved".into(),
            "echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; \
             echo vm.nr_hugepages=1024 > /etc/sysctl.d/80-rvs-hugepages.conf (2 GiB of 2 MB pages, kept at boot)"
                .into(),
        )
    }
}

fn hugetlbfs(host: &Host) -> Finding {
    let mounts = host.read("/proc/mounts").unwrap_or_default();
    let at: Vec<&str> = mounts
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    if at.is_empty() {
        Finding::missing(
            "hugetlbfs",
            "no hugetlbfs mounted".into(),
            "mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages (systemd's dev-hugepages.mount does this at boot)".into(),
        )
    } else {
        Finding::ok("hugetlbfs", format!("mounted at {}", at.join(", ")))
    }
}

fn iommu(host: &Host) -> Finding {
    let groups = std::fs::read_dir(host.path("/sys/kernel/iommu_groups")).map(|d| d.count()).unwrap_or(0);
    if groups > 0 {
        return Finding::ok("iommu", format!("on ({groups} groups)"));
    }
    let cpu = host.read("/proc/cpuinfo").unwrap_or_default();
    let param = if cpu.contains("AuthenticAMD") { "amd_iommu=on iommu=pt" } else { "intel_iommu=on iommu=pt" };
    Finding::missing(
        "iommu",
        "off (no IOMMU groups): vfio-pci cannot take a NIC".into(),
        format!("add `{param}` to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot (and enable VT-d/AMD-Vi in the firmware)"),
    )
}

fn vfio(host: &Host) -> Finding {
    if host.exists("/sys/bus/pci/drivers/vfio-pci") || host.exists("/sys/module/vfio_pci") {
        Finding::ok("vfio-pci", "loaded".into())
    } else {
        Finding::missing(
            "vfio-pci",
            "not loaded".into(),
            "modprobe vfio-pci && echo vfio-pci > /etc/modules-load.d/vfio-pci.conf".into(),
        )
    }
}

fn driver_of(host: &Host, addr: &str) -> Option<String> {
    let link = std::fs::read_link(host.path(&format!("/sys/bus/pci/devices/{addr}/driver"))).ok()?;
    link.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn nics(host: &Host, d: &Deployment) -> Vec<Finding> {
    let mut out = Vec::new();
    for dev in &d.devices {
        let what = format!("port {dev}");
        if !is_pci(dev) {
            out.push(Finding::ok(&what, "a virtual device: nothing to bind".into()));
            continue;
        }
        let addr = dev.split(',').next().unwrap_or(dev);
        if !host.exists(&format!("/sys/bus/pci/devices/{addr}")) {
            out.push(Finding::missing(
                &what,
                "no such PCI device".into(),
                "check the address with `dpdk-devbind.py --status-dev net` and correct [[port]] device".into(),
            ));
            continue;
        }
        match driver_of(host, addr).as_deref() {
            Some(drv @ ("vfio-pci" | "uio_pci_generic" | "igb_uio")) => {
                out.push(Finding::ok(&what, format!("bound to {drv}")))
            }
            // Mellanox/NVIDIA NICs stay on their kernel driver: DPDK's mlx5 PMD works beside it.
            Some(drv @ ("mlx5_core" | "mlx4_core")) => {
                out.push(Finding::ok(&what, format!("{drv}: a bifurcated driver, used in place")))
            }
            other => {
                let was = other.map_or("no driver".to_owned(), |d| format!("bound to the kernel's {d}"));
                out.push(Finding::missing(
                    &what,
                    was,
                    format!("ip link set <its interface> down; dpdk-devbind.py --bind=vfio-pci {addr}"),
                ));
            }
        }
    }
    out
}

fn isolation(host: &Host, d: &Deployment) -> Finding {
    let isolated = parse_cpu_list(&host.read("/sys/devices/system/cpu/isolated").unwrap_or_default());
    let nohz = parse_cpu_list(&host.read("/sys/devices/system/cpu/nohz_full").unwrap_or_default());
    let loose: Vec<u32> = d.lcores.iter().copied().filter(|c| !isolated.contains(c) || !nohz.contains(c)).collect();
    if d.lcores.is_empty() {
        return Finding::ok("isolated CPUs", "no workers configured".into());
    }
    if loose.is_empty() {
        Finding::ok("isolated CPUs", format!("workers on {} are isolated and tickless", cpu_list(&d.lcores)))
    } else {
        let l = cpu_list(&d.lcores);
        Finding::missing(
            "isolated CPUs",
            format!("worker CPUs {} are not isolated (isolated: [{}], nohz_full: [{}])", cpu_list(&loose), cpu_list(&isolated), cpu_list(&nohz)),
            format!("add `isolcpus={l} nohz_full={l} rcu_nocbs={l}` to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot"),
        )
    }
}

fn cpu_node(host: &Host, cpu: u32) -> Option<u32> {
    let dir = std::fs::read_dir(host.path(&format!("/sys/devices/system/cpu/cpu{cpu}"))).ok()?;
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("node")).and_then(|n| n.parse().ok()))
        .next()
}

fn numa(host: &Host, d: &Deployment) -> Vec<Finding> {
    let mut out = Vec::new();
    for dev in d.devices.iter().filter(|d| is_pci(d)) {
        let addr = dev.split(',').next().unwrap_or(dev);
        let Some(node) =
            host.read(&format!("/sys/bus/pci/devices/{addr}/numa_node")).and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let what = format!("NUMA {addr}");
        if node < 0 {
            out.push(Finding::ok(&what, "a single-node machine".into()));
            continue;
        }
        let away: Vec<u32> =
            d.lcores.iter().copied().filter(|&c| cpu_node(host, c).is_some_and(|n| n != node as u32)).collect();
        if away.is_empty() {
            out.push(Finding::ok(&what, format!("the NIC and the workers are on node {node}")));
        } else {
            let local = host.read(&format!("/sys/devices/system/node/node{node}/cpulist")).unwrap_or_default();
            out.push(Finding::missing(
                &what,
                format!("the NIC is on node {node}, workers {} are not", cpu_list(&away)),
                format!("set [dataplane] lcores to CPUs of node {node} ({}) in rvs.toml", local.trim()),
            ));
        }
    }
    out
}

/// The findings as lines for an operator; the second value is true when nothing is missing.
pub fn render(findings: &[Finding]) -> (String, bool) {
    let mut o = String::new();
    for f in findings {
        o += &format!("{:<8} {}: {}\n", if f.ok { "ok" } else { "MISSING" }, f.what, f.detail);
        if let Some(fix) = &f.fix {
            o += &format!("         fix: {fix}\n");
        }
    }
    let all = findings.iter().all(|f| f.ok);
    o += if all { "check-host: ready for rvsd\n" } else { "check-host: rvsd's DPDK ports need the fixes above\n" };
    (o, all)
}

/// The default host root.
pub fn this_host() -> Host {
    Host::new(Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, p: &str, text: &str) {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }

    #[test]
    fn a_bare_host_gets_a_fix_for_everything_and_a_ready_one_none() {
        let dir = std::env::temp_dir().join(format!("rvs-check-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bare = dir.join("bare");
        write(&bare, "proc/meminfo", "HugePages_Total:       0\nHugepagesize:       2048 kB\n");
        write(&bare, "proc/mounts", "proc /proc proc rw 0 0\n");
        write(&bare, "proc/cpuinfo", "vendor_id\t: AuthenticAMD\n");
        write(&bare, "sys/bus/pci/devices/0000:01:00.0/numa_node", "1\n");
        std::os::unix::fs::symlink(
            "../../../bus/pci/drivers/ixgbe",
            bare.join("sys/bus/pci/devices/0000:01:00.0/driver"),
        )
        .unwrap();
        write(&bare, "sys/devices/system/cpu/cpu2/node0/x", "");
        write(&bare, "sys/devices/system/node/node1/cpulist", "8-15\n");
        let d =
            Deployment { devices: vec!["0000:01:00.0".into(), "net_af_packet0,iface=veth".into()], lcores: vec![2] };
        let f = check(&Host::new(&bare), &d);
        let (text, all) = render(&f);
        assert!(!all, "{text}");
        for want in [
            "MISSING  hugepages",
            "nr_hugepages",
            "MISSING  hugetlbfs",
            "amd_iommu=on iommu=pt",
            "modprobe vfio-pci",
            "bound to the kernel's ixgbe",
            "dpdk-devbind.py --bind=vfio-pci 0000:01:00.0",
            "isolcpus=2 nohz_full=2 rcu_nocbs=2",
            "CPUs of node 1 (8-15)",
            "ok       port net_af_packet0,iface=veth: a virtual device",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }

        let ready = dir.join("ready");
        write(
            &ready,
            "proc/meminfo",
            "HugePages_Total:    1024\nHugePages_Free:     1000\nHugepagesize:       2048 kB\n",
        );
        write(&ready, "proc/mounts", "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n");
        write(&ready, "sys/kernel/iommu_groups/0/x", "");
        write(&ready, "sys/bus/pci/drivers/vfio-pci/x", "");
        write(&ready, "sys/bus/pci/devices/0000:01:00.0/numa_node", "0\n");
        std::os::unix::fs::symlink(
            "../../../bus/pci/drivers/vfio-pci",
            ready.join("sys/bus/pci/devices/0000:01:00.0/driver"),
        )
        .unwrap();
        write(&ready, "sys/devices/system/cpu/isolated", "2-3\n");
        write(&ready, "sys/devices/system/cpu/nohz_full", "2-3\n");
        write(&ready, "sys/devices/system/cpu/cpu2/node0/x", "");
        let (text, all) =
            render(&check(&Host::new(&ready), &Deployment { devices: vec!["0000:01:00.0".into()], lcores: vec![2] }));
        assert!(all, "{text}");
        assert!(text.contains("bound to vfio-pci") && text.contains("on node 0"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(parse_cpu_list("0-2,8,10-11\n"), vec![0, 1, 2, 8, 10, 11]);
    }
}
