//! `GET /ws`: the live stream. Only a signed-in session from our own origin may open it;
//! the socket is bound to that session and closes when the session ends.
//!
//! Each socket has a writer task that owns the sending half, fed through a bounded queue,
//! with a deadline on every frame. The socket's own loop never waits on the peer, so a
//! peer that stops reading cannot delay its revocation, expiry or shutdown: the loop
//! queues the goodbye, gives the writer a moment, then drops the connection.

use super::{
    hub::{Frame, OverviewRows, Topic},
    registry::CapExceeded,
    registry::Registration,
    Live,
};
use crate::{
    access::groups::{Forest, Viewer},
    auth::client::{counted, ClientAddr},
    stats::Stats,
    store::{
        sessions::{id_hash, AuthState, AUTH_KEY},
        unix_now_ms,
    },
};
use app::{
    auth::Principal,
    live::{
        close_code, ByeReason, ClientMessage, OverviewRow, ServerMessage, MAX_CLIENT_FRAME_BYTES,
        MAX_SUBSCRIBE_HOSTS,
    },
};
use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use std::{collections::HashSet, sync::Arc, time::Duration};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tower_sessions::Session;
use tracing::Instrument;

const READ_BUFFER: usize = 4 * 1024;
/// After the loop ends, how long the writer may take to send the goodbye before the
/// connection is cut. A revocation is noticed at once in this process (within 250 ms from
/// another), so a socket ends well within 1 s.
const CLOSE_GRACE: Duration = Duration::from_millis(250);

pub async fn upgrade(
    State(live): State<Arc<Live>>,
    headers: HeaderMap,
    principal: Option<Extension<Principal>>,
    ClientAddr(ip): ClientAddr,
    session: Session,
    ws: WebSocketUpgrade,
) -> Response {
    // Cross-site WebSocket hijacking: a page elsewhere may not open our socket with the
    // user's cookie. Clients without an Origin (scripts, curl) carry no victim's cookie.
    if live.origin.is_foreign_origin(&headers) {
        tracing::warn!(origin = ?headers.get(http::header::ORIGIN), "websocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "Foreign origin.").into_response();
    }
    let (Some(Extension(principal)), Some(id)) = (principal, session.id()) else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    let deadline = match session.get::<AuthState>(AUTH_KEY).await {
        Ok(Some(state)) => live.session_deadline(state.signed_in_at),
        _ => return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response(),
    };
    let hash = id_hash(&id);
    let registration = match live.sockets.register(hash.clone(), counted(ip)) {
        Ok(registration) => registration,
        Err(cap) => {
            tracing::warn!(user_id = principal.user_id, %cap, "socket refused: over a cap");
            let message = match cap {
                CapExceeded::Session(_) => "Too many live sockets for this session.",
                CapExceeded::Address(_) => "Too many live sockets from this address.",
            };
            return (StatusCode::TOO_MANY_REQUESTS, message).into_response();
        }
    };
    // Registered first, then checked: a session ended from here on is seen by the
    // registry's watcher, and one ended before is refused here. Only then does the
    // socket open and say hello.
    match live
        .db
        .live_sessions_among(std::slice::from_ref(&hash))
        .await
    {
        Ok(live_ones) if live_ones.contains(&hash) => {}
        Ok(_) => return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot check a session");
            return (StatusCode::SERVICE_UNAVAILABLE, "Try again shortly.").into_response();
        }
    }
    // Client frames are tiny: a small read buffer (tungstenite's default is 128 KiB per
    // socket, allocated up front) keeps memory per idle dashboard low.
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("socket", user_id = principal.user_id);
            serve(live, principal, registration, deadline, socket).instrument(span)
        })
}

