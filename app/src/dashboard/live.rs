//! The live half of the dashboard: a socket to `/ws`, charts that move every tick, and the
//! connection state shown to the user (`data-connection`: live / reconnecting / signed-out).

use super::format::format_bytes;
use crate::live::{
    ByeReason, ClientMessage, Point, ServerMessage, MAX_CLIENT_FRAME_BYTES, MAX_SUBSCRIBE_HOSTS,
};
use leptos::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    /// The server is closing this socket for a reason a new socket cures (idle, too slow,
    /// restarting): treat it as dropped.
    Reconnect,
    SessionEnded,
    Continue,
}

/// Applies one server message to the browser's copy of the data. `streaming` belongs to
/// the current socket: the hosts whose snapshot arrived on it, so whose ticks it carries.
pub fn apply(
    hosts: &mut BTreeMap<String, Series>,
    streaming: &mut BTreeSet<String>,
    message: ServerMessage,
) -> Step {
    match message {
        // A new socket streams nothing yet: ask again for every host on the page, not only
        // new ones, or their charts freeze after a reconnect while the badge says live.
        ServerMessage::Hello { hosts: names, .. } => {
            streaming.clear();
            let wanted: BTreeSet<String> = hosts.keys().cloned().chain(names).collect();
            Step::Subscribe(wanted.into_iter().collect())
        }
        // The server ignores hosts it does not know yet, so a host asked for too early is
        // asked for again once it is listed.
        ServerMessage::Hosts { hosts: names } => Step::Subscribe(
            names
                .into_iter()
                .filter(|h| !streaming.contains(h))
                .collect(),
        ),
        // Merged, not replaced: after a reconnect the history already drawn stays.
        ServerMessage::Snapshot { host, series } => {
            streaming.insert(host.clone());
            let shown = hosts.entry(host).or_default();
            for (name, points) in series {
                let line = shown.entry(name).or_default();
                for point in points {
                    insert_point(line, point);
                }
            }
            Step::Continue
        }
        ServerMessage::Samples { host, ts, values } => {
            if let Some(series) = hosts.get_mut(&host) {
                for (name, value) in values {
                    insert_point(series.entry(name).or_default(), (ts, value));
                }
            }
            Step::Continue
        }
        ServerMessage::Bye {
            reason: ByeReason::SessionEnded,
        } => Step::SessionEnded,
        ServerMessage::Bye {
            reason: ByeReason::Idle | ByeReason::TooSlow | ByeReason::ServerShutdown,
        } => Step::Reconnect,
        // This page does not ask for the overview.
        ServerMessage::Pong | ServerMessage::Overview { .. } => Step::Continue,
    }
}

/// Adds a point in timestamp order, so a late tick never makes the line zig-zag (one with
/// a timestamp already present replaces it), and keeps the newest [`KEEP`].
fn insert_point(points: &mut VecDeque<Point>, point: Point) {
    match points.back() {
        Some(&(last, _)) if point.0 <= last => {
            match points.binary_search_by_key(&point.0, |&(ts, _)| ts) {
                Ok(i) => points[i] = point,
                Err(i) => points.insert(i, point),
            }
        }
        _ => points.push_back(point),
    }
    if points.len() > KEEP {
        points.pop_front();
    }
}

