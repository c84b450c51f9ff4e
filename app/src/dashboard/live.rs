//! The live half of the dashboard: a socket to `/ws`, charts that move every tick, and the
//! connection state shown to the user (`data-connection`: live / reconnecting / signed-out).

use super::format_bytes;
use crate::live::{ByeReason, Point, ServerMessage};
use leptos::prelude::*;
use std::collections::{BTreeMap, VecDeque};

/// Points kept per series in the browser (15 minutes at 1 s).
const KEEP: usize = 900;
/// The span a chart shows.
const WINDOW_MS: i64 = 5 * 60 * 1000;
/// The narrowest span a chart shows, however young the history.
const MIN_SPAN_MS: i64 = 60 * 1000;
/// Chart drawing area, in viewBox units.
const W: f64 = 300.0;
const H: f64 = 80.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
    SignedOut,
}

impl Connection {
    /// The value of `data-connection`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Connecting | Self::Reconnecting => "reconnecting",
            Self::SignedOut => "signed-out",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting…",
            Self::Live => "Live",
            Self::Reconnecting => "Reconnecting…",
            Self::SignedOut => "Signed out. Going to the sign-in page…",
        }
    }
}

pub type Series = BTreeMap<String, VecDeque<Point>>;

/// What the connection should do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Ask for these hosts' data.
    Subscribe(Vec<String>),
    SessionEnded,
    Continue,
}

/// Applies one server message to the browser's copy of the data.
pub fn apply(hosts: &mut BTreeMap<String, Series>, message: ServerMessage) -> Step {
    match message {
        ServerMessage::Hello { hosts: names, .. } | ServerMessage::Hosts { hosts: names } => {
            Step::Subscribe(
                names
                    .into_iter()
                    .filter(|h| !hosts.contains_key(h))
                    .collect(),
            )
        }
        ServerMessage::Snapshot { host, series } => {
            let series = series
                .into_iter()
                .map(|(name, points)| {
                    let skip = points.len().saturating_sub(KEEP);
                    (name, points.into_iter().skip(skip).collect())
                })
                .collect();
            hosts.insert(host, series);
            Step::Continue
        }
        ServerMessage::Samples { host, ts, values } => {
            if let Some(series) = hosts.get_mut(&host) {
                for (name, value) in values {
                    let points = series.entry(name).or_default();
                    points.push_back((ts, value));
                    if points.len() > KEEP {
                        points.pop_front();
                    }
                }
            }
            Step::Continue
        }
        ServerMessage::Bye {
            reason: ByeReason::SessionEnded,
        } => Step::SessionEnded,
        ServerMessage::Bye { .. } | ServerMessage::Pong => Step::Continue,
    }
}

/// An SVG path through the last [`WINDOW_MS`] of `points`, scaled to `0..max` (or to the
/// largest value shown, when `max` is `None`).
pub fn line_path(points: &[Point], max: Option<f64>) -> String {
    let (Some(&(first_ts, _)), Some(&(last_ts, _))) = (points.first(), points.last()) else {
        return String::new();
    };
    // A young history fills the chart (at least a minute wide) instead of hugging its
    // right edge; an old one shows the last WINDOW_MS.
    let start = (last_ts - WINDOW_MS)
        .max(first_ts)
        .min(last_ts - MIN_SPAN_MS);
    let span = (last_ts - start) as f64;
    let shown: Vec<Point> = points
        .iter()
        .copied()
        .filter(|(ts, _)| *ts >= start)
        .collect();
    let top = max
        .unwrap_or_else(|| shown.iter().map(|(_, v)| *v).fold(0.0, f64::max) * 1.15)
        .max(f64::EPSILON);
    let mut d = String::with_capacity(shown.len() * 16);
    for (i, (ts, value)) in shown.iter().enumerate() {
        let x = (ts - start) as f64 / span * W;
        let y = H - (value / top).clamp(0.0, 1.0) * H;
        d.push_str(if i == 0 { "M" } else { " L" });
        d.push_str(&format!("{x:.1},{y:.1}"));
    }
    d
}

