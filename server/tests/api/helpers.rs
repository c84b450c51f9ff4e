//! A real Lookout on port 0 with a fresh database per test: an SQLite file, or with
//! `LOOKOUT_TEST_DATABASE=postgres` a new PostgreSQL database on the server that
//! `LOOKOUT_TEST_POSTGRES` names (dropped again when the test is done).

use lookout::{
    config::{Config, RedisConfig, RedisUrl},
    stats::Stats,
    Application,
};
use reqwest::{header, redirect, Client, Response, StatusCode};
use std::{net::IpAddr, net::SocketAddr, sync::Arc};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const COOKIE: &str = "lookout_session";

pub struct TestApp {
    pub addr: SocketAddr,
    pub config: Config,
    pub stats: Arc<Stats>,
    dir: Arc<TestDb>,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    log_buffer();
    let (config, dir) = test_config(tweak);
    start_app(config, dir).await
}

/// A test's own directory and database: an SQLite file in the directory, or a PostgreSQL
/// database of its own, dropped when the last holder lets go.
pub struct TestDb {
    dir: TempDir,
    url: String,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("LOOKOUT_TEST_DATABASE").as_deref() {
            Ok("postgres") => {
                let server = std::env::var("LOOKOUT_TEST_POSTGRES").expect(
                    "LOOKOUT_TEST_DATABASE=postgres needs LOOKOUT_TEST_POSTGRES=postgres://… \
                     (a server where the test may create databases)",
                );
                Self::postgres(&server)
            }
            Ok("sqlite") | Err(_) => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self {
                    url: format!("sqlite://{}", dir.path().join("lookout.db").display()),
                    dir,
                    postgres: None,
                }
            }
            Ok(other) => panic!("LOOKOUT_TEST_DATABASE={other:?}: use sqlite or postgres"),
        }
    }

    /// A new database on the PostgreSQL server at `server`, whatever the suite runs on.
    pub fn postgres(server: &str) -> Self {
        let name = postgres::create_database(server);
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            url: postgres::url_of(server, &name),
            postgres: Some((server.to_owned(), name)),
        }
    }

    /// The database URL a server or the command line opens.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for TestDb {
    type Target = TempDir;
    fn deref(&self) -> &TempDir {
        &self.dir
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            postgres::drop_database(&server, &name);
        }
    }
}

mod postgres {
    use sqlx::{Connection, Executor, PgConnection};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Runs `f` on a runtime of its own in a thread of its own: the callers are sync
    /// functions called from async tests, and `Drop`.
    fn blocking<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(f)
                })
                .join()
                .expect("database thread")
        })
    }

    pub fn url_of(server: &str, name: &str) -> String {
        let mut url = url::Url::parse(server).expect("LOOKOUT_TEST_POSTGRES is a URL");
        url.set_path(name);
        url.to_string()
    }

    /// A new, empty database. Databases left by test processes that are gone (killed
    /// before they could drop theirs) are dropped first.
    pub fn create_database(server: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let pid = std::process::id();
        let name = format!("lookout_t_{pid}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let sweep = !SWEPT.is_completed();
        SWEPT.call_once(|| ());
        blocking(async {
            let mut conn = PgConnection::connect(server)
                .await
                .expect("LOOKOUT_TEST_POSTGRES accepts connections");
            if sweep {
                let old: Vec<String> = sqlx::query_scalar(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'lookout\\_t\\_%'",
                )
                .fetch_all(&mut conn)
                .await
                .expect("list databases");
                for db in old {
                    let owner = db.split('_').nth(2).unwrap_or_default();
                    if !std::path::Path::new(&format!("/proc/{owner}")).exists() {
                        let _ = conn
                            .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
                            .await;
                    }
                }
            }
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create a test database");
        });
        name
    }

    pub fn drop_database(server: &str, name: &str) {
        blocking(async {
            if let Ok(mut conn) = PgConnection::connect(server).await {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
            }
        });
    }
}

/// A test database and the configuration of a server on it, not started yet.
pub fn test_config(tweak: impl FnOnce(&mut Config)) -> (Config, Arc<TestDb>) {
    let dir = Arc::new(TestDb::new());
    let mut config = Config::new(dir.url().to_owned());
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.hash_concurrency = 2;
    tweak(&mut config);
    (config, dir)
}

/// The Redis of `LOOKOUT_TEST_REDIS` under a prefix of its own (tests that run at once
/// do not hear each other), or `None`, with a line that says why the test is skipped.
pub fn test_redis() -> Option<RedisConfig> {
    let Some(url) = std::env::var("LOOKOUT_TEST_REDIS")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: set LOOKOUT_TEST_REDIS=redis://127.0.0.1:6379 to run");
        return None;
    };
    Some(redis_at(&url))
}

/// A Redis at `url` under a fresh prefix.
pub fn redis_at(url: &str) -> RedisConfig {
    let url = RedisUrl::parse(url).expect("a redis:// URL");
    RedisConfig::new(url, format!("lookout-test-{:016x}", rand::random::<u64>()))
}

