//! CPU time of a process from /proc, shared by the load generators.

use anyhow::Context;

/// (user, system) CPU seconds of a process.
pub fn cpu_times(pid: u32) -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which may hold spaces, inside parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat")?
        .1
        .split_whitespace()
        .collect();
    let user: f64 = fields.get(11).context("utime")?.parse()?;
    let system: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((user / 100.0, system / 100.0))
}

/// User + system CPU seconds of a process.
#[allow(dead_code)] // not every generator that includes this module sums them
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    cpu_times(pid).map(|(user, system)| user + system)
}
