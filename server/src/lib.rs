#![forbid(unsafe_code)]
//! Lookout's server: configuration, HTTP, accounts, sessions and storage. `main.rs` only
//! parses the command line and calls [`cli::run`].

pub mod access;
pub mod agent;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod history;
pub mod host;
pub mod http;
pub mod instances;
pub mod live;
pub mod stats;
pub mod store;
pub mod telemetry;

use crate::{
    access::groups::Access,
    auth::{origin::HostRule, origin::OriginPolicy, password::Hasher, Auth},
    backend::ServerBackend,
    config::Config,
    history::{History, HistoryConfig},
    http::{security::SecurityPolicy, serve::Connections, AppState},
    live::Live,
    stats::Stats,
    store::{audit::Actor, sessions::SqlSessionStore, settings::PASSWORD_MIN_LENGTH, Db},
};
use anyhow::Context;
use app::auth::Role;
use std::{net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_sessions::{
    cookie::SameSite, session_store::ExpiredDeletion, Expiry, SessionManagerLayer,
};

/// A configured, bound server, ready to run. Tests build one on port 0.
pub struct Application {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    addr: SocketAddr,
    db: Db,
    store: SqlSessionStore,
    live: Arc<Live>,
    config: Config,
    stats: Arc<Stats>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds on a listener bound by the caller (tests that must own the port first).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url).await?;
        let stats = Arc::new(Stats::default());
        let hasher = {
            let n = config.hash_concurrency;
            let stats = stats.clone();
            tokio::task::spawn_blocking(move || Hasher::new(n, stats))
                .await?
                .map_err(|e| anyhow::anyhow!(e))?
        };
        let redis = config
            .redis
            .as_ref()
            .map(|redis| instances::Redis::open(redis).map(Arc::new))
            .transpose()?;
        let mut auth = Auth::new(
            db.clone(),
            hasher,
            config.throttle.clone(),
            config.sessions.clone(),
            config.password_min_chars,
        );
        if let Some(redis) = &redis {
            auth = auth.with_shared_throttle(redis.clone());
        }
        let auth = Arc::new(auth);
        // The account commands of the CLI apply the same minimum.
        db.set_setting(PASSWORD_MIN_LENGTH, &config.password_min_chars.to_string())
            .await?;
        create_first_admin(&db, &auth, config.admin_password.clone()).await?;

        let addr = listener.local_addr()?;
        let site = http::assets::Site::locate(addr, config.embedded_site);
        tracing::info!("serving the site {}", site.files);
        let leptos = site.leptos;
        let dev_reload = std::env::var_os("LEPTOS_WATCH").map(|_| leptos.reload_port);
        let security = Arc::new(SecurityPolicy::new(config.secure_cookies(), dev_reload));
        let tls = config
            .tls
            .as_ref()
            .map(http::tls::acceptor)
            .transpose()
            .context("cannot set up TLS")?
            .map(|(acceptor, fingerprint)| {
                // Printed, not only logged: whoever starts it compares it with what the
                // browser shows on the first visit.
                println!("\n  TLS certificate SHA-256 fingerprint: {fingerprint}\n");
                tracing::info!(%fingerprint, "serving HTTPS");
                acceptor
            });
        let origin =
            Arc::new(OriginPolicy::new(config.public_origin.clone(), addr).with_tls(tls.is_some()));
        if *origin.host_rule() == HostRule::Any {
            tracing::warn!(
                %addr,
                "listening beyond loopback without --public-origin: any Host name is served; \
                 set --public-origin to refuse DNS-rebinding requests"
            );
        }

        let store = SqlSessionStore::new(db.clone(), stats.clone());
        let secure = config.secure_cookies();
        let idle =
            time::Duration::try_from(config.sessions.idle).context("--session-idle is too long")?;
        // Saved only when changed: sign-in, sign-out, and the activity mark that
        // `principal_of` writes at most once per `touch_every`, which also renews the cookie.
        let sessions = SessionManagerLayer::new(store.clone())
            .with_name(if secure {
                "__Host-lookout_session"
            } else {
                "lookout_session"
            })
            .with_secure(secure)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(idle));

        let shutdown = CancellationToken::new();
        let history = if config.history.enabled {
            let history_config = HistoryConfig {
                retention_raw: config.history.retention_raw,
                retention_1m: config.history.retention_1m,
                retention_1h: config.history.retention_1h,
                ..HistoryConfig::default()
            };
            let started = std::time::Instant::now();
            let history = History::open(db.clone(), history_config, stats.clone())
                .await
                .context("cannot open the stored history")?;
            tracing::info!(took = ?started.elapsed(), "history loaded");
            Some(history)
        } else {
            None
        };
        let access = Access::load(db.clone())
            .await
            .context("cannot read groups and memberships")?;
        let live = Arc::new(Live::new(
            &config.live,
            db.clone(),
            origin.clone(),
            config.sessions.max,
            stats.clone(),
            shutdown.clone(),
            history,
            access,
            redis.map(|redis| live::bus::Bus::new(redis, stats.clone())),
        ));
        live.show_stored_hosts()
            .await
            .context("cannot read the stored hosts")?;
        let state = AppState {
            backend: Arc::new(ServerBackend {
                auth: auth.clone(),
                live: live.clone(),
                return_origins: config.return_origins.clone(),
            }),
            auth,
            leptos,
            site_files: site.files,
            security,
            origin,
            live: live.clone(),
            trusted_proxies: config.trusted_proxies.clone().into(),
            body_timeout: config.connections.body_timeout,
        };
        let router = http::router(state, sessions);
        let connections = Connections::new(
            config.connections.max_connections,
            config.connections.max_per_address,
        );
        Ok(Self {
            listener,
            tls,
            router,
            addr,
            db,
            store,
            live,
            config,
            stats,
            connections,
            shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Counters of the server's own work.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Cancel this token to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let sweeper = tokio::spawn({
            let store = self.store.clone();
            let shutdown = shutdown.clone();
            async move {
                let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = every_minute.tick() => {
                            if let Err(e) = store.delete_expired().await {
                                tracing::error!(error = %e, "cannot delete expired sessions");
                            }
                        }
                    }
                }
            }
        });
        tokio::spawn(self.live.clone().sample_this_host());
        tokio::spawn(self.live.clone().run_overview());
        // Stopped only after the last request has been served, so that nothing accepted
        // is lost: on stop it writes what is queued and seals every block.
        let history_stop = CancellationToken::new();
        let history_writer = self
            .live
            .history
            .clone()
            .map(|history| tokio::spawn(history.run(history_stop.clone())));
        // A session ended or access changed by a process that publishes nothing (the
        // command line) reaches the sockets within one poll.
        tokio::spawn(
            self.live
                .access
                .clone()
                .watch(self.config.changes_poll, shutdown.clone()),
        );
        tokio::spawn(self.live.sockets.clone().watch(
            self.db.clone(),
            self.config.changes_poll,
            self.config.sessions.idle,
            shutdown.clone(),
        ));
        let bus = self.live.bus.clone().map(|bus| {
            tracing::info!(
                channel = bus.channel(),
                "several instances: the Redis bus is on"
            );
            tokio::spawn(bus.run(self.live.clone(), shutdown.clone()))
        });
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!("Lookout listening on {scheme}://{}", self.addr);
        http::serve::serve(
            self.listener,
            self.tls,
            self.router,
            &self.config.connections,
            self.connections,
            shutdown,
        )
        .await;
        sweeper.abort();
        if let Some(bus) = bus {
            // It stops with `shutdown`; its publisher drops what is still queued.
            let _ = bus.await;
        }
        history_stop.cancel();
        if let Some(writer) = history_writer {
            writer.await.context("the history writer failed")?;
        }
        Ok(())
    }

    /// Runs until Ctrl-C or SIGTERM.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        let token = self.shutdown_token();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            token.cancel();
        });
        self.run_until_stopped().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// On first start (no users at all), creates `admin` with `LOOKOUT_ADMIN_PASSWORD` or a
/// random password printed once to the terminal, never to the log.
async fn create_first_admin(db: &Db, auth: &Auth, password: Option<String>) -> anyhow::Result<()> {
    if db.count_users().await? > 0 {
        return Ok(());
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(auth::password::random_password);
    auth.add_user(&Actor::CommandLine, "admin", Role::Admin, password.clone())
        .await
        .context(
            "cannot create the first admin (is LOOKOUT_ADMIN_PASSWORD at least 8 characters?)",
        )?;
    if generated {
        println!("\n  First start: created user `admin` with password  {password}\n  It is shown only this once. Change it with `lookout user passwd admin`.\n");
    } else {
        tracing::info!(
            "first start: created user admin with the password from LOOKOUT_ADMIN_PASSWORD"
        );
    }
    Ok(())
}
