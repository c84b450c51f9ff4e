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
        account::{return_to, Password, Username},
        backend::request_context,
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|_| respond_with(&LoginError::Unavailable))?;
    let password = Password::for_login(password)
        .map_err(|e| respond_with(&LoginError::BadRequest(e.to_string())))?;
    // A username that cannot exist is still checked against the dummy hash by the
    // backend, so that refusing it costs the same time as a wrong password.
    let username = Username::parse(&username).ok();
    let step = backend
        .sign_in(&parts, username, password)
        .await
        .map_err(|e| respond_with(&e))?;
    go_on(step, &return_to(next.as_deref(), backend.return_origins()));
    Ok(())
}

/// After a right password: on to `next`, or to the second step with its challenge in a
/// short-lived cookie of its own (no session exists yet).
#[cfg(feature = "ssr")]
pub fn go_on(step: crate::account::SignInStep, next: &str) {
    use crate::account::{percent_encode, SignInStep, CHALLENGE_SECS};
    match step {
        SignInStep::Done(_) => leptos_axum::redirect(next),
        SignInStep::SecondFactor { challenge } => {
            set_challenge_cookie(&challenge, CHALLENGE_SECS);
            leptos_axum::redirect(&format!("/login/verify?next={}", percent_encode(next)));
        }
    }
}

/// Sets (or with an empty value and no lifetime, clears) the challenge cookie.
#[cfg(feature = "ssr")]
fn set_challenge_cookie(value: &str, max_age: i64) {
    use crate::account::CHALLENGE_COOKIE;
    use http::{header::SET_COOKIE, HeaderValue};
    let cookie =
        format!("{CHALLENGE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    match (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&cookie),
    ) {
        (Some(res), Ok(header)) => res.append_header(SET_COOKIE, header),
        _ => tracing::error!("cannot set the sign-in challenge cookie"),
    }
}

/// What the second step of the pending sign-in asks for.
#[server(prefix = "/api/fn", endpoint = "pending_sign_in")]
pub async fn pending_sign_in() -> Result<crate::account::SecondFactorPrompt, LoginError> {
    use crate::{backend::request_context, error::respond_with};

    let (backend, parts) = request_context().map_err(|_| respond_with(&LoginError::Unavailable))?;
    backend
        .second_factor_prompt(&parts)
        .await
        .map_err(|e| respond_with(&e))
}

/// The second step: a code from the app or a recovery code. On success the session
/// exists; a user who just set up their second factor gets their recovery codes (and goes
/// on from the page), everyone else goes to `next` at once.
#[server(prefix = "/api/fn", endpoint = "verify_code")]
pub async fn verify_code(
    code: String,
    next: Option<String>,
) -> Result<Option<Vec<String>>, LoginError> {
    use crate::{account::return_to, backend::request_context, error::respond_with};

    let (backend, parts) = request_context().map_err(|_| respond_with(&LoginError::Unavailable))?;
    if code.len() > 64 {
        return Err(respond_with(&LoginError::WrongCode));
    }
    let codes = backend
        .second_factor(&parts, &code)
        .await
        .map_err(|e| respond_with(&e))?;
    set_challenge_cookie("", 0);
    if codes.is_none() {
        leptos_axum::redirect(&return_to(next.as_deref(), backend.return_origins()));
    }
    Ok(codes)
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
