//! The live stream's wire protocol: JSON text frames over `/ws`.
//!
//! Server → client: `hello`, `snapshot`, `samples`, `overview`, `hosts`, `bye`, and `pong`
//! to a `ping`. Client → server: `subscribe`, `unsubscribe`, `ping`; nothing else is
//! accepted. A socket receives only what it subscribed to: the overview rows, or the
//! series of the hosts it names.

use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, time::Duration};

/// Largest client frame the server reads; larger ones close the socket with 1009.
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;

/// Most hosts the server reads from one `subscribe`; a client asks for more in several.
pub const MAX_SUBSCRIBE_HOSTS: usize = 256;

/// By default the server says `bye` (`idle`) to a socket that has sent nothing for this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a connected browser sends `ping`: well inside [`IDLE_TIMEOUT`], so a quiet
/// dashboard (nothing to subscribe to) is never taken for a dead one.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);

/// Close codes, as in PRODUCT.md.
pub mod close_code {
    /// A message the protocol does not allow.
    pub const POLICY: u16 = 1008;
    /// A client frame over [`super::MAX_CLIENT_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// The session ended (signed out, revoked, expired); sent after a `bye`.
    pub const SESSION_ENDED: u16 = 4401;
}

/// One point: milliseconds since the Unix epoch, and the value.
pub type Point = (i64, f64);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame: who the socket belongs to and which hosts it may see.
    Hello { user: String, hosts: Vec<String> },
    /// Recent history of every series of one host, so charts are full at once.
    Snapshot {
        host: String,
        series: BTreeMap<String, Vec<Point>>,
    },
    /// One tick of one host: every series' new value at `ts`.
    Samples {
        host: String,
        ts: i64,
        values: BTreeMap<String, f64>,
    },
    /// The host overview: with `full`, every row (the first frame after subscribing);
    /// otherwise only the rows that changed since the previous tick, and the hosts that
    /// were removed. Sent at most once per tick.
    Overview {
        /// The server's clock at this tick, ms since the epoch: row ages are measured
        /// against it, not against the browser's clock.
        now: i64,
        full: bool,
        rows: Vec<OverviewRow>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
        /// How old a host's last sample may be before it shows as stale, then offline.
        /// In every full frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thresholds: Option<StatusThresholds>,
    },
    /// The visible hosts changed.
    Hosts { hosts: Vec<String> },
    /// The server is about to close the socket, and why.
    Bye { reason: ByeReason },
    /// The answer to a client's `ping`.
    Pong,
}

/// One host's row in the overview. On the wire it is a JSON array, in the order of the
/// fields, so a tick of 1,000 changed rows stays small:
/// `["web-1",1764500000000,12.5,40.2,0.52,1024.0,2048.0,0.0,0.0,[12.5]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "OverviewRowWire", into = "OverviewRowWire")]
pub struct OverviewRow {
    pub host: String,
    /// Timestamp of the newest sample, ms since the epoch.
    pub last_seen: i64,
    /// `cpu.total`, percent.
    pub cpu: Option<f64>,
    /// `mem.used_pct`, percent.
    pub mem: Option<f64>,
    /// `load.1`.
    pub load: Option<f64>,
    /// `net.rx` / `net.tx`, bytes per second.
    pub net_rx: Option<f64>,
    pub net_tx: Option<f64>,
    /// `disk.read` / `disk.write`, bytes per second.
    pub disk_read: Option<f64>,
    pub disk_write: Option<f64>,
    /// CPU values to append to the row's small trace, oldest first: the recent history
    /// in a full frame, the new values otherwise.
    pub trace: Vec<f32>,
}

type OverviewRowWire = (
    String,
    i64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Vec<f32>,
);

impl From<OverviewRowWire> for OverviewRow {
    fn from(w: OverviewRowWire) -> Self {
        Self {
            host: w.0,
            last_seen: w.1,
            cpu: w.2,
            mem: w.3,
            load: w.4,
            net_rx: w.5,
            net_tx: w.6,
            disk_read: w.7,
            disk_write: w.8,
            trace: w.9,
        }
    }
}

impl From<OverviewRow> for OverviewRowWire {
    fn from(r: OverviewRow) -> Self {
        (
            r.host,
            r.last_seen,
            r.cpu,
            r.mem,
            r.load,
            r.net_rx,
            r.net_tx,
            r.disk_read,
            r.disk_write,
            r.trace,
        )
    }
}

