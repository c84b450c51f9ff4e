//! A realistic mix of host metrics at 1 Hz, deterministic from a seed.
//!
//! Twenty kinds per host, named as Lookout's sampler names them: CPU percentages (total
//! and four cores), memory percent drifting slowly, used/total/swap bytes, load averages,
//! network and disk rates (bursty; disk often idle), a byte counter, process and thread
//! counts, uptime (+1 a tick) and the core count (constant). With more series per host the
//! twenty repeat under suffixed names (`cpu.total.1`, …).
//!
//! Two styles: `decimal` rounds as the realistic mix does (percentages to one
//! decimal, loads to two, rates to whole bytes per second), as Lookout's sampler now sends
//! them too; `sampler` sends unrounded full-precision doubles, what the built-in sampler
//! computed before it rounded (CPU from an `f32`, rates as bytes over the measured seconds,
//! memory percent as a quotient), as a script computing rates might.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    Decimal,
    Sampler,
}

/// xorshift64*: fast, deterministic, good enough for noise.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal, mean 0, deviation 1 (sum of four uniforms).
    pub fn normal(&mut self) -> f64 {
        (self.f64() + self.f64() + self.f64() + self.f64() - 2.0) * 1.732
    }
    /// Uniform integer in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
}

pub const KINDS: [&str; 20] = [
    "cpu.total",
    "cpu.core.0",
    "cpu.core.1",
    "cpu.core.2",
    "cpu.core.3",
    "mem.used_pct",
    "mem.used",
    "mem.total",
    "swap.used",
    "load.1",
    "load.5",
    "load.15",
    "net.rx",
    "net.tx",
    "disk.read",
    "disk.write",
    "net.eth0.rx_bytes",
    "procs.count",
    "uptime",
    "cpu.count",
];

fn round(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

/// One host's generator: state per kind, shared by the repeats (each repeat has its own
/// noise).
pub struct HostGen {
    rng: Rng,
    style: Style,
    names: Vec<String>,
    /// Per series: a state value (level, counter or walk).
    state: Vec<f64>,
    cpu_base: f64,
    mem_total: f64,
}

impl HostGen {
    pub fn new(host: usize, series: usize, style: Style) -> Self {
        let mut rng = Rng::new(host as u64 + 1);
        let names: Vec<String> = (0..series)
            .map(|i| {
                let (kind, rep) = (KINDS[i % KINDS.len()], i / KINDS.len());
                if rep == 0 {
                    kind.to_string()
                } else {
                    format!("{kind}.{rep}")
                }
            })
            .collect();
        let cpu_base = 5.0 + rng.f64() * 50.0;
        let mem_total = (8 << (rng.range(0, 3))) as f64 * 1_073_741_824.0;
        let state = (0..series)
            .map(|i| match i % KINDS.len() {
                0..=4 => cpu_base,
                5 => 20.0 + rng.f64() * 60.0,
                8 => (rng.range(0, 4096) * 4096) as f64,
                9..=11 => cpu_base / 25.0,
                16 => (rng.range(1, 1 << 40)) as f64,
                17 => rng.range(80, 600) as f64,
                18 => rng.range(1_000, 5_000_000) as f64,
                _ => 0.0,
            })
            .collect();
        Self {
            rng,
            style,
            names,
            state,
            cpu_base,
            mem_total,
        }
    }

    /// One tick as the map ingest takes: every series name with its value.
    pub fn tick_map(&mut self, dt: f64, values: &mut Vec<f64>) -> BTreeMap<String, f64> {
        self.tick(dt, values);
        self.names
            .iter()
            .cloned()
            .zip(values.iter().copied())
            .collect()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values of one tick, in the order of [`names`](Self::names). `dt` is the seconds
    /// since the previous tick (1 s plus the timestamps' jitter).
    pub fn tick(&mut self, dt: f64, out: &mut Vec<f64>) {
        out.clear();
        let sampler = self.style == Style::Sampler;
        for i in 0..self.state.len() {
            let r = &mut self.rng;
            let s = &mut self.state[i];
            let v = match i % KINDS.len() {
                0..=4 => {
                    *s = (0.8 * *s + 0.2 * self.cpu_base + 4.0 * r.normal()).clamp(0.0, 100.0);
                    if sampler {
                        f64::from(*s as f32)
                    } else {
                        round(*s, 1)
                    }
                }
                5 => {
                    *s = (*s + 0.01 * r.normal()).clamp(1.0, 99.0);
                    if sampler {
                        // used bytes × 100 / total, as the sampler computes it
                        (*s * self.mem_total / 100.0 / 4096.0).round() * 4096.0 * 100.0
                            / self.mem_total
                    } else {
                        round(*s, 1)
                    }
                }
                6 => {
                    let pct = self.state[i - 1];
                    (pct * self.mem_total / 100.0 / 4096.0).round() * 4096.0
                }
                7 => self.mem_total,
                8 => {
                    if r.f64() < 0.01 {
                        *s += (r.range(-16, 16) * 4096) as f64;
                        *s = s.max(0.0);
                    }
                    *s
                }
                9..=11 => {
                    let alpha = [0.08, 0.016, 0.0055][i % KINDS.len() - 9];
                    let target = self.cpu_base / 25.0 * (1.0 + 0.3 * r.normal()).max(0.0);
                    *s += alpha * (target - *s);
                    round(*s, 2)
                }
                12..=15 => {
                    let idle = i % KINDS.len() >= 14 && r.f64() < 0.7;
                    let bytes = if idle {
                        0.0
                    } else {
                        (50_000.0 * (1.0 + 0.5 * r.normal()).abs()).round()
                    };
                    if sampler {
                        bytes / dt
                    } else {
                        (bytes / dt).round()
                    }
                }
                16 => {
                    *s += (50_000.0 * (1.0 + 0.5 * r.normal()).abs()).round();
                    *s
                }
                17 => {
                    *s = (*s + r.range(-2, 2) as f64).max(1.0);
                    *s
                }
                18 => {
                    *s += 1.0;
                    *s
                }
                _ => 4.0,
            };
            out.push(v);
        }
    }
}

/// Per-host timestamps: a 1 s grid with a few ms of jitter (never reordered).
pub fn jittered(rng: &mut Rng, grid_ms: i64) -> i64 {
    grid_ms + rng.range(-3, 3)
}
