//! The fleet: the overview stream, sockets that get only what they asked for, history
//! that survives restarts, and hosts that stop reporting or are removed.

use crate::{
    helpers::*,
    ingest::{batch, now_ms, push, sample},
    live::{next_of_type, open, Ws},
};
use futures_util::{SinkExt, StreamExt};
use lookout::{
    access::tokens::{HostBinding, Scope},
    store::Db,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn fleet_app() -> TestApp {
    spawn_app_with(|c| {
        c.live.sample_every = Duration::from_millis(200);
        c.live.host_name = "test-host".into();
    })
    .await
}

/// An ingest token that may write any host.
async fn fleet_token(app: &TestApp) -> String {
    let db = Db::connect(&app.config.database_url).await.unwrap();
    let hosts = HostBinding::parse("*").unwrap();
    db.create_token("fleet", Scope::Ingest, hosts)
        .await
        .unwrap()
        .expose()
        .to_string()
}

/// Reads overview frames until one has a row for `host`.
async fn row_of(ws: &mut Ws, host: &str) -> Value {
    loop {
        let frame = next_of_type(ws, "overview").await;
        if let Some(row) = frame["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == host)
        {
            return row.clone();
        }
    }
}

async fn socket(app: &TestApp, cookie: &str, subscribe: &str) -> Ws {
    let mut ws = open(app, Some(cookie), None).await.expect("socket");
    next_of_type(&mut ws, "hello").await;
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    ws
}

/// Every text frame that arrives within `window`.
async fn frames_within(ws: &mut Ws, window: Duration) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Text(text) = message {
            seen.push(serde_json::from_str(&text).unwrap());
        }
    }
    seen
}

fn row_hosts(frame: &Value) -> Vec<&str> {
    frame["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_overview_starts_full_then_sends_only_the_rows_that_changed() {
    let app = fleet_app().await;
    let ingest = fleet_token(&app).await;
    for host in ["web-1", "web-2"] {
        let body = batch(host, vec![sample("cpu.total", now_ms(), 10.0)]);
        assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
    }
    let cookie = app.admin_cookie().await;
    let mut ws = socket(&app, &cookie, r#"{"type":"subscribe","overview":true}"#).await;

    let full = next_of_type(&mut ws, "overview").await;
    assert_eq!(full["full"], true);
    assert!(full["thresholds"]["stale_after_ms"].is_number(), "{full}");
    // Pushed a moment ago: in the full frame, or in a tick after it.
    let mut seen: Vec<String> = row_hosts(&full).into_iter().map(String::from).collect();
    while !(seen.iter().any(|h| h == "web-1") && seen.iter().any(|h| h == "web-2")) {
        let frame = next_of_type(&mut ws, "overview").await;
        seen.extend(row_hosts(&frame).into_iter().map(String::from));
    }

    // One host sends; the next frames about web-* carry web-2 and never web-1.
    let ts = now_ms();
    let body = batch("web-2", vec![sample("cpu.total", ts, 42.0)]);
    assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
    let row = loop {
        let frame = next_of_type(&mut ws, "overview").await;
        assert_eq!(frame["full"], false);
        assert!(!row_hosts(&frame).contains(&"web-1"), "{frame}");
        if let Some(row) = frame["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == "web-2")
        {
            break row.clone();
        }
    };
    assert_eq!(row[1], ts, "last seen");
    assert_eq!(row[2], 42.0, "cpu");
    assert_eq!(
        row[9],
        serde_json::json!([42.0]),
        "only the new trace value"
    );
}

#[tokio::test]
async fn a_socket_streams_only_what_it_subscribed_to() {
    let app = fleet_app().await;
    let ingest = fleet_token(&app).await;
    for host in ["web-1", "web-2"] {
        let body = batch(host, vec![sample("cpu.total", now_ms(), 1.0)]);
        assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
    }
    let cookie = app.admin_cookie().await;
    let mut one_host = socket(&app, &cookie, r#"{"type":"subscribe","hosts":["web-1"]}"#).await;
    let mut overview = socket(&app, &cookie, r#"{"type":"subscribe","overview":true}"#).await;
    next_of_type(&mut one_host, "snapshot").await;
    next_of_type(&mut overview, "overview").await;

    for round in 0..5 {
        for host in ["web-1", "web-2"] {
            let body = batch(host, vec![sample("cpu.total", now_ms() + round, 2.0)]);
            assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = frames_within(&mut one_host, Duration::from_millis(800)).await;
    assert!(seen.iter().any(|f| f["type"] == "samples"), "{seen:?}");
    for frame in &seen {
        assert!(
            frame["type"] == "samples" && frame["host"] == "web-1",
            "a one-host socket got {frame}"
        );
    }
    let seen = frames_within(&mut overview, Duration::from_millis(800)).await;
    assert!(!seen.is_empty());
    for frame in &seen {
        assert_eq!(frame["type"], "overview", "an overview socket got {frame}");
    }

    // Unsubscribing stops the stream.
    one_host
        .send(Message::text(r#"{"type":"unsubscribe","hosts":["web-1"]}"#))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    frames_within(&mut one_host, Duration::from_millis(100)).await;
    let body = batch("web-1", vec![sample("cpu.total", now_ms(), 3.0)]);
    assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
    let seen = frames_within(&mut one_host, Duration::from_millis(600)).await;
    assert!(seen.is_empty(), "after unsubscribing: {seen:?}");
}

#[tokio::test]
async fn a_host_removed_from_the_command_line_leaves_the_overview() {
    let app = fleet_app().await;
    let ingest = fleet_token(&app).await;
    let body = batch("gone-1", vec![sample("cpu.total", now_ms(), 1.0)]);
    assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
    let cookie = app.admin_cookie().await;
    let mut ws = socket(&app, &cookie, r#"{"type":"subscribe","overview":true}"#).await;
    row_of(&mut ws, "gone-1").await;

    let out = crate::cli::lookout(&app, &["host", "remove", "gone-1"], None);
    assert!(out.status.success(), "{out:?}");
    let removed = loop {
        let frame = next_of_type(&mut ws, "overview").await;
        if let Some(removed) = frame["removed"].as_array() {
            break removed.clone();
        }
    };
    assert_eq!(removed, vec![Value::from("gone-1")]);
    let res = app.get("/api/v1/hosts/gone-1/latest", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
