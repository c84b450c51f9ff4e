//! `GET /auth/verify[?group=NAME]`: Lookout's sign-in in front of other internal apps
//! (nginx `auth_request`, Traefik's `forwardAuth`, Caddy's `forward_auth`). The proxy asks
//! with the browser's cookie; 200 lets the request through with `X-Lookout-User` and
//! `X-Lookout-Groups` (the groups the user is a member of), 401 sends them to sign in, 403
//! keeps out someone who is signed in but not in the group.

use crate::{access::groups::Viewer, live::Live};
use app::account::Principal;
use axum::{
    extract::{Query, Request, State},
    response::{IntoResponse, Response},
};
use http::{header, HeaderValue, StatusCode};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct Verify {
    /// The group the protected app is for: members of it or of a group above it, and
    /// admins, pass.
    group: Option<String>,
}

pub async fn verify(
    State(live): State<Arc<Live>>,
    Query(query): Query<Verify>,
    request: Request,
) -> Response {
    // Never cached by the proxy: a revoked session must be refused at its next request.
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    let Some(principal) = request.extensions().get::<Principal>() else {
        return (StatusCode::UNAUTHORIZED, no_store).into_response();
    };
    let forest = live.access.forest();
    if let Some(group) = &query.group {
        let inside = match (
            forest.group_named(group),
            forest.user(principal.user_id, principal.role),
        ) {
            (_, Viewer::All) => true,
            (Some(id), Viewer::Groups(groups)) => groups.contains(&id),
            (None, Viewer::Groups(_)) => false,
        };
        if !inside {
            tracing::info!(
                user_id = principal.user_id,
                "forward auth: not in the group"
            );
            return (StatusCode::FORBIDDEN, no_store).into_response();
        }
    }
    let groups = forest.memberships(principal.user_id).join(",");
    match (
        HeaderValue::from_str(&principal.username),
        HeaderValue::from_str(&groups),
    ) {
        (Ok(user), Ok(groups)) => (
            StatusCode::OK,
            no_store,
            [("x-lookout-user", user), ("x-lookout-groups", groups)],
        )
            .into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, no_store).into_response(),
    }
}
