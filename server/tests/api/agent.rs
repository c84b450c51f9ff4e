//! `lookout agent` as a separate process against a test server.

use crate::helpers::*;
use futures_util::SinkExt;
use lookout::{
    access::tokens::{HostBinding, Scope},
    store::Db,
};
use serde_json::Value;
use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Kills the agent when the test ends, pass or fail.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(server: &str, token: &str, dir: &std::path::Path) -> Agent {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args([
            "agent",
            "--server",
            server,
            "--host-name",
            "agent-host",
            "--interval",
            "200ms",
        ])
        .arg("--token-file")
        .arg(&token_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start agent");
    Agent(child)
}

async fn latest(app: &TestApp, read: &str) -> Option<Value> {
    let res = client_from(None)
        .get(app.url("/api/v1/hosts/agent-host/latest"))
        .bearer_auth(read)
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

async fn wait_for_latest(app: &TestApp, read: &str, newer_than: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = latest(app, read).await {
            if v["ts"].as_i64().unwrap() > newer_than {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "agent-host did not update within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_agent_makes_its_host_appear_and_update() {
    let app = spawn_app().await;
    let db = Db::connect(&app.config.database_url).await.unwrap();
    let ingest = db
        .create_token("agent", Scope::Ingest, HostBinding::Unbound)
        .await
        .unwrap();
    let read = db
        .create_token("reader", Scope::Read, HostBinding::Unbound)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _agent = start_agent(&app.url(""), ingest.expose(), dir.path());

    let first = wait_for_latest(&app, read.expose(), 0).await;
    assert!(first["values"]["cpu.total"].is_number(), "{first}");
    let second = wait_for_latest(&app, read.expose(), first["ts"].as_i64().unwrap()).await;
    assert!(second["ts"].as_i64() > first["ts"].as_i64());
}

#[tokio::test]
async fn the_agent_keeps_samples_while_the_server_is_down_and_sends_them_later() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lookout.db").display());
    let db = Db::connect(&url).await.unwrap();
    let ingest = db
        .create_token("agent", Scope::Ingest, HostBinding::Unbound)
        .await
        .unwrap();
    let read = db
        .create_token("reader", Scope::Read, HostBinding::Unbound)
        .await
        .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    // The agent starts first, against a server that is not there yet.
    let _agent = start_agent(
        &format!("http://127.0.0.1:{port}"),
        ingest.expose(),
        dir.path(),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server_started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let app = spawn_app_with(|c| {
        c.addr = format!("127.0.0.1:{port}").parse().unwrap();
        c.database_url = url.clone();
    })
    .await;
    wait_for_latest(&app, read.expose(), 0).await;

    // The history holds samples from before the server was up.
    let cookie = app.admin_cookie().await;
    let mut ws = crate::live::open(&app, Some(&cookie), None).await.unwrap();
    crate::live::next_of_type(&mut ws, "hello").await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"subscribe","hosts":["agent-host"]}"#,
    ))
    .await
    .unwrap();
    let snapshot = crate::live::next_of_type(&mut ws, "snapshot").await;
    let first_ts = snapshot["series"]["cpu.total"][0][0].as_i64().unwrap();
    assert!(
        first_ts < server_started - 500,
        "oldest sample {first_ts} vs server start {server_started}"
    );
}
