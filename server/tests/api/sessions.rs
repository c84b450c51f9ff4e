use crate::helpers::*;
use reqwest::{header, StatusCode};
use std::time::Duration;

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_holds_only_an_id() {
    let app = spawn_app().await;
    let res = app.login(ADMIN, ADMIN_PASSWORD).await;
    let set_cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(
        set_cookie.contains("SameSite=Lax") || set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    // 128 random bits, base64: nothing about the user rides in the cookie.
    let value = session_cookie(&res).unwrap();
    let id = value.trim_start_matches(&format!("{COOKIE}="));
    assert_eq!(id.len(), 22, "{id}");
    assert!(!id.contains(ADMIN));
}

#[tokio::test]
async fn an_https_public_origin_makes_the_cookie_secure_with_the_host_prefix() {
    let app = spawn_app_with(|c| {
        c.public_origin =
            Some(lookout::config::PublicOrigin::parse("https://lookout.example.com").unwrap())
    })
    .await;
    // As the proxy in front of it forwards a browser's request.
    let res = app
        .login_with(
            &[
                ("origin", "https://lookout.example.com"),
                ("host", "lookout.example.com"),
            ],
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let set_cookie = res.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set_cookie.starts_with("__Host-lookout_session="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert!(res
        .headers()
        .contains_key(header::STRICT_TRANSPORT_SECURITY));
}

#[tokio::test]
async fn signing_in_issues_a_new_session_id_and_retires_the_old_one() {
    let app = spawn_app().await;
    let first = app.admin_cookie().await;
    // Sign in again while holding the first session (as a planted cookie would be held).
    let res = app
        .login_with(
            &[("cookie", &first)],
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;
    let second = session_cookie(&res).expect("a new cookie");
    assert_ne!(first, second);
    assert!(
        !app.is_signed_in(&first).await,
        "the pre-sign-in id must not stay valid"
    );
    assert!(app.is_signed_in(&second).await);
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let res = app.post_fn("logout", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(location(&res), Some("/login"));
    // The old cookie, replayed, no longer opens anything.
    assert!(!app.is_signed_in(&cookie).await);
    let api = app.post_fn("overview", Some(&cookie)).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_still_works_after_a_server_restart() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let app = app.restart().await;
    assert!(app.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(|c| c.sessions.idle = Duration::from_secs(2)).await;
    let cookie = app.admin_cookie().await;
    assert!(app.is_signed_in(&cookie).await);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert!(!app.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn activity_keeps_a_session_alive_past_the_idle_timeout() {
    let app = spawn_app_with(|c| c.sessions.idle = Duration::from_secs(2)).await;
    let cookie = app.admin_cookie().await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert!(app.is_signed_in(&cookie).await);
    }
}

#[tokio::test]
async fn an_active_session_ends_at_its_absolute_lifetime() {
    let app = spawn_app_with(|c| c.sessions.max = Duration::from_secs(3)).await;
    let cookie = app.admin_cookie().await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(app.is_signed_in(&cookie).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(!app.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn the_overview_needs_a_session() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_fn("overview", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let cookie = app.admin_cookie().await;
    let res = app.post_fn("overview", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["user"]["username"], ADMIN);
    assert!(body["host"]["logical_cores"].as_u64().unwrap() >= 1);
}
