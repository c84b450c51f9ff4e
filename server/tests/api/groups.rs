//! Groups decide who sees which host, on every surface: the API, the host page and the
//! socket (hello, subscriptions, overview). Changes made from the command line narrow or
//! widen open sockets within a second.

use crate::{
    cli::{add_user, audit_events, lookout, run},
    fleet::frames_within,
    helpers::*,
    ingest::{batch, now_ms, push, sample},
    live::{next_of_type, open, Ws},
};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub const PASSWORD: &str = "a-long-enough-password";

/// The last line a `token create` printed: the token.
pub fn token(app: &TestApp, args: &[&str]) -> String {
    run(app, args).lines().last().unwrap().trim().to_string()
}

pub async fn cookie_of(app: &TestApp, name: &str) -> String {
    let res = app.login(name, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "{name} signs in");
    session_cookie(&res).unwrap()
}

/// root ─ ops ─ db      (db-1)
///      └ staging        (stage-1)
/// Users: `owner` owns db, `parent` is a member of ops, `sibling` of staging, `nobody` of
/// no group.
pub async fn fleet() -> TestApp {
    let app = spawn_app_with(|c| {
        c.live.sample_every = Duration::from_millis(200);
        c.live.host_name = "test-host".into();
    })
    .await;
    run(&app, &["group", "add", "ops"]);
    run(&app, &["group", "add", "db", "--parent", "ops"]);
    run(&app, &["group", "add", "staging"]);
    for user in ["owner", "parent", "sibling", "nobody"] {
        add_user(&app, user, PASSWORD);
    }
    run(&app, &["group", "member", "add", "db", "owner", "--owner"]);
    run(&app, &["group", "member", "add", "ops", "parent"]);
    run(&app, &["group", "member", "add", "staging", "sibling"]);
    for (host, group) in [("db-1", "db"), ("stage-1", "staging")] {
        let token = token(
            &app,
            &[
                "token", "create", host, "--scope", "ingest", "--host", host, "--group", group,
            ],
        );
        let body = batch(host, vec![sample("cpu.total", now_ms(), 12.5)]);
        assert_eq!(
            push(&app, Some(&token), body).await.status(),
            StatusCode::ACCEPTED
        );
    }
    app
}

fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn row_hosts(frame: &Value) -> Vec<String> {
    let mut out: Vec<String> = frame["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// What one user gets on every surface for `host`.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    listed: bool,
    latest: u16,
    series: u16,
    history: u16,
    page: u16,
    hello: bool,
    snapshot: bool,
    overview_row: bool,
}

async fn seen(app: &TestApp, cookie: &str, host: &str) -> Seen {
    let listed: Value = app
        .get("/api/v1/hosts", Some(cookie))
        .await
        .json()
        .await
        .unwrap();
    let status = |path: String| async move { app.get(&path, Some(cookie)).await.status().as_u16() };
    let mut ws = open(app, Some(cookie), None).await.expect("socket");
    let hello = next_of_type(&mut ws, "hello").await;
    let subscribe = format!(r#"{{"type":"subscribe","hosts":["{host}"],"overview":true}}"#);
    ws.send(Message::text(subscribe)).await.unwrap();
    let frames = frames_within(&mut ws, Duration::from_millis(700)).await;
    let body_leaks = frames
        .iter()
        .filter(|f| f["type"] != "hello")
        .any(|f| f.to_string().contains(host));
    let snapshot = frames
        .iter()
        .any(|f| f["type"] == "snapshot" && f["host"] == host);
    let overview_row = frames
        .iter()
        .filter(|f| f["type"] == "overview")
        .any(|f| row_hosts(f).contains(&host.to_string()));
    assert_eq!(
        body_leaks,
        snapshot || overview_row,
        "{host} appears on the socket only in what is allowed"
    );
    Seen {
        listed: names(&listed["hosts"]).contains(&host.to_string()),
        latest: status(format!("/api/v1/hosts/{host}/latest")).await,
        series: status(format!("/api/v1/hosts/{host}/series")).await,
        history: status(format!("/api/v1/hosts/{host}/series/cpu.total")).await,
        page: status(format!("/hosts/{host}")).await,
        hello: names(&hello["hosts"]).contains(&host.to_string()),
        snapshot,
        overview_row,
    }
}

const ALLOWED: Seen = Seen {
    listed: true,
    latest: 200,
    series: 200,
    history: 200,
    page: 200,
    hello: true,
    snapshot: true,
    overview_row: true,
};

const DENIED: Seen = Seen {
    listed: false,
    latest: 404,
    series: 404,
    history: 404,
    page: 404,
    hello: false,
    snapshot: false,
    overview_row: false,
};

#[tokio::test]
async fn each_role_sees_exactly_its_groups_hosts_on_every_surface() {
    let app = fleet().await;
    let admin = app.admin_cookie().await;
    let mut cookies = vec![("admin", admin)];
    for user in ["owner", "parent", "sibling", "nobody"] {
        cookies.push((user, cookie_of(&app, user).await));
    }
    // (user, host, allowed): membership flows down the tree, never up or sideways.
    let matrix = [
        ("admin", "db-1", true),
        ("admin", "stage-1", true),
        ("admin", "test-host", true),
        ("owner", "db-1", true),
        ("owner", "stage-1", false),
        ("owner", "test-host", false),
        ("parent", "db-1", true),
        ("parent", "stage-1", false),
        ("parent", "test-host", false),
        ("sibling", "db-1", false),
        ("sibling", "stage-1", true),
        ("nobody", "db-1", false),
        ("nobody", "stage-1", false),
        ("nobody", "test-host", false),
    ];
    for (user, host, allowed) in matrix {
        let cookie = &cookies.iter().find(|c| c.0 == user).unwrap().1;
        let got = seen(&app, cookie, host).await;
        let want = if allowed { ALLOWED } else { DENIED };
        assert_eq!(got, want, "{user} → {host}");
    }
}

#[tokio::test]
async fn a_read_token_of_a_group_reads_only_that_group_and_below() {
    let app = fleet().await;
    let reader = token(
        &app,
        &[
            "token",
            "create",
            "ops-reader",
            "--scope",
            "read",
            "--group",
            "ops",
        ],
    );
    let get = |path: &'static str| {
        let url = app.url(path);
        let reader = reader.clone();
        async move {
            client_from(None)
                .get(url)
                .bearer_auth(reader)
                .send()
                .await
                .unwrap()
        }
    };
    let hosts: Value = get("/api/v1/hosts").await.json().await.unwrap();
    assert_eq!(names(&hosts["hosts"]), ["db-1"]);
    assert_eq!(
        get("/api/v1/hosts/db-1/latest").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get("/api/v1/hosts/stage-1/latest").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Reads frames until a `hosts` frame arrives; its hosts and how long it took.
async fn next_hosts(ws: &mut Ws, since: Instant) -> (Vec<String>, Duration) {
    let frame = next_of_type(ws, "hosts").await;
    (names(&frame["hosts"]), since.elapsed())
}

#[tokio::test]
async fn removing_a_member_narrows_their_open_socket_within_a_second() {
    let app = fleet().await;
    let cookie = cookie_of(&app, "parent").await;
    let mut ws = open(&app, Some(&cookie), None).await.unwrap();
    next_of_type(&mut ws, "hello").await;
    ws.send(Message::text(
        r#"{"type":"subscribe","hosts":["db-1"],"overview":true}"#,
    ))
    .await
    .unwrap();
    next_of_type(&mut ws, "snapshot").await;

    let started = Instant::now();
    run(&app, &["group", "member", "remove", "ops", "parent"]);
    let (hosts, took) = next_hosts(&mut ws, started).await;
    eprintln!("member removed: socket narrowed after {took:?}");
    assert!(hosts.is_empty(), "{hosts:?}");
    assert!(took < Duration::from_secs(1), "narrowed after {took:?}");
    // The full overview again, without the host; and no more of its samples.
    let overview = next_of_type(&mut ws, "overview").await;
    assert!(overview["full"].as_bool().unwrap());
    assert!(row_hosts(&overview).is_empty());
    let token = token(
        &app,
        &[
            "token", "create", "more", "--scope", "ingest", "--host", "db-1",
        ],
    );
    let body = batch("db-1", vec![sample("cpu.total", now_ms(), 99.0)]);
    assert_eq!(
        push(&app, Some(&token), body).await.status(),
        StatusCode::ACCEPTED
    );
    let after = frames_within(&mut ws, Duration::from_millis(800)).await;
    assert!(
        after.iter().all(|f| !f.to_string().contains("db-1")),
        "{after:?}"
    );
    assert_eq!(
        app.get("/api/v1/hosts/db-1/latest", Some(&cookie))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn moving_a_host_widens_one_group_and_narrows_another_within_a_second() {
    let app = fleet().await;
    let parent = cookie_of(&app, "parent").await;
    let sibling = cookie_of(&app, "sibling").await;
    let mut parent_ws = open(&app, Some(&parent), None).await.unwrap();
    let mut sibling_ws = open(&app, Some(&sibling), None).await.unwrap();
    next_of_type(&mut parent_ws, "hello").await;
    next_of_type(&mut sibling_ws, "hello").await;

    let started = Instant::now();
    run(&app, &["host", "move", "stage-1", "db"]);
    let (hosts, took) = next_hosts(&mut parent_ws, started).await;
    eprintln!("host moved: socket widened after {took:?}");
    assert_eq!(hosts, ["db-1", "stage-1"]);
    assert!(took < Duration::from_secs(1), "widened after {took:?}");
    let (hosts, took) = next_hosts(&mut sibling_ws, started).await;
    eprintln!("host moved: socket narrowed after {took:?}");
    assert!(hosts.is_empty(), "{hosts:?}");
    assert!(took < Duration::from_secs(1), "narrowed after {took:?}");

    let listed = run(&app, &["group", "list"]);
    let db_line = listed.lines().find(|l| l.starts_with("db ")).unwrap();
    assert!(db_line.contains(" 2 "), "two hosts in db: {listed}");
}

#[tokio::test]
async fn group_commands_refuse_what_would_break_the_tree() {
    let app = fleet().await;
    let listed = run(&app, &["group", "list"]);
    for line in ["root", "ops", "db", "staging", "owner (owner)", "parent"] {
        assert!(listed.contains(line), "{line} in {listed}");
    }
    for (args, why) in [
        (&["group", "remove", "root"][..], "root group"),
        (&["group", "remove", "ops"], "groups below it"),
        (&["group", "remove", "staging"], "members"),
        (&["group", "add", "ops"], "already exists"),
        (
            &["group", "add", "x", "--parent", "nope"],
            "no group named nope",
        ),
        (&["group", "add", "Bad Name"], "a-z"),
        (
            &["group", "member", "add", "ops", "ghost"],
            "no user named ghost",
        ),
        (
            &["group", "member", "remove", "staging", "parent"],
            "not a member",
        ),
        (&["host", "move", "nope", "ops"], "no host named nope"),
    ] {
        let out = lookout(&app, args, None);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    run(&app, &["group", "member", "remove", "staging", "sibling"]);
    run(&app, &["host", "move", "stage-1", "root"]);
    run(&app, &["token", "revoke", "stage-1"]);
    run(&app, &["group", "remove", "staging"]);
    let events = audit_events(&app).await;
    for event in [
        "group.created",
        "group.removed",
        "group.member_added",
        "group.member_removed",
        "host.moved",
    ] {
        assert!(events.iter().any(|e| e == event), "{event} in {events:?}");
    }
}
