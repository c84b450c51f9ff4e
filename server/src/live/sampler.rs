//! Samples this machine with `sysinfo`: CPU (total and per core), memory, swap, load,
//! network and disk rates, disk usage, process count and uptime.

use crate::config::name_part;
use std::{collections::BTreeMap, time::Instant};
use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, Networks, ProcessRefreshKind, ProcessesToUpdate,
    RefreshKind, System,
};

pub struct Sampler {
    system: System,
    networks: Networks,
    disks: Disks,
    last: Instant,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    pub fn new() -> Self {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::everything()),
        );
        Self {
            system,
            networks: Networks::new_with_refreshed_list(),
            disks: Disks::new_with_refreshed_list(),
            last: Instant::now(),
        }
    }

    /// One sample of every series. Blocking (reads `/proc`): run it off the async runtime.
    /// Rates are per second over the time since the previous sample.
    pub fn sample(&mut self) -> BTreeMap<String, f64> {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64().max(0.001);
        self.last = now;

        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing(),
        );
        self.networks.refresh(true);
        self.disks.refresh(true);

        let mut v = BTreeMap::new();
        v.insert(
            "cpu.total".into(),
            f64::from(self.system.global_cpu_usage()),
        );
        for (i, cpu) in self.system.cpus().iter().enumerate() {
            v.insert(format!("cpu.core.{i}"), f64::from(cpu.cpu_usage()));
        }
        let (total, used) = (self.system.total_memory(), self.system.used_memory());
        v.insert("mem.used".into(), used as f64);
        v.insert("mem.total".into(), total as f64);
        v.insert(
            "mem.used_pct".into(),
            if total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / total as f64
            },
        );
        v.insert("swap.used".into(), self.system.used_swap() as f64);
        let load = System::load_average();
        v.insert("load.1".into(), load.one);
        v.insert("load.5".into(), load.five);
        v.insert("load.15".into(), load.fifteen);
        let (mut rx, mut tx) = (0.0, 0.0);
        for (iface, data) in &self.networks {
            let (r, t) = (
                data.received() as f64 / secs,
                data.transmitted() as f64 / secs,
            );
            if iface != "lo" {
                rx += r;
                tx += t;
            }
            let iface = name_part(iface);
            v.insert(format!("net.{iface}.rx"), r);
            v.insert(format!("net.{iface}.tx"), t);
        }
        v.insert("net.rx".into(), rx);
        v.insert("net.tx".into(), tx);
        let (mut read, mut written) = (0.0, 0.0);
        for disk in &self.disks {
            let mount = name_part(&disk.mount_point().to_string_lossy());
            let (total, avail) = (disk.total_space(), disk.available_space());
            if total > 0 {
                v.insert(
                    format!("disk.{mount}.used_pct"),
                    (total - avail.min(total)) as f64 * 100.0 / total as f64,
                );
            }
            let usage = disk.usage();
            let (r, w) = (
                usage.read_bytes as f64 / secs,
                usage.written_bytes as f64 / secs,
            );
            read += r;
            written += w;
            v.insert(format!("disk.{mount}.read"), r);
            v.insert(format!("disk.{mount}.write"), w);
        }
        v.insert("disk.read".into(), read);
        v.insert("disk.write".into(), written);
        v.insert("procs.count".into(), self.system.processes().len() as f64);
        v.insert("uptime".into(), System::uptime() as f64);
        v.retain(|name, value| app::live::is_valid_name(name) && value.is_finite());
        for (name, value) in &mut v {
            if let Some(decimals) = precision(name) {
                *value = round_to(*value, decimals);
            }
        }
        v
    }
}

/// Decimals a series is measured to: a CPU share from the kernel's ticks is not known to
/// better than a tenth of a percent, nor a rate over about a second to better than a byte.
/// Rounded, the values are decimals, which the history stores in a few bits each instead of
/// a whole float (`history::pack`).
fn precision(name: &str) -> Option<i32> {
    let rate = name.starts_with("net.")
        || (name.starts_with("disk.") && (name.ends_with(".read") || name.ends_with(".write")));
    if name.starts_with("cpu.") || name.ends_with("_pct") {
        Some(1)
    } else if rate {
        Some(0)
    } else {
        None
    }
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_and_mount_names_become_series_names() {
        assert_eq!(name_part("/"), "root");
        assert_eq!(name_part("/boot/efi"), "boot_efi");
        assert_eq!(name_part("eth0"), "eth0");
        assert_eq!(name_part("Wi Fi"), "wi_fi");
    }

    #[test]
    fn measured_values_keep_the_precision_they_have() {
        assert_eq!(round_to(12.345_678_9, 1), 12.3);
        assert_eq!(round_to(1_234.567, 0), 1_235.0);
        assert_eq!(precision("cpu.core.3"), Some(1));
        assert_eq!(precision("mem.used_pct"), Some(1));
        assert_eq!(precision("disk.root.used_pct"), Some(1));
        assert_eq!(precision("net.eth0.rx"), Some(0));
        assert_eq!(precision("disk.root.write"), Some(0));
        assert_eq!(precision("mem.used"), None);
        assert_eq!(precision("load.1"), None);
        let mut sampler = Sampler::new();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let values = sampler.sample();
        let tenths = values["cpu.total"] * 10.0;
        assert_eq!(tenths, tenths.round(), "{}", values["cpu.total"]);
        assert_eq!(values["net.rx"], values["net.rx"].round());
    }

    #[test]
    fn a_sample_has_the_core_series_with_valid_names() {
        let mut sampler = Sampler::new();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let values = sampler.sample();
        for series in [
            "cpu.total",
            "cpu.core.0",
            "mem.used",
            "mem.used_pct",
            "load.1",
            "net.rx",
            "net.tx",
            "disk.read",
            "disk.write",
            "procs.count",
            "uptime",
        ] {
            assert!(
                values.contains_key(series),
                "{series} missing from {:?}",
                values.keys()
            );
        }
        assert!(values
            .keys()
            .any(|k| k.starts_with("net.") && k.ends_with(".rx")));
        assert!(values
            .keys()
            .any(|k| k.starts_with("disk.") && k.ends_with(".used_pct")));
        assert!((0.0..=100.0).contains(&values["mem.used_pct"]));
        assert!(values.keys().all(|k| app::live::is_valid_name(k)));
    }
}
