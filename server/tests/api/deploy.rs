//! The deployment of `docs/deploy.md`, for real: two instances on different ports sharing
//! one PostgreSQL database and one Redis, behind nginx (Debian's package) configured by
//! `docs/nginx/lookout.conf` itself, with only its ports and host name changed. It also
//! protects another app with Lookout's sign-in (`auth_request` to `/auth/verify`).
//!
//! Needs `LOOKOUT_TEST_POSTGRES` and `LOOKOUT_TEST_REDIS`, and skips, saying so, without
//! them; with them, nginx must be installed (the test command installs it).

use crate::helpers::*;
use crate::{
    ingest::{batch, now_ms, sample},
    live::{closed_with, next_of_type, Ws},
    redis::{free_port, Killed},
};
use futures_util::SinkExt;
use lookout::{access::tokens::HostBinding, access::tokens::Scope, store::Db};
use reqwest::{header, StatusCode};
use std::{
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{client::IntoClientRequest, Message},
};

/// The configuration users copy, as the test runs it.
const NGINX_SITE: &str = include_str!("../../../docs/nginx/lookout.conf");

/// nginx running the documented configuration in a directory of its own.
struct Nginx {
    _process: Killed,
    _dir: tempfile::TempDir,
}

fn nginx_binary() -> &'static str {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx is installed (the test command installs Debian's nginx-light)")
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The documented site with the instances, the protected app and the listening ports of
/// this test in place of the documented ones.
fn site(
    instances: [SocketAddr; 2],
    protected: SocketAddr,
    lookout: SocketAddr,
    app: SocketAddr,
) -> String {
    let replaced = NGINX_SITE
        .replace("127.0.0.1:3001", &instances[0].to_string())
        .replace("127.0.0.1:3002", &instances[1].to_string())
        .replace("127.0.0.1:8080", &protected.to_string())
        .replace("listen 8000;", &format!("listen {app};"))
        .replace("listen 80;", &format!("listen {lookout};"))
        .replace("lookout.example.com", &lookout.to_string());
    let settings = replaced
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'));
    for line in settings {
        assert!(
            !line.contains("example.com") && !line.contains(":300") && !line.contains(":8080"),
            "every documented address is replaced: {line}"
        );
    }
    replaced
}

/// nginx for `instances`, serving Lookout on `lookout` and the protected app on `app`.
async fn start_nginx(
    instances: [SocketAddr; 2],
    protected: SocketAddr,
    lookout: SocketAddr,
    app: SocketAddr,
) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lookout.conf"),
        site(instances, protected, lookout, app),
    )
    .unwrap();
    let d = dir.path().display();
    // As root, workers would switch to `nobody`, who cannot use the test's directory.
    let user = if running_as_root() { "user root;" } else { "" };
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "{user} daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;
             events {{ worker_connections 512; }}
             http {{
                 access_log off;
                 client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
                 fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
                 include {d}/lookout.conf;
             }}"
        ),
    )
    .unwrap();
    let process = Killed(
        Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts"),
    );
    let started = Instant::now();
    while tokio::net::TcpStream::connect(lookout).await.is_err()
        || tokio::net::TcpStream::connect(app).await.is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Nginx {
        _process: process,
        _dir: dir,
    }
}