/// Ages of a host's newest sample at which it shows as stale, then offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusThresholds {
    pub stale_after_ms: i64,
    pub offline_after_ms: i64,
}

/// A host's status, from the age of its newest sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    Online,
    Stale,
    Offline,
}

impl HostStatus {
    pub fn of(last_seen: i64, now: i64, thresholds: StatusThresholds) -> Self {
        let age = now.saturating_sub(last_seen);
        if age >= thresholds.offline_after_ms {
            Self::Offline
        } else if age >= thresholds.stale_after_ms {
            Self::Stale
        } else {
            Self::Online
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Stale => "stale",
            Self::Offline => "offline",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeReason {
    /// Signed out, revoked, expired, or the user was removed.
    SessionEnded,
    /// The client did not keep up with the stream.
    TooSlow,
    /// The server is stopping (a restart, a deploy, SIGTERM): reconnect at once, to it or
    /// to another instance behind the same address.
    Restart,
    /// The client sent nothing for [`IDLE_TIMEOUT`]; a live client reconnects.
    Idle,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Stream these hosts' series (a `snapshot` each, then `samples`), and with
    /// `overview`, the overview rows (a full `overview`, then the changed rows per tick).
    Subscribe {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        overview: bool,
    },
    Unsubscribe {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        overview: bool,
    },
    // A struct variant, not a unit one, so that unknown fields are refused here too.
    Ping {},
}

/// Host and series names: `[a-z0-9._-]{1,64}`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_only_the_three_kinds() {
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","hosts":["web-1"]}"#)
                .unwrap(),
            ClientMessage::Subscribe {
                hosts: vec!["web-1".into()],
                overview: false,
            }
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","overview":true}"#)
                .unwrap(),
            ClientMessage::Subscribe {
                hosts: vec![],
                overview: true,
            }
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"ping"}"#).unwrap(),
            ClientMessage::Ping {}
        );
        for bad in [
            r#"{"type":"samples","host":"x"}"#,
            r#"{"type":"ping","extra":1}"#,
            "[]",
            "nonsense",
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bye_reasons_include_idle_and_pings_beat_the_idle_timeout() {
        assert_eq!(
            serde_json::from_str::<ServerMessage>(r#"{"type":"bye","reason":"idle"}"#).unwrap(),
            ServerMessage::Bye {
                reason: ByeReason::Idle
            }
        );
        assert_eq!(
            serde_json::to_string(&ClientMessage::Ping {}).unwrap(),
            r#"{"type":"ping"}"#
        );
        // Two pings fit in the timeout, so one lost or late ping does not end a socket.
        assert!(PING_INTERVAL * 2 < IDLE_TIMEOUT);
    }

    #[test]
    fn overview_rows_travel_as_compact_arrays() {
        let row = OverviewRow {
            host: "web-1".into(),
            last_seen: 1_000,
            cpu: Some(12.5),
            mem: None,
            load: Some(0.5),
            net_rx: Some(1024.0),
            net_tx: Some(0.0),
            disk_read: None,
            disk_write: None,
            trace: vec![12.5],
        };
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(
            text,
            r#"["web-1",1000,12.5,null,0.5,1024.0,0.0,null,null,[12.5]]"#
        );
        assert_eq!(serde_json::from_str::<OverviewRow>(&text).unwrap(), row);
    }

    #[test]
    fn status_follows_the_age_of_the_newest_sample() {
        let t = StatusThresholds {
            stale_after_ms: 10_000,
            offline_after_ms: 60_000,
        };
        assert_eq!(HostStatus::of(95_000, 100_000, t), HostStatus::Online);
        assert_eq!(HostStatus::of(90_000, 100_000, t), HostStatus::Stale);
        assert_eq!(HostStatus::of(40_000, 100_000, t), HostStatus::Offline);
        // A clock a little ahead of the server's is still online.
        assert_eq!(HostStatus::of(101_000, 100_000, t), HostStatus::Online);
    }

    #[test]
    fn names_are_lower_case_ascii_with_dots_dashes_underscores() {
        assert!(is_valid_name("cpu.core.0"));
        assert!(is_valid_name("net.eth0.rx_bytes"));
        for bad in ["", "CPU", "a b", "a/b", &"a".repeat(65), "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
