//! Several instances (`--redis-url`): two servers on one database and one Redis, as behind a
//! load balancer. Samples ingested on one reach the other's sockets; sign-outs, user ends and
//! membership changes reach the other's sockets within a second through the bus alone (the
//! other's database poll is turned down to a minute, so that only the bus can be in time);
//! wrong passwords add up in one throttle; a Redis that goes away and comes back makes
//! `/readyz` fail and recover with no restart. Each test needs `LOOKOUT_TEST_REDIS` and
//! skips, saying so, without it.

use crate::helpers::*;
use crate::{
    cli::{add_user, run},
    groups::{cookie_of, token, PASSWORD},
    ingest::{batch, now_ms, push, sample},
    live::{closed_with, next_of_type, open, Ws},
};
use futures_util::SinkExt;
use lookout::config::{Config, RedisConfig};
use reqwest::StatusCode;
use serde_json::Value;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::Message;

/// A poll so slow that whatever arrives within a second came over the bus.
const NO_POLL: Duration = Duration::from_secs(60);

fn on<'a>(redis: &'a RedisConfig, host: &'static str) -> impl FnOnce(&mut Config) + 'a {
    move |c: &mut Config| {
        c.redis = Some(redis.clone());
        c.live.sample_every = Duration::from_millis(200);
        c.live.host_name = host.into();
    }
}

/// Instance A, and instance B on the same database and Redis, with B's poll turned down.
async fn pair(redis: &RedisConfig) -> (TestApp, TestApp) {
    let a = spawn_app_with(on(redis, "box-a")).await;
    let b = spawn_sibling(&a, |c| {
        on(redis, "box-b")(c);
        c.changes_poll = NO_POLL;
    })
    .await;
    for app in [&a, &b] {
        ready_within(app, Duration::from_secs(5)).await;
    }
    (a, b)
}

/// Waits until `/readyz` answers 200 (subscribed to the bus); panics after `within`.
async fn ready_within(app: &TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let res = app.get("/readyz", None).await;
        if res.status() == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not ready after {within:?}: {}",
            res.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `/readyz` answers 503; returns its body.
async fn unready_within(app: &TestApp, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let res = app.get("/readyz", None).await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            return res.text().await.unwrap();
        }
        assert_eq!(res.status(), StatusCode::OK);
        assert!(started.elapsed() < within, "still ready after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An ingest token for `host` (in `group`, if any).
fn ingest_token(app: &TestApp, host: &str, group: Option<&str>) -> String {
    let mut args = vec!["token", "create", host, "--scope", "ingest", "--host", host];
    if let Some(group) = group {
        args.extend(["--group", group]);
    }
    token(app, &args)
}

async fn push_one(app: &TestApp, token: &str, host: &str, value: f64) {
    let body = batch(host, vec![sample("cpu.total", now_ms(), value)]);
    assert_eq!(
        push(app, Some(token), body).await.status(),
        StatusCode::ACCEPTED
    );
}

/// Reads frames until a `hosts` (or `hello`) frame lists `host`.
async fn until_listed(ws: &mut Ws, host: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, next_of_type(ws, "hosts"))
            .await
            .unwrap_or_else(|_| panic!("{host} not listed within 5 s"));
        if frame["hosts"].as_array().unwrap().iter().any(|h| h == host) {
            return;
        }
    }
}

/// Reads `samples` frames until one carries `value` for `host`; how long it took.
async fn until_value(ws: &mut Ws, host: &str, value: f64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        let frame = tokio::time::timeout(left, next_of_type(ws, "samples"))
            .await
            .unwrap_or_else(|_| panic!("no samples of {host} = {value} within {within:?}"));
        if frame["host"] == host && frame["values"]["cpu.total"] == value {
            return started.elapsed();
        }
    }
}

async fn socket(app: &TestApp, cookie: &str) -> (Ws, Value) {
    let mut ws = open(app, Some(cookie), None).await.expect("socket opens");
    let hello = next_of_type(&mut ws, "hello").await;
    (ws, hello)
}

