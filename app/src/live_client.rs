//! The browser's socket to `/ws`, shared by every live page. A page says what it shows
//! ([`Subscription`]: the overview, or one host) and gets every frame; this module keeps
//! the connection: backoff with jitter, pings, cookie renewal, re-subscribing after a
//! reconnect, and the session-ended handling. The state it shows the user is
//! [`Connection`] (`data-connection`: live / reconnecting / signed-out).

use crate::live::{
    ByeReason, ClientMessage, ServerMessage, MAX_CLIENT_FRAME_BYTES, MAX_SUBSCRIBE_HOSTS,
};
use leptos::prelude::*;
use std::collections::BTreeSet;

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

/// What a page streams: the browser asks for nothing it does not show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// The overview rows (a full frame, then the changed rows each tick).
    Overview,
    /// These hosts' series (a snapshot each, then samples each tick).
    Hosts(Vec<String>),
}

impl Subscription {
    /// The `subscribe` frames that ask for everything.
    pub fn frames(&self) -> Vec<String> {
        match self {
            Self::Overview => vec![serde_json::to_string(&ClientMessage::Subscribe {
                hosts: Vec::new(),
                overview: true,
            })
            .unwrap_or_default()],
            Self::Hosts(hosts) => subscribe_frames(hosts.clone()),
        }
    }
}

/// What the connection should do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these frames.
    Send(Vec<String>),
    /// The server is closing this socket for a reason a new socket cures (idle, too slow,
    /// restarting): treat it as dropped.
    Reconnect,
    SessionEnded,
    Continue,
}

