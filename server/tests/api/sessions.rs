use crate::helpers::*;
use lookout::stats::Stats;
use reqwest::{header, StatusCode};
use std::time::{Duration, Instant};

/// Whether `cookie` is signed in, asked of the data API: a request that resolves the
/// session like a page does, without rendering one. (A page render can hang when another
/// test builds its server at that moment: leptos suppresses resource loads process-wide
/// while it generates a route list, leptos-rs/leptos#4773.)
async fn api_accepts(app: &TestApp, cookie: &str) -> bool {
    let res = client_from(None)
        .get(app.url("/api/v1/hosts"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .expect("GET");
    match res.status() {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected status {other} for /api/v1/hosts"),
    }
}

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
    let api = app.post_fn("whoami", Some(&cookie)).await;
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
    // The expiry is stored in whole seconds, rounded up: a session lives at most idle + 1 s
    // after its last write, which was at the latest during the request just answered.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!app.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn activity_keeps_a_session_alive_past_the_idle_timeout() {
    let app = spawn_app_with(|c| c.sessions.idle = Duration::from_secs(2)).await;
    let cookie = app.admin_cookie().await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            api_accepts(&app, &cookie).await,
            "signed out after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_request_does_not_rewrite_its_session() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let before = Stats::get(&app.stats.session_writes);
    for _ in 0..20 {
        assert!(api_accepts(&app, &cookie).await);
    }
    let writes = Stats::get(&app.stats.session_writes) - before;
    assert!(writes <= 1, "{writes} session writes for 20 requests");
}

#[tokio::test]
async fn activity_renews_the_session_at_most_once_per_touch_interval() {
    // Idle 4 s: activity is written at most once a second.
    let app = spawn_app_with(|c| c.sessions.idle = Duration::from_secs(4)).await;
    let cookie = app.admin_cookie().await;
    let before = Stats::get(&app.stats.session_writes);
    let started = Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(6) {
        assert!(api_accepts(&app, &cookie).await);
        requests += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(api_accepts(&app, &cookie).await);
    let writes = Stats::get(&app.stats.session_writes) - before;
    assert!(
        (3..=9).contains(&writes),
        "{writes} session writes for {requests} requests over 6 s"
    );
}

#[tokio::test]
async fn an_active_session_ends_at_its_absolute_lifetime() {
    let app = spawn_app_with(|c| c.sessions.max = Duration::from_secs(3)).await;
    // Sign-in time is kept in whole seconds: the session ends between 2 s and 3 s after
    // the sign-in, so it is checked well inside and well after that.
    let before = Instant::now();
    let cookie = app.admin_cookie().await;
    let signed_in = Instant::now();
    while before.elapsed() < Duration::from_secs(1) {
        assert!(api_accepts(&app, &cookie).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep_until((signed_in + Duration::from_secs(4)).into()).await;
    assert!(!app.is_signed_in(&cookie).await);
}

#[tokio::test]
async fn the_signed_in_user_needs_a_session() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_fn("whoami", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let cookie = app.admin_cookie().await;
    let res = app.post_fn("whoami", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["username"], ADMIN);
}
