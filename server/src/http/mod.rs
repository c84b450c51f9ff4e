//! The axum application: routes, layers and the Leptos integration.

pub mod assets;
mod forward_auth;
pub mod security;
pub mod serve;
pub mod tls;

use crate::{
    auth::{
        client::{self, ClientIp},
        middleware::{gate_pages, resolve_principal},
        origin::OriginPolicy,
        Auth,
    },
    live::{api, socket, Live},
};
use app::{backend::SharedBackend, shell, App};
use axum::{
    body::Body,
    extract::{ConnectInfo, DefaultBodyLimit, FromRef, Request, State},
    handler::HandlerWithoutStateExt,
    middleware::{from_fn, from_fn_with_state, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use http::{header, StatusCode};
use ipnet::IpNet;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes, ResponseOptions};
use security::SecurityPolicy;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tower_http::{
    compression::CompressionLayer, limit::RequestBodyLimitLayer, timeout::RequestBodyTimeoutLayer,
    trace::TraceLayer,
};
use tower_sessions::{SessionManagerLayer, SessionStore};

/// Largest request body of a page or server function (ingest has its own, larger cap;
/// nothing else reads a body).
const MAX_SERVER_FN_BODY_BYTES: usize = 16 * 1024;

/// What the router is built from. Handlers take only the part they need (`FromRef`).
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Auth>,
    pub backend: SharedBackend,
    pub leptos: LeptosOptions,
    pub site_files: assets::SiteFiles,
    pub security: Arc<SecurityPolicy>,
    pub origin: Arc<OriginPolicy>,
    pub live: Arc<Live>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub body_timeout: Duration,
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<Live> {
    fn from_ref(state: &AppState) -> Self {
        state.live.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Puts the request's client address (through trusted proxies only) in its extensions.
async fn resolve_client(
    State(trusted): State<Arc<[IpNet]>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let ip = client::resolve(peer.ip(), req.headers(), &trusted);
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// The app's routes, listed once per process: listing them renders the app with resource
/// loading switched off process-wide, which would stall a page another server in the same
/// process (tests) is rendering at that moment.
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Context for every Leptos render and server function: the backend, and the page's
/// CSP with the nonce Leptos gives its hydration scripts.
fn leptos_context(state: &AppState) -> impl Fn() + Clone + Send + 'static {
    let backend = state.backend.clone();
    let security = state.security.clone();
    move || {
        provide_context(backend.clone());
        if let (Some(nonce), Some(res)) =
            (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        {
            if let Some(csp) = security.csp_with_nonce(&nonce) {
                res.insert_header(header::CONTENT_SECURITY_POLICY, csp);
            }
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready to serve: the database answers within two seconds, and with `--redis-url` the
/// instance is subscribed to the bus and Redis answers a ping within one (a load balancer
/// stops sending requests here while it is not; sockets already open here go on).
async fn readyz(State(live): State<Arc<Live>>) -> Response {
    let ping = sqlx::query("SELECT 1").execute(live.db.pool());
    let (status, body) = match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => match &live.bus {
            None => (StatusCode::OK, "ready"),
            Some(bus) => match bus.ready().await {
                Ok(()) => (StatusCode::OK, "ready"),
                Err(why) => {
                    tracing::warn!("{why}");
                    (StatusCode::SERVICE_UNAVAILABLE, why)
                }
            },
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database refused a query");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database unreachable",
            )
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer in 2 s");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database too slow",
            )
        }
    };
    (status, body).into_response()
}

/// Counts every request by method and status class, with its duration.
async fn record_request(State(live): State<Arc<Live>>, req: Request, next: Next) -> Response {
    let method: &'static str = match *req.method() {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::HEAD => "HEAD",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let class = match res.status().as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    live.stats
        .request_seconds
        .with_label_values(&[method, class])
        .observe(started.elapsed().as_secs_f64());
    res
}

/// The whole HTTP surface. `leptos_routes_with_context` mounts the pages and every
/// server function (`/api/fn/*`, POST), all with the same context.
pub fn router<Store: SessionStore + Clone>(
    state: AppState,
    sessions: SessionManagerLayer<Store>,
) -> Router {
    let context = leptos_context(&state);
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes(), context.clone(), {
            let options = state.leptos.clone();
            move || shell(options.clone())
        })
        .route_layer(from_fn(gate_pages))
        .route_layer(RequestBodyLimitLayer::new(MAX_SERVER_FN_BODY_BYTES));
    // Pages, server functions, the socket and the data API see the session; static files
    // do not touch the database.
    let dynamic = pages
        .route("/ws", get(socket::upgrade))
        // The handler checks the token, then reads the body under its own cap.
        .route(
            "/api/v1/ingest",
            post(api::ingest).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/hosts", get(api::hosts))
        .route("/auth/verify", get(forward_auth::verify))
        .route("/api/v1/hosts/{name}/latest", get(api::latest))
        .route("/api/v1/hosts/{name}/series", get(api::series))
        .route(
            "/api/v1/hosts/{name}/series/{series}",
            get(api::series_history),
        )
        .layer(from_fn_with_state(state.auth.clone(), resolve_principal))
        .layer(sessions);
    let not_found = {
        let render = leptos_axum::render_app_to_stream_with_context(context, {
            let options = state.leptos.clone();
            move || shell(options.clone())
        });
        (move |req: Request<Body>| render(req)).into_service()
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(api::metrics::<AppState>))
        .merge(dynamic)
        .merge(assets::site(&state.site_files, &state.leptos, not_found))
        .layer(RequestBodyTimeoutLayer::new(state.body_timeout))
        .layer(from_fn_with_state(
            state.origin.clone(),
            security::reject_cross_origin,
        ))
        .layer(from_fn_with_state(
            state.trusted_proxies.clone(),
            resolve_client,
        ))
        .layer(from_fn_with_state(
            state.origin.clone(),
            security::check_host,
        ))
        .layer(from_fn_with_state(
            state.security.clone(),
            security::security_headers,
        ))
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(state.live.clone(), record_request))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = req.uri().path(),
                    user_id = tracing::field::Empty,
                )
            }),
        )
        .with_state(state)
}
