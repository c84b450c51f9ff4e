//! The sessions page's server functions: one's sessions with where and from what they
//! signed in, revoking one (its sockets close within a second), signing out everywhere
//! else; another user's sessions only for admins.

use crate::{
    cli::{add_user, audit_events},
    helpers::*,
    live::{closed_with, next_of_type, open},
};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

async fn sign_in_as(app: &TestApp, user: &str, password: &str, agent: &str) -> String {
    let res = app
        .login_with(
            &[("user-agent", agent)],
            &[("username", user), ("password", password)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{user} signs in");
    session_cookie(&res).unwrap()
}

async fn sessions(app: &TestApp, cookie: &str, user: Option<&str>) -> (StatusCode, Value) {
    let form: Vec<(&str, &str)> = user.map(|u| ("user", u)).into_iter().collect();
    let res = call(app, "sessions", cookie, &form).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn rows(view: &Value) -> &Vec<Value> {
    view["sessions"].as_array().unwrap()
}

#[tokio::test]
async fn each_session_is_listed_with_its_address_and_browser_and_this_one_marked() {
    let app = spawn_app().await;
    let laptop = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, FIREFOX).await;
    let _desk = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, CHROME).await;
    let (status, view) = sessions(&app, &laptop, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["user"], ADMIN);
    let rows = rows(&view);
    assert_eq!(rows.len(), 2);
    let current: Vec<&Value> = rows.iter().filter(|r| r["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one is this device");
    assert_eq!(current[0]["agent"], FIREFOX);
    assert!(rows.iter().any(|r| r["agent"] == CHROME));
    assert!(rows.iter().all(|r| r["ip"] == "127.0.0.1"));
    // The handle is a prefix of the stored hash: never the cookie's id.
    let cookie_id = laptop.split_once('=').unwrap().1;
    assert!(rows
        .iter()
        .all(|r| !cookie_id.contains(r["id"].as_str().unwrap())));

    let page = app.get("/settings/sessions", Some(&laptop)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for text in [
        "Your sessions",
        "This device",
        "Firefox on Linux",
        "Chrome on macOS",
        "Revoke",
        "Sign out everywhere else",
    ] {
        assert!(html.contains(text), "{text} on the page");
    }
    let anonymous = app.get("/settings/sessions", None).await;
    assert_ne!(anonymous.status(), StatusCode::OK, "not without a session");
}

#[tokio::test]
async fn revoking_another_session_closes_its_live_socket_within_a_second() {
    let app = spawn_app().await;
    let laptop = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, FIREFOX).await;
    let desk = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, CHROME).await;
    let mut ws = open(&app, Some(&desk), None).await.unwrap();
    next_of_type(&mut ws, "hello").await;

    let (_, view) = sessions(&app, &laptop, None).await;
    let other = rows(&view).iter().find(|r| r["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let res = call(&app, "revoke_session", &laptop, &[("id", &other)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (code, frames) = closed_with(&mut ws, Duration::from_secs(2)).await;
    let took = started.elapsed();
    eprintln!("revoked session: socket closed after {took:?}");
    assert_eq!(code, Some(4401));
    assert!(frames.iter().any(|f| f["type"] == "bye"));
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    assert!(!app.is_signed_in(&desk).await);
    assert!(
        app.is_signed_in(&laptop).await,
        "the revoking session goes on"
    );

    let again = call(&app, "revoke_session", &laptop, &[("id", &other)]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "already ended");
    let audit = audit_events(&app).await;
    assert!(audit.iter().any(|e| e == "session.revoked"), "{audit:?}");
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_only_this_session() {
    let app = spawn_app().await;
    let keep = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, FIREFOX).await;
    let others = [
        sign_in_as(&app, ADMIN, ADMIN_PASSWORD, CHROME).await,
        sign_in_as(&app, ADMIN, ADMIN_PASSWORD, "curl/8.5.0").await,
    ];
    let res = call(&app, "sign_out_others", &keep, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<u64>().await.unwrap(), 2);
    for cookie in &others {
        assert!(!app.is_signed_in(cookie).await);
    }
    assert!(app.is_signed_in(&keep).await);
    let (_, view) = sessions(&app, &keep, None).await;
    assert_eq!(rows(&view).len(), 1);
}

#[tokio::test]
async fn only_an_admin_sees_or_ends_another_users_sessions() {
    let app = spawn_app().await;
    add_user(&app, "carol", "carols-long-password");
    let carol = sign_in_as(&app, "carol", "carols-long-password", FIREFOX).await;
    let admin = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, CHROME).await;

    let (status, body) = sessions(&app, &carol, Some(ADMIN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !body.to_string().contains("Chrome"),
        "no data in a refusal: {body}"
    );
    let (_, mine) = sessions(&app, &admin, None).await;
    let admins = rows(&mine)[0]["id"].as_str().unwrap().to_string();
    let res = call(&app, "revoke_session", &carol, &[("id", &admins)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        app.is_signed_in(&admin).await,
        "carol cannot end the admin's session"
    );
    let anonymous = client_from(None)
        .post(app.url("/api/fn/revoke_session"))
        .form(&[("id", admins.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let (status, view) = sessions(&app, &admin, Some("carol")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["user"], "carol");
    let carols = rows(&view)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(rows(&view)[0]["current"], false);
    let res = call(&app, "revoke_session", &admin, &[("id", &carols)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        !app.is_signed_in(&carol).await,
        "an admin ends anyone's session"
    );
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_ends_every_other_session() {
    let app = spawn_app().await;
    let here = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, FIREFOX).await;
    let there = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, CHROME).await;
    let mut ws = open(&app, Some(&there), None).await.unwrap();
    next_of_type(&mut ws, "hello").await;

    let wrong = call(
        &app,
        "change_password",
        &here,
        &[
            ("current", "not-the-password"),
            ("new", "a-brand-new-password"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("current password is wrong"));
    let short = call(
        &app,
        "change_password",
        &here,
        &[("current", ADMIN_PASSWORD), ("new", "short")],
    )
    .await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(app.is_signed_in(&there).await, "refusals end nothing");

    let started = Instant::now();
    let res = call(
        &app,
        "change_password",
        &here,
        &[("current", ADMIN_PASSWORD), ("new", "a-brand-new-password")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<u64>().await.unwrap(), 1);
    let (code, _) = closed_with(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(code, Some(4401));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!app.is_signed_in(&there).await);
    assert!(
        app.is_signed_in(&here).await,
        "the session that changed it goes on"
    );
    let mut here_ws = open(&app, Some(&here), None).await.unwrap();
    next_of_type(&mut here_ws, "hello").await;

    assert_eq!(
        app.login(ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(ADMIN, "a-brand-new-password").await.status(),
        StatusCode::OK
    );
    assert!(audit_events(&app)
        .await
        .iter()
        .any(|e| e == "user.password_changed"));
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_a_sign_in() {
    let app = spawn_app().await;
    let here = sign_in_as(&app, ADMIN, ADMIN_PASSWORD, FIREFOX).await;
    let mut last = String::new();
    for i in 0..8 {
        let guess = format!("wrong-guess-{i}");
        let res = call(
            &app,
            "change_password",
            &here,
            &[("current", guess.as_str()), ("new", "a-brand-new-password")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        last = res.text().await.unwrap();
    }
    assert!(last.contains("Too many failed attempts"), "{last}");
    // Even the right password waits now.
    let res = call(
        &app,
        "change_password",
        &here,
        &[("current", ADMIN_PASSWORD), ("new", "a-brand-new-password")],
    )
    .await;
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed attempts"));
}