fn text(message: &ServerMessage) -> Message {
    // Our own enum of strings and numbers always serialises.
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

fn bye(reason: ByeReason) -> Option<ServerMessage> {
    Some(ServerMessage::Bye { reason })
}

/// Why the loop ended, and what to send before closing.
enum End {
    /// The peer left, or the writer gave up on it.
    Gone,
    Close(Option<ServerMessage>, u16, &'static str),
}

/// Sends queued frames, each within `deadline`; a peer that cannot take one in time is
/// dropped. Ends after a close frame, on an error, or when the queue closes.
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    deadline: Duration,
    stats: Arc<Stats>,
) {
    while let Some(message) = queue.recv().await {
        let is_close = matches!(message, Message::Close(_));
        match tokio::time::timeout(deadline, sink.send(message)).await {
            Ok(Ok(())) if is_close => return,
            Ok(Ok(())) => Stats::add(&stats.frames_sent),
            Ok(Err(_)) => return,
            Err(_) => {
                Stats::add(&stats.slow_sockets_dropped);
                tracing::warn!(?deadline, "peer did not take a frame in time; dropping it");
                return;
            }
        }
    }
}

/// Whether a read error is tungstenite refusing a frame over the size limit.
fn is_too_big(err: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(tungstenite::Error::Capacity(_)) = e.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// What one socket may see, and what it has shown: every frame passes through here, so
/// a host outside the viewer's groups never reaches the socket, and a change of groups
/// or memberships narrows or widens it at once.
struct Sight {
    user_id: i64,
    role: app::auth::Role,
    forest: Arc<Forest>,
    viewer: Viewer,
    /// The host list last sent.
    hosts: Vec<String>,
    /// Hosts whose series the socket streams.
    subscribed: HashSet<String>,
    /// Whether it shows the overview, and (for a viewer of some hosts) the rows shown.
    overview: bool,
    rows: HashSet<String>,
}

impl Sight {
    fn new(live: &Live, principal: &Principal) -> Self {
        let forest = live.access.forest();
        let viewer = forest.user(principal.user_id, principal.role);
        let hosts = viewer.filter(&forest, live.hub.hosts());
        Self {
            user_id: principal.user_id,
            role: principal.role,
            forest,
            viewer,
            hosts,
            subscribed: HashSet::new(),
            overview: false,
            rows: HashSet::new(),
        }
    }

    fn sees(&self, host: &str) -> bool {
        self.viewer.sees(&self.forest, host)
    }

    /// The frame to send for a hub frame, if any.
    fn frame(&mut self, live: &Live, frame: Frame) -> Option<Message> {
        match frame.topic {
            Topic::Hosts => self.hosts_changed(live),
            Topic::Host(host) => self
                .subscribed
                .contains(&*host)
                .then(|| Message::Text(frame.text)),
            Topic::Overview if !self.overview => None,
            Topic::Overview => match (&self.viewer, frame.rows) {
                (Viewer::All, _) | (_, None) => Some(Message::Text(frame.text)),
                (Viewer::Groups(_), Some(rows)) => self.own_rows(&rows),
            },
        }
    }

    /// The `hosts` frame, if the visible hosts changed since the last one.
    fn hosts_changed(&mut self, live: &Live) -> Option<Message> {
        let hosts = self.viewer.filter(&self.forest, live.hub.hosts());
        if hosts == self.hosts {
            return None;
        }
        self.hosts = hosts.clone();
        Some(text(&ServerMessage::Hosts { hosts }))
    }

    /// This socket's share of an overview tick.
    fn own_rows(&mut self, tick: &OverviewRows) -> Option<Message> {
        let rows: Vec<OverviewRow> = tick
            .rows
            .iter()
            .filter(|r| self.sees(&r.host))
            .cloned()
            .collect();
        let removed: Vec<String> = tick
            .removed
            .iter()
            .filter(|h| self.rows.remove(h.as_str()))
            .cloned()
            .collect();
        if rows.is_empty() && removed.is_empty() {
            return None;
        }
        self.rows.extend(rows.iter().map(|r| r.host.clone()));
        Some(text(&ServerMessage::Overview {
            now: tick.now,
            full: false,
            rows,
            removed,
            thresholds: None,
        }))
    }

    /// The whole overview as this socket may see it.
    fn full_overview(&mut self, live: &Live) -> Message {
        let now = unix_now_ms();
        match &self.viewer {
            Viewer::All => Message::Text(live.overview.full_frame(now)),
            Viewer::Groups(_) => {
                let (text, hosts) = live.overview.full_frame_of(now, |h| self.sees(h));
                self.rows = hosts.into_iter().collect();
                Message::Text(text)
            }
        }
    }

    /// Groups, memberships or hosts' groups changed: what the socket may see now, and the
    /// frames that tell it (the host list, and the overview again if its rows changed).
    fn regroup(&mut self, live: &Live, forest: Arc<Forest>) -> Vec<Message> {
        self.viewer = forest.user(self.user_id, self.role);
        self.forest = forest;
        let before = self.subscribed.len();
        let Self {
            subscribed,
            forest,
            viewer,
            ..
        } = self;
        subscribed.retain(|h| viewer.sees(forest, h));
        if self.subscribed.len() < before {
            tracing::info!(
                dropped = before - self.subscribed.len(),
                "hosts no longer visible: streams stopped"
            );
        }
        let mut out: Vec<Message> = self.hosts_changed(live).into_iter().collect();
        if self.overview && matches!(self.viewer, Viewer::Groups(_)) {
            let shown = std::mem::take(&mut self.rows);
            let full = self.full_overview(live);
            if self.rows != shown {
                out.push(full);
            }
        }
        out
    }
}

async fn serve(
    live: Arc<Live>,
    principal: Principal,
    registration: Registration,
    deadline: tokio::time::Instant,
    socket: WebSocket,
) {
    let (sink, mut stream) = socket.split();
    let (out, queue) = mpsc::channel::<Message>(live.config.queue.max(2));
    let mut writer = tokio::spawn(write_frames(
        sink,
        queue,
        live.config.send_timeout,
        live.stats.clone(),
    ));
    let mut writer_done = false;
    let mut frames = live.hub.subscribe();
    let mut forests = live.access.subscribe();
    let mut sight = Sight::new(&live, &principal);
    tracing::info!("socket opened");

    let hello = ServerMessage::Hello {
        user: principal.username.clone(),
        hosts: sight.hosts.clone(),
    };
    let idle_timeout = live.config.idle_timeout;
    // Made once, not per loop turn: with thousands of sockets, re-arming a timer and
    // re-registering with the shared stop token on every frame is measurable work.
    let ended = registration.ended.cancelled();
    let expired = tokio::time::sleep_until(deadline);
    let stopping = live.stop.cancelled();
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(ended, expired, stopping, idle);
    let session_ended = || {
        End::Close(
            bye(ByeReason::SessionEnded),
            close_code::SESSION_ENDED,
            "session ended",
        )
    };
    let too_slow = || End::Close(bye(ByeReason::TooSlow), close_code::POLICY, "too slow");
    let end = if out.try_send(text(&hello)).is_err() {
        End::Gone
    } else {
        loop {
            tokio::select! {
                () = &mut ended => break session_ended(),
                () = &mut expired => break session_ended(),
                () = &mut stopping => {
                    break End::Close(bye(ByeReason::Restart), 1001, "server shutting down");
                }
                _ = &mut writer => {
                    writer_done = true;
                    break End::Gone;
                }
                () = &mut idle => {
                    tracing::info!("socket idle; closing");
                    break End::Close(bye(ByeReason::Idle), 1000, "idle");
                }
                changed = forests.changed() => {
                    if changed.is_err() {
                        break End::Gone;
                    }
                    let forest = forests.borrow_and_update().clone();
                    let mut result = Ok(());
                    for message in sight.regroup(&live, forest) {
                        result = self::queue(&out, message);
                        if result.is_err() {
                            break;
                        }
                    }
                    match result {
                        Ok(()) => {}
                        Err(Handled::Full) => break too_slow(),
                        Err(Handled::Closed) => break End::Gone,
                    }
                }
                frame = frames.recv() => match frame {
                    Ok(frame) => {
                        if let Some(message) = sight.frame(&live, frame) {
                            match out.try_send(message) {
                                Ok(()) => {}
                                Err(mpsc::error::TrySendError::Full(_)) => {
                                    tracing::warn!("socket fell behind the stream; dropping it");
                                    Stats::add(&live.stats.slow_sockets_dropped);
                                    break too_slow();
                                }
                                Err(mpsc::error::TrySendError::Closed(_)) => break End::Gone,
                            }
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "socket fell behind the stream; dropping it");
                        Stats::add(&live.stats.slow_sockets_dropped);
                        break too_slow();
                    }
                    Err(RecvError::Closed) => break End::Gone,
                },
                incoming = stream.next() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
                    match incoming {
                        None | Some(Ok(Message::Close(_))) => break End::Gone,
                        Some(Err(e)) if is_too_big(&e) => {
                            tracing::warn!("oversized client frame; closing");
                            break End::Close(None, close_code::TOO_BIG, "frame too big");
                        }
                        Some(Err(_)) => break End::Gone,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Binary(_))) => {
                            tracing::warn!("binary frame from a client; closing");
                            break End::Close(None, close_code::POLICY, "text frames only");
                        }
                        Some(Ok(Message::Text(body))) if body.len() > MAX_CLIENT_FRAME_BYTES => {
                            tracing::warn!(bytes = body.len(), "oversized client frame; closing");
                            break End::Close(None, close_code::TOO_BIG, "frame too big");
                        }
                        Some(Ok(Message::Text(body))) => match serde_json::from_str::<ClientMessage>(&body) {
                            Ok(message) => match handle(&live, message, &mut sight, &out).await {
                                Ok(()) => {}
                                Err(Handled::Full) => break too_slow(),
                                Err(Handled::Closed) => break End::Gone,
                            },
                            Err(_) => {
                                tracing::warn!("malformed client message; closing");
                                break End::Close(None, close_code::POLICY, "unknown message");
                            }
                        },
                    }
                }
            }
        }
    };
    let closed_by_server = if let End::Close(bye, code, reason) = end {
        if let Some(bye) = bye {
            let _ = out.try_send(text(&bye));
        }
        let _ = out.try_send(close(code, reason));
        Some((code, reason))
    } else {
        None
    };
    drop(out);
    // The writer gets a moment to send the goodbye; a peer that reads nothing does not
    // get more. Dropping both halves closes the connection.
    if !writer_done
        && tokio::time::timeout(CLOSE_GRACE, &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
    drop(stream);
    match closed_by_server {
        Some((code, reason)) => tracing::info!(code, reason, "socket closed by the server"),
        None => tracing::info!("socket closed"),
    }
}

