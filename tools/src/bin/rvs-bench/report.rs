//! The figures of a set of runs as a markdown section of BENCHMARKS.md.

use super::*;

/// The markdown section for `rows`, with the command that produced it.
pub(crate) fn section(args: &Args, machine: &str, rows: &[Figures]) -> String {
    let mut s = format!("<!-- BEGIN {} -->\n", args.section);
    let _ = writeln!(
        s,
        "{}",
        rvs_tools::generated_by(
            &format!("rvs-bench {}", rvs_tools::command_line(&["--write", "--json", "--section"])),
            machine
        )
    );
    s += "| mode | frame | flows | cores | Mpps (total) | Mpps/core | ns/packet (slices' range) | of which dataplane / port | cycles/packet | new conn/s | loop p50 / p99 / p99.9 (packets/loop) | bytes/conn (entry, table) | drops |\n";
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for f in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.1} ({:.0}-{:.0}) | {:.1} / {:.1} | {:.0} | {} | {} / {} / {} ns ({:.0}) | {}, {:.1} | {} |",
            f.mode,
            if f.size == "imix" { "IMIX".to_owned() } else { format!("{} B", f.size) },
            f.flows,
            f.cores,
            f.mpps,
            f.mpps_per_core,
            f.ns,
            f.ns_range.0,
            f.ns_range.1,
            f.dataplane_ns,
            f.port_ns,
            f.cycles,
            if f.new_conns_per_s > 0.0 { format!("{:.2} M", f.new_conns_per_s / 1e6) } else { "-".into() },
            f.loop_p50_ns,
            f.loop_p99_ns,
            f.loop_p999_ns,
            f.packets_per_loop,
            f.conn_entry_bytes,
            f.table_bytes_per_conn,
            f.drops
        );
    }
    if rows.iter().any(|f| f.listings > 0) {
        for f in rows.iter().filter(|f| f.listings > 0) {
            let _ = writeln!(
                s,
                "\n{} {} flows: {} whole `-L -c` listings of {} connections ran on the control thread during the run.",
                f.mode, f.flows, f.listings, f.listed_conns
            );
        }
    }
    if args.flood {
        s += "\nUnder the flood (each worker's table: its flows + 1,024 entries, full from the first SYNs); medians of the runs above, counts summed over the flood runs:\n\n";
        s += "| mode | scheduler | SYN share | established Mpps without flood | with flood | ratio | evicted | stateless | refused |\n";
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        for group in rows.chunks(2 * FLOOD_PAIRS) {
            let (base, flood): (Vec<&Figures>, Vec<&Figures>) = group.iter().partition(|f| f.syn_percent == 0);
            let Some(last) = flood.last() else { continue };
            let b = median(base.iter().map(|f| f.established_mpps).collect());
            let f = median(flood.iter().map(|f| f.established_mpps).collect());
            let sum = |k: fn(&Figures) -> u64| flood.iter().map(|f| k(f)).sum::<u64>();
            let _ = writeln!(
                s,
                "| {} | {} | {}% | {:.2} | {:.2} | {:.0}% | {} | {} | {} |",
                last.mode,
                last.scheduler,
                last.syn_percent,
                b,
                f,
                100.0 * f / b.max(1e-9),
                sum(|f| f.evicted),
                sum(|f| f.stateless_forwarded),
                sum(|f| f.refused)
            );
        }
    }
    let _ = writeln!(s, "<!-- END {} -->", args.section);
    s
}
