//! `lookout serve`'s live flags, parsed as the command line parses them, each with its
//! effect on a real server.

use crate::{
    helpers::*,
    ingest::{batch, now_ms, push, sample, token},
    live::{next_of_type, open, Ws},
};
use futures_util::SinkExt;
use lookout::{
    access::tokens::Scope,
    config::{Config, ServeArgs},
};
use reqwest::StatusCode;
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use tokio_tungstenite::tungstenite::Message;

const HOST: &str = "flagged-host";

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A server started from `lookout serve` flags: sampled every 200 ms, 2 s of history,
/// published as `flagged-host`, taking ingested samples up to 10 s off its clock.
async fn flagged_app() -> TestApp {
    use clap::Parser;
    let dir = Arc::new(TestDb::new());
    let url = dir.url().to_owned();
    let cli = Cli::try_parse_from([
        "lookout",
        "--database-url",
        &url,
        "--addr",
        "127.0.0.1:0",
        "--sample-interval",
        "200ms",
        "--retention",
        "2s",
        "--host-name",
        HOST,
        "--ingest-max-skew",
        "10s",
    ])
    .expect("flags");
    let mut config = Config::from_args(cli.serve).expect("config");
    config.admin_password = Some(ADMIN_PASSWORD.into());
    let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
    spawn_app_on(listener, config, dir).await
}

/// A socket subscribed to `flagged-host`, and the snapshot it got.
async fn subscribed(app: &TestApp, cookie: &str) -> (Ws, Value) {
    let mut ws = open(app, Some(cookie), None).await.expect("socket");
    next_of_type(&mut ws, "hello").await;
    ws.send(Message::text(format!(
        r#"{{"type":"subscribe","hosts":["{HOST}"]}}"#
    )))
    .await
    .unwrap();
    let snapshot = next_of_type(&mut ws, "snapshot").await;
    assert_eq!(snapshot["host"], HOST);
    (ws, snapshot)
}

async fn next_sample_of_host(ws: &mut Ws) -> Value {
    loop {
        let frame = next_of_type(ws, "samples").await;
        if frame["host"] == HOST {
            return frame;
        }
    }
}

#[tokio::test]
async fn the_host_name_flag_names_this_machine_on_dashboards() {
    let app = flagged_app().await;
    let cookie = app.admin_cookie().await;
    // The first sample may not have been taken when the first socket says hello.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let hosts = loop {
        let mut ws = open(&app, Some(&cookie), None).await.expect("socket");
        let hello = next_of_type(&mut ws, "hello").await;
        let hosts: Vec<String> = serde_json::from_value(hello["hosts"].clone()).unwrap();
        if !hosts.is_empty() || std::time::Instant::now() > deadline {
            break hosts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(hosts, [HOST]);
    let (_, snapshot) = subscribed(&app, &cookie).await;
    assert!(snapshot["series"]["cpu.total"].is_array(), "{snapshot}");
}

#[tokio::test]
async fn the_sample_interval_flag_sets_how_often_this_machine_is_sampled() {
    let app = flagged_app().await;
    let cookie = app.admin_cookie().await;
    let (mut ws, _) = subscribed(&app, &cookie).await;
    let first = next_sample_of_host(&mut ws).await["ts"].as_i64().unwrap();
    let mut last = first;
    for _ in 0..5 {
        last = next_sample_of_host(&mut ws).await["ts"].as_i64().unwrap();
    }
    // Five intervals, against the 1 s default.
    let every = (last - first) / 5;
    assert!((1..600).contains(&every), "sampled every {every} ms");
}

#[tokio::test]
async fn the_retention_flag_bounds_the_history_a_dashboard_gets() {
    let app = flagged_app().await;
    let cookie = app.admin_cookie().await;
    let (mut ws, _) = subscribed(&app, &cookie).await;
    // 15 ticks (3 s at 200 ms): more than 2 s of history could hold.
    for _ in 0..15 {
        next_sample_of_host(&mut ws).await;
    }
    let (_, snapshot) = subscribed(&app, &cookie).await;
    let series = snapshot["series"].as_object().expect("series");
    assert!(series.contains_key("cpu.total"), "{snapshot}");
    for (name, points) in series {
        let kept = points.as_array().unwrap().len();
        // 2 s at 200 ms, and one tick of tolerance.
        assert!((1..=11).contains(&kept), "{kept} points of {name}");
    }
}

#[tokio::test]
async fn the_ingest_max_skew_flag_sets_which_samples_are_refused() {
    let app = flagged_app().await;
    let pusher = token(&app, "pusher", Scope::Ingest).await;
    for (ago_ms, accepted, refused) in [(30_000, 0, 1), (5_000, 1, 0)] {
        let res = push(
            &app,
            Some(&pusher),
            batch("pushed-host", vec![sample("x", now_ms() - ago_ms, 1.0)]),
        )
        .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{ago_ms} ms ago");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["accepted"], accepted, "{ago_ms} ms ago: {body}");
        assert_eq!(body["refused"], refused, "{ago_ms} ms ago: {body}");
    }
}