/// The area under a [`line_path`]: the line, closed along the bottom edge.
pub fn area_path(line: &str) -> String {
    // The line starts with "M{x},{y}"; it always ends at the right edge.
    match line
        .strip_prefix('M')
        .and_then(|rest| rest.split(',').next())
    {
        Some(first_x) => format!("{line} L{W:.1},{H:.1} L{first_x},{H:.1} Z"),
        None => String::new(),
    }
}

fn format_pct(v: f64) -> String {
    format!("{v:.1} %")
}

fn format_rate(v: f64) -> String {
    format!("{}/s", format_bytes(v.max(0.0) as u64))
}

fn format_load(v: f64) -> String {
    format!("{v:.2}")
}

/// The browser's live state, shared by the socket task and the view.
#[derive(Clone, Copy)]
pub struct LiveState {
    pub connection: RwSignal<Connection>,
    pub hosts: RwSignal<BTreeMap<String, Series>>,
}

impl LiveState {
    fn new() -> Self {
        Self {
            connection: RwSignal::new(Connection::Connecting),
            hosts: RwSignal::new(BTreeMap::new()),
        }
    }

    /// False once the page that owned this state is gone (its signals disposed).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn alive(&self) -> bool {
        self.connection.try_get_untracked().is_some()
    }
}

#[component]
pub fn LiveCharts() -> impl IntoView {
    let state = LiveState::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| leptos::task::spawn_local(client::run(state)));
    let connection = state.connection;
    view! {
        <section class="live" aria-label="Live metrics">
            <p class="connection" role="status" data-connection=move || connection.get().as_str()>
                <span class="dot" aria-hidden="true"></span>
                {move || connection.get().label()}
            </p>
            <For
                each=move || state.hosts.with(|h| h.keys().cloned().collect::<Vec<_>>())
                key=|host| host.clone()
                let:host
            >
                <HostCharts state host/>
            </For>
        </section>
    }
}

#[component]
fn HostCharts(state: LiveState, host: String) -> impl IntoView {
    let title_host = host.clone();
    let chart = move |title: &'static str,
                      name: &'static str,
                      max: Option<f64>,
                      format: fn(f64) -> String| {
        // Erased: seven charts' concrete view types nest too deep for the compiler.
        view! { <Chart state host=host.clone() title name max format/> }.into_any()
    };
    view! {
        <h2 class="live-host">{title_host}</h2>
        <div class="charts">
            {chart("CPU", "cpu.total", Some(100.0), format_pct)}
            {chart("Memory", "mem.used_pct", Some(100.0), format_pct)}
            {chart("Load (1 min)", "load.1", None, format_load)}
            {chart("Network in", "net.rx", None, format_rate)}
            {chart("Network out", "net.tx", None, format_rate)}
            {chart("Disk read", "disk.read", None, format_rate)}
            {chart("Disk write", "disk.write", None, format_rate)}
        </div>
    }
}

