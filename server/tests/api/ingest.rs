//! Pushing samples with API tokens, and reading them back.

use crate::{cli::lookout, helpers::*};
use futures_util::SinkExt;
use lookout::{
    access::tokens::{HostBinding, Scope},
    store::Db,
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub async fn token(app: &TestApp, name: &str, scope: Scope) -> String {
    let db = Db::connect(&app.config.database_url).await.unwrap();
    db.create_token(name, scope, HostBinding::Unbound)
        .await
        .unwrap()
        .expose()
        .to_string()
}

pub async fn push(
    app: &TestApp,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = client_from(None)
        .post(app.url("/api/v1/ingest"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

pub fn batch(host: &str, samples: Vec<Value>) -> String {
    json!({ "host": host, "samples": samples }).to_string()
}

pub fn sample(series: &str, ts: i64, value: f64) -> Value {
    json!({ "series": series, "ts": ts, "value": value })
}

/// GETs `path` with a bearer token and returns the JSON body.
async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    client_from(None)
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn error_of(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn ingest_needs_a_valid_ingest_token() {
    let app = spawn_app().await;
    let body = batch("web-1", vec![sample("cpu.total", now_ms(), 1.0)]);
    let res = push(&app, None, body.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let forged = format!("lk_{}", "A".repeat(43));
    assert_eq!(
        push(&app, Some(&forged), body.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        push(&app, Some("not-a-token"), body.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let read = token(&app, "reader", Scope::Read).await;
    assert_eq!(
        push(&app, Some(&read), body.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    let ingest = token(&app, "pusher", Scope::Ingest).await;
    let res = push(&app, Some(&ingest), body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["accepted"], 1);
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_naming_the_first_bad_sample() {
    let app = spawn_app().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let now = now_ms();
    let cases = [
        (
            batch(
                "web-1",
                vec![sample("ok", now, 1.0), sample("Not OK", now, 1.0)],
            ),
            "sample 1: series \"Not OK\"",
        ),
        (
            batch("web-1", vec![sample("ok", 1_700_000_000, 1.0)]),
            "sample 0: ts 1700000000 is not a time in milliseconds",
        ),
        (
            batch("Web 1", vec![sample("ok", now, 1.0)]),
            "host \"Web 1\"",
        ),
        (batch("web-1", vec![]), "at least one sample"),
        (
            batch(
                "web-1",
                (0..10_001).map(|_| sample("x", now, 1.0)).collect(),
            ),
            "at most 10000",
        ),
        (
            r#"{"host":"web-1","samples":[{"series":"x","ts":1,"value":1e999}]}"#.to_string(),
            "malformed batch",
        ),
        (
            r#"{"host":"web-1","samples":[{"series":"x","ts":1,"value":"NaN"}]}"#.to_string(),
            "malformed batch",
        ),
        ("not json at all".to_string(), "malformed batch"),
        (
            r#"{"host":"web-1","samples":[],"extra":1}"#.to_string(),
            "malformed batch",
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = error_of(push(&app, Some(&t), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}");
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
    }
    // Nothing of the refused batches was kept.
    let read = token(&app, "reader", Scope::Read).await;
    let hosts = get_json(&app, "/api/v1/hosts", &read).await;
    assert!(
        !hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "web-1"),
        "{hosts}"
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let res = push(&app, Some(&t), vec![b' '; 1024 * 1024 + 1]).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.assert_still_serving().await;
}

#[tokio::test]
async fn ingested_hosts_appear_live_on_open_dashboards() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let mut ws = crate::live::open(&app, Some(&cookie), None).await.unwrap();
    crate::live::next_of_type(&mut ws, "hello").await;

    let res = push(
        &app,
        Some(&t),
        batch("web-1", vec![sample("requests", now_ms(), 7.0)]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let hosts = crate::live::next_of_type(&mut ws, "hosts").await;
    assert!(
        hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "web-1"),
        "{hosts}"
    );
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"subscribe","hosts":["web-1"]}"#,
    ))
    .await
    .unwrap();
    let snapshot = crate::live::next_of_type(&mut ws, "snapshot").await;
    assert_eq!(snapshot["series"]["requests"][0][1], 7.0);

    push(
        &app,
        Some(&t),
        batch("web-1", vec![sample("requests", now_ms(), 8.0)]),
    )
    .await;
    let samples = loop {
        let s = crate::live::next_of_type(&mut ws, "samples").await;
        if s["host"] == "web-1" {
            break s;
        }
    };
    assert_eq!(samples["values"]["requests"], 8.0);
}

#[tokio::test]
async fn the_read_api_takes_a_session_a_read_token_or_basic_from_loopback() {
    let app = spawn_app().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let ts = now_ms();
    push(
        &app,
        Some(&t),
        batch("web-1", vec![sample("cpu.total", ts, 42.0)]),
    )
    .await;
    let read = token(&app, "reader", Scope::Read).await;
    let cookie = app.admin_cookie().await;
    let get = |path: &str| client_from(None).get(app.url(path));

    assert_eq!(
        get("/api/v1/hosts").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get("/api/v1/hosts")
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    for req in [
        get("/api/v1/hosts").bearer_auth(&read),
        get("/api/v1/hosts").header(header::COOKIE, &cookie),
        get("/api/v1/hosts").basic_auth(ADMIN, Some(ADMIN_PASSWORD)),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let hosts: Value = res.json().await.unwrap();
        assert!(hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "web-1"));
    }
    let wrong = get("/api/v1/hosts")
        .basic_auth(ADMIN, Some("wrong-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let latest = get_json(&app, "/api/v1/hosts/web-1/latest", &read).await;
    assert_eq!(
        latest,
        json!({ "host": "web-1", "ts": ts, "values": { "cpu.total": 42.0 } })
    );
    let missing = get("/api/v1/hosts/nope/latest")
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn token_commands_create_once_list_without_secrets_and_revoke_at_once() {
    let app = spawn_app().await;
    let out = lookout(
        &app,
        &["token", "create", "agent-1", "--scope", "ingest"],
        None,
    );
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout
        .lines()
        .find(|l| l.starts_with("lk_"))
        .expect(&stdout)
        .to_string();
    let body = batch("web-1", vec![sample("x", now_ms(), 1.0)]);
    assert_eq!(
        push(&app, Some(&secret), body.clone()).await.status(),
        StatusCode::ACCEPTED
    );

    let listed = String::from_utf8(lookout(&app, &["token", "list"], None).stdout).unwrap();
    assert!(
        listed.contains("agent-1") && listed.contains("ingest"),
        "{listed}"
    );
    assert!(!listed.contains(&secret[3..]), "secrets are never listed");
    assert!(!listed.contains("never"), "last use is recorded: {listed}");

    assert!(lookout(&app, &["token", "revoke", "agent-1"], None)
        .status
        .success());
    assert_eq!(
        push(&app, Some(&secret), body).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn stale_samples_are_refused_one_by_one_and_the_rest_of_the_batch_kept() {
    let app = spawn_app().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let now = now_ms();
    let body = batch(
        "web-1",
        vec![
            sample("x", now - 3_600_000, 1.0),
            sample("x", now - 1_000, 2.0),
            sample("x", now - 3_500_000, 3.0),
            sample("x", now, 4.0),
        ],
    );
    let res = push(&app, Some(&t), body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["accepted"], 2, "{answer}");
    assert_eq!(answer["refused"], 2, "{answer}");
    assert_eq!(answer["refusals"][0]["sample"], 0);
    assert!(answer["refusals"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("from the server's clock"));
    let read = token(&app, "reader", Scope::Read).await;
    let latest = get_json(&app, "/api/v1/hosts/web-1/latest", &read).await;
    assert_eq!(latest["ts"], now);
    assert_eq!(latest["values"]["x"], 4.0);
}

#[tokio::test]
async fn samples_arriving_out_of_order_are_kept_in_timestamp_order() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let t = token(&app, "pusher", Scope::Ingest).await;
    let now = now_ms();
    for (ts, value) in [(now, 3.0), (now - 2_000, 1.0), (now - 1_000, 2.0)] {
        let res = push(&app, Some(&t), batch("web-1", vec![sample("x", ts, value)])).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // One batch out of order within itself too.
    let res = push(
        &app,
        Some(&t),
        batch(
            "web-1",
            vec![sample("x", now - 500, 2.5), sample("x", now - 1_500, 1.5)],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let mut ws = crate::live::open(&app, Some(&cookie), None).await.unwrap();
    crate::live::next_of_type(&mut ws, "hello").await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"subscribe","hosts":["web-1"]}"#,
    ))
    .await
    .unwrap();
    let snapshot = crate::live::next_of_type(&mut ws, "snapshot").await;
    let points: Vec<(i64, f64)> = snapshot["series"]["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    assert_eq!(
        points,
        vec![
            (now - 2_000, 1.0),
            (now - 1_500, 1.5),
            (now - 1_000, 2.0),
            (now - 500, 2.5),
            (now, 3.0)
        ]
    );
    let read = token(&app, "reader", Scope::Read).await;
    let latest = get_json(&app, "/api/v1/hosts/web-1/latest", &read).await;
    assert_eq!(
        latest["values"]["x"], 3.0,
        "the newest point is still the latest"
    );
}