/// The `subscribe` frames asking for `hosts`: as few as fit the server's limits on a
/// client frame's size and on the hosts it reads from one.
pub fn subscribe_frames(hosts: Vec<String>) -> Vec<String> {
    let frame = |hosts: Vec<String>| {
        serde_json::to_string(&ClientMessage::Subscribe {
            hosts,
            overview: false,
        })
        .unwrap_or_default()
    };
    let overhead = frame(Vec::new()).len();
    let mut frames = Vec::new();
    let mut batch = Vec::new();
    let mut size = overhead;
    for host in hosts {
        // Quoted, escaped, and a comma.
        let cost = serde_json::to_string(&host).map_or(usize::MAX, |q| q.len() + 1);
        if overhead.saturating_add(cost) > MAX_CLIENT_FRAME_BYTES {
            continue; // No server would accept it; not a valid host name anyway.
        }
        if !batch.is_empty()
            && (size + cost > MAX_CLIENT_FRAME_BYTES || batch.len() == MAX_SUBSCRIBE_HOSTS)
        {
            frames.push(frame(std::mem::take(&mut batch)));
            size = overhead;
        }
        size += cost;
        batch.push(host);
    }
    if !batch.is_empty() {
        frames.push(frame(batch));
    }
    frames
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
    use super::{apply, subscribe_frames, Connection, LiveState, Step};
    use crate::live::{close_code, ClientMessage, ServerMessage, PING_INTERVAL};
    use futures_util::{
        future::{select, Either},
        SinkExt, StreamExt,
    };
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use gloo_timers::future::sleep;
    use leptos::prelude::*;
    use std::{collections::BTreeSet, time::Duration};

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
            sleep(COOKIE_RENEWAL).await;
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
                    sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn signed_out(state: LiveState) {
        if state.connection.try_set(Connection::SignedOut).is_some() {
            return;
        }
        sleep(Duration::from_millis(1500)).await;
        if state.alive() {
            let _ = window().location().set_href("/login");
        }
    }

    /// What woke the socket loop.
    enum Event {
        Frame(Option<Result<Message, WebSocketError>>),
        PingDue,
    }

    async fn connect(state: &LiveState) -> Outcome {
        let Ok(socket) = WebSocket::open(&socket_url()) else {
            return Outcome::Dropped { was_live: false };
        };
        let (mut tx, mut rx) = socket.split();
        let mut was_live = false;
        let mut streaming = BTreeSet::new();
        let mut ping_due = sleep(PING_INTERVAL);
        loop {
            let event = match select(rx.next(), &mut ping_due).await {
                Either::Left((frame, _)) => Event::Frame(frame),
                Either::Right(_) => Event::PingDue,
            };
            let item = match event {
                Event::Frame(Some(item)) => item,
                Event::Frame(None) => return Outcome::Dropped { was_live },
                Event::PingDue => {
                    // The server ends sockets that stay silent; a ping keeps this one.
                    ping_due = sleep(PING_INTERVAL);
                    let ping = serde_json::to_string(&ClientMessage::Ping {}).unwrap_or_default();
                    if tx.send(Message::Text(ping)).await.is_err() {
                        return Outcome::Dropped { was_live };
                    }
                    continue;
                }
            };
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
            let step = state
                .hosts
                .try_update(|hosts| apply(hosts, &mut streaming, message));
            if is_hello {
                was_live = true;
                let _ = state.connection.try_set(Connection::Live);
            }
            match step {
                None => return Outcome::PageGone,
                Some(Step::SessionEnded) => return Outcome::SessionEnded,
                Some(Step::Reconnect) => {
                    let _ = tx.close().await;
                    return Outcome::Dropped { was_live };
                }
                Some(Step::Subscribe(hosts)) => {
                    for text in subscribe_frames(hosts) {
                        if tx.send(Message::Text(text)).await.is_err() {
                            return Outcome::Dropped { was_live };
                        }
                    }
                }
                Some(Step::Continue) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(hosts: &[&str]) -> ServerMessage {
        ServerMessage::Hello {
            user: "a".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn snapshot(host: &str, points: Vec<Point>) -> ServerMessage {
        ServerMessage::Snapshot {
            host: host.into(),
            series: BTreeMap::from([("cpu.total".into(), points)]),
        }
    }

    fn tick(host: &str, ts: i64, value: f64) -> ServerMessage {
        ServerMessage::Samples {
            host: host.into(),
            ts,
            values: BTreeMap::from([("cpu.total".into(), value)]),
        }
    }

    fn subscribe(hosts: &[&str]) -> Step {
        Step::Subscribe(hosts.iter().map(|h| h.to_string()).collect())
    }

    #[test]
    fn hello_subscribes_to_every_host_and_samples_extend_snapshots() {
        let (mut hosts, mut streaming) = (BTreeMap::new(), BTreeSet::new());
        assert_eq!(
            apply(&mut hosts, &mut streaming, hello(&["web-1"])),
            subscribe(&["web-1"])
        );
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("web-1", vec![(1, 1.0), (2, 2.0)]),
        );
        apply(&mut hosts, &mut streaming, tick("web-1", 3, 3.0));
        assert_eq!(
            hosts["web-1"]["cpu.total"],
            VecDeque::from(vec![(1, 1.0), (2, 2.0), (3, 3.0)])
        );
        // Hosts this socket already streams are not asked for again.
        let again = ServerMessage::Hosts {
            hosts: vec!["web-1".into(), "web-2".into()],
        };
        assert_eq!(
            apply(&mut hosts, &mut streaming, again),
            subscribe(&["web-2"])
        );
        assert_eq!(
            apply(
                &mut hosts,
                &mut streaming,
                ServerMessage::Bye {
                    reason: ByeReason::SessionEnded
                }
            ),
            Step::SessionEnded
        );
    }

    #[test]
    fn a_reconnect_asks_again_for_every_host_shown_and_merges_their_snapshots() {
        let (mut hosts, mut streaming) = (BTreeMap::new(), BTreeSet::new());
        apply(&mut hosts, &mut streaming, hello(&["pushed", "web-1"]));
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("pushed", vec![(1, 1.0)]),
        );
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("web-1", vec![(1, 5.0)]),
        );

        // A new socket (after a restart): the server knows only web-1 so far, and streams
        // nothing until asked, so the page asks for every host it shows.
        assert_eq!(
            apply(&mut hosts, &mut streaming, hello(&["web-1", "web-2"])),
            subscribe(&["pushed", "web-1", "web-2"])
        );
        // The server ignored `pushed` (unknown to it then); once it lists it, it is asked
        // for again, while web-1, whose snapshot came, is not.
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("web-1", vec![(1, 5.0), (2, 6.0)]),
        );
        assert_eq!(
            apply(
                &mut hosts,
                &mut streaming,
                ServerMessage::Hosts {
                    hosts: vec!["pushed".into(), "web-1".into()]
                }
            ),
            subscribe(&["pushed"])
        );
        // The new snapshot extends what was drawn rather than replacing it.
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("pushed", vec![(3, 3.0)]),
        );
        apply(&mut hosts, &mut streaming, tick("pushed", 4, 4.0));
        assert_eq!(
            hosts["pushed"]["cpu.total"],
            VecDeque::from(vec![(1, 1.0), (3, 3.0), (4, 4.0)])
        );
    }

    #[test]
    fn late_ticks_and_snapshots_land_in_timestamp_order() {
        let (mut hosts, mut streaming) = (BTreeMap::new(), BTreeSet::new());
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("h", vec![(10, 1.0), (30, 3.0)]),
        );
        apply(&mut hosts, &mut streaming, tick("h", 40, 4.0));
        // Older than the newest point: inserted where it belongs.
        apply(&mut hosts, &mut streaming, tick("h", 20, 2.0));
        // Same timestamp as a point held: replaces it.
        apply(&mut hosts, &mut streaming, tick("h", 30, 3.5));
        // Older than everything held.
        apply(&mut hosts, &mut streaming, tick("h", 5, 0.5));
        assert_eq!(
            hosts["h"]["cpu.total"],
            VecDeque::from(vec![(5, 0.5), (10, 1.0), (20, 2.0), (30, 3.5), (40, 4.0)])
        );
        // A snapshot overlapping the history interleaves with it, its values winning.
        apply(
            &mut hosts,
            &mut streaming,
            snapshot("h", vec![(15, 1.5), (40, 4.5), (50, 5.0)]),
        );
        let ts: Vec<i64> = hosts["h"]["cpu.total"].iter().map(|p| p.0).collect();
        assert_eq!(ts, vec![5, 10, 15, 20, 30, 40, 50]);
        assert_eq!(hosts["h"]["cpu.total"][5], (40, 4.5));
    }

    #[test]
    fn a_server_goodbye_other_than_sign_out_means_reconnect() {
        let (mut hosts, mut streaming) = (BTreeMap::new(), BTreeSet::new());
        for reason in [
            ByeReason::Idle,
            ByeReason::TooSlow,
            ByeReason::ServerShutdown,
        ] {
            assert_eq!(
                apply(&mut hosts, &mut streaming, ServerMessage::Bye { reason }),
                Step::Reconnect,
                "{reason:?}"
            );
        }
    }

    #[test]
    fn subscriptions_are_split_to_fit_the_servers_frame_limits() {
        assert!(subscribe_frames(Vec::new()).is_empty());
        let one = subscribe_frames(vec!["web-1".into()]);
        assert_eq!(
            one,
            vec![r#"{"type":"subscribe","hosts":["web-1"]}"#.to_string()]
        );

        let long: Vec<String> = (0..300).map(|i| format!("{i:0>64}")).collect();
        let short: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        for hosts in [long, short] {
            let frames = subscribe_frames(hosts.clone());
            assert!(frames.len() > 1);
            let mut asked = Vec::new();
            for frame in &frames {
                assert!(
                    frame.len() <= MAX_CLIENT_FRAME_BYTES,
                    "{} bytes",
                    frame.len()
                );
                let ClientMessage::Subscribe { hosts, .. } = serde_json::from_str(frame).unwrap()
                else {
                    panic!("not a subscribe: {frame}");
                };
                assert!(hosts.len() <= MAX_SUBSCRIBE_HOSTS);
                asked.extend(hosts);
            }
            assert_eq!(asked, hosts);
        }
    }

    #[test]
    fn series_keep_a_bounded_history() {
        let mut hosts = BTreeMap::from([("h".to_string(), Series::new())]);
        let mut streaming = BTreeSet::new();
        for ts in 0..(KEEP as i64 + 10) {
            apply(&mut hosts, &mut streaming, tick("h", ts, 0.0));
        }
        assert_eq!(hosts["h"]["cpu.total"].len(), KEEP);
        assert_eq!(hosts["h"]["cpu.total"].front().unwrap().0, 10);
        // A tick older than all that is kept does not push out a newer one.
        apply(&mut hosts, &mut streaming, tick("h", 0, 0.0));
        assert_eq!(hosts["h"]["cpu.total"].front().unwrap().0, 10);
        assert_eq!(hosts["h"]["cpu.total"].len(), KEEP);
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
