//! Facts about the machine Lookout runs on, as the server reads them and the dashboard
//! shows them. A leaf: it imports nothing of the crate.

use serde::{Deserialize, Serialize};

/// Facts about the machine the server runs on, read on the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub cpu_brand: String,
    pub logical_cores: usize,
    pub physical_cores: Option<usize>,
    pub uptime_secs: u64,
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
}
