//! `GET /ws`: the live stream. Only a signed-in session from our own origin may open it;
//! the socket is bound to that session and closes when the session ends.

use super::{hub::Frame, registry::Registration, Live};
use crate::store::sessions::{id_hash, AuthState, AUTH_KEY};
use app::{
    auth::Principal,
    live::{close_code, ByeReason, ClientMessage, ServerMessage, MAX_CLIENT_FRAME_BYTES},
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
use futures_util::{SinkExt, StreamExt};
use std::{collections::HashSet, sync::Arc, time::Duration};
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::Session;
use tracing::Instrument;

/// Protocol-level cap: frames up to this are read, then refused by our own smaller cap
/// with a clean 1009 rather than a torn connection.
const MAX_WS_MESSAGE: usize = 64 * 1024;
const READ_BUFFER: usize = 4 * 1024;

pub async fn upgrade(
    State(live): State<Arc<Live>>,
    headers: HeaderMap,
    principal: Option<Extension<Principal>>,
    session: Session,
    ws: WebSocketUpgrade,
) -> Response {
    // Cross-site WebSocket hijacking: a page elsewhere may not open our socket with the
    // user's cookie. Clients without an Origin (scripts, curl) carry no victim's cookie.
    if live.security.is_foreign_origin(&headers) {
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
    let registration = live.sockets.register(id_hash(&id));
    // Client frames are tiny: a small read buffer (tungstenite's default is 128 KiB per
    // socket, allocated up front) keeps memory per idle dashboard low.
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("socket", user_id = principal.user_id);
            serve(live, principal, registration, deadline, socket).instrument(span)
        })
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Why the loop ended, and what to send before closing.
enum End {
    Quiet,
    Close(Option<ServerMessage>, u16, &'static str),
}

async fn serve(
    live: Arc<Live>,
    principal: Principal,
    registration: Registration,
    deadline: tokio::time::Instant,
    socket: WebSocket,
) {
    let (mut tx, mut rx) = socket.split();
    let mut frames = live.hub.subscribe();
    let mut subscribed: HashSet<String> = HashSet::new();
    tracing::info!("socket opened");

    let hello = ServerMessage::Hello {
        user: principal.username.clone(),
        hosts: live.hub.hosts(),
    };
    // Made once, not per loop turn: with thousands of sockets, re-arming a timer and
    // re-registering with the shared stop token on every frame is measurable work.
    let ended = registration.ended.cancelled();
    let expired = tokio::time::sleep_until(deadline);
    let stopping = live.stop.cancelled();
    tokio::pin!(ended, expired, stopping);
    let end = if tx.send(text(&hello)).await.is_err() {
        End::Quiet
    } else {
        loop {
            tokio::select! {
                () = &mut ended => {
                    break End::Close(Some(ServerMessage::Bye { reason: ByeReason::SessionEnded }), close_code::SESSION_ENDED, "session ended");
                }
                () = &mut expired => {
                    break End::Close(Some(ServerMessage::Bye { reason: ByeReason::SessionEnded }), close_code::SESSION_ENDED, "session ended");
                }
                () = &mut stopping => {
                    break End::Close(Some(ServerMessage::Bye { reason: ByeReason::ServerShutdown }), 1001, "server shutting down");
                }
                frame = frames.recv() => match frame {
                    Ok(Frame { host, text }) => {
                        let wanted = host.as_deref().is_none_or(|h| subscribed.contains(h));
                        if wanted && tx.send(Message::Text(text)).await.is_err() {
                            break End::Quiet;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "socket fell behind the stream; dropping it");
                        break End::Close(Some(ServerMessage::Bye { reason: ByeReason::TooSlow }), close_code::POLICY, "too slow");
                    }
                    Err(RecvError::Closed) => break End::Quiet,
                },
                incoming = rx.next() => match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break End::Quiet,
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
                        Ok(message) => {
                            if let Err(()) = handle(&live, message, &mut subscribed, &mut tx).await {
                                break End::Quiet;
                            }
                        }
                        Err(_) => {
                            tracing::warn!("malformed client message; closing");
                            break End::Close(None, close_code::POLICY, "unknown message");
                        }
                    },
                },
            }
        }
    };
    if let End::Close(bye, code, reason) = end {
        // Bounded: a client that stopped reading must not keep this task (and its
        // buffers) alive.
        let goodbye = async {
            if let Some(bye) = bye {
                tx.send(text(&bye)).await?;
            }
            tx.send(close(code, reason)).await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
        tracing::info!(code, reason, "socket closed by the server");
    } else {
        tracing::info!("socket closed");
    }
}

async fn handle(
    live: &Live,
    message: ClientMessage,
    subscribed: &mut HashSet<String>,
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
) -> Result<(), ()> {
    match message {
        ClientMessage::Subscribe { hosts } => {
            for host in hosts.into_iter().take(256) {
                // Unknown hosts are ignored: they may appear later with a `hosts` frame.
                if let Some(snapshot) = live.hub.snapshot(&host) {
                    if subscribed.insert(host) {
                        tx.send(Message::Text(snapshot)).await.map_err(|_| ())?;
                    }
                }
            }
        }
        ClientMessage::Unsubscribe { hosts } => {
            for host in hosts {
                subscribed.remove(&host);
            }
        }
        ClientMessage::Ping {} => tx.send(text(&ServerMessage::Pong)).await.map_err(|_| ())?,
    }
    Ok(())
}
