//! Errors that cross the wire. Each carries its HTTP status so that a server function
//! answers a script with a real status code while a plain form post still gets the
//! framework's redirect back to the form (with the error encoded in the URL).
//!
//! A leaf: it imports nothing of the crate, so every server function can map its errors here.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What a failed sign-in tells the client. Deliberately coarse: an unknown user and a wrong
/// password are the same variant, with the same message and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum LoginError {
    #[error("Invalid username or password.")]
    InvalidCredentials,
    #[error("Too many failed sign-ins. Try again in {retry_after_secs} seconds.")]
    Throttled { retry_after_secs: u64 },
    #[error("Bad request: {0}")]
    BadRequest(String),
    #[error("Sign-in is unavailable right now. Try again shortly.")]
    Unavailable,
    #[error("That code is not right. Use the current code from your app, or a recovery code.")]
    WrongCode,
    #[error("This sign-in has expired. Sign in again.")]
    ChallengeExpired,
}

/// The error of every other server function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    #[error("You are not signed in.")]
    Unauthorized,
    #[error("You are not allowed to do that.")]
    Forbidden,
    #[error("Bad request: {0}")]
    BadRequest(String),
    #[error("Something went wrong on the server.")]
    Internal,
}

/// The HTTP face of an error.
pub trait HttpStatus {
    fn status(&self) -> u16;
    fn retry_after_secs(&self) -> Option<u64> {
        None
    }
}

impl HttpStatus for LoginError {
    fn status(&self) -> u16 {
        match self {
            Self::InvalidCredentials => 401,
            Self::Throttled { .. } => 429,
            Self::BadRequest(_) => 400,
            Self::Unavailable => 503,
            Self::WrongCode | Self::ChallengeExpired => 401,
        }
    }
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl HttpStatus for ApiError {
    fn status(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::BadRequest(_) => 400,
            Self::Internal => 500,
        }
    }
}

/// Framework-level failures: undecodable arguments are the client's fault (400); the rest
/// happen client-side or are server bugs. On the server, `Deserialization` means the
/// request body could not be read (not UTF-8, cut off, over the limit); in the browser it
/// means a response could not be read, which is not bad input.
fn is_bad_input(err: &ServerFnErrorErr) -> Option<String> {
    match err {
        ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
            Some("malformed arguments".into())
        }
        ServerFnErrorErr::Deserialization(_) if cfg!(feature = "ssr") => {
            Some("unreadable request body".into())
        }
        ServerFnErrorErr::UnsupportedRequestMethod(_) => Some("unsupported method".into()),
        _ => None,
    }
}

impl FromServerFnError for LoginError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let err = match is_bad_input(&value) {
            Some(msg) => Self::BadRequest(msg),
            None => Self::Unavailable,
        };
        #[cfg(feature = "ssr")]
        respond_with(&err);
        err
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let err = match is_bad_input(&value) {
            Some(msg) => Self::BadRequest(msg),
            None => Self::Internal,
        };
        #[cfg(feature = "ssr")]
        respond_with(&err);
        err
    }
}

#[cfg(feature = "ssr")]
pub use ssr::respond_with;

#[cfg(feature = "ssr")]
mod ssr {
    use super::HttpStatus;
    use http::{header, request::Parts, HeaderValue, StatusCode};
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    /// Whether the request is a plain HTML form post (no WASM yet): those get the framework's
    /// redirect back to the form rather than a bare error status.
    fn is_form_post(parts: &Parts) -> bool {
        parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    }

    /// Sets the HTTP status (and `Retry-After`) of the current server-function response to
    /// match `err`, and hands the error back for returning.
    pub fn respond_with<E: HttpStatus + Clone>(err: &E) -> E {
        if let (Some(res), Some(parts)) = (use_context::<ResponseOptions>(), use_context::<Parts>())
        {
            if let Some(secs) = err.retry_after_secs() {
                res.insert_header(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            if !is_form_post(&parts) {
                if let Ok(status) = StatusCode::from_u16(err.status()) {
                    res.set_status(status);
                }
            }
        }
        err.clone()
    }
}
