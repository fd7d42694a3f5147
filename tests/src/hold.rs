//! Held connections and one-shot connections to a line echo service (`lab/tcp_echo.py`), for
//! tests that change the balancer while connections live and check that each one carries on,
//! answered by the same real server.

use super::{lab_scripts, Lab, Ns};
use std::time::Duration;

/// The path of a lab script, as a string for a command line.
pub fn script(name: &str) -> String {
    lab_scripts().join(name).to_str().expect("a UTF-8 path").to_owned()
}

/// `lab/hold_conns.py` running in the client: one connection per source to VIP:PORT, checked
/// in rounds the test triggers.
#[derive(Debug)]
pub struct Holder {
    /// The process handle (its lines, its end).
    pub handle: usize,
    dir: std::path::PathBuf,
    conns: usize,
}

impl Holder {
    /// Connects from every source (bounded) to `vip`:`port`, for `rounds` rounds; with `rst`
    /// the connections end with a reset instead of a FIN.
    pub fn start(
        lab: &mut Lab,
        client: &Ns,
        vip: &str,
        port: u16,
        sources: &[String],
        rounds: u32,
        rst: bool,
    ) -> Holder {
        let dir = lab.scratch_dir(&format!("rounds-{vip}-{}", sources[0])).expect("scratch directory");
        let mut args =
            vec![format!("HOLD_RST={}", u8::from(rst)), "python3".into(), "-u".into(), script("hold_conns.py")];
        args.extend([vip.to_owned(), port.to_string(), dir.to_str().expect("UTF-8").into(), rounds.to_string()]);
        args.extend(sources.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let handle = lab.spawn(client, "env", &args).expect("spawn hold_conns.py");
        lab.wait_for_line(handle, &format!("connected {}", sources.len()), Duration::from_secs(30))
            .expect("every held connection made");
        Holder { handle, dir, conns: sources.len() }
    }

    /// Runs round `r` and asserts every connection answered (`what` names the moment); returns
    /// the "servers=" part: which real server answered each connection.
    pub fn round(&self, lab: &mut Lab, r: u32, what: &str) -> String {
        let line = self.round_line(lab, r);
        assert!(line.contains(&format!("ok={} fail=0", self.conns)), "{what}, round {r}: {line}");
        line.split("servers=").nth(1).unwrap_or("").to_owned()
    }

    /// Runs round `r`; returns, per connection in source order, the real server that answered
    /// it, or None where it failed.
    pub fn round_answers(&self, lab: &mut Lab, r: u32) -> Vec<Option<String>> {
        let line = self.round_line(lab, r);
        let servers = line.split("servers=").nth(1).unwrap_or("");
        let answers: Vec<Option<String>> = servers
            .split(',')
            .map(|e| e.rsplit(':').next().filter(|n| !["?", "-"].contains(n)).map(str::to_owned))
            .collect();
        assert_eq!(answers.len(), self.conns, "round {r}: {line}");
        answers
    }

    fn round_line(&self, lab: &mut Lab, r: u32) -> String {
        std::fs::write(self.dir.join(format!("round-{r}")), b"").expect("trigger file");
        lab.wait_for_line(self.handle, &format!("round {r} "), Duration::from_secs(60)).expect("round line")
    }
}

/// One new connection from `src` to `vip`:`port` (`lab/echo_once.py`): Ok(the real server
/// that answered) or what went wrong.
pub fn connect_once(client: &Ns, vip: &str, port: u16, src: &str) -> Result<String, String> {
    let out = client
        .run("python3", &[&script("echo_once.py"), vip, &port.to_string(), src], Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match text.strip_prefix("echo_once: ") {
        Some(name) if out.status.success() => Ok(name.to_owned()),
        _ => Err(text),
    }
}
