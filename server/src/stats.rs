//! Counters of the server's own work, shared by every part of it: what tests assert on
//! (an unknown user still costs one password check; a request does not rewrite its
//! session) and what operators read from `/metrics`, in Prometheus' text format. Each
//! server has a registry of its own (several run in one test process).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub struct Stats {
    registry: Registry,
    /// argon2 verifications actually computed (the dummy hash included).
    pub password_checks: IntCounter,
    /// Session rows written (created or saved).
    pub session_writes: IntCounter,
    /// Host snapshots encoded for sockets.
    pub snapshot_encodes: IntCounter,
    /// Sockets dropped because the peer did not take its frames in time.
    pub slow_sockets_dropped: IntCounter,
    /// Frames written to sockets.
    pub frames_sent: IntCounter,
    /// Sign-ins by outcome: `ok`, `failed` (a wrong password or code) or `throttled`.
    pub sign_ins: IntCounterVec,
    /// Ingested samples by outcome: `accepted` or `refused`.
    pub ingest_samples: IntCounterVec,
    /// How long writing one tick of samples to the history takes.
    pub history_write_seconds: Histogram,
    /// HTTP requests by method and status class (`2xx`…), and how long each took.
    pub request_seconds: HistogramVec,
    /// Open sockets, set when the metrics are read.
    pub open_sockets: IntGauge,
    /// 1 while this instance is subscribed to the Redis bus (`--redis-url`), else 0.
    pub redis_connected: IntGauge,
    /// Bus messages by outcome: `published`, `received` (from another instance and
    /// applied), `dropped` (not published: Redis down or too slow) or `malformed`.
    pub bus_messages: IntCounterVec,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid counter");
    registry.register(Box::new(c.clone())).expect("a new name");
    c
}

fn counters(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid counter");
    registry.register(Box::new(c.clone())).expect("a new name");
    c
}

impl Default for Stats {
    fn default() -> Self {
        let registry = Registry::new();
        let history_write_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "lookout_history_write_seconds",
                "Time to write one tick of samples to the history.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ]),
        )
        .expect("a valid histogram");
        registry
            .register(Box::new(history_write_seconds.clone()))
            .expect("a new name");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "lookout_http_request_duration_seconds",
                "HTTP requests by method and status class, and how long each took.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "status"],
        )
        .expect("a valid histogram");
        registry
            .register(Box::new(request_seconds.clone()))
            .expect("a new name");
        let open_sockets =
            IntGauge::new("lookout_open_sockets", "Open live sockets.").expect("a valid gauge");
        registry
            .register(Box::new(open_sockets.clone()))
            .expect("a new name");
        let redis_connected = IntGauge::new(
            "lookout_redis_connected",
            "1 while subscribed to the Redis bus (--redis-url), else 0.",
        )
        .expect("a valid gauge");
        registry
            .register(Box::new(redis_connected.clone()))
            .expect("a new name");
        Self {
            redis_connected,
            bus_messages: counters(
                &registry,
                "lookout_bus_messages_total",
                "Redis bus messages by outcome (published, received, dropped, malformed).",
                "outcome",
            ),
            password_checks: counter(
                &registry,
                "lookout_password_checks_total",
                "Password hashes verified (a dummy one for unknown users included).",
            ),
            session_writes: counter(
                &registry,
                "lookout_session_writes_total",
                "Session rows written.",
            ),
            snapshot_encodes: counter(
                &registry,
                "lookout_snapshot_encodes_total",
                "Host snapshots encoded for sockets.",
            ),
            slow_sockets_dropped: counter(
                &registry,
                "lookout_slow_clients_dropped_total",
                "Sockets dropped because the peer did not take its frames in time.",
            ),
            frames_sent: counter(
                &registry,
                "lookout_frames_sent_total",
                "Frames written to live sockets.",
            ),
            sign_ins: counters(
                &registry,
                "lookout_sign_ins_total",
                "Sign-in steps by outcome (ok, failed, throttled).",
                "outcome",
            ),
            ingest_samples: counters(
                &registry,
                "lookout_ingest_samples_total",
                "Ingested samples by outcome (accepted, refused).",
                "outcome",
            ),
            history_write_seconds,
            request_seconds,
            open_sockets,
            registry,
        }
    }
}

impl Stats {
    pub fn add(counter: &IntCounter) {
        counter.inc();
    }

    pub fn get(counter: &IntCounter) -> u64 {
        counter.get()
    }

    /// A sign-in step ended: `ok`, `failed` or `throttled`.
    pub fn sign_in(&self, outcome: &str) {
        self.sign_ins.with_label_values(&[outcome]).inc();
    }

    /// A bus message: `published`, `received`, `dropped` or `malformed`.
    pub fn bus(&self, outcome: &str) {
        self.bus_messages.with_label_values(&[outcome]).inc();
    }

    /// Every metric, in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_the_prometheus_text_format() {
        let stats = Stats::default();
        Stats::add(&stats.frames_sent);
        stats.sign_in("ok");
        stats.sign_in("failed");
        stats.sign_in("failed");
        stats.history_write_seconds.observe(0.003);
        let text = stats.render();
        assert!(text.contains("# TYPE lookout_frames_sent_total counter"));
        assert!(text.contains("lookout_frames_sent_total 1"));
        assert!(text.contains(r#"lookout_sign_ins_total{outcome="failed"} 2"#));
        assert!(text.contains(r#"lookout_history_write_seconds_bucket{le="0.005"} 1"#));
        assert!(text.contains("lookout_open_sockets 0"));
    }
}
