//! HTTPS served by Lookout itself, with a self-signed certificate made on the first start:
//! the cookie becomes `Secure` with the `__Host-` prefix, HSTS is sent, and HTTP Basic is
//! accepted on the API.

use crate::helpers::*;
use lookout::config::Tls;
use reqwest::{header, redirect, Client, StatusCode};

async fn tls_app(dir: &std::path::Path) -> TestApp {
    let dir = dir.to_path_buf();
    spawn_app_with(move |c| {
        c.tls = Some(Tls::SelfSigned {
            dir,
            names: vec!["localhost".into(), "127.0.0.1".into()],
        });
    })
    .await
}

fn https_client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn over_tls_the_cookie_is_secure_with_the_host_prefix_and_hsts_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let app = tls_app(dir.path()).await;
    let base = format!("https://{}", app.addr);
    let client = https_client();

    let page = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let hsts = page.headers()[header::STRICT_TRANSPORT_SECURITY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(hsts.contains("max-age="), "{hsts}");

    let res = client
        .post(format!("{base}/api/fn/login"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("__Host-lookout_session="))
        .expect("the __Host- cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain="), "{cookie}");

    // HTTP Basic on the API, over TLS.
    let basic = client
        .get(format!("{base}/api/v1/hosts"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);

    // Plain HTTP on the TLS port gets no page.
    let plain = client_from(None).get(app.url("/login")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[tokio::test]
async fn the_self_signed_certificate_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let app = tls_app(dir.path()).await;
    let cert = std::fs::read(dir.path().join("lookout-tls-cert.pem")).unwrap();
    let app = app.restart().await;
    assert_eq!(
        std::fs::read(dir.path().join("lookout-tls-cert.pem")).unwrap(),
        cert,
        "the same certificate"
    );
    let res = https_client()
        .get(format!("https://{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