#[component]
fn Chart(
    state: LiveState,
    host: String,
    title: &'static str,
    name: &'static str,
    max: Option<f64>,
    format: fn(f64) -> String,
) -> impl IntoView {
    let points = Memo::new(move |_| {
        state.hosts.with(|h| {
            h.get(&host)
                .and_then(|s| s.get(name))
                .map(|p| p.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let current = move || {
        points.with(|p| {
            p.last()
                .map_or_else(|| "–".to_string(), |(_, v)| format(*v))
        })
    };
    // Computed once per tick, for both the line and the area under it.
    let line = Memo::new(move |_| points.with(|p| line_path(p, max)));
    let area = move || line.with(|l| area_path(l));
    view! {
        <article class="tile chart" data-series=name>
            <h3>{title}</h3>
            <p class="value" data-testid=format!("value-{name}")>{current}</p>
            <svg class="spark" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label=title>
                <path class="area" d=area></path>
                <path class="line" d=line></path>
            </svg>
        </article>
    }
}

/// The socket loop, in the browser only.
#[cfg(feature = "hydrate")]
mod client {
    use super::{apply, Connection, LiveState, Step};
    use crate::live::{close_code, ClientMessage, ServerMessage};
    use futures_util::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use leptos::prelude::*;
    use std::time::Duration;

    enum Outcome {
        SessionEnded,
        Dropped { was_live: bool },
        PageGone,
    }

    fn socket_url() -> String {
        let location = window().location();
        let scheme = if location.protocol().as_deref() == Ok("https:") {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    }

    /// Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s … capped at 10 s.
    fn backoff(attempt: u32) -> Duration {
        let ceiling = (500.0 * 2f64.powi(attempt.min(5) as i32)).min(10_000.0);
        Duration::from_millis((ceiling * (0.2 + 0.8 * js_sys::Math::random())) as u64)
    }

    /// An open socket keeps the session alive on the server, but only HTTP responses renew
    /// the cookie's lifetime in the browser: renew it now and then, so a dashboard left
    /// open on a wall can still reconnect after a network blip.
    const COOKIE_RENEWAL: Duration = Duration::from_secs(5 * 60);

    async fn renew_cookie(state: LiveState) {
        while state.alive() {
            gloo_timers::future::sleep(COOKIE_RENEWAL).await;
            if state.connection.try_get_untracked() == Some(Connection::Live) {
                let _ = crate::auth::signed_in().await;
            }
        }
    }

    pub async fn run(state: LiveState) {
        leptos::task::spawn_local(renew_cookie(state));
        let mut attempt = 0;
        loop {
            match connect(&state).await {
                Outcome::PageGone => return,
                Outcome::SessionEnded => return signed_out(state).await,
                Outcome::Dropped { was_live } => {
                    if was_live {
                        attempt = 0;
                    }
                    if state.connection.try_set(Connection::Reconnecting).is_some() {
                        return;
                    }
                    // A refused upgrade looks like a dropped connection to the browser:
                    // ask whether we are still signed in before trying again.
                    if let Ok(false) = crate::auth::signed_in().await {
                        return signed_out(state).await;
                    }
                    gloo_timers::future::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn signed_out(state: LiveState) {
        if state.connection.try_set(Connection::SignedOut).is_some() {
            return;
        }
        gloo_timers::future::sleep(Duration::from_millis(1500)).await;
        if state.alive() {
            let _ = window().location().set_href("/login");
        }
    }

    async fn connect(state: &LiveState) -> Outcome {
        let Ok(socket) = WebSocket::open(&socket_url()) else {
            return Outcome::Dropped { was_live: false };
        };
        let (mut tx, mut rx) = socket.split();
        let mut was_live = false;
        while let Some(item) = rx.next().await {
            if !state.alive() {
                let _ = tx.close().await;
                return Outcome::PageGone;
            }
            let message = match item {
                Ok(Message::Text(text)) => match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(message) => message,
                    Err(_) => continue,
                },
                Ok(Message::Bytes(_)) => continue,
                Err(WebSocketError::ConnectionClose(event))
                    if event.code == close_code::SESSION_ENDED =>
                {
                    return Outcome::SessionEnded;
                }
                Err(_) => return Outcome::Dropped { was_live },
            };
            let is_hello = matches!(message, ServerMessage::Hello { .. });
            let step = state.hosts.try_update(|hosts| apply(hosts, message));
            if is_hello {
                was_live = true;
                let _ = state.connection.try_set(Connection::Live);
            }
            match step {
                None => return Outcome::PageGone,
                Some(Step::SessionEnded) => return Outcome::SessionEnded,
                Some(Step::Subscribe(hosts)) if !hosts.is_empty() => {
                    let text = serde_json::to_string(&ClientMessage::Subscribe { hosts })
                        .unwrap_or_default();
                    if tx.send(Message::Text(text)).await.is_err() {
                        return Outcome::Dropped { was_live };
                    }
                }
                Some(_) => {}
            }
        }
        Outcome::Dropped { was_live }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_subscribes_to_every_host_and_samples_extend_snapshots() {
        let mut hosts = BTreeMap::new();
        let hello = ServerMessage::Hello {
            user: "a".into(),
            hosts: vec!["web-1".into()],
        };
        assert_eq!(
            apply(&mut hosts, hello),
            Step::Subscribe(vec!["web-1".into()])
        );
        let snapshot = ServerMessage::Snapshot {
            host: "web-1".into(),
            series: BTreeMap::from([("cpu.total".into(), vec![(1, 1.0), (2, 2.0)])]),
        };
        apply(&mut hosts, snapshot);
        apply(
            &mut hosts,
            ServerMessage::Samples {
                host: "web-1".into(),
                ts: 3,
                values: BTreeMap::from([("cpu.total".into(), 3.0)]),
            },
        );
        assert_eq!(
            hosts["web-1"]["cpu.total"],
            VecDeque::from(vec![(1, 1.0), (2, 2.0), (3, 3.0)])
        );
        // Known hosts are not asked for again.
        let again = ServerMessage::Hosts {
            hosts: vec!["web-1".into(), "web-2".into()],
        };
        assert_eq!(
            apply(&mut hosts, again),
            Step::Subscribe(vec!["web-2".into()])
        );
        assert_eq!(
            apply(
                &mut hosts,
                ServerMessage::Bye {
                    reason: ByeReason::SessionEnded
                }
            ),
            Step::SessionEnded
        );
    }

    #[test]
    fn series_keep_a_bounded_history() {
        let mut hosts = BTreeMap::from([("h".to_string(), Series::new())]);
        for ts in 0..(KEEP as i64 + 10) {
            apply(
                &mut hosts,
                ServerMessage::Samples {
                    host: "h".into(),
                    ts,
                    values: BTreeMap::from([("x".into(), 0.0)]),
                },
            );
        }
        assert_eq!(hosts["h"]["x"].len(), KEEP);
        assert_eq!(hosts["h"]["x"].front().unwrap().0, 10);
    }

    #[test]
    fn paths_span_the_window_and_scale_to_the_maximum() {
        assert_eq!(line_path(&[], Some(100.0)), "");
        let d = line_path(
            &[(0, 0.0), (WINDOW_MS / 2, 50.0), (WINDOW_MS, 100.0)],
            Some(100.0),
        );
        assert_eq!(d, "M0.0,80.0 L150.0,40.0 L300.0,0.0");
        // Points older than the window are left out.
        assert_eq!(
            line_path(&[(-1, 5.0), (WINDOW_MS, 10.0)], Some(10.0)),
            "M300.0,0.0"
        );
        // Ten seconds of history span the last minute rather than a sliver of five.
        assert_eq!(
            line_path(&[(50_000, 0.0), (60_000, 10.0)], Some(10.0)),
            "M250.0,80.0 L300.0,0.0"
        );
    }

    #[test]
    fn the_area_closes_the_line_along_the_bottom() {
        assert_eq!(area_path(""), "");
        assert_eq!(
            area_path("M150.0,40.0 L300.0,0.0"),
            "M150.0,40.0 L300.0,0.0 L300.0,80.0 L150.0,80.0 Z"
        );
    }

    #[test]
    fn connection_states_map_to_the_documented_attribute_values() {
        assert_eq!(Connection::Live.as_str(), "live");
        assert_eq!(Connection::Connecting.as_str(), "reconnecting");
        assert_eq!(Connection::Reconnecting.as_str(), "reconnecting");
        assert_eq!(Connection::SignedOut.as_str(), "signed-out");
    }
}