/// The protocol's side of one message. `streaming` belongs to the current socket: the
/// hosts whose snapshot arrived on it, so whose ticks it carries.
pub fn step(
    subscription: &Subscription,
    streaming: &mut BTreeSet<String>,
    message: &ServerMessage,
) -> Step {
    match message {
        // A new socket streams nothing yet: ask again for everything on the page, or its
        // charts freeze after a reconnect while the badge says live.
        ServerMessage::Hello { .. } => {
            streaming.clear();
            Step::Send(subscription.frames())
        }
        // The server ignores hosts it does not know yet, so a host asked for too early is
        // asked for again once it is listed.
        ServerMessage::Hosts { hosts } => match subscription {
            Subscription::Overview => Step::Continue,
            Subscription::Hosts(wanted) => {
                let again: Vec<String> = wanted
                    .iter()
                    .filter(|h| hosts.contains(h) && !streaming.contains(*h))
                    .cloned()
                    .collect();
                if again.is_empty() {
                    Step::Continue
                } else {
                    Step::Send(subscribe_frames(again))
                }
            }
        },
        ServerMessage::Snapshot { host, .. } => {
            streaming.insert(host.clone());
            Step::Continue
        }
        ServerMessage::Bye {
            reason: ByeReason::SessionEnded,
        } => Step::SessionEnded,
        ServerMessage::Bye {
            reason: ByeReason::Idle | ByeReason::TooSlow | ByeReason::Restart,
        } => Step::Reconnect,
        ServerMessage::Samples { .. } | ServerMessage::Overview { .. } | ServerMessage::Pong => {
            Step::Continue
        }
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

/// The connection state as the user sees it: a badge with `data-connection`.
#[component]
pub fn ConnectionBadge(connection: RwSignal<Connection>) -> impl IntoView {
    view! {
        <p class="connection" role="status" data-connection=move || connection.get().as_str()>
            <span class="dot" aria-hidden="true"></span>
            {move || connection.get().label()}
        </p>
    }
}

/// Opens the socket for `subscription` and hands every frame to `on_message`, until the
/// component that called this is gone. `connection` shows the state; it may outlive the
/// caller (a page's badge), so the caller's own lifetime is tracked separately.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
pub fn connect(
    connection: RwSignal<Connection>,
    subscription: Subscription,
    on_message: impl FnMut(ServerMessage) + 'static,
) {
    #[cfg(feature = "hydrate")]
    {
        let owner = StoredValue::new(());
        let start = std::cell::Cell::new(Some((subscription, on_message)));
        // In an effect, so the socket opens once the page is hydrated, and only once.
        Effect::new(move |_| {
            if let Some((subscription, on_message)) = start.take() {
                leptos::task::spawn_local(client::run(client::Live {
                    connection,
                    owner,
                    subscription,
                    on_message: Box::new(on_message),
                }));
            }
        });
    }
}

/// The socket loop, in the browser only.
#[cfg(feature = "hydrate")]
mod client {
    use super::{step, Connection, Step, Subscription};
    use crate::live::{close_code, ClientMessage, ServerMessage, PING_INTERVAL};
    use futures_util::{
        future::{select, Either},
        SinkExt, StreamExt,
    };
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use gloo_timers::future::sleep;
    use leptos::prelude::*;
    use std::{collections::BTreeSet, time::Duration};

    pub struct Live {
        pub connection: RwSignal<Connection>,
        /// Disposed with the component that opened the socket.
        pub owner: StoredValue<()>,
        pub subscription: Subscription,
        pub on_message: Box<dyn FnMut(ServerMessage)>,
    }

    impl Live {
        fn alive(&self) -> bool {
            self.owner.try_get_value().is_some()
        }

        fn set(&self, state: Connection) {
            if self.alive() {
                let _ = self.connection.try_set(state);
            }
        }

        fn state(&self) -> Option<Connection> {
            self.connection.try_get_untracked()
        }
    }

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

    async fn renew_cookie(connection: RwSignal<Connection>, owner: StoredValue<()>) {
        while owner.try_get_value().is_some() {
            sleep(COOKIE_RENEWAL).await;
            if owner.try_get_value().is_some()
                && connection.try_get_untracked() == Some(Connection::Live)
            {
                let _ = crate::auth::signed_in().await;
            }
        }
    }

    pub async fn run(mut live: Live) {
        leptos::task::spawn_local(renew_cookie(live.connection, live.owner));
        let mut attempt = 0;
        loop {
            match connect(&mut live).await {
                Outcome::PageGone => return,
                Outcome::SessionEnded => return signed_out(&live).await,
                Outcome::Dropped { was_live } => {
                    if was_live {
                        attempt = 0;
                    }
                    if !live.alive() || live.state().is_none() {
                        return;
                    }
                    live.set(Connection::Reconnecting);
                    // A refused upgrade looks like a dropped connection to the browser:
                    // ask whether we are still signed in before trying again.
                    if let Ok(false) = crate::auth::signed_in().await {
                        return signed_out(&live).await;
                    }
                    sleep(backoff(attempt)).await;
                    attempt += 1;
                    if !live.alive() {
                        return;
                    }
                }
            }
        }
    }

    async fn signed_out(live: &Live) {
        if !live.alive() {
            return;
        }
        live.set(Connection::SignedOut);
        sleep(Duration::from_millis(1500)).await;
        if live.alive() {
            let _ = window().location().set_href("/login");
        }
    }

    /// What woke the socket loop.
    enum Event {
        Frame(Option<Result<Message, WebSocketError>>),
        PingDue,
    }

    async fn connect(live: &mut Live) -> Outcome {
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
            if !live.alive() {
                let _ = tx.close().await;
                return Outcome::PageGone;
            }
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
            let next = step(&live.subscription, &mut streaming, &message);
            if matches!(message, ServerMessage::Hello { .. }) {
                was_live = true;
                live.set(Connection::Live);
            }
            (live.on_message)(message);
            match next {
                Step::SessionEnded => return Outcome::SessionEnded,
                Step::Reconnect => {
                    let _ = tx.close().await;
                    return Outcome::Dropped { was_live };
                }
                Step::Send(frames) => {
                    for text in frames {
                        if tx.send(Message::Text(text)).await.is_err() {
                            return Outcome::Dropped { was_live };
                        }
                    }
                }
                Step::Continue => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn hello(hosts: &[&str]) -> ServerMessage {
        ServerMessage::Hello {
            user: "a".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn snapshot(host: &str) -> ServerMessage {
        ServerMessage::Snapshot {
            host: host.into(),
            series: BTreeMap::from([("cpu.total".into(), vec![(1, 1.0)])]),
        }
    }

    fn hosts(names: &[&str]) -> ServerMessage {
        ServerMessage::Hosts {
            hosts: names.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn one_host(name: &str) -> Subscription {
        Subscription::Hosts(vec![name.to_string()])
    }

    #[test]
    fn the_overview_page_asks_only_for_the_overview_on_every_hello() {
        let (sub, mut streaming) = (Subscription::Overview, BTreeSet::new());
        let expected = Step::Send(vec![r#"{"type":"subscribe","overview":true}"#.to_string()]);
        assert_eq!(step(&sub, &mut streaming, &hello(&["a", "b"])), expected);
        // New hosts appear in the overview's own frames: nothing to ask for.
        assert_eq!(
            step(&sub, &mut streaming, &hosts(&["a", "b", "c"])),
            Step::Continue
        );
        // After a reconnect, the same again.
        assert_eq!(step(&sub, &mut streaming, &hello(&["a"])), expected);
    }

    #[test]
    fn a_host_page_asks_only_for_its_host_and_again_after_a_reconnect() {
        let (sub, mut streaming) = (one_host("web-1"), BTreeSet::new());
        let expected = Step::Send(vec![r#"{"type":"subscribe","hosts":["web-1"]}"#.to_string()]);
        assert_eq!(
            step(&sub, &mut streaming, &hello(&["web-1", "web-2"])),
            expected
        );
        assert_eq!(
            step(&sub, &mut streaming, &snapshot("web-1")),
            Step::Continue
        );
        // Streaming already: a changed host list asks for nothing.
        assert_eq!(
            step(&sub, &mut streaming, &hosts(&["web-1", "web-2", "web-3"])),
            Step::Continue
        );
        // A new socket (after a restart) streams nothing until asked.
        assert_eq!(step(&sub, &mut streaming, &hello(&[])), expected);
        assert!(streaming.is_empty());
    }

    #[test]
    fn a_host_unknown_when_asked_for_is_asked_for_again_once_listed() {
        let (sub, mut streaming) = (one_host("pushed"), BTreeSet::new());
        step(&sub, &mut streaming, &hello(&["web-1"]));
        // Other hosts come and go: not this page's business.
        assert_eq!(
            step(&sub, &mut streaming, &hosts(&["web-1", "web-2"])),
            Step::Continue
        );
        assert_eq!(
            step(&sub, &mut streaming, &hosts(&["pushed", "web-1"])),
            Step::Send(vec![
                r#"{"type":"subscribe","hosts":["pushed"]}"#.to_string()
            ])
        );
    }

    #[test]
    fn a_server_goodbye_other_than_sign_out_means_reconnect() {
        let mut streaming = BTreeSet::new();
        for reason in [ByeReason::Idle, ByeReason::TooSlow, ByeReason::Restart] {
            assert_eq!(
                step(
                    &Subscription::Overview,
                    &mut streaming,
                    &ServerMessage::Bye { reason }
                ),
                Step::Reconnect,
                "{reason:?}"
            );
        }
        assert_eq!(
            step(
                &Subscription::Overview,
                &mut streaming,
                &ServerMessage::Bye {
                    reason: ByeReason::SessionEnded
                }
            ),
            Step::SessionEnded
        );
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
    fn connection_states_map_to_the_documented_attribute_values() {
        assert_eq!(Connection::Live.as_str(), "live");
        assert_eq!(Connection::Connecting.as_str(), "reconnecting");
        assert_eq!(Connection::Reconnecting.as_str(), "reconnecting");
        assert_eq!(Connection::SignedOut.as_str(), "signed-out");
    }
}
