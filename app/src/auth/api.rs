//! The server functions behind the sign-in form, the sign-out button and the live page's
//! "am I still signed in?" check. Thin: parse, call the backend once, map the error.

use crate::error::{ApiError, LoginError};
use leptos::prelude::*;

/// Signs in and redirects to `next` (a same-site path) or `/`.
///
/// Works as a plain form post before the WASM has loaded and as a server-function call after.
#[server(prefix = "/api/fn", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), LoginError> {
    use crate::{
        account::{safe_next, Password, Username},
        backend::request_context,
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|_| respond_with(&LoginError::Unavailable))?;
    let password = Password::for_login(password)
        .map_err(|e| respond_with(&LoginError::BadRequest(e.to_string())))?;
    // A username that cannot exist is still checked against the dummy hash by the
    // backend, so that refusing it costs the same time as a wrong password.
    let username = Username::parse(&username).ok();
    backend
        .sign_in(&parts, username, password)
        .await
        .map_err(|e| respond_with(&e))?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session on the server and goes back to the sign-in page.
#[server(prefix = "/api/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    use crate::{backend::request_context, error::respond_with};

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    backend
        .sign_out(&parts)
        .await
        .map_err(|e| respond_with(&e))?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Whether the request's session is signed in. Answers 200 either way, so the live page
/// can tell "signed out" from "server unreachable" without a failed request in the console.
#[server(prefix = "/api/fn", endpoint = "signed_in")]
pub async fn signed_in() -> Result<bool, ApiError> {
    use crate::{
        backend::{principal, request_context},
        error::respond_with,
    };

    let (_, parts) = request_context().map_err(|e| respond_with(&e))?;
    Ok(principal(&parts).is_some())
}
