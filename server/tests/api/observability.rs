//! What operators watch: `/healthz`, `/readyz` and `/metrics` (Prometheus' text format),
//! each server with counters of its own.

use crate::{
    helpers::*,
    ingest::{batch, now_ms, push, sample, token},
    live::{next_of_type, open},
};
use futures_util::SinkExt;
use lookout::{access::tokens::Scope, config::PublicOrigin};
use reqwest::{header, StatusCode};
use tokio_tungstenite::tungstenite::Message;

/// The value of the sample `name` (with its labels, as printed) in a metrics text.
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

async fn metrics(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client_from(None).get(app.url("/metrics"));
    for (name, v) in headers {
        req = req.header(*name, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn health_and_readiness_answer_while_the_database_does() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn metrics_count_sign_ins_ingest_frames_sockets_and_requests() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    assert_eq!(
        app.login(ADMIN, "not-the-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let ingest = token(&app, "agent", Scope::Ingest).await;
    let now = now_ms();
    let body = batch(
        "web-1",
        vec![
            sample("cpu.total", now, 10.0),
            sample("cpu.total", now - 3_600_000, 10.0),
        ],
    );
    assert_eq!(
        push(&app, Some(&ingest), body).await.status(),
        StatusCode::ACCEPTED
    );
    let mut ws = open(&app, Some(&cookie), None).await.unwrap();
    next_of_type(&mut ws, "hello").await;
    ws.send(Message::text(r#"{"type":"subscribe","hosts":["web-1"]}"#))
        .await
        .unwrap();
    next_of_type(&mut ws, "snapshot").await;

    let res = metrics(&app, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();
    assert_eq!(value(&text, r#"lookout_sign_ins_total{outcome="ok"}"#), 1.0);
    assert_eq!(
        value(&text, r#"lookout_sign_ins_total{outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"lookout_ingest_samples_total{outcome="accepted"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"lookout_ingest_samples_total{outcome="refused"}"#),
        1.0
    );
    assert_eq!(value(&text, "lookout_open_sockets"), 1.0);
    assert!(
        value(&text, "lookout_frames_sent_total") >= 2.0,
        "hello and snapshot"
    );
    assert_eq!(value(&text, "lookout_slow_clients_dropped_total"), 0.0);
    // The history writes its queue once a tick: wait for the batch's write.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = metrics(&app, &[]).await.text().await.unwrap();
        if value(&text, "lookout_history_write_seconds_count") >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no history write: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        value(
            &text,
            r#"lookout_http_request_duration_seconds_count{method="POST",status="2xx"}"#
        ) >= 2.0,
        "the sign-in and the ingest"
    );
    assert!(
        value(
            &text,
            r#"lookout_http_request_duration_seconds_count{method="POST",status="4xx"}"#
        ) >= 1.0,
        "the refused sign-in"
    );
    assert!(text.contains("# TYPE lookout_http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn metrics_asked_through_a_proxy_or_from_elsewhere_need_a_read_token() {
    let app = spawn_app().await;
    let forwarded = [("x-forwarded-for", "203.0.113.9")];
    let refused = metrics(&app, &forwarded).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(!refused.text().await.unwrap().contains("lookout_"));
    let read = token(&app, "prometheus", Scope::Read).await;
    let ingest = token(&app, "agent", Scope::Ingest).await;
    let with = |t: &str| format!("Bearer {t}");
    let wrong = metrics(&app, &[forwarded[0], ("authorization", &with(&ingest))]).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let ok = metrics(&app, &[forwarded[0], ("authorization", &with(&read))]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("lookout_open_sockets"));
}

#[tokio::test]
async fn a_balancer_and_prometheus_reach_an_instance_by_its_address_and_nothing_else_does() {
    // Behind a proxy with a public name, requests by the instance's own address are
    // refused (421), but for health, readiness and metrics with a token.
    let app = spawn_app_with(|c| {
        c.public_origin = Some(PublicOrigin::parse("https://lookout.example.com").unwrap());
    })
    .await;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        app.get("/login", None).await.status(),
        StatusCode::MISDIRECTED_REQUEST
    );
    // A page whose name was re-pointed here (DNS rebinding) gets no metrics: without a
    // token the host check stops it, and a made-up token is checked even from loopback.
    assert_eq!(
        metrics(&app, &[]).await.status(),
        StatusCode::MISDIRECTED_REQUEST
    );
    let bogus = metrics(&app, &[("authorization", "Bearer lk_made_up")]).await;
    assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);
    assert!(!bogus.text().await.unwrap().contains("lookout_"));
    let read = token(&app, "prometheus", Scope::Read).await;
    let ok = metrics(&app, &[("authorization", &format!("Bearer {read}"))]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("lookout_open_sockets"));
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let app = spawn_app().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["--log-format", "json", "group", "add", "web"])
        .env("LOOKOUT_DATABASE_URL", &app.config.database_url)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let audit = lines
        .iter()
        .find(|l| l["target"] == "audit")
        .unwrap_or_else(|| panic!("an audit line in {stderr}"));
    assert_eq!(audit["event"], "group.created");
    assert_eq!(audit["actor"], "(command line)");
    assert_eq!(audit["level"], "INFO");
}

/// A frame of `ws` that is a `bye`, and the close code after it (within 5 s).
async fn bye_and_close(ws: &mut crate::live::Ws) -> (serde_json::Value, Option<u16>) {
    let (code, frames) = crate::live::closed_with(ws, std::time::Duration::from_secs(5)).await;
    let bye = frames
        .into_iter()
        .find(|f| f["type"] == "bye")
        .expect("a bye before the close");
    (bye, code)
}

#[tokio::test]
async fn sigterm_says_restart_to_every_socket_and_exits_cleanly() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let test_db = TestDb::new();
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let base = format!("127.0.0.1:{port}");
    let mut server = Killed(
        std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["serve", "--addr", &base, "--history", "off"])
            .arg("--database-url")
            .arg(test_db.url())
            .env("LOOKOUT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let client = client_from(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while client
        .get(format!("http://{base}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "the server came up");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let res = client
        .post(format!("http://{base}/api/fn/login"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res).expect("signed in");
    let mut req = format!("ws://{base}/ws").into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    next_of_type(&mut ws, "hello").await;

    let pid = server.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let (bye, code) = bye_and_close(&mut ws).await;
    assert_eq!(bye["reason"], "restart");
    assert_eq!(code, Some(1001), "going away");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "exits within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
