use crate::helpers::*;
use reqwest::{header, StatusCode};
use std::net::{IpAddr, Ipv4Addr};

#[tokio::test]
async fn signing_in_sets_a_session_cookie_that_opens_the_dashboard() {
    let app = spawn_app().await;
    let res = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(location(&res), Some("/"));
    let cookie = session_cookie(&res).expect("a session cookie");

    let page = app.get("/", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"data-testid="signed-in-user""#), "{html}");
    assert!(html.contains("Sign out"));
}

#[tokio::test]
async fn a_wrong_password_gets_401_and_no_session() {
    let app = spawn_app().await;
    let res = app.login(ADMIN, "not-the-password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&res).is_none());
    assert_eq!(res.text().await.unwrap(), r#""InvalidCredentials""#);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    let wrong = app.login(ADMIN, "not-the-password").await;
    let unknown = app.login("nobody-here", "not-the-password").await;
    let invalid = app.login("not a valid name!", "not-the-password").await;

    let shape = |res: &reqwest::Response| {
        let mut headers: Vec<_> = res
            .headers()
            .iter()
            .filter(|(k, _)| *k != header::DATE && *k != header::CONTENT_SECURITY_POLICY)
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        headers.sort();
        (res.status(), headers)
    };
    let (wrong_shape, unknown_shape, invalid_shape) =
        (shape(&wrong), shape(&unknown), shape(&invalid));
    let bodies = (
        wrong.text().await.unwrap(),
        unknown.text().await.unwrap(),
        invalid.text().await.unwrap(),
    );
    assert_eq!(wrong_shape, unknown_shape);
    assert_eq!(wrong_shape, invalid_shape);
    assert_eq!(bodies.0, bodies.1);
    assert_eq!(bodies.0, bodies.2);
}

#[tokio::test]
async fn usernames_are_normalised_before_lookup() {
    let app = spawn_app().await;
    let res = app.login("  ADMIN ", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_429_and_retry_after() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(
            app.login(ADMIN, "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    assert!(
        session_cookie(&res).is_none(),
        "no session while throttled, even with the right password"
    );
}

#[tokio::test]
async fn a_throttled_account_still_opens_for_its_owner_from_another_address() {
    let app = spawn_app().await;
    let attacker = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
    let owner = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    for _ in 0..6 {
        app.login_from(attacker, ADMIN, "guess").await;
    }
    assert_eq!(
        app.login_from(attacker, ADMIN, ADMIN_PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let res = app.login_from(owner, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(session_cookie(&res).is_some());
}

#[tokio::test]
async fn sign_in_redirects_only_to_same_site_paths() {
    let app = spawn_app().await;
    for (next, expected) in [
        ("/hosts/web-1", "/hosts/web-1"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
    ] {
        let res = app
            .login_with(
                &[],
                &[
                    ("username", ADMIN),
                    ("password", ADMIN_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(location(&res), Some(expected), "next={next}");
    }
}

#[tokio::test]
async fn a_plain_form_post_is_redirected_back_with_the_generic_error() {
    let app = spawn_app().await;
    let res = app
        .login_with(
            &[("accept", "text/html"), ("referer", &app.url("/login"))],
            &[("username", ADMIN), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = location(&res).unwrap().to_string();
    assert!(
        back.contains("/login?") && back.contains("__err="),
        "{back}"
    );

    let page = app
        .get(
            back.trim_start_matches(&format!("http://{}", app.addr)),
            None,
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Invalid username or password."));
}

#[tokio::test]
async fn a_plain_form_post_with_good_credentials_lands_on_the_dashboard() {
    let app = spawn_app().await;
    let res = app
        .login_with(
            &[("accept", "text/html"), ("referer", &app.url("/login"))],
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), Some("/"));
    assert!(app.is_signed_in(&session_cookie(&res).unwrap()).await);
}

#[tokio::test]
async fn sign_ins_and_failures_are_audited_without_secrets() {
    let app = spawn_app().await;
    app.login(ADMIN, "wrong-password").await;
    app.admin_cookie().await;
    let db = lookout::store::Db::connect(&app.config.database_url)
        .await
        .unwrap();
    let rows = db.recent_audit(10).await.unwrap();
    let events: Vec<_> = rows.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events[..2], ["login.success", "login.failure"]);
    assert!(rows
        .iter()
        .all(|r| r.ip.as_deref() == Some("127.0.0.1") || r.event == "user.created"));
    let dump = format!("{rows:?}");
    assert!(!dump.contains(ADMIN_PASSWORD) && !dump.contains("wrong-password"));
}
