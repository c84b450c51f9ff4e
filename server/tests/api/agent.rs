//! `lookout agent` as a separate process against a test server.

use crate::{helpers::*, ingest::now_ms};
use futures_util::SinkExt;
use lookout::{
    access::tokens::{ApiToken, HostBinding, Scope},
    store::Db,
};
use serde_json::Value;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tokio::net::{TcpListener, TcpStream};

/// Kills the agent when the test ends, pass or fail.
struct Agent {
    child: Child,
    /// The token file's directory, kept while the agent runs.
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(server: &str, token: &str) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
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
    Agent { child, _dir: dir }
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

/// An ingest token for the agent and a read token for the test, on the database at `url`.
async fn agent_tokens(url: &str) -> (ApiToken, ApiToken) {
    let db = Db::connect(url).await.unwrap();
    let ingest = db
        .create_token("agent", Scope::Ingest, HostBinding::Unbound)
        .await
        .unwrap();
    let read = db
        .create_token("reader", Scope::Read, HostBinding::Unbound)
        .await
        .unwrap();
    (ingest, read)
}

#[tokio::test]
async fn the_agent_makes_its_host_appear_and_update() {
    let app = spawn_app().await;
    let (ingest, read) = agent_tokens(&app.config.database_url).await;
    let _agent = start_agent(&app.url(""), ingest.expose());

    let first = wait_for_latest(&app, read.expose(), 0).await;
    assert!(first["values"]["cpu.total"].is_number(), "{first}");
    let second = wait_for_latest(&app, read.expose(), first["ts"].as_i64().unwrap()).await;
    assert!(second["ts"].as_i64() > first["ts"].as_i64());
}

/// The agent's next connection attempt, accepted (within 30 s). Dropping it refuses the
/// attempt, as a host with nothing listening would.
async fn next_attempt(listener: &TcpListener) -> TcpStream {
    tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("the agent tries again within 30 s")
        .expect("accept")
        .0
}

/// Relays one connection to the server, as if the agent had reached it directly.
fn relay(mut stream: TcpStream, server: std::net::SocketAddr) {
    tokio::spawn(async move {
        let mut upstream = TcpStream::connect(server).await.expect("server");
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
    });
}

/// The history a dashboard gets for agent-host: each series' sample times, oldest first.
async fn agent_host_history(app: &TestApp) -> Vec<(String, Vec<i64>)> {
    let cookie = app.admin_cookie().await;
    let mut ws = crate::live::open(app, Some(&cookie), None).await.unwrap();
    crate::live::next_of_type(&mut ws, "hello").await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"subscribe","hosts":["agent-host"]}"#,
    ))
    .await
    .unwrap();
    let snapshot = crate::live::next_of_type(&mut ws, "snapshot").await;
    snapshot["series"]
        .as_object()
        .expect("series")
        .iter()
        .map(|(name, points)| {
            let ts = points
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[0].as_i64().unwrap())
                .collect();
            (name.clone(), ts)
        })
        .collect()
}

fn oldest_of(history: &[(String, Vec<i64>)], series: &str) -> i64 {
    history
        .iter()
        .find(|(name, _)| name == series)
        .and_then(|(_, ts)| ts.first().copied())
        .unwrap_or_else(|| panic!("no {series} in {history:?}"))
}

/// An ingest and a read token on the database at `url`, and an agent pushing with the
/// first to a port the test holds (and answers, or not, as it likes).
async fn agent_on_own_port(url: &str) -> (ApiToken, TcpListener, Agent) {
    let (ingest, read) = agent_tokens(url).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent = start_agent(
        &format!("http://{}", listener.local_addr().unwrap()),
        ingest.expose(),
    );
    (read, listener, agent)
}

#[tokio::test]
async fn the_agent_keeps_samples_while_the_server_is_down_and_sends_them_later() {
    let (config, dir) = test_config(|_| {});
    // The test owns the port throughout: refused while "down", then the server's.
    let (read, listener, _agent) = agent_on_own_port(&config.database_url).await;

    // Every attempt follows a sample; two refused attempts, so samples were kept a while.
    for _ in 0..2 {
        drop(next_attempt(&listener).await);
    }
    let handover = now_ms();
    let app = spawn_app_on(listener, config, dir).await;
    wait_for_latest(&app, read.expose(), 0).await;

    let history = agent_host_history(&app).await;
    let oldest = oldest_of(&history, "cpu.total");
    assert!(
        oldest < handover,
        "oldest sample {oldest} vs the server coming up at {handover}"
    );
}

#[tokio::test]
async fn after_an_outage_longer_than_the_skew_window_the_agent_keeps_what_the_server_still_accepts()
{
    const SKEW_MS: i64 = 2_000;
    let app = spawn_app_with(|c| c.live.max_skew = Duration::from_millis(SKEW_MS as u64)).await;
    let (read, listener, _agent) = agent_on_own_port(&app.config.database_url).await;

    // Refused for 3.5 s (the agent backs off 1 s, 2 s, 4 s): its backlog then spans more
    // than the server's skew window. The attempt that ends the outage reaches the server
    // at once, with samples both older and younger than the window.
    drop(next_attempt(&listener).await);
    let first = Instant::now();
    let held = loop {
        let attempt = next_attempt(&listener).await;
        if first.elapsed() >= Duration::from_millis(3_500) {
            break attempt;
        }
        drop(attempt);
    };
    let handover = now_ms();
    let server = app.addr;
    relay(held, server);
    let relaying = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            relay(stream, server);
        }
    });
    wait_for_latest(&app, read.expose(), 0).await;
    let history = agent_host_history(&app).await;
    relaying.abort();

    // The backlog's samples still inside the window were kept…
    let oldest = oldest_of(&history, "cpu.total");
    assert!(
        oldest < handover,
        "oldest sample {oldest} vs the outage ending at {handover}"
    );
    // …and the stale ones refused, one by one.
    let oldest = history
        .iter()
        .filter_map(|(_, ts)| ts.first())
        .min()
        .unwrap();
    assert!(
        *oldest >= handover - SKEW_MS - 1_000,
        "a sample {} ms before the outage ended was kept",
        handover - oldest
    );
}