/// The app behind Lookout's sign-in: it answers with the user nginx says is signed in.
async fn protected_app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let user = headers
            .get("x-lookout-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(nobody)")
            .to_string();
        format!("protected app, for {user}")
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Pushes `body` to one instance directly, under the public host name.
async fn push_to(
    instance: SocketAddr,
    public: SocketAddr,
    token: &str,
    body: String,
) -> StatusCode {
    client_from(None)
        .post(format!("http://{instance}/api/v1/ingest"))
        .header(header::HOST, public.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// A socket opened on one instance directly, under the public host name.
async fn socket_on(instance: SocketAddr, public: SocketAddr, cookie: &str) -> Ws {
    let mut req = format!("ws://{instance}/ws").into_client_request().unwrap();
    let headers = req.headers_mut();
    headers.insert("host", public.to_string().parse().unwrap());
    headers.insert("origin", format!("http://{public}").parse().unwrap());
    headers.insert("cookie", cookie.parse().unwrap());
    connect_async(req).await.expect("socket opens").0
}

#[tokio::test]
async fn two_instances_behind_nginx_share_sessions_samples_sign_outs_and_guard_another_app() {
    let (Ok(postgres), Some(redis)) = (std::env::var("LOOKOUT_TEST_POSTGRES"), test_redis()) else {
        eprintln!(
            "skipped: set LOOKOUT_TEST_POSTGRES=postgres://… and LOOKOUT_TEST_REDIS=redis://… to run"
        );
        return;
    };
    let database = std::sync::Arc::new(TestDb::postgres(&postgres));
    let protected = protected_app().await;
    // The public address is nginx's; it is known before nginx starts, from free ports.
    let public: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let app_at: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let app_origin = format!("http://{app_at}");
    let configure = |c: &mut lookout::config::Config| {
        c.database_url = database.url().to_owned();
        c.redis = Some(redis.clone());
        c.public_origin =
            Some(lookout::config::PublicOrigin::parse(&format!("http://{public}")).unwrap());
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.return_origins = vec![app_origin.clone()];
    };
    let (config, _) = test_config(configure);
    let a = start_app(config, database.clone()).await;
    let b = spawn_sibling(&a, |_| {}).await;
    let nginx = start_nginx([a.addr, b.addr], protected, public, app_at).await;
    let client = client_from(None);

    // The protected app: no session, so nginx sends the browser to Lookout's sign-in.
    let wanted = format!("{app_origin}/reports?week=48");
    let res = client.get(&wanted).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let sign_in = location(&res).unwrap().to_string();
    assert_eq!(sign_in, format!("http://{public}/login?next={wanted}"));

    // Signed in through instance A (directly, under the public name), sent back to the app.
    let res = client
        .post(format!("http://{}/api/fn/login", a.addr))
        .header(header::HOST, public.to_string())
        .form(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("next", wanted.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), Some(wanted.as_str()), "back to the app");
    let cookie = session_cookie(&res).expect("a session");
    let res = client
        .get(&wanted)
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "protected app, for admin");

    // The session works on B, and through nginx on whichever instance answers.
    for base in [b.addr, public, public] {
        let res = client
            .get(format!("http://{base}/auth/verify"))
            .header(header::HOST, public.to_string())
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{base}");
    }

    // A sample ingested on A arrives on a socket held by B.
    let ingest = Db::connect(database.url())
        .await
        .unwrap()
        .create_token("edge", Scope::Ingest, HostBinding::parse("edge-1").unwrap())
        .await
        .unwrap()
        .expose()
        .to_string();
    let mut on_b = socket_on(b.addr, public, &cookie).await;
    next_of_type(&mut on_b, "hello").await;
    let body = batch("edge-1", vec![sample("cpu.total", now_ms(), 42.0)]);
    assert_eq!(
        push_to(a.addr, public, &ingest, body).await,
        StatusCode::ACCEPTED
    );
    on_b.send(Message::text(r#"{"type":"subscribe","hosts":["edge-1"]}"#))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(5), next_of_type(&mut on_b, "snapshot"))
                .await
                .expect("B has A's host within 5 s");
        if frame["host"] == "edge-1" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let pushed = Instant::now();
    let value = 43.0;
    let body = batch("edge-1", vec![sample("cpu.total", now_ms() + 1_000, value)]);
    assert_eq!(
        push_to(a.addr, public, &ingest, body).await,
        StatusCode::ACCEPTED
    );
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(2), next_of_type(&mut on_b, "samples"))
                .await
                .expect("A's sample on B's socket within 2 s");
        if frame["host"] == "edge-1" && frame["values"]["cpu.total"] == value {
            break;
        }
    }
    println!("ingested on A, on B's socket after {:?}", pushed.elapsed());

    // Signing out on A closes B's socket within a second, and the app is closed again.
    let signed_out = Instant::now();
    let res = client
        .post(format!("http://{}/api/fn/logout", a.addr))
        .header(header::HOST, public.to_string())
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
    let (code, _) = closed_with(&mut on_b, Duration::from_secs(1)).await;
    let took = signed_out.elapsed();
    println!("signed out on A, B's socket closed after {took:?} (code {code:?})");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let res = client
        .get(&wanted)
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "signed out: back to sign-in"
    );
    drop(nginx);
}