async fn subscribe(ws: &mut Ws, host: &str) -> Value {
    ws.send(Message::text(format!(
        r#"{{"type":"subscribe","hosts":["{host}"]}}"#
    )))
    .await
    .unwrap();
    next_of_type(ws, "snapshot").await
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_the_other_and_samples_cross_over() {
    let Some(redis) = test_redis() else { return };
    let (a, b) = pair(&redis).await;
    let cookie = a.admin_cookie().await;
    assert!(
        b.is_signed_in(&cookie).await,
        "the session is in the shared database"
    );

    let (mut ws, _) = socket(&b, &cookie).await;
    let token = ingest_token(&a, "web-1", None);
    push_one(&a, &token, "web-1", 1.5).await;
    until_listed(&mut ws, "web-1").await;
    let snapshot = subscribe(&mut ws, "web-1").await;
    assert_eq!(snapshot["series"]["cpu.total"][0][1], 1.5, "{snapshot}");

    let mut took = Vec::new();
    for i in 0..20 {
        let value = 100.0 + f64::from(i);
        let started = Instant::now();
        push_one(&a, &token, "web-1", value).await;
        until_value(&mut ws, "web-1", value, Duration::from_secs(2)).await;
        took.push(started.elapsed());
    }
    took.sort();
    eprintln!(
        "ingest on A → socket on B (HTTP round trip included): median {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // A's own machine shows on B, and B's own on B as ever.
    subscribe(&mut ws, "box-b").await;
    until_listed_or_known(&b, &cookie, "box-a").await;
    assert!(b.stats.bus_messages.with_label_values(&["received"]).get() > 0);
    assert!(a.stats.bus_messages.with_label_values(&["published"]).get() > 0);
    assert_eq!(
        b.stats.bus_messages.with_label_values(&["malformed"]).get(),
        0
    );
}

/// Whether a fresh socket on `app` lists `host` (now or within a few seconds).
async fn until_listed_or_known(app: &TestApp, cookie: &str, host: &str) {
    let (mut ws, hello) = socket(app, cookie).await;
    if hello["hosts"].as_array().unwrap().iter().any(|h| h == host) {
        return;
    }
    until_listed(&mut ws, host).await;
}

#[tokio::test]
async fn signing_out_on_one_instance_closes_the_socket_on_the_other_within_a_second() {
    let Some(redis) = test_redis() else { return };
    let (a, b) = pair(&redis).await;
    let cookie = a.admin_cookie().await;
    let (mut ws, _) = socket(&b, &cookie).await;
    let started = Instant::now();
    assert_eq!(
        a.post_fn("logout", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    let (code, frames) = closed_with(&mut ws, Duration::from_secs(1)).await;
    let took = started.elapsed();
    eprintln!("sign-out on A: B's socket closed after {took:?}");
    assert_eq!(code, Some(4401));
    assert_eq!(frames.last().unwrap()["reason"], "session_ended");
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    assert!(!b.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn user_level_ends_on_one_instance_close_the_users_sockets_on_the_other() {
    let Some(redis) = test_redis() else { return };
    let (a, b) = pair(&redis).await;
    let admin = a.admin_cookie().await;
    for user in ["carol", "dave", "erin"] {
        add_user(&a, user, PASSWORD);
    }
    for (user, endpoint, form) in [
        (
            "carol",
            "set_user_disabled",
            vec![("username", "carol"), ("disabled", "true")],
        ),
        (
            "dave",
            "set_user_role",
            vec![("username", "dave"), ("role", "admin")],
        ),
        ("erin", "remove_user", vec![("username", "erin")]),
    ] {
        // Two sessions, two sockets, both on B.
        let (one, two) = (cookie_of(&a, user).await, cookie_of(&b, user).await);
        let (mut ws1, _) = socket(&b, &one).await;
        let (mut ws2, _) = socket(&b, &two).await;
        let started = Instant::now();
        let res = call(&a, endpoint, &admin, &form).await;
        assert_eq!(res.status(), StatusCode::OK, "{endpoint}");
        for ws in [&mut ws1, &mut ws2] {
            let (code, _) = closed_with(ws, Duration::from_secs(1)).await;
            assert_eq!(code, Some(4401), "{endpoint}");
        }
        let took = started.elapsed();
        eprintln!("{endpoint} on A: both of {user}'s sockets on B closed after {took:?}");
        assert!(took < Duration::from_secs(1), "{endpoint}: after {took:?}");
    }
}

/// Reads `hello` or `hosts` frames until one lists exactly `hosts`; panics after 5 s.
async fn until_hosts(ws: &mut Ws, first: &Value, hosts: &[&str]) {
    let listed = |frame: &Value| {
        let mut names: Vec<&str> = frame["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        names.sort_unstable();
        names == hosts
    };
    if listed(first) {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, next_of_type(ws, "hosts"))
            .await
            .unwrap_or_else(|_| panic!("not {hosts:?} within 5 s"));
        if listed(&frame) {
            return;
        }
    }
}

#[tokio::test]
async fn membership_and_host_moves_on_one_instance_narrow_the_socket_on_the_other_within_a_second()
{
    let Some(redis) = test_redis() else { return };
    let (a, b) = pair(&redis).await;
    // Made from the command line: A finds it at its next poll and tells B over the bus.
    run(&a, &["group", "add", "db"]);
    run(&a, &["group", "add", "staging"]);
    add_user(&a, "sibling", PASSWORD);
    run(&a, &["group", "member", "add", "db", "sibling"]);
    run(&a, &["group", "member", "add", "staging", "sibling"]);
    let db = ingest_token(&a, "db-1", Some("db"));
    let stage = ingest_token(&a, "stage-1", Some("staging"));
    push_one(&a, &db, "db-1", 1.0).await;
    push_one(&a, &stage, "stage-1", 2.0).await;

    let cookie = cookie_of(&b, "sibling").await;
    let (mut ws, hello) = socket(&b, &cookie).await;
    until_hosts(&mut ws, &hello, &["db-1", "stage-1"]).await;
    subscribe(&mut ws, "db-1").await;
    let admin = a.admin_cookie().await;

    let started = Instant::now();
    let res = call(
        &a,
        "remove_member",
        &admin,
        &[("group", "db"), ("username", "sibling")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hosts = next_of_type(&mut ws, "hosts").await;
    let took = started.elapsed();
    eprintln!("member removed on A: B's socket narrowed after {took:?}");
    assert!(took < Duration::from_secs(1), "narrowed after {took:?}");
    assert_eq!(hosts["hosts"], serde_json::json!(["stage-1"]));

    let started = Instant::now();
    let res = call(
        &a,
        "move_host",
        &admin,
        &[("host", "stage-1"), ("group", "db")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hosts = next_of_type(&mut ws, "hosts").await;
    let took = started.elapsed();
    eprintln!("host moved on A: B's socket narrowed after {took:?}");
    assert!(took < Duration::from_secs(1), "narrowed after {took:?}");
    assert_eq!(hosts["hosts"], serde_json::json!([]));

    // Neither host's samples reach it any more.
    push_one(&a, &db, "db-1", 3.0).await;
    push_one(&a, &stage, "stage-1", 4.0).await;
    let quiet =
        tokio::time::timeout(Duration::from_secs(1), next_of_type(&mut ws, "samples")).await;
    assert!(quiet.is_err(), "a sample it may not see: {quiet:?}");
}

#[tokio::test]
async fn wrong_passwords_on_either_instance_add_up_in_one_throttle() {
    let Some(redis) = test_redis() else { return };
    let (a, b) = pair(&redis).await;
    add_user(&a, "frank", PASSWORD);
    // Five misses per account and address (the default), spread over the two.
    for app in [&a, &b, &a, &b, &a] {
        let res = app.login("frank", "not-the-password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    for app in [&b, &a] {
        let res = app.login("frank", PASSWORD).await;
        assert_eq!(
            res.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "counted across instances"
        );
        let wait: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&wait), "Retry-After {wait}");
    }
    // The owner, from another address, is not locked out anywhere.
    let other = Some("127.0.0.2".parse().unwrap());
    assert_eq!(
        b.login_from(other, "frank", PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// A `redis-server` of the test's own on `port` (never the shared one: it is stopped).
fn private_redis(port: u16) -> Child {
    Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (LOOKOUT_TEST_REDIS is set, so Redis is installed)")
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Kills the child when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn redis_stopped_and_started_makes_readyz_fail_then_recover_with_no_restart() {
    let Some(_) = test_redis() else { return };
    let port = free_port();
    let mut server = Killed(private_redis(port));
    let redis = redis_at(&format!("redis://127.0.0.1:{port}"));
    let (a, b) = pair(&redis).await;
    let cookie = a.admin_cookie().await;
    let (mut ws, _) = socket(&b, &cookie).await;
    subscribe(&mut ws, "box-b").await;

    let _ = server.0.kill();
    let _ = server.0.wait();
    let body = unready_within(&b, Duration::from_secs(5)).await;
    eprintln!("Redis stopped: B's /readyz says {body:?}");
    assert!(body.contains("Redis"), "{body}");
    unready_within(&a, Duration::from_secs(5)).await;
    assert_eq!(b.stats.redis_connected.get(), 0);
    // B keeps serving its own sockets and sign-ins.
    next_of_type(&mut ws, "samples").await;
    assert!(b.is_signed_in(&cookie).await);
    assert_eq!(
        b.login(ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Sign-outs still reach the other instance, through the database as before (A's poll
    // runs at its default).
    let other = b.admin_cookie().await;
    let (mut doomed, _) = socket(&a, &other).await;
    assert_eq!(
        b.post_fn("logout", Some(&other)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        closed_with(&mut doomed, Duration::from_secs(1)).await.0,
        Some(4401)
    );

    server = Killed(private_redis(port));
    let took = ready_within(&b, Duration::from_secs(10)).await;
    eprintln!("Redis started again: B ready after {took:?}");
    ready_within(&a, Duration::from_secs(10)).await;
    assert_eq!(b.stats.redis_connected.get(), 1);
    // The bus carries samples again.
    let token = ingest_token(&a, "web-2", None);
    push_one(&a, &token, "web-2", 7.0).await;
    until_listed(&mut ws, "web-2").await;
    subscribe(&mut ws, "web-2").await;
    push_one(&a, &token, "web-2", 8.0).await;
    until_value(&mut ws, "web-2", 8.0, Duration::from_secs(2)).await;
    drop(server);
}
