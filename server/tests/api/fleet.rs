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
pub async fn frames_within(ws: &mut Ws, window: Duration) -> Vec<Value> {
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
    for path in ["/api/v1/hosts/gone-1/latest", "/api/v1/hosts/gone-1/series"] {
        let res = app.get(path, Some(&cookie)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let audit = Db::connect(&app.config.database_url)
        .await
        .unwrap()
        .recent_audit(10)
        .await
        .unwrap();
    assert!(audit
        .iter()
        .any(|row| row.event == "host.removed" && row.detail.as_deref() == Some("gone-1")));

    // Its stored data went with it: a restart does not bring it back.
    let app = app.restart().await;
    let cookie = app.admin_cookie().await;
    let res = app.get("/api/v1/hosts/gone-1/series", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let out = crate::cli::lookout(&app, &["host", "remove", "gone-1"], None);
    assert!(!out.status.success(), "removing it twice says so");
}

/// GETs a read-API path with the session cookie: the status and the JSON body.
async fn read(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, Value) {
    let res = app.get(path, Some(cookie)).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn points_of(body: &Value) -> Vec<(i64, f64)> {
    body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn history_survives_a_restart_and_answers_the_api() {
    let app = fleet_app().await;
    let ingest = fleet_token(&app).await;
    // A minute of samples, a few minutes old, in three batches.
    let start = now_ms() - 4 * 60_000;
    let expected: Vec<(i64, f64)> = (0..60)
        .map(|i| (start + i * 1_000, i as f64 / 4.0))
        .collect();
    for chunk in expected.chunks(20) {
        let samples = chunk
            .iter()
            .flat_map(|&(ts, v)| {
                [
                    sample("app.queue_depth", ts, v),
                    sample("cpu.total", ts, 50.0),
                ]
            })
            .collect();
        let res = push(&app, Some(&ingest), batch("web-1", samples)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let app = app.restart().await;
    let cookie = app.admin_cookie().await;

    let (status, list) = read(&app, &cookie, "/api/v1/hosts/web-1/series").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["series"],
        serde_json::json!(["app.queue_depth", "cpu.total"])
    );

    let path = format!(
        "/api/v1/hosts/web-1/series/app.queue_depth?from={}&to={}",
        start - 1,
        start + 60_000
    );
    let (status, body) = read(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["series"], "app.queue_depth");
    assert_eq!(body["tier"], "raw");
    assert_eq!(points_of(&body), expected);

    // A longer range comes from the 1-minute rollups: min and max ride along.
    let path = format!(
        "/api/v1/hosts/web-1/series/app.queue_depth?from={}&to={}",
        start - 23 * 3_600_000,
        start + 3_600_000
    );
    let (status, body) = read(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tier"], "1m");
    let rolled = body["points"].as_array().unwrap();
    assert!(!rolled.is_empty());
    assert!(
        rolled.iter().all(|p| p.as_array().unwrap().len() == 4),
        "{body}"
    );
    let low = rolled
        .iter()
        .map(|p| p[2].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let high = rolled
        .iter()
        .map(|p| p[3].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!((low, high), (0.0, 59.0 / 4.0));

    // The host that stopped reporting is still listed, as it was.
    let mut ws = socket(&app, &cookie, r#"{"type":"subscribe","overview":true}"#).await;
    let full = next_of_type(&mut ws, "overview").await;
    let row = full["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "web-1")
        .cloned()
        .expect("web-1 in the overview after a restart");
    assert_eq!(row[1], start + 59_000, "last seen before the restart");
}

#[tokio::test]
async fn the_history_api_refuses_bad_ranges_unknown_names_and_strangers() {
    let app = fleet_app().await;
    let ingest = fleet_token(&app).await;
    let body = batch("web-1", vec![sample("cpu.total", now_ms(), 1.0)]);
    assert_eq!(push(&app, Some(&ingest), body).await.status(), 202);
    let cookie = app.admin_cookie().await;

    for (path, want) in [
        ("/api/v1/hosts/nope/series", StatusCode::NOT_FOUND),
        ("/api/v1/hosts/nope/series/cpu.total", StatusCode::NOT_FOUND),
        ("/api/v1/hosts/web-1/series/nope", StatusCode::NOT_FOUND),
        (
            "/api/v1/hosts/web-1/series/cpu.total?from=tomorrow",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/hosts/web-1/series/cpu.total?from=5&to=4",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/hosts/web-1/series/cpu.total?step=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/hosts/web-1/series/cpu.total?from=0",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = read(&app, &cookie, path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: a message, got {body}");
    }
    for path in [
        "/api/v1/hosts/web-1/series",
        "/api/v1/hosts/web-1/series/cpu.total",
    ] {
        assert_eq!(
            app.get(path, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let from = "2026-01-01T00:00:00Z";
    let path = format!("/api/v1/hosts/web-1/series/cpu.total?from={from}");
    assert_eq!(read(&app, &cookie, &path).await.0, StatusCode::OK);
}

/// A `lookout serve` process of its own on `db_url`, so that it can be killed with SIGKILL.
struct ServerProcess {
    child: std::process::Child,
    base: String,
}

impl ServerProcess {
    async fn start(db_url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--database-url", db_url, "--max-hosts-per-token", "1000"])
            .env("LOOKOUT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(|child| Self {
                child,
                base: format!("http://127.0.0.1:{port}"),
            })
            .expect("start lookout serve");
        let client = client_from(None);
        for _ in 0..200 {
            if let Ok(res) = client.get(format!("{}/healthz", server.base)).send().await {
                if res.status() == StatusCode::OK {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Dropping it kills and reaps the process.
        panic!("lookout serve did not come up");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn kill_9_during_ingest_keeps_everything_but_the_last_seconds_and_a_sound_database() {
    let test_db = TestDb::new();
    let db_url = test_db.url().to_owned();
    let mut server = ServerProcess::start(&db_url).await;
    let ingest = {
        let db = Db::connect(&db_url).await.unwrap();
        db.create_token("fleet", Scope::Ingest, HostBinding::parse("*").unwrap())
            .await
            .unwrap()
            .expose()
            .to_string()
    };
    // Ten batches a second for six seconds: four hosts, each tick 1 s apart.
    let client = client_from(None);
    let start = now_ms() - 60_000;
    let mut accepted: Vec<(tokio::time::Instant, i64)> = Vec::new();
    for i in 0..60 {
        let ts = start + i * 1_000;
        for host in ["k-1", "k-2", "k-3", "k-4"] {
            let body = batch(
                host,
                vec![
                    sample("app.jobs", ts, i as f64),
                    sample("cpu.total", ts, 1.0),
                ],
            );
            let res = client
                .post(format!("{}/api/v1/ingest", server.base))
                .bearer_auth(&ingest)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::ACCEPTED);
        }
        accepted.push((tokio::time::Instant::now(), ts));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let killed_at = tokio::time::Instant::now();

    // The database opens (migrations run), and SQLite finds nothing wrong with it.
    let db = Db::connect(&db_url)
        .await
        .expect("the database opens after kill -9");
    if !test_db.is_postgres() {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }

    // Everything accepted more than three seconds before the kill is there.
    let server = ServerProcess::start(&db_url).await;
    let kept: Vec<i64> = accepted
        .iter()
        .filter(|(at, _)| killed_at.duration_since(*at) > Duration::from_secs(3))
        .map(|(_, ts)| *ts)
        .collect();
    assert!(kept.len() >= 20, "the test pushed for long enough");
    for host in ["k-1", "k-4"] {
        let res = client
            .get(format!(
                "{}/api/v1/hosts/{host}/series/app.jobs?from={}&to={}",
                server.base,
                start,
                start + 60_000
            ))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let stored: Vec<i64> = points_of(&res.json().await.unwrap())
            .into_iter()
            .map(|(ts, _)| ts)
            .collect();
        let missing: Vec<&i64> = kept.iter().filter(|ts| !stored.contains(ts)).collect();
        assert!(
            missing.is_empty(),
            "{host}: lost {} of {}: {missing:?}",
            missing.len(),
            kept.len()
        );
    }
}

#[tokio::test]
async fn a_host_that_never_had_a_row_is_not_taken_for_a_removed_one() {
    // The server's own machine under an earlier --host-name: stored, but never ingested.
    let app = spawn_app_with(|c| {
        c.live.sample_every = Duration::from_millis(200);
        c.live.host_name = "old-name".into();
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (mut config, dir) = app.stop().await;
    config.live.host_name = "new-name".into();
    let app = start_app(config, dir).await;
    let cookie = app.admin_cookie().await;
    let res = app
        .get("/api/v1/hosts/old-name/series", Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "stored before the restart");
    // Past a few removal checks.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let res = app
        .get("/api/v1/hosts/old-name/series", Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hosts: Value = app
        .get("/api/v1/hosts", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        hosts["hosts"]
            .as_array()
            .unwrap()
            .contains(&Value::from("old-name")),
        "{hosts}"
    );
}