enum Handled {
    Full,
    Closed,
}

fn queue(out: &mpsc::Sender<Message>, message: Message) -> Result<(), Handled> {
    out.try_send(message).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => Handled::Full,
        mpsc::error::TrySendError::Closed(_) => Handled::Closed,
    })
}

async fn handle(
    live: &Live,
    message: ClientMessage,
    sight: &mut Sight,
    out: &mpsc::Sender<Message>,
) -> Result<(), Handled> {
    match message {
        ClientMessage::Subscribe {
            hosts,
            overview: wants_overview,
        } => {
            // The full table first; the changed rows follow on the next tick.
            if wants_overview && !sight.overview {
                sight.overview = true;
                let full = sight.full_overview(live);
                queue(out, full)?;
            }
            for host in hosts.into_iter().take(MAX_SUBSCRIBE_HOSTS) {
                // Unknown hosts, and hosts of other groups, are ignored alike: the first
                // may appear later with a `hosts` frame, and the second must not be told
                // apart from them.
                if !sight.sees(&host) || sight.subscribed.contains(&host) {
                    continue;
                }
                if let Some(snapshot) = live.hub.snapshot(&host).await {
                    sight.subscribed.insert(host);
                    queue(out, Message::Text(snapshot))?;
                }
            }
        }
        ClientMessage::Unsubscribe {
            hosts,
            overview: drop_overview,
        } => {
            if drop_overview {
                sight.overview = false;
                sight.rows.clear();
            }
            for host in hosts {
                sight.subscribed.remove(&host);
            }
        }
        ClientMessage::Ping {} => queue(out, text(&ServerMessage::Pong))?,
    }
    Ok(())
}