/// Another instance on `app`'s database (the same file), configured as `app` is and then
/// tweaked: with the same Redis, the two are a deployment of two.
pub async fn spawn_sibling(app: &TestApp, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = app.config.clone();
    config.addr = "127.0.0.1:0".parse().unwrap();
    tweak(&mut config);
    start_app(config, app.dir.clone()).await
}

/// Starts a server on a listener the test bound (and may have used) first.
pub async fn spawn_app_on(
    listener: tokio::net::TcpListener,
    config: Config,
    dir: Arc<TestDb>,
) -> TestApp {
    log_buffer();
    let app = Application::build_with_listener(config.clone(), listener)
        .await
        .expect("build app");
    run(app, config, dir)
}

pub async fn start_app(config: Config, dir: Arc<TestDb>) -> TestApp {
    let app = Application::build(config.clone()).await.expect("build app");
    run(app, config, dir)
}

fn run(app: Application, config: Config, dir: Arc<TestDb>) -> TestApp {
    let addr = app.addr();
    let shutdown = app.shutdown_token();
    let stats = app.stats();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        config,
        stats,
        dir,
        shutdown,
        handle,
    }
}

/// A client that shows redirects instead of following them, holds no cookies of its
/// own, and connects from `local` (any 127.x address works on loopback).
pub fn client_from(local: Option<IpAddr>) -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .local_address(local)
        .build()
        .expect("client")
}

/// Calls a server function with a form body, as the page does.
pub async fn call(app: &TestApp, name: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
    client_from(None)
        .post(app.url(&format!("/api/fn/{name}")))
        .header(header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// `name=value` of the session cookie a response sets, if any.
pub fn session_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{COOKIE}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .filter(|c| c.len() > COOKIE.len() + 1)
}

pub fn location(res: &Response) -> Option<&str> {
    res.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts the sign-in server function as the hydrated app does.
    pub async fn login_from(
        &self,
        local: Option<IpAddr>,
        username: &str,
        password: &str,
    ) -> Response {
        client_from(local)
            .post(self.url("/api/fn/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("login request")
    }

    /// Posts the sign-in form with extra request headers, as a browser or a script would.
    pub async fn login_with(&self, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Response {
        let mut req = client_from(None).post(self.url("/api/fn/login")).form(form);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.expect("login request")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.login_from(None, username, password).await
    }

    /// Signs in as admin and returns the session cookie.
    pub async fn admin_cookie(&self) -> String {
        let res = self.login(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "admin sign-in");
        session_cookie(&res).expect("session cookie")
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut req = client_from(None).get(self.url(path));
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        req.send().await.expect("GET")
    }

    pub async fn post_fn(&self, name: &str, cookie: Option<&str>) -> Response {
        let mut req = client_from(None)
            .post(self.url(&format!("/api/fn/{name}")))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("");
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        req.send().await.expect("POST")
    }

    /// Whether `cookie` opens the dashboard (rather than redirecting to sign-in).
    pub async fn is_signed_in(&self, cookie: &str) -> bool {
        let res = self.get("/", Some(cookie)).await;
        match res.status() {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => false,
            other => panic!("unexpected status {other} for /"),
        }
    }

    pub async fn assert_still_serving(&self) {
        let res = self.get("/healthz", None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    pub async fn stop(self) -> (Config, Arc<TestDb>) {
        self.shutdown.cancel();
        self.handle
            .await
            .expect("server task")
            .expect("server result");
        (self.config, self.dir)
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        let (config, dir) = self.stop().await;
        start_app(config, dir).await
    }
}

/// Everything the server logs while tests run (every test's server, at debug level), so a
/// test can check that something never reaches a log line.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                "debug,hyper=info,hyper_util=info,h2=info,tungstenite=info,\
                 tokio_tungstenite=info,sqlx=info,reqwest=info",
            )
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
}

#[derive(Clone)]
struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether this process (the test, with the server in it) still holds a file descriptor
/// for the server's side of the TCP connection from `client` to `server`. Read from
/// `/proc`: no reading from the socket is needed to tell.
pub fn server_holds_connection(server: SocketAddr, client: SocketAddr) -> bool {
    fn hex(addr: SocketAddr) -> String {
        match addr {
            SocketAddr::V4(v4) => format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(v4.ip().octets()),
                v4.port()
            ),
            SocketAddr::V6(_) => panic!("IPv4 loopback only"),
        }
    }
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()))
                .then(|| f.get(9).map(|s| s.to_string()))
                .flatten()
        })
        .filter(|inode| inode != "0")
        .collect();
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| {
            inodes
                .iter()
                .any(|inode| target.to_string_lossy() == format!("socket:[{inode}]"))
        })
}

/// Waits until the server no longer holds the connection from `client`; returns how long
/// that took, or panics after `within`.
pub async fn connection_dropped_within(
    server: SocketAddr,
    client: SocketAddr,
    within: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    while server_holds_connection(server, client) {
        assert!(
            started.elapsed() < within,
            "the server still holds the connection after {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    started.elapsed()
}
