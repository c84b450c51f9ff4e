//! The attack cases: what a hostile client, a spoofing proxy user or a flood of bad input
//! tries, and what the server answers. Each one keeps serving everyone else.

use crate::{
    helpers::*,
    ingest::{batch, now_ms, push, sample, token},
    live::{closed_with, next_of_type, open, status_of, Ws},
};
use futures_util::{future::join_all, SinkExt};
use lookout::{
    access::tokens::{HostBinding, Scope},
    stats::Stats,
    store::{Db, Kind},
};
use reqwest::{header, StatusCode};
use serde_json::Value;
use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Message},
    MaybeTlsStream,
};

#[tokio::test]
async fn a_megabyte_username_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let huge = "a".repeat(1024 * 1024);
    let res = app.login(&huge, ADMIN_PASSWORD).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(session_cookie(&res).is_none());
    app.assert_still_serving().await;
    assert_eq!(
        app.login(ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_long_username_within_the_body_limit_is_just_a_failed_sign_in() {
    let app = spawn_app().await;
    let res = app.login(&"a".repeat(10_000), ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_bodies_get_400_and_no_session() {
    let app = spawn_app().await;
    let bodies: [(&str, Vec<u8>); 4] = [
        (
            "application/x-www-form-urlencoded",
            b"username=admin".to_vec(),
        ),
        ("application/x-www-form-urlencoded", b"%%%=&&&[[[".to_vec()),
        ("application/json", br#"{"username": ["#.to_vec()),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0x00, 0x80],
        ),
    ];
    for (content_type, body) in bodies {
        let res = client_from(None)
            .post(app.url("/api/fn/login"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body:?}");
        assert!(session_cookie(&res).is_none());
        let text = res.text().await.unwrap();
        assert!(text.len() < 200 && !text.contains("panicked"), "{text}");
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn an_overlong_password_is_a_400() {
    let app = spawn_app().await;
    let res = app.login(ADMIN, &"p".repeat(129)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&res).is_none());
}

#[tokio::test]
async fn a_cross_site_post_is_refused_even_with_good_credentials() {
    let app = spawn_app().await;
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("origin", "null"),
    ] {
        let res = app
            .login_with(
                &[(name, value)],
                &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(session_cookie(&res).is_none());
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_cross_site_sign_out_does_not_end_the_session() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let res = client_from(None)
        .post(app.url("/api/fn/logout"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(app.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn a_same_origin_browser_post_is_accepted() {
    let app = spawn_app().await;
    let res = app
        .login_with(
            &[
                ("origin", &format!("http://{}", app.addr)),
                ("sec-fetch-site", "same-origin"),
            ],
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_out_is_not_a_get() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let res = app.get("/api/fn/logout", Some(&cookie)).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(app.is_signed_in(&cookie).await);
}

// ---- Sign-in ----------------------------------------------------------------------

fn wrong(password: &str) -> [(&'static str, &str); 2] {
    [("username", ADMIN), ("password", password)]
}

#[tokio::test]
async fn concurrent_wrong_guesses_are_counted_before_hashing() {
    let app = spawn_app().await;
    let before = Stats::get(&app.stats.password_checks);
    let statuses = join_all((0..40).map(|i| {
        let app = &app;
        async move { app.login(ADMIN, &format!("wrong-guess-{i}")).await.status() }
    }))
    .await;
    let checked = Stats::get(&app.stats.password_checks) - before;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked, 5, "only the allowed attempts reach the hasher");
    assert_eq!(refused, 35, "{statuses:?}");
}

#[tokio::test]
async fn spoofed_forwarding_headers_without_a_trusted_proxy_change_nothing() {
    let app = spawn_app().await;
    for i in 0..6u8 {
        let xff = format!("198.51.100.{i}");
        let forwarded = format!("for=203.0.113.{i}");
        let res = app
            .login_with(
                &[("x-forwarded-for", &xff), ("forwarded", &forwarded)],
                &wrong("wrong-password"),
            )
            .await;
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(res.status(), expected, "attempt {i}");
    }
}

async fn behind_proxy() -> TestApp {
    spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await
}

#[tokio::test]
async fn lockout_from_one_address_does_not_stop_another_signing_in_behind_a_proxy() {
    let app = behind_proxy().await;
    let attacker = [("x-forwarded-for", "6.6.6.6, 198.51.100.7")];
    for _ in 0..5 {
        let res = app.login_with(&attacker, &wrong("guess")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login_with(&attacker, &wrong(ADMIN_PASSWORD)).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "strict per address"
    );
    assert!(res.headers().contains_key(header::RETRY_AFTER));

    let owner = app
        .login_with(
            &[("x-forwarded-for", "198.51.100.8")],
            &wrong(ADMIN_PASSWORD),
        )
        .await;
    assert_eq!(owner.status(), StatusCode::OK);
    assert!(session_cookie(&owner).is_some());

    let db = Db::connect(&app.config.database_url).await.unwrap();
    let rows = db.recent_audit(20).await.unwrap();
    assert_eq!(rows[0].event, "login.success");
    assert_eq!(rows[0].ip.as_deref(), Some("198.51.100.8"));
    assert!(rows
        .iter()
        .any(|r| r.event == "login.throttled" && r.ip.as_deref() == Some("198.51.100.7")));
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let app = behind_proxy().await;
    for i in 1..=5 {
        let xff = format!("2001:db8:1:2::{i}");
        let res = app
            .login_with(&[("x-forwarded-for", &xff)], &wrong("guess"))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let same_64 = app
        .login_with(
            &[("x-forwarded-for", "2001:db8:1:2:ffff:1:2:3")],
            &wrong(ADMIN_PASSWORD),
        )
        .await;
    assert_eq!(same_64.status(), StatusCode::TOO_MANY_REQUESTS);
    let other_64 = app
        .login_with(
            &[("x-forwarded-for", "[2001:db8:1:3::1]:4711")],
            &wrong(ADMIN_PASSWORD),
        )
        .await;
    assert_eq!(other_64.status(), StatusCode::OK);
}

// ---- Sockets ------------------------------------------------------------------------

/// The most bytes the kernel may hold for one loopback socket a test does not read: the
/// server's send buffer at its largest, plus the client's fixed receive buffer.
fn kernel_buffers(client_rcvbuf: u32) -> usize {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(16 * 1024 * 1024);
    wmem_max + 2 * client_rcvbuf as usize
}

const RCVBUF: u32 = 64 * 1024;

/// A dashboard socket subscribed to host `bulk` that, from now on, reads nothing, with a
/// small fixed receive buffer; and its local address, to find its connection on the server.
async fn stalled_reader(app: &TestApp, cookie: &str) -> (Ws, SocketAddr) {
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(RCVBUF).unwrap();
    let stream = tcp.connect(app.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    next_of_type(&mut ws, "hello").await;
    ws.send(Message::text(r#"{"type":"subscribe","hosts":["bulk"]}"#))
        .await
        .unwrap();
    next_of_type(&mut ws, "snapshot").await;
    (ws, local)
}

/// Pushes large ticks of host `bulk` (10,000 series, about 0.5 MB encoded each) until the
/// kernel buffers of a reader that reads nothing are full, plus `extra` more.
async fn flood(app: &TestApp, pusher: &str, extra: usize) {
    let series: Vec<String> = (0..10_000)
        .map(|i| format!("bulk.series.{i:05}.{}", "x".repeat(20)))
        .collect();
    let frame_bytes = 10_000 * (series[0].len() + 6);
    let ticks = kernel_buffers(RCVBUF) / frame_bytes + 2 + extra;
    for _ in 0..ticks {
        let ts = now_ms();
        let body = batch("bulk", series.iter().map(|s| sample(s, ts, 1.5)).collect());
        assert_eq!(
            push(app, Some(pusher), body).await.status(),
            StatusCode::ACCEPTED
        );
    }
}

async fn bulk_app(tweak: impl FnOnce(&mut lookout::config::Config)) -> (TestApp, String, String) {
    let app = spawn_app_with(|c| {
        c.live.max_series_per_host = 20_000;
        c.live.retention = Duration::from_secs(2);
        tweak(c);
    })
    .await;
    let cookie = app.admin_cookie().await;
    let pusher = token(&app, "pusher", Scope::Ingest).await;
    let first = batch("bulk", vec![sample("x", now_ms(), 1.0)]);
    assert!(push(&app, Some(&pusher), first).await.status().is_success());
    (app, cookie, pusher)
}

#[tokio::test]
async fn a_socket_that_reads_nothing_is_closed_within_a_second_of_sign_out() {
    // Neither too slow nor past its send deadline yet: only the sign-out can end it.
    let (app, cookie, pusher) = bulk_app(|c| {
        c.live.queue = 4096;
        c.live.send_timeout = Duration::from_secs(120);
    })
    .await;
    let (_ws, local) = stalled_reader(&app, &cookie).await;
    flood(&app, &pusher, 2).await;
    assert!(server_holds_connection(app.addr, local));

    let started = Instant::now();
    assert_eq!(
        app.post_fn("logout", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    connection_dropped_within(app.addr, local, Duration::from_secs(3)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "connection closed after {took:?}"
    );
}

/// A reader that reads nothing, flooded: the server must drop its connection on its own
/// (seen from the server's side, the client reading nothing), count it as slow, and go on
/// serving everyone else.
async fn dropped_without_reading(queue: usize, send_timeout: Duration, extra_ticks: usize) {
    let (app, cookie, pusher) = bulk_app(|c| {
        c.live.queue = queue;
        c.live.send_timeout = send_timeout;
    })
    .await;
    let (_ws, local) = stalled_reader(&app, &cookie).await;
    flood(&app, &pusher, extra_ticks).await;
    connection_dropped_within(app.addr, local, Duration::from_secs(5)).await;
    assert!(Stats::get(&app.stats.slow_sockets_dropped) >= 1);
    let mut fresh = open(&app, Some(&cookie), None).await.unwrap();
    next_of_type(&mut fresh, "hello").await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_socket_that_reads_nothing_is_dropped_when_its_queue_overflows() {
    dropped_without_reading(4, Duration::from_secs(120), 8).await;
}

#[tokio::test]
async fn a_peer_that_cannot_take_a_frame_in_time_is_dropped() {
    dropped_without_reading(4096, Duration::from_secs(1), 2).await;
}

#[tokio::test]
async fn sockets_are_capped_per_session_and_per_address() {
    let app = spawn_app_with(|c| c.live.max_sockets_per_address = 20).await;
    let first = app.admin_cookie().await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(
            open(&app, Some(&first), None)
                .await
                .expect("within the session cap"),
        );
    }
    let refused = open(&app, Some(&first), None).await.unwrap_err();
    assert_eq!(status_of(refused), 429, "the 17th socket of one session");

    let second = app.admin_cookie().await;
    for _ in 0..4 {
        held.push(
            open(&app, Some(&second), None)
                .await
                .expect("within the address cap"),
        );
    }
    let refused = open(&app, Some(&second), None).await.unwrap_err();
    assert_eq!(status_of(refused), 429, "the 21st socket from one address");

    // Closing one frees its place.
    let mut closing = held.pop().unwrap();
    closing.close(None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match open(&app, Some(&second), None).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("no place freed: {e}"),
        }
    }
}

#[tokio::test]
async fn idle_sockets_are_closed_and_pinging_ones_kept() {
    let app = spawn_app_with(|c| c.live.idle_timeout = Duration::from_secs(1)).await;
    let cookie = app.admin_cookie().await;
    let mut quiet = open(&app, Some(&cookie), None).await.unwrap();
    let mut pinging = open(&app, Some(&cookie), None).await.unwrap();
    let keep_pinging = async {
        next_of_type(&mut pinging, "hello").await;
        for _ in 0..8 {
            pinging
                .send(Message::text(r#"{"type":"ping"}"#))
                .await
                .unwrap();
            next_of_type(&mut pinging, "pong").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let ((code, frames), ()) = tokio::join!(
        closed_with(&mut quiet, Duration::from_secs(3)),
        keep_pinging
    );
    assert_eq!(code, Some(1000));
    assert_eq!(frames.last().unwrap()["reason"], "idle");
}

#[tokio::test]
async fn oversized_frames_get_a_1009_close_not_a_torn_connection() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    for size in [70 * 1024, 1024 * 1024] {
        let mut ws = open(&app, Some(&cookie), None).await.unwrap();
        next_of_type(&mut ws, "hello").await;
        let body = format!(r#"{{"type":"ping","pad":"{}"}}"#, "a".repeat(size));
        ws.send(Message::text(body)).await.unwrap();
        let (code, _) = closed_with(&mut ws, Duration::from_secs(3)).await;
        assert_eq!(code, Some(1009), "{size} bytes");
    }
    app.assert_still_serving().await;
}

// ---- HTTP ---------------------------------------------------------------------------

async fn connect_from(local: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server has closed `stream` (reads end or fail) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_headers_do_not_keep_their_connections_or_stop_others_signing_in() {
    let app = spawn_app_with(|c| c.connections.header_read_timeout = Duration::from_secs(2)).await;
    let trickler: IpAddr = "127.0.0.2".parse().unwrap();
    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(connect_from(trickler, app.addr).await);
    }
    let dribble = async {
        // One header byte every 500 ms, for longer than the timeout; half of them as the
        // start of an HTTP/2 preface, which must not buy time before the timer starts.
        for i in 0..8 {
            for (n, stream) in slow.iter_mut().enumerate() {
                let start: &[u8] = if n % 2 == 0 { b"GET / HT" } else { b"PRI * HT" };
                let _ = stream.write_all(&start[i..=i]).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let sign_in = async {
        let started = Instant::now();
        let res = app.login(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        started.elapsed()
    };
    let ((), took) = tokio::join!(dribble, sign_in);
    assert!(took < Duration::from_secs(2), "sign-in took {took:?}");
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream, Duration::from_secs(3)).await,
            "slow connection {i} still open"
        );
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_closed_at_once() {
    let app = spawn_app_with(|c| c.connections.max_per_address = 10).await;
    let crowd: IpAddr = "127.0.0.3".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect_from(crowd, app.addr).await);
    }
    let mut extra = connect_from(crowd, app.addr).await;
    assert!(closed_by_server(&mut extra, Duration::from_secs(2)).await);
    assert_eq!(
        app.login(ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    drop(held);
}

/// Sends raw request head (and body bytes), returns the response's status line.
async fn raw_request(app: &TestApp, head: &str, body: &[u8], within: Duration) -> String {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(within, stream.read(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn ingest_checks_the_token_before_reading_the_body() {
    let app = spawn_app().await;
    let forged = format!("lk_{}", "A".repeat(43));
    for auth in [format!("Authorization: Bearer {forged}\r\n"), String::new()] {
        let head = format!(
            "POST /api/v1/ingest HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 1000000\r\n\r\n",
            app.addr
        );
        let status = raw_request(&app, &head, b"", Duration::from_secs(2)).await;
        assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    }
}

#[tokio::test]
async fn a_body_trickled_too_slowly_gets_408() {
    let app = spawn_app_with(|c| c.connections.body_timeout = Duration::from_secs(1)).await;
    let pusher = token(&app, "pusher", Scope::Ingest).await;
    let head = format!(
        "POST /api/v1/ingest HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {pusher}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        app.addr
    );
    let status = raw_request(&app, &head, b"{\"host\":", Duration::from_secs(4)).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_foreign_host_name_gets_421() {
    let app = spawn_app().await;
    let port = app.addr.port();
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.example:{port}"),
    ] {
        let res = client_from(None)
            .get(app.url("/login"))
            .header(header::HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
        let res = client_from(None)
            .post(app.url("/api/fn/login"))
            .header(header::HOST, &host)
            .form(&wrong(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".into(),
    ] {
        let res = client_from(None)
            .get(app.url("/login"))
            .header(header::HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{host}");
    }
}

// ---- Ingest -------------------------------------------------------------------------

async fn bound_token(app: &TestApp, name: &str, hosts: &str) -> String {
    let db = Db::connect(&app.config.database_url).await.unwrap();
    db.create_token(name, Scope::Ingest, HostBinding::parse(hosts).unwrap())
        .await
        .unwrap()
        .expose()
        .to_string()
}

fn one(host: &str) -> String {
    batch(host, vec![sample("x", now_ms(), 1.0)])
}

#[tokio::test]
async fn a_bound_token_cannot_write_a_foreign_host_nor_the_servers_own() {
    let app = spawn_app().await;
    let web = bound_token(&app, "web", "web-*").await;
    assert_eq!(
        push(&app, Some(&web), one("web-1")).await.status(),
        StatusCode::ACCEPTED
    );
    let res = push(&app, Some(&web), one("db-1")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("db-1"), "{body}");

    // Made without --host: bound to the first host it writes, and shown so.
    let first = token(&app, "first", Scope::Ingest).await;
    assert_eq!(
        push(&app, Some(&first), one("cache-1")).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        push(&app, Some(&first), one("cache-2")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        push(&app, Some(&first), one("cache-1")).await.status(),
        StatusCode::ACCEPTED
    );
    let db = Db::connect(&app.config.database_url).await.unwrap();
    let tokens = db.list_tokens().await.unwrap();
    let shown = tokens.iter().find(|t| t.name == "first").unwrap();
    assert_eq!(shown.hosts, HostBinding::Exact("cache-1".into()));

    let everything = bound_token(&app, "everything", "*").await;
    let own = app.config.live.host_name.clone();
    assert_eq!(
        push(&app, Some(&everything), one(&own)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn batches_over_the_series_or_host_caps_get_422_and_old_series_go_on() {
    let app = spawn_app_with(|c| {
        c.live.max_series_per_host = 5;
        c.live.max_hosts_per_token = 3;
    })
    .await;
    let t = bound_token(&app, "fleet", "node-*").await;
    let series = |names: &[&str]| {
        let ts = now_ms();
        batch("node-1", names.iter().map(|n| sample(n, ts, 1.0)).collect())
    };
    let ok = push(&app, Some(&t), series(&["a", "b", "c", "d", "e"])).await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let over = push(&app, Some(&t), series(&["a", "f"])).await;
    assert_eq!(over.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = over.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--max-series-per-host"),
        "{body}"
    );
    let again = push(&app, Some(&t), series(&["a", "b"])).await;
    assert_eq!(
        again.status(),
        StatusCode::ACCEPTED,
        "existing series keep working"
    );

    for host in ["node-2", "node-3"] {
        assert_eq!(
            push(&app, Some(&t), one(host)).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let over = push(&app, Some(&t), one("node-4")).await;
    assert_eq!(over.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = over.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--max-hosts-per-token"),
        "{body}"
    );
    assert_eq!(
        push(&app, Some(&t), one("node-2")).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn extreme_timestamps_are_400_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let bodies = [
        format!(
            r#"{{"host":"h","samples":[{{"series":"x","ts":{},"value":1}}]}}"#,
            i64::MAX
        ),
        format!(
            r#"{{"host":"h","samples":[{{"series":"x","ts":{},"value":1}}]}}"#,
            i64::MIN
        ),
        r#"{"host":"h","samples":[{"series":"x","ts":1e308,"value":1}]}"#.to_string(),
        r#"{"host":"h","samples":[{"series":"x","ts":99999999999999999999999,"value":1}]}"#
            .to_string(),
    ];
    for body in bodies {
        let res = push(&app, Some(&t), body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    app.assert_still_serving().await;
    assert_eq!(
        push(&app, Some(&t), one("h")).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn history_queries_stay_bounded_however_wide_or_fine_the_ask() {
    let app = spawn_app().await;
    let ingest = token(&app, "pusher", Scope::Ingest).await;
    let now = now_ms();
    let samples = (0..600)
        .map(|i| sample("x", now - 290_000 + i * 400, 1.0))
        .collect();
    assert_eq!(
        push(&app, Some(&ingest), batch("web-1", samples))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let cookie = app.admin_cookie().await;
    // The widest range allowed, at the finest step, many times at once.
    let wide = format!(
        "/api/v1/hosts/web-1/series/x?from={}&to={now}&step=1",
        now - 399 * 86_400_000
    );
    let answers = join_all((0..20).map(|_| app.get(&wide, Some(&cookie)))).await;
    for res in answers {
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        let points = body["points"].as_array().unwrap().len();
        assert!(points <= 10_000, "{points} points in one answer");
    }
    // Names that are not names, and ranges that are not ranges, are clear 4xx.
    for path in [
        "/api/v1/hosts/..%2F..%2Fetc/series",
        "/api/v1/hosts/web-1/series/x%00y",
        "/api/v1/hosts/web-1/series/x?from=-9223372036854775808&to=9223372036854775807",
        "/api/v1/hosts/web-1/series/x?step=99999999999999999999",
    ] {
        let res = app.get(path, Some(&cookie)).await;
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn ingest_keeps_answering_while_another_writer_holds_the_database() {
    let app = spawn_app().await;
    let ingest = token(&app, "pusher", Scope::Ingest).await;
    let body = || batch("web-1", vec![sample("x", now_ms(), 1.0)]);
    assert_eq!(
        push(&app, Some(&ingest), body()).await.status(),
        StatusCode::ACCEPTED
    );

    // The token's last use is old enough to be written again.
    let db = Db::connect(&app.config.database_url).await.unwrap();
    sqlx::query("UPDATE api_tokens SET last_used_at = last_used_at - 120")
        .execute(db.pool())
        .await
        .unwrap();
    // Another writer (a seal of many series, the CLI) holds SQLite's write lock, or on
    // PostgreSQL the write locks of every table ingest writes. Forty batches must neither
    // wait for it nor leave writes waiting on the pool's connections.
    let mut conn = db.pool().acquire().await.unwrap();
    let lock = match db.kind() {
        Kind::Sqlite => "BEGIN IMMEDIATE",
        Kind::Postgres => {
            "BEGIN; LOCK TABLE api_tokens, hosts, history_series, history_blocks, history_wal \
             IN EXCLUSIVE MODE"
        }
    };
    sqlx::raw_sql(lock).execute(&mut *conn).await.unwrap();
    let started = Instant::now();
    for _ in 0..40 {
        assert_eq!(
            push(&app, Some(&ingest), body()).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let took = started.elapsed();
    sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
    assert!(
        took < Duration::from_secs(2),
        "forty batches took {took:?} behind the lock"
    );
}

#[tokio::test]
async fn the_second_step_refuses_missing_forged_and_huge_challenges_and_codes() {
    use crate::two_factor::{enrol, first_step, second_step};
    let app = spawn_app().await;
    crate::cli::add_user(&app, "tess", crate::groups::PASSWORD);
    let cookie = crate::groups::cookie_of(&app, "tess").await;
    enrol(&app, &cookie).await;
    let challenge = first_step(&app, "tess").await;
    let forged = format!("lookout_2fa={}", "A".repeat(43));
    for (cookie, code) in [
        ("", "123456".to_string()),
        (forged.as_str(), "123456".to_string()),
        ("lookout_2fa=", "123456".to_string()),
        (challenge.as_str(), "9".repeat(100_000)),
        (challenge.as_str(), "\u{0}\u{202e}<script>".to_string()),
    ] {
        let res = second_step(&app, cookie, &code).await;
        assert!(res.status().is_client_error(), "{}", res.status());
        assert!(session_cookie(&res).is_none());
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn racing_second_steps_with_one_code_make_one_session() {
    use crate::two_factor::{enrol, first_step, now, second_step};
    use lookout::auth::two_factor::{code_at, STEP_SECS};
    let app = spawn_app().await;
    crate::cli::add_user(&app, "tess", crate::groups::PASSWORD);
    let cookie = crate::groups::cookie_of(&app, "tess").await;
    let (secret, _) = enrol(&app, &cookie).await;
    let challenge = first_step(&app, "tess").await;
    let code = code_at(&secret, now() + STEP_SECS).unwrap();
    let answers = join_all((0..12).map(|_| second_step(&app, &challenge, &code))).await;
    let sessions = answers
        .iter()
        .filter(|res| session_cookie(res).is_some())
        .count();
    assert_eq!(sessions, 1, "one code, one challenge: one session");
}

#[tokio::test]
async fn a_cross_site_admin_action_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    crate::cli::add_user(&app, "target", crate::groups::PASSWORD);
    let admin = app.admin_cookie().await;
    let res = client_from(None)
        .post(app.url("/api/fn/remove_user"))
        .header(header::COOKIE, &admin)
        .header(header::ORIGIN, "http://evil.example")
        .form(&[("username", "target")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(crate::cli::run(&app, &["user", "list"]).contains("target"));
}

#[tokio::test]
async fn oversized_and_malformed_admin_forms_are_4xx_and_create_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_cookie().await;
    let huge = "g".repeat(1024 * 1024);
    for form in [
        vec![("name", huge.as_str())],
        vec![("name", "Bad Name!")],
        vec![("name", "")],
        vec![("name", "ok"), ("parent", "no-such-group")],
    ] {
        let res = call(&app, "create_group", &admin, &form).await;
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    for form in [
        vec![("group", "root"), ("uses", "-1"), ("expires_days", "7")],
        vec![
            ("group", "root"),
            ("uses", "1"),
            ("expires_days", "99999999999999999999"),
        ],
        vec![("group", "nope"), ("uses", "1"), ("expires_days", "7")],
    ] {
        let res = call(&app, "create_invite", &admin, &form).await;
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let groups = crate::cli::run(&app, &["group", "list"]);
    assert_eq!(groups.lines().count(), 2, "only root: {groups}");
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_client_that_stalls_the_handshake_is_dropped_and_others_served() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with({
        let dir = dir.path().to_path_buf();
        move |c| {
            c.tls = Some(lookout::config::Tls::SelfSigned {
                dir,
                names: vec!["127.0.0.1".into()],
            });
            c.connections.header_read_timeout = std::time::Duration::from_millis(500);
        }
    })
    .await;
    // Connects and says nothing: no handshake.
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let res = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("https://{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "others are served meanwhile");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(3), silent.read(&mut buf))
        .await
        .expect("closed by the server within the handshake timeout");
    assert_eq!(read.unwrap_or(0), 0, "closed, nothing sent");
}

#[tokio::test]
async fn malformed_messages_on_the_redis_bus_are_counted_logged_and_ignored() {
    let Some(redis) = test_redis() else { return };
    let app = spawn_app_with(|c| {
        c.redis = Some(redis.clone());
        c.live.sample_every = Duration::from_millis(200);
        c.live.host_name = "test-host".into();
    })
    .await;
    let started = Instant::now();
    while app.get("/readyz", None).await.status() != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cookie = app.admin_cookie().await;
    let mut ws = crate::live::subscribed(&app, &cookie).await;

    let client = ::redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("{}:bus", redis.prefix);
    let now = now_ms();
    let hostile: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        vec![0xff, 0xfe, 0x00],
        br#"{"shutdown":{"from":"x"}}"#.to_vec(),
        br#"{"samples":{"from":"x","host":"web-1"}}"#.to_vec(),
        format!(r#"{{"samples":{{"from":"x","host":"Bad Host","ticks":{{"{now}":{{"x":1}}}}}}}}"#)
            .into_bytes(),
        format!(
            r#"{{"samples":{{"from":"x","host":"web-1","ticks":{{"{now}":{{"../etc":1}}}}}}}}"#
        )
        .into_bytes(),
        br#"{"samples":{"from":"x","host":"web-1","ticks":{"-1":{"x":1}}}}"#.to_vec(),
        br#"{"sessions_ended":{"from":"x","sessions":["<script>alert(1)</script>"]}}"#.to_vec(),
        vec![b'['; 5 * 1024 * 1024],
        format!(
            r#"{{"access_changed":{{"from":"x","version":"{}"}}}}"#,
            "9".repeat(100)
        )
        .into_bytes(),
    ];
    for payload in &hostile {
        let _: i64 = ::redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload.as_slice())
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // Samples for the server's own host name from elsewhere are not mixed into its own.
    let own = format!(
        r#"{{"samples":{{"from":"x","host":"test-host","ticks":{{"{now}":{{"cpu.total":-7}}}}}}}}"#
    );
    // A good message after them: once it shows, every one before it was handled.
    let good = format!(
        r#"{{"samples":{{"from":"x","host":"web-9","ticks":{{"{now}":{{"cpu.total":5}}}}}}}}"#
    );
    for payload in [own, good] {
        let _: i64 = ::redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "the good message never arrived");
        let frame = next_of_type(&mut ws, "samples").await;
        if frame["host"] == "test-host" {
            assert_ne!(frame["values"]["cpu.total"], -7.0, "{frame}");
        }
        if app
            .stats
            .bus_messages
            .with_label_values(&["received"])
            .get()
            > 0
        {
            break;
        }
    }
    assert_eq!(
        app.stats
            .bus_messages
            .with_label_values(&["malformed"])
            .get(),
        hostile.len() as u64
    );
    assert_eq!(
        app.stats
            .bus_messages
            .with_label_values(&["received"])
            .get(),
        1,
        "only the good one"
    );
    assert!(captured_logs().contains("ignored a message on the Redis bus"));
    app.assert_still_serving().await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    next_of_type(&mut ws, "samples").await;
}
