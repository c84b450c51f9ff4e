//! The live stream's wire protocol: JSON text frames over `/ws`.
//!
//! Server → client: `hello`, `snapshot`, `samples`, `hosts`, `bye`, and `pong` to a `ping`.
//! Client → server: `subscribe`, `unsubscribe`, `ping`; nothing else is accepted.

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
    /// The visible hosts changed.
    Hosts { hosts: Vec<String> },
    /// The server is about to close the socket, and why.
    Bye { reason: ByeReason },
    /// The answer to a client's `ping`.
    Pong,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeReason {
    /// Signed out, revoked, expired, or the user was removed.
    SessionEnded,
    /// The client did not keep up with the stream.
    TooSlow,
    /// The server is shutting down.
    ServerShutdown,
    /// The client sent nothing for [`IDLE_TIMEOUT`]; a live client reconnects.
    Idle,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe { hosts: Vec<String> },
    Unsubscribe { hosts: Vec<String> },
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
                hosts: vec!["web-1".into()]
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
    fn names_are_lower_case_ascii_with_dots_dashes_underscores() {
        assert!(is_valid_name("cpu.core.0"));
        assert!(is_valid_name("net.eth0.rx_bytes"));
        for bad in ["", "CPU", "a b", "a/b", &"a".repeat(65), "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
