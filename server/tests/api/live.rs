//! The live stream over real WebSockets.

use crate::{cli::lookout, helpers::*};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{self, client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn live_app() -> TestApp {
    spawn_app_with(|c| {
        c.live.sample_every = Duration::from_millis(200);
        c.live.host_name = "test-host".into();
    })
    .await
}

pub async fn open(
    app: &TestApp,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    if let Some(origin) = origin {
        req.headers_mut().insert("origin", origin.parse().unwrap());
    }
    connect_async(req).await.map(|(ws, _)| ws)
}

pub fn status_of(err: tungstenite::Error) -> u16 {
    match err {
        tungstenite::Error::Http(res) => res.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// The next text frame as JSON (within 5 s).
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("JSON frame");
        }
    }
}

pub async fn next_of_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

/// Reads until the server closes; returns the close code and the frames seen before it.
pub async fn closed_with(ws: &mut Ws, within: Duration) -> (Option<u16>, Vec<Value>) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("socket still open after {within:?}"),
            Ok(None) | Ok(Some(Err(_))) => return (None, seen),
            Ok(Some(Ok(Message::Close(frame)))) => return (frame.map(|f| u16::from(f.code)), seen),
            Ok(Some(Ok(Message::Text(t)))) => seen.push(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub async fn subscribed(app: &TestApp, cookie: &str) -> Ws {
    let mut ws = open(app, Some(cookie), None).await.expect("socket");
    let hello = next_of_type(&mut ws, "hello").await;
    assert_eq!(hello["user"], ADMIN);
    // The first sample may not have been taken yet: wait for the host to exist.
    loop {
        ws.send(Message::text(
            r#"{"type":"subscribe","hosts":["test-host"]}"#,
        ))
        .await
        .unwrap();
        match tokio::time::timeout(
            Duration::from_millis(500),
            next_of_type(&mut ws, "snapshot"),
        )
        .await
        {
            Ok(snapshot) => {
                assert_eq!(snapshot["host"], "test-host");
                return ws;
            }
            Err(_) => continue,
        }
    }
}

#[tokio::test]
async fn the_socket_refuses_anyone_without_a_session_with_401() {
    let app = live_app().await;
    assert_eq!(status_of(open(&app, None, None).await.unwrap_err()), 401);
    assert_eq!(
        status_of(
            open(&app, Some("lookout_session=forged-id-000000000000"), None)
                .await
                .unwrap_err()
        ),
        401
    );
}

#[tokio::test]
async fn the_socket_refuses_a_foreign_origin_with_403_even_with_a_session() {
    let app = live_app().await;
    let cookie = app.admin_cookie().await;
    assert_eq!(
        status_of(
            open(&app, Some(&cookie), Some("http://evil.example"))
                .await
                .unwrap_err()
        ),
        403
    );
    let own = format!("http://{}", app.addr);
    assert!(open(&app, Some(&cookie), Some(&own)).await.is_ok());
}

#[tokio::test]
async fn a_signed_in_socket_gets_hello_a_snapshot_and_advancing_samples() {
    let app = live_app().await;
    let cookie = app.admin_cookie().await;
    let mut ws = subscribed(&app, &cookie).await;
    let first = next_of_type(&mut ws, "samples").await;
    let second = next_of_type(&mut ws, "samples").await;
    assert_eq!(first["host"], "test-host");
    assert!(second["ts"].as_i64().unwrap() > first["ts"].as_i64().unwrap());
    // Stamped with their tick (every 200 ms here), not with the moment of reading.
    assert_eq!(second["ts"].as_i64().unwrap() % 200, 0, "{second}");
    for series in ["cpu.total", "mem.used_pct", "load.1"] {
        assert!(second["values"][series].is_number(), "{series} in {second}");
    }
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    next_of_type(&mut ws, "pong").await;
}

#[tokio::test]
async fn bad_client_frames_close_with_the_right_code_and_others_keep_streaming() {
    let app = live_app().await;
    let cookie = app.admin_cookie().await;
    let mut bystander = subscribed(&app, &cookie).await;
    let cases: [(Message, u16); 5] = [
        (Message::text("this is not json"), 1008),
        (
            Message::text(r#"{"type":"samples","host":"x","ts":1,"values":{}}"#),
            1008,
        ),
        (
            Message::text(r#"{"type":"subscribe","hosts":"web-1"}"#),
            1008,
        ),
        (Message::binary(vec![1u8, 2, 3]), 1008),
        (
            Message::text(format!(
                r#"{{"type":"subscribe","hosts":["{}"]}}"#,
                "a".repeat(70_000)
            )),
            1009,
        ),
    ];
    for (message, code) in cases {
        let mut ws = open(&app, Some(&cookie), None).await.unwrap();
        next_of_type(&mut ws, "hello").await;
        let shown = format!("{message:?}").chars().take(60).collect::<String>();
        ws.send(message).await.unwrap();
        let (got, _) = closed_with(&mut ws, Duration::from_secs(3)).await;
        assert_eq!(got, Some(code), "{shown}");
    }
    next_of_type(&mut bystander, "samples").await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn signing_out_closes_an_open_socket_within_a_second() {
    let app = live_app().await;
    let cookie = app.admin_cookie().await;
    let mut ws = subscribed(&app, &cookie).await;
    let started = Instant::now();
    assert_eq!(
        app.post_fn("logout", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    let (code, frames) = closed_with(&mut ws, Duration::from_secs(1)).await;
    let took = started.elapsed();
    assert_eq!(code, Some(4401));
    assert_eq!(frames.last().unwrap()["type"], "bye");
    assert_eq!(frames.last().unwrap()["reason"], "session_ended");
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
}

#[tokio::test]
async fn user_revoke_from_another_process_closes_the_socket_within_a_second() {
    let app = live_app().await;
    let cookie = app.admin_cookie().await;
    let mut ws = subscribed(&app, &cookie).await;
    let out = lookout(&app, &["user", "revoke", "admin"], None);
    assert!(out.status.success());
    let started = Instant::now();
    let (code, _) = closed_with(&mut ws, Duration::from_secs(1)).await;
    assert_eq!(code, Some(4401));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_password_change_closes_the_users_sockets() {
    let app = live_app().await;
    let cookie = app.admin_cookie().await;
    let mut ws = subscribed(&app, &cookie).await;
    let out = lookout(
        &app,
        &["user", "passwd", "admin", "--password-stdin"],
        Some("another-password\n"),
    );
    assert!(out.status.success());
    assert_eq!(
        closed_with(&mut ws, Duration::from_secs(1)).await.0,
        Some(4401)
    );
}

#[tokio::test]
async fn a_socket_never_outlives_its_sessions_absolute_lifetime() {
    let app = spawn_app_with(|c| {
        c.live.sample_every = Duration::from_millis(200);
        c.sessions.max = Duration::from_secs(2);
    })
    .await;
    let cookie = app.admin_cookie().await;
    let mut ws = open(&app, Some(&cookie), None).await.unwrap();
    next_of_type(&mut ws, "hello").await;
    let (code, frames) = closed_with(&mut ws, Duration::from_secs(3)).await;
    assert_eq!(code, Some(4401));
    assert_eq!(frames.last().unwrap()["type"], "bye");
}
