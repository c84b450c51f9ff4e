//! `GET /auth/verify[?group=NAME]`: Lookout's sign-in in front of other internal apps
//! (nginx `auth_request`, Traefik or Caddy forward auth). 200 with the user and their groups
//! for a valid session (and, with `group`, membership of it or of a group above it); 401
//! without a session; 403 for someone outside the group.

use crate::{
    groups::{cookie_of, fleet},
    helpers::*,
};
use reqwest::{header, StatusCode};

async fn verify(app: &TestApp, cookie: Option<&str>, group: Option<&str>) -> reqwest::Response {
    let path = match group {
        Some(g) => format!("/auth/verify?group={g}"),
        None => "/auth/verify".to_string(),
    };
    app.get(&path, cookie).await
}

fn header_of(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn verify_answers_who_is_signed_in_and_whether_they_are_in_the_group() {
    let app = fleet().await;
    let anonymous = verify(&app, None, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&anonymous, "x-lookout-user"), None);

    let parent = cookie_of(&app, "parent").await;
    let res = verify(&app, Some(&parent), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, "x-lookout-user").as_deref(), Some("parent"));
    assert_eq!(header_of(&res, "x-lookout-groups").as_deref(), Some("ops"));
    assert_eq!(
        header_of(&res, header::CACHE_CONTROL.as_str()).as_deref(),
        Some("no-store")
    );
    for (group, status) in [
        ("ops", StatusCode::OK),
        ("db", StatusCode::OK),
        ("staging", StatusCode::FORBIDDEN),
        ("root", StatusCode::FORBIDDEN),
        ("no-such-group", StatusCode::FORBIDDEN),
    ] {
        let res = verify(&app, Some(&parent), Some(group)).await;
        assert_eq!(res.status(), status, "parent in {group}");
        if status != StatusCode::OK {
            assert_eq!(header_of(&res, "x-lookout-user"), None);
        }
    }
    let nobody = cookie_of(&app, "nobody").await;
    let res = verify(&app, Some(&nobody), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, "x-lookout-groups").as_deref(), Some(""));
    assert_eq!(
        verify(&app, Some(&nobody), Some("ops")).await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = app.admin_cookie().await;
    assert_eq!(
        verify(&app, Some(&admin), Some("staging")).await.status(),
        StatusCode::OK,
        "an admin is in every group"
    );

    // Signed out: 401 at once.
    assert_eq!(
        app.post_fn("logout", Some(&parent)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        verify(&app, Some(&parent), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_in_returns_to_a_configured_app_and_nowhere_else() {
    let app = spawn_app_with(|c| {
        c.return_origins = vec!["http://app.localhost:8080".into()];
    })
    .await;
    for (next, expected) in [
        (
            "http://app.localhost:8080/dash?x=1",
            "http://app.localhost:8080/dash?x=1",
        ),
        ("http://app.localhost:8080@evil.example/", "/"),
        ("http://evil.example/", "/"),
        ("/hosts/web-1", "/hosts/web-1"),
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
