//! Real servers and clients for the lab: python's http.server answering with the server's name,
//! curl as the client.

use super::{Lab, Ns};
use std::collections::BTreeMap;
use std::time::Duration;

/// Serves `name` (as `index.html`, plus `big.bin` of `big` bytes) on `bind:port` in `ns`,
/// and waits until it listens; returns the server's handle (for [`Lab::stop`]).
pub fn serve(lab: &mut Lab, ns: &Ns, name: &str, bind: &str, port: u16, big: usize) -> anyhow::Result<usize> {
    let dir = lab.scratch_dir(&format!("{}-{name}-{port}", ns.name()))?;
    std::fs::write(dir.join("index.html"), format!("{name}\n"))?;
    std::fs::write(dir.join("big.bin"), vec![b'x'; big])?;
    let (p, d) = (port.to_string(), dir.to_string_lossy().into_owned());
    let h = lab.spawn(ns, "python3", &["-u", "-m", "http.server", &p, "--bind", bind, "--directory", &d])?;
    lab.wait_for_line(h, "Serving HTTP", Duration::from_secs(10))?;
    Ok(h)
}

/// `n` GETs of `url` from `client`, one connection each (HTTP/1.0 servers close); returns
/// body line -> count. `-g`: an IPv6 URL's brackets are the address's, not a glob.
pub fn tally(client: &Ns, url: &str, n: usize) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut args = vec!["-g", "-s", "-m", "60", "-H", "Connection: close"];
    args.extend(std::iter::repeat_n(url, n));
    let out = client.run("curl", &args, Duration::from_secs(120))?;
    anyhow::ensure!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut t = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        *t.entry(line.to_owned()).or_insert(0) += 1;
    }
    Ok(t)
}

/// Requests `url` until it answers; returns how many requests (connections) that took.
pub fn wait_ready(client: &Ns, url: &str) -> anyhow::Result<u64> {
    for attempt in 1..=100 {
        let out = client.run("curl", &["-g", "-s", "-m", "2", "-o", "/dev/null", url], Duration::from_secs(5))?;
        if out.status.success() {
            return Ok(attempt);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("{url} never answered")
}

/// `len` pseudo-random bytes (xorshift64 from `seed`, rounded up to whole 8-byte words): a
/// download's content that compresses to nothing and repeats nowhere.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len.div_ceil(8))
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}
