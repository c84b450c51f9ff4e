//! Request-time authentication: who is this request, and may it see this page?

use super::Auth;
use app::auth::Principal;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use http::{request::Parts, StatusCode};
use std::sync::Arc;
use tower_sessions::Session;

/// The request's session, as put there by the session layer.
pub fn session(parts: &Parts) -> Option<Session> {
    parts.extensions.get::<Session>().cloned()
}

/// Resolves the session to a [`Principal`] and puts it in the request's extensions, where
/// handlers and server functions find it.
pub async fn resolve_principal(
    State(auth): State<Arc<Auth>>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    match auth.principal_of(&session).await {
        Ok(Some(principal)) => {
            tracing::Span::current().record("user_id", principal.user_id);
            req.extensions_mut().insert(principal);
        }
        Ok(None) => {}
        Err(err) => {
            tracing::error!(error = %err, "cannot load session");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sessions are unavailable right now.",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Pages need a signed-in user: anonymous visitors go to `/login?next=<where they were
/// going>`, and a signed-in visitor of `/login` goes to the dashboard.
/// Server functions (`/api/…`) check their own access and answer with status codes.
pub async fn gate_pages(req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let signed_in = req.extensions().get::<Principal>().is_some();
    let path = req.uri().path();
    // An invite link opens for anyone: it is how a new person gets an account. The second
    // step of a sign-in has no session yet either.
    let sign_in = path == "/login" || path == "/login/verify";
    let public = path.starts_with("/invite/") || sign_in;
    match (sign_in, signed_in) {
        (true, true) => Redirect::to("/").into_response(),
        (false, false) if !public => {
            let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let next: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", target)
                .finish();
            Redirect::to(&format!("/login?{next}")).into_response()
        }
        _ => next.run(req).await,
    }
}
