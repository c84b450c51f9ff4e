use crate::helpers::*;
use reqwest::{header, StatusCode};

#[tokio::test]
async fn the_dashboard_without_a_session_redirects_to_sign_in() {
    let app = spawn_app().await;
    let res = app.get("/", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), Some("/login?next=%2F"));
}

#[tokio::test]
async fn the_sign_in_page_renders_a_form_that_works_without_javascript() {
    let app = spawn_app().await;
    let res = app.get("/login?next=%2Fhosts%2Fweb-1", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<form action="/api/fn/login" method="post">"#),
        "{html}"
    );
    assert!(html.contains(r#"<label for="username">Username</label>"#));
    assert!(html.contains(r#"<label for="password">Password</label>"#));
    assert!(
        html.contains(r#"name="next" value="/hosts/web-1""#),
        "{html}"
    );
    assert!(html.contains(">Sign in</button>"));
}

#[tokio::test]
async fn signed_in_visitors_of_sign_in_go_to_the_dashboard() {
    let app = spawn_app().await;
    let cookie = app.admin_cookie().await;
    let res = app.get("/login", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), Some("/"));
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_a_nonce_csp() {
    let app = spawn_app().await;
    let res = app.get("/login", None).await;
    let h = res.headers();
    let csp = h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "same-origin");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_string();
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
        "hydration script carries the nonce"
    );
}

#[tokio::test]
async fn unknown_pages_are_404_and_health_is_public() {
    let app = spawn_app().await;
    let res = app.get("/no/such/page", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Not found"));
    app.assert_still_serving().await;
}
