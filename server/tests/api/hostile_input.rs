use crate::helpers::*;
use reqwest::{header, StatusCode};

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
