//! Facts about the machine Lookout runs on, from `sysinfo`.

use app::dashboard::HostInfo;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// Reads the host's facts. Blocking (it reads `/proc`): call through `spawn_blocking`.
pub fn read_host_info() -> HostInfo {
    let sys = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(MemoryRefreshKind::everything()),
    );
    HostInfo {
        hostname: System::host_name().unwrap_or_else(|| "unknown host".into()),
        os: System::long_os_version()
            .unwrap_or_else(|| System::name().unwrap_or_else(|| "unknown OS".into())),
        kernel: System::kernel_version().unwrap_or_default(),
        cpu_brand: sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default(),
        logical_cores: sys.cpus().len(),
        physical_cores: System::physical_core_count(),
        uptime_secs: System::uptime(),
        memory_total_bytes: sys.total_memory(),
        memory_used_bytes: sys.used_memory(),
        swap_total_bytes: sys.total_swap(),
        swap_used_bytes: sys.used_swap(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let info = read_host_info();
        assert!(!info.hostname.is_empty());
        assert!(info.logical_cores >= 1);
        assert!(info.memory_total_bytes > 0);
        assert!(info.memory_used_bytes <= info.memory_total_bytes);
        assert!(info.uptime_secs > 0);
    }
}
