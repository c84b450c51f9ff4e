//! The account commands, run as a separate process against a running server's database.

use crate::{helpers::*, ingest};
use reqwest::StatusCode;
use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

pub fn lookout(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .env("LOOKOUT_DATABASE_URL", &app.config.database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lookout");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("lookout output")
}

pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Adds a viewer account with `password`, as an operator would.
pub fn add_user(app: &TestApp, name: &str, password: &str) {
    ok(lookout(
        app,
        &["user", "add", name, "--password-stdin"],
        Some(&format!("{password}\n")),
    ));
}

/// The events of the audit log, newest first.
pub async fn audit_events(app: &TestApp) -> Vec<String> {
    lookout::store::Db::connect(&app.config.database_url)
        .await
        .expect("database opens")
        .recent_audit(100)
        .await
        .expect("audit log reads")
        .into_iter()
        .map(|r| r.event)
        .collect()
}

/// Runs a command that must succeed; its standard output.
pub fn run(app: &TestApp, args: &[&str]) -> String {
    ok(lookout(app, args, None))
}

#[tokio::test]
async fn user_add_with_password_stdin_creates_an_account_that_can_sign_in() {
    let app = spawn_app().await;
    ok(lookout(
        &app,
        &["user", "add", "Carol", "--password-stdin"],
        Some("carol-password-1\n"),
    ));
    let res = app.login("carol", "carol-password-1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let listed = ok(lookout(&app, &["user", "list"], None));
    assert!(
        listed.contains("carol") && listed.contains("viewer"),
        "{listed}"
    );
}

#[tokio::test]
async fn user_add_refuses_short_passwords_and_duplicates() {
    let app = spawn_app().await;
    let short = lookout(
        &app,
        &["user", "add", "dave", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
    let dup = lookout(
        &app,
        &["user", "add", "admin", "--password-stdin"],
        Some("another-password\n"),
    );
    assert!(!dup.status.success());
}

#[tokio::test]
async fn user_add_without_stdin_prints_a_generated_password_once() {
    let app = spawn_app().await;
    let out = ok(lookout(
        &app,
        &["user", "add", "erin", "--role", "admin"],
        None,
    ));
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect(&out);
    assert_eq!(app.login("erin", password).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn user_passwd_ends_the_running_servers_sessions() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let out = ok(lookout(
        &app,
        &["user", "passwd", "admin", "--password-stdin"],
        Some("a-new-password\n"),
    ));
    assert!(out.contains("1 session(s) ended"), "{out}");
    assert!(!app.is_signed_in(&cookie).await);
    assert_eq!(
        app.login(ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(ADMIN, "a-new-password").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn user_remove_ends_the_running_servers_sessions() {
    let app = spawn_app().await;
    ok(lookout(
        &app,
        &["user", "add", "frank", "--password-stdin"],
        Some("frank-password\n"),
    ));
    let res = app.login("frank", "frank-password").await;
    let cookie = session_cookie(&res).unwrap();
    assert!(app.is_signed_in(&cookie).await);
    ok(lookout(&app, &["user", "remove", "frank"], None));
    assert!(!app.is_signed_in(&cookie).await);
    assert_eq!(
        app.login("frank", "frank-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn user_sessions_lists_and_user_revoke_ends_them_all() {
    let app = spawn_app().await;
    let first = app.admin_cookie().await;
    let second = app.admin_cookie().await;
    let listed = ok(lookout(&app, &["user", "sessions", "admin"], None));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let out = ok(lookout(&app, &["user", "revoke", "admin"], None));
    assert!(out.contains("2 session(s)"), "{out}");
    assert!(!app.is_signed_in(&first).await);
    assert!(!app.is_signed_in(&second).await);
}

#[tokio::test]
async fn user_add_and_passwd_apply_the_servers_password_minimum() {
    let app = spawn_app_with(|c| c.password_min_chars = 12).await;
    let short = lookout(
        &app,
        &["user", "add", "bob", "--password-stdin"],
        Some("ten-chars!\n"),
    );
    assert!(!short.status.success(), "a 10-character password was taken");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("12"), "{stderr}");

    ok(lookout(
        &app,
        &["user", "add", "bob", "--password-stdin"],
        Some("twelve-chars\n"),
    ));
    let short = lookout(
        &app,
        &["user", "passwd", "bob", "--password-stdin"],
        Some("ten-chars!\n"),
    );
    assert!(!short.status.success(), "a 10-character password was taken");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("12"), "{stderr}");
    assert_eq!(
        app.login("bob", "twelve-chars").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_create_binds_a_host_pattern_that_token_list_and_host_list_show() {
    let app = spawn_app().await;
    let out = ok(lookout(
        &app,
        &[
            "token", "create", "web", "--scope", "ingest", "--host", "web-*",
        ],
        None,
    ));
    let secret = out
        .lines()
        .find(|l| l.starts_with("lk_"))
        .expect(&out)
        .to_string();
    let listed = ok(lookout(&app, &["token", "list"], None));
    let line = listed
        .lines()
        .find(|l| l.starts_with("web "))
        .expect(&listed);
    assert!(line.contains("web-*"), "{listed}");

    let body = ingest::batch("web-7", vec![ingest::sample("x", ingest::now_ms(), 1.0)]);
    assert_eq!(
        ingest::push(&app, Some(&secret), body).await.status(),
        StatusCode::ACCEPTED
    );
    let hosts = ok(lookout(&app, &["host", "list"], None));
    let created_by = hosts
        .lines()
        .find_map(|l| l.strip_prefix("web-7 "))
        .and_then(|rest| rest.split_whitespace().next());
    assert_eq!(created_by, Some("web"), "{hosts}");
}
